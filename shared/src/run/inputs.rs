//! Input sets: a job that waits for several inputs of one partition (`trigger.all_of`), e.g. the day's sales and the
//! day's stock. Each input is an `s3://` location whose key has the partition's placeholders (`{date}`, `{hour}`, or
//! a name of your own); an arriving object matches an input and names its partition by what those placeholders
//! matched. The run starts once per partition, when its last input has arrived (the trigger records each arrival in
//! the run table; the run's name derives from the job and the partition); at the set's `deadline`, an incomplete
//! partition is alerted on, run with what arrived, or skipped (`on_deadline`).
//!
//! Each input has a name, for its placeholder in the run: the first segment of the keys where the inputs differ
//! (`landing/sales/…` and `landing/stock/…` → `{input_sales}`, `{input_stock}`), else its position (`{input_1}`…).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use crate::catalog::placeholders::{pieces, Piece, Placeholder};
use crate::catalog::{Job, Vars};
use crate::run::s3::S3Location;

/// The partition placeholders that tell a time, and what each matches: a deadline finds its partition by them.
pub const TIME_KEYS: [(&str, &str); 5] = [
    ("date", r"\d{4}-\d{2}-\d{2}"),
    ("year", r"\d{4}"),
    ("month", r"\d{2}"),
    ("day", r"\d{2}"),
    ("hour", r"\d{2}"),
];

/// What any other partition placeholder matches: one path segment's worth.
const ANY_VALUE: &str = "[^/]+";

/// One input of a set.
#[derive(Debug, Clone)]
pub struct InputPattern {
    /// Its name: `{input_<name>}` in the run.
    pub name: String,
    /// As written, the catalog's vars filled: `s3://acme-data-dev/landing/sales/dt={date}/_SUCCESS`.
    pub uri: String,
    pub bucket: String,
    key: String,
    regex: Regex,
    /// The partition placeholders its key has, each once, in order.
    pub keys: Vec<String>,
}

/// A job's input set.
#[derive(Debug, Clone)]
pub struct InputSet {
    pub inputs: Vec<InputPattern>,
}

/// A partition: the values of its placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Partition(pub BTreeMap<String, String>);

