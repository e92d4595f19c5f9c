//! Loading a catalog: read the TOML job by job, inline the JSON files that Airflow-shaped fields point to, and
//! validate the result ([`validate`]), reporting every problem, not only the first. Also the build-script entry that
//! embeds a validated catalog in a function.
//!
//! This sits above plan rendering: validation renders each job once to check what reaches AWS.

pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::catalog::{Catalog, Job, Pool};
pub use validate::{Problem, Report};

/// Where the catalog is read from when neither `--catalog` nor `SPARKPLUG_CATALOG` says otherwise.
pub const DEFAULT_PATH: &str = "jobs.toml";
/// Environment variable naming the catalog file.
pub const PATH_ENV: &str = "SPARKPLUG_CATALOG";

/// A catalog that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the catalog {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the catalog has {} problem(s):\n{}", .0.len(), validate::lines(.0))]
    Invalid(Vec<Problem>),
}

/// A valid catalog and the warnings found while checking it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub catalog: Catalog,
    pub warnings: Vec<Problem>,
    /// The JSON files the catalog pulled in (Airflow-shaped fields given as paths).
    pub files: Vec<PathBuf>,
}

/// Reads, resolves and validates the catalog at `path`. JSON files named by Airflow-shaped fields are read relative
/// to the catalog's folder.
pub fn from_file(path: &Path) -> Result<Loaded, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    from_toml(&text, base)
}

/// Parses, resolves and validates catalog text; `base` is the folder its JSON file references are relative to.
pub fn from_toml(text: &str, base: &Path) -> Result<Loaded, CatalogError> {
    from_toml_with_vars(text, base, &BTreeMap::new())
}

/// [`from_file`] with some `[vars]` given other values before validation: the catalog as a deployment whose
/// functions get those values (`SPARKPLUG_VAR_<NAME>`) sees it. A var the catalog does not declare is a problem.
pub fn from_file_with_vars(
    path: &Path,
    vars: &BTreeMap<String, String>,
) -> Result<Loaded, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    from_toml_with_vars(&text, base, vars)
}

/// [`from_toml`] with some `[vars]` given other values before validation ([`from_file_with_vars`]).
pub fn from_toml_with_vars(
    text: &str,
    base: &Path,
    vars: &BTreeMap<String, String>,
) -> Result<Loaded, CatalogError> {
    let (mut catalog, mut errors, files) = parse(text, base);
    for (name, value) in vars {
        match catalog.vars.get_mut(name) {
            Some(slot) => *slot = value.clone(),
            None => errors.push(Problem::new(
                None,
                &format!("vars.{name}"),
                "set by the deployment but not declared in [vars]".to_string(),
            )),
        }
    }
    let Report {
        errors: invalid,
        warnings,
    } = validate::validate(&catalog);
    errors.extend(invalid);
    if errors.is_empty() {
        Ok(Loaded {
            catalog,
            warnings,
            files,
        })
    } else {
        Err(CatalogError::Invalid(errors))
    }
}

/// The catalog a function's build script embedded ([`embed_for_build`]): it was validated then, so a cold start only
/// deserializes it.
pub fn from_embedded(text: &str) -> Result<Catalog, CatalogError> {
    serde_json::from_str(text).map_err(|e| {
        CatalogError::Invalid(vec![Problem::new(
            None,
            "",
            format!("not an embedded catalog: {e}"),
        )])
    })
}

