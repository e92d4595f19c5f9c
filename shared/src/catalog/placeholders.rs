//! Placeholders in catalog strings.
//!
//! Two kinds, told apart by their syntax so that a reader of `jobs.toml` sees which is which:
//! - `${name}`: an environment value (bucket names, roles, `env`), declared in the catalog's `[vars]` and overridden
//!   per deployment through `SPARKPLUG_VAR_<NAME>`; one catalog serves dev and prod.
//! - `{name}`: a run value (`{input}`, `{date}`, `{run_name}`, a job's own `params`), known only when a run starts.
//!
//! `$${` is a literal `${`, `{{` and `}}` are literal braces. A `{` that does not open `{identifier}` is left as it is,
//! so JSON-looking Spark arguments survive.

use serde_json::Value;

/// One placeholder found in a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placeholder<'a> {
    /// `${name}`
    Var(&'a str),
    /// `{name}`
    Param(&'a str),
}

impl std::fmt::Display for Placeholder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placeholder::Var(name) => write!(f, "${{{name}}}"),
            Placeholder::Param(name) => write!(f, "{{{name}}}"),
        }
    }
}

/// A piece of a parsed template string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Hole(Placeholder<'a>),
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `text` into literal text and placeholders.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("$${") {
            out.push(Piece::Text("${"));
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{{") {
            out.push(Piece::Text("{"));
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            out.push(Piece::Text("}"));
            rest = after;
        } else if let Some((hole, after)) = hole_at(rest) {
            out.push(Piece::Hole(hole));
            rest = after;
        } else {
            // Copy up to the next character that may start something special.
            let first = rest.chars().next().map_or(1, char::len_utf8);
            let next = rest[first..]
                .find(['$', '{', '}'])
                .map_or(rest.len(), |i| i + first);
            out.push(Piece::Text(&rest[..next]));
            rest = &rest[next..];
        }
    }
    out
}

/// A placeholder at the very start of `text`, and what follows it.
fn hole_at(text: &str) -> Option<(Placeholder<'_>, &str)> {
    let (is_var, body) = match text.strip_prefix("${") {
        Some(body) => (true, body),
        None => (false, text.strip_prefix('{')?),
    };
    let end = body.find('}')?;
    let name = &body[..end];
    if !is_identifier(name) {
        return None;
    }
    let hole = if is_var {
        Placeholder::Var(name)
    } else {
        Placeholder::Param(name)
    };
    Some((hole, &body[end + 1..]))
}

/// Every placeholder in `text`, in order of appearance.
pub fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Hole(hole) => Some(hole),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Replaces every placeholder in `text` with what `lookup` gives for it.
/// Fails with the first placeholder `lookup` has no value for.
pub fn fill<'a, F>(text: &'a str, lookup: &F) -> Result<String, Placeholder<'a>>
where
    F: Fn(Placeholder<'_>) -> Option<String>,
{
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(literal) => out.push_str(literal),
            Piece::Hole(hole) => out.push_str(&lookup(hole).ok_or(hole)?),
        }
    }
    Ok(out)
}

/// A placeholder without a value, found at `path` inside a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    pub path: String,
    pub placeholder: String,
}

/// Fills placeholders in every string of a JSON document (object keys stay as they are: they are API field names or
/// argument names). The path in the error is dotted, with `[i]` for array items.
pub fn fill_value<F>(value: &Value, lookup: &F) -> Result<Value, Unfilled>
where
    F: Fn(Placeholder<'_>) -> Option<String>,
{
    fill_at(value, lookup, &mut String::new())
}

fn fill_at<F>(value: &Value, lookup: &F, path: &mut String) -> Result<Value, Unfilled>
where
    F: Fn(Placeholder<'_>) -> Option<String>,
{
    Ok(match value {
        Value::String(text) => Value::String(fill(text, lookup).map_err(|hole| Unfilled {
            path: path.clone(),
            placeholder: hole.to_string(),
        })?),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                out.push(fill_at(item, lookup, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        Value::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (key, item) in fields {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                out.insert(key.clone(), fill_at(item, lookup, path)?);
                path.truncate(len);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Calls `visit(path, text)` for every string in a JSON document.
pub fn for_each_string(value: &Value, visit: &mut dyn FnMut(&str, &str)) {
    fn walk(value: &Value, path: &mut String, visit: &mut dyn FnMut(&str, &str)) {
        match value {
            Value::String(text) => visit(path, text),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{index}]"));
                    walk(item, path, visit);
                    path.truncate(len);
                }
            }
            Value::Object(fields) => {
                for (key, item) in fields {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    walk(item, path, visit);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    walk(value, &mut String::new(), visit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(hole: Placeholder<'_>) -> Option<String> {
        match hole {
            Placeholder::Var("env") => Some("prod".into()),
            Placeholder::Param("input") => Some("s3://b/k".into()),
            _ => None,
        }
    }

    #[test]
    fn finds_both_kinds_in_order() {
        assert_eq!(
            placeholders("s3://${bucket}/{date}/x-{run_name}"),
            vec![
                Placeholder::Var("bucket"),
                Placeholder::Param("date"),
                Placeholder::Param("run_name")
            ]
        );
    }

    #[test]
    fn fills_and_keeps_literal_braces() {
        assert_eq!(
            fill("a-${env}-{input}", &lookup).unwrap(),
            "a-prod-s3://b/k"
        );
        assert_eq!(fill("{\"a\": 1}", &lookup).unwrap(), "{\"a\": 1}");
        assert_eq!(
            fill("{{input}} $${env}", &lookup).unwrap(),
            "{input} ${env}"
        );
        assert_eq!(fill("{ not-a-name }", &lookup).unwrap(), "{ not-a-name }");
        assert_eq!(fill("price $5 {", &lookup).unwrap(), "price $5 {");
        assert_eq!(fill("ünï{input}çø", &lookup).unwrap(), "ünïs3://b/kçø");
    }

    #[test]
    fn names_the_missing_placeholder() {
        assert_eq!(fill("x ${nope}", &lookup), Err(Placeholder::Var("nope")));
        assert_eq!(fill("{date}", &lookup), Err(Placeholder::Param("date")));
    }

    #[test]
    fn fills_json_strings_and_reports_the_path() {
        let doc = json!({"Args": ["--in", "{input}"], "Name": "${env}", "Count": 2});
        assert_eq!(
            fill_value(&doc, &lookup).unwrap(),
            json!({"Args": ["--in", "s3://b/k"], "Name": "prod", "Count": 2})
        );
        let bad = json!({"Steps": [{"Args": ["{oops}"]}]});
        assert_eq!(
            fill_value(&bad, &lookup).unwrap_err(),
            Unfilled {
                path: "Steps[0].Args[0]".into(),
                placeholder: "{oops}".into()
            }
        );
    }
}