impl Partition {
    /// `date=2026-12-03` (keys in order, comma-separated): the partition's name in the run table and in its run's.
    pub fn id(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The partition from its id (`date=2026-12-03`), or from a bare value when the set has one key.
    pub fn parse(text: &str, keys: &[String]) -> Result<Partition, String> {
        let mut values = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((k, v)) => values.insert(k.trim().to_string(), v.trim().to_string()),
                None if keys.len() == 1 => values.insert(keys[0].clone(), part.to_string()),
                None => {
                    return Err(format!(
                        "`{part}`: name each of the partition's keys ({}), e.g. {}=…",
                        keys.join(", "),
                        keys[0]
                    ))
                }
            };
        }
        let given: BTreeSet<&String> = values.keys().collect();
        let wanted: BTreeSet<&String> = keys.iter().collect();
        if given != wanted {
            return Err(format!(
                "a partition of this set has the keys {}; `{text}` has {}",
                keys.join(", "),
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Partition(values))
    }

    /// The time the partition stands for, from its time keys: `date` (or `year`, `month`, `day`) and `hour`; none
    /// when it has no date.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        let get = |k: &str| self.0.get(k).map(String::as_str);
        let date = match get("date") {
            Some(date) => NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?,
            None => NaiveDate::from_ymd_opt(
                get("year")?.parse().ok()?,
                get("month").map_or(Some(1), |m| m.parse().ok())?,
                get("day").map_or(Some(1), |d| d.parse().ok())?,
            )?,
        };
        let hour: u32 = get("hour").map_or(Some(0), |h| h.parse().ok())?;
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        Some(Utc.from_utc_datetime(&date.and_time(time)))
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

impl InputPattern {
    fn parse(uri: &str) -> Result<InputPattern, String> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{uri}` is not an s3:// location"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| format!("`{uri}` names a bucket but no key"))?;
        if !crate::catalog::placeholders::placeholders(bucket).is_empty() {
            return Err(format!(
                "`{uri}`: the bucket cannot have a placeholder (only the key names the partition)"
            ));
        }
        crate::run::s3::check_bucket_name(bucket).map_err(|why| format!("`{uri}`: {why}"))?;
        if key.is_empty() {
            return Err(format!("`{uri}` names a bucket but no key"));
        }
        let mut regex = String::from("^");
        let mut keys: Vec<String> = Vec::new();
        for piece in pieces(key) {
            match piece {
                Piece::Text(text) => regex.push_str(&regex_lite::escape(text)),
                Piece::Hole(Placeholder::Param(name)) => {
                    let pattern = TIME_KEYS
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map_or(ANY_VALUE, |(_, p)| *p);
                    // A placeholder seen twice is matched twice, then held to one value.
                    let group = format!("{name}__{}", keys.iter().filter(|k| *k == name).count());
                    regex.push_str(&format!("(?P<{group}>{pattern})"));
                    keys.push(name.to_string());
                }
                Piece::Hole(Placeholder::Var(name)) => {
                    return Err(format!("`{uri}`: ${{{name}}} is not a catalog var"))
                }
            }
        }
        regex.push('$');
        let regex = Regex::new(&regex).map_err(|e| format!("`{uri}`: {e}"))?;
        let mut once = Vec::new();
        for key in keys {
            if !once.contains(&key) {
                once.push(key);
            }
        }
        Ok(InputPattern {
            name: String::new(),
            uri: uri.to_string(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            regex,
            keys: once,
        })
    }

    /// The partition an object of this input names, if its key matches.
    fn partition_of(&self, bucket: &str, key: &str) -> Option<Partition> {
        if bucket != self.bucket {
            return None;
        }
        let captures = self.regex.captures(key)?;
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for name in self.regex.capture_names().flatten() {
            let (placeholder, _) = name.rsplit_once("__")?;
            let value = captures.name(name)?.as_str().to_string();
            match values.get(placeholder) {
                Some(seen) if *seen != value => return None,
                _ => {
                    values.insert(placeholder.to_string(), value);
                }
            }
        }
        Some(Partition(values))
    }

    /// This input's object in `partition`.
    pub fn location(&self, partition: &Partition) -> Option<S3Location> {
        let key = crate::catalog::placeholders::fill(&self.key, &|hole| match hole {
            Placeholder::Param(name) => partition.0.get(name).cloned(),
            Placeholder::Var(_) => None,
        })
        .ok()?;
        Some(S3Location {
            bucket: self.bucket.clone(),
            key,
        })
    }
}

impl InputSet {
    /// The job's input set (its `trigger.all_of`, the catalog's vars filled), if it has one.
    pub fn of(job: &Job, vars: &Vars) -> Result<Option<InputSet>, String> {
        if job.trigger.all_of.is_empty() {
            return Ok(None);
        }
        let mut inputs = Vec::new();
        for (index, uri) in job.trigger.all_of.iter().enumerate() {
            let filled = vars
                .fill(uri)
                .map_err(|why| format!("trigger.all_of[{index}]: {why}"))?;
            let input = InputPattern::parse(&filled)
                .map_err(|why| format!("trigger.all_of[{index}]: {why}"))?;
            inputs.push(input);
        }
        for (input, name) in inputs.iter_mut().zip(input_names(&job.trigger.all_of)) {
            input.name = name;
        }
        Ok(Some(InputSet { inputs }))
    }

    /// The partition's keys (every input has them all: `sparkplug validate` checks it).
    pub fn keys(&self) -> Vec<String> {
        self.inputs
            .first()
            .map(|i| {
                let mut keys = i.keys.clone();
                keys.sort();
                keys
            })
            .unwrap_or_default()
    }

    /// The input an object is, and its partition.
    pub fn matching(&self, bucket: &str, key: &str) -> Option<(usize, Partition)> {
        self.inputs
            .iter()
            .enumerate()
            .find_map(|(index, input)| Some((index, input.partition_of(bucket, key)?)))
    }

    /// The partition of the moment `time` (its date, hour…), when the set's keys all tell a time.
    pub fn partition_at(&self, time: DateTime<Utc>) -> Option<Partition> {
        let keys = self.keys();
        if keys.is_empty() {
            return None;
        }
        let mut values = BTreeMap::new();
        for key in keys {
            let value = match key.as_str() {
                "date" => time.format("%Y-%m-%d"),
                "year" => time.format("%Y"),
                "month" => time.format("%m"),
                "day" => time.format("%d"),
                "hour" => time.format("%H"),
                _ => return None,
            };
            values.insert(key, value.to_string());
        }
        Some(Partition(values))
    }
}

/// The inputs' names: the first key segment where the locations differ, made an identifier (`sales`, `stock`), when
/// that gives each its own; else their positions (`1`, `2`…).
pub fn input_names(uris: &[String]) -> Vec<String> {
    let by_position = || (1..=uris.len()).map(|n| n.to_string()).collect();
    if uris.len() < 2 {
        return by_position();
    }
    let segments: Vec<Vec<&str>> = uris.iter().map(|u| u.split('/').collect()).collect();
    let shortest = segments.iter().map(Vec::len).min().unwrap_or(0);
    let Some(at) = (0..shortest).find(|i| segments.iter().any(|s| s[*i] != segments[0][*i])) else {
        return by_position();
    };
    let names: Vec<String> = segments
        .iter()
        .map(|s| {
            let name: String = s[at]
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            name.trim_matches('_').to_string()
        })
        .collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    let usable = distinct.len() == names.len()
        && names.iter().all(|n| !n.is_empty())
        && segments.iter().all(|s| !s[at].contains('{'));
    if usable {
        names
    } else {
        by_position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uris: &[&str]) -> InputSet {
        let job: Job = toml::from_str(&format!(
            "engine = \"glue\"\n[trigger]\nall_of = [{}]\n",
            uris.iter()
                .map(|u| format!("\"{u}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .unwrap();
        InputSet::of(&job, &Vars::default()).unwrap().unwrap()
    }

    #[test]
    fn an_object_names_its_input_and_partition() {
        let set = set(&[
            "s3://data/landing/sales/dt={date}/_SUCCESS",
            "s3://data/landing/stock/dt={date}/_SUCCESS",
        ]);
        let names: Vec<&str> = set.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["sales", "stock"]);
        let (index, partition) = set
            .matching("data", "landing/stock/dt=2026-12-03/_SUCCESS")
            .unwrap();
        assert_eq!((index, partition.id()), (1, "date=2026-12-03".to_string()));
        assert_eq!(
            partition.time(),
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap())
        );
        assert_eq!(
            set.inputs[0].location(&partition).unwrap().to_string(),
            "s3://data/landing/sales/dt=2026-12-03/_SUCCESS"
        );
        // Not a date, another file, another bucket: no input.
        assert!(set
            .matching("data", "landing/sales/dt=yesterday/_SUCCESS")
            .is_none());
        assert!(set
            .matching("data", "landing/sales/dt=2026-12-03/part-0")
            .is_none());
        assert!(set
            .matching("other", "landing/sales/dt=2026-12-03/_SUCCESS")
            .is_none());
        assert_eq!(
            set.partition_at(Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap()),
            Some(partition)
        );
    }

    #[test]
    fn a_placeholder_twice_in_a_key_holds_one_value_and_keys_of_your_own_work() {
        let set = set(&[
            "s3://data/in/{region}/{date}/orders-{date}.csv",
            "s3://data/ref/{region}/{date}/rates.csv",
        ]);
        let (_, partition) = set
            .matching("data", "in/eu/2026-12-03/orders-2026-12-03.csv")
            .unwrap();
        assert_eq!(partition.id(), "date=2026-12-03,region=eu");
        assert!(set
            .matching("data", "in/eu/2026-12-03/orders-2026-12-04.csv")
            .is_none());
        // A key of its own tells no time: no deadline partition.
        assert_eq!(set.partition_at(Utc::now()), None);
        assert_eq!(set.keys(), ["date", "region"]);
        assert_eq!(set.inputs[0].name, "in");
    }

    #[test]
    fn names_fall_back_to_positions() {
        let uris = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            input_names(&uris(&["s3://a/x/{date}/a", "s3://a/x/{date}/b"])),
            ["a", "b"]
        );
        assert_eq!(
            input_names(&uris(&["s3://a/{date}/x", "s3://b/{date}/x"])),
            ["a", "b"]
        );
        assert_eq!(
            input_names(&uris(&["s3://a/x-y/{date}", "s3://a/x_y/{date}"])),
            ["1", "2"]
        );
        assert_eq!(input_names(&uris(&["s3://a/only/{date}"])), ["1"]);
    }

    #[test]
    fn partitions_parse_from_their_id_or_a_bare_value() {
        let keys = vec!["date".to_string()];
        assert_eq!(
            Partition::parse("2026-12-03", &keys).unwrap().id(),
            "date=2026-12-03"
        );
        assert_eq!(
            Partition::parse("date=2026-12-03", &keys).unwrap().id(),
            "date=2026-12-03"
        );
        assert!(Partition::parse("hour=01", &keys)
            .unwrap_err()
            .contains("has the keys date"));
        let two = vec!["date".to_string(), "region".to_string()];
        assert!(Partition::parse("2026-12-03", &two)
            .unwrap_err()
            .contains("name each"));
    }
}