/// Parses the TOML into a catalog, job by job, so that one job's mistake does not hide another's: the jobs that
/// parse are returned beside the problems of those that do not.
fn parse(text: &str, base: &Path) -> (Catalog, Vec<Problem>, Vec<PathBuf>) {
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let problem = Problem::new(None, "", format!("not valid TOML: {e}"));
            return (Catalog::default(), vec![problem], Vec::new());
        }
    };
    let mut problems = Vec::new();
    let mut files = Vec::new();
    let mut catalog = Catalog::default();
    if table
        .get("jobs")
        .and_then(toml::Value::as_table)
        .is_none_or(|jobs| jobs.is_empty())
    {
        problems.push(Problem::new(
            None,
            "jobs",
            "the catalog declares no job: add a [jobs.<name>] table".into(),
        ));
    }
    for (key, value) in table {
        match key.as_str() {
            "vars" => {
                catalog.vars = section(value, "vars", None, &mut problems).unwrap_or_default()
            }
            "defaults" => {
                catalog.defaults =
                    section(value, "defaults", None, &mut problems).unwrap_or_default()
            }
            "jobs" => {
                let toml::Value::Table(jobs) = value else {
                    problems.push(Problem::new(
                        None,
                        "jobs",
                        "expected a table of jobs".into(),
                    ));
                    continue;
                };
                for (name, job) in jobs {
                    if let Some(mut job) = section::<Job>(job, "", Some(&name), &mut problems) {
                        files.extend(inline_json_files(&mut job, &name, base, &mut problems));
                        catalog.jobs.insert(name, job);
                    }
                }
            }
            "pools" => {
                let toml::Value::Table(pools) = value else {
                    problems.push(Problem::new(
                        None,
                        "pools",
                        "expected a table of pools".into(),
                    ));
                    continue;
                };
                for (name, pool) in pools {
                    let path = format!("pools.{name}");
                    if let Some(pool) = section::<Pool>(pool, &path, None, &mut problems) {
                        catalog.pools.insert(name, pool);
                    }
                }
            }
            "lineage" => catalog.lineage = section(value, "lineage", None, &mut problems),
            "budget" => catalog.budget = section(value, "budget", None, &mut problems),
            "limits" => catalog.limits = section(value, "limits", None, &mut problems),
            other => problems.push(Problem::new(
                None,
                other,
                "unknown section: expected `vars`, `defaults`, `pools`, `lineage`, `budget`, `limits` or `jobs`"
                    .into(),
            )),
        }
    }
    (catalog, problems, files)
}

fn section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
    job: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            let inner = error.path().to_string();
            let path = match (prefix, inner.as_str()) {
                (p, ".") => p.to_string(),
                ("", i) => i.to_string(),
                (p, i) => format!("{p}.{i}"),
            };
            // The TOML deserializer appends "in `field`" lines: the path already says where.
            let message = error.into_inner().to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            problems.push(Problem::new(job, &path, message));
            None
        }
    }
}

/// Replaces the Airflow-shaped fields given as a file path by the JSON the file holds; returns the files read.
fn inline_json_files(
    job: &mut Job,
    name: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (field, slot) in [
        ("job_flow_overrides", &mut job.job_flow_overrides),
        ("spark_steps", &mut job.spark_steps),
        ("create_job", &mut job.create_job),
    ] {
        let Some(Value::String(file)) = slot.as_ref() else {
            continue;
        };
        let path = base.join(file);
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
            });
        match parsed {
            Ok(value) => *slot = Some(value),
            Err(reason) => problems.push(Problem::new(Some(name), field, reason)),
        }
        files.push(path);
    }
    files
}

/// For a function's build script (`functions/<name>/build.rs`, two levels below the workspace root): see
/// [`embed_for_build`], with the directories cargo gives a build script.
pub fn embed_from_build_env() -> Result<PathBuf, String> {
    let dir = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let (Some(manifest), Some(out)) = (dir("CARGO_MANIFEST_DIR"), dir("OUT_DIR")) else {
        return Err(
            "run this from a cargo build script (CARGO_MANIFEST_DIR and OUT_DIR are not set)"
                .into(),
        );
    };
    embed_for_build(&manifest.join("../.."), &out)
}

/// Loads the catalog (`SPARKPLUG_CATALOG` at build time, else `jobs.toml` at the workspace root), fails on any
/// problem, and writes the resolved catalog as `catalog.json` into `out_dir` for `include_str!`. A bad catalog
/// therefore never deploys, and a cold start reads no file.
pub fn embed_for_build(workspace_root: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed={PATH_ENV}");
    let path = std::env::var_os(PATH_ENV)
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root.join(p)
            }
        })
        .unwrap_or_else(|| workspace_root.join(DEFAULT_PATH));
    println!("cargo:rerun-if-changed={}", path.display());
    let loaded = from_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for file in &loaded.files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    for warning in &loaded.warnings {
        println!("cargo:warning=catalog: {warning}");
    }
    let json = serde_json::to_string(&loaded.catalog).map_err(|e| e.to_string())?;
    let out = out_dir.join("catalog.json");
    std::fs::write(&out, json).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}
