//! The test kit every suite of this crate shares: the fixture catalog (independent of the example `jobs.toml`, so
//! that editing the example breaks no suite), one `repo()`, a fixed clock, run inputs and plans, the AWS sample
//! events, and — with the `aws` feature — [`fake_aws::FakeAws`], a request/response-level AWS mock.

#![allow(dead_code)]

#[cfg(feature = "aws")]
pub mod fake_aws;
pub mod schemas;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sparkplug::catalog::{Catalog, Vars};
use sparkplug::load;
use sparkplug::run::s3::S3Location;
use sparkplug::run::{render, RunInput, RunPlan, Trigger};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `shared/tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture catalog, loaded and validated: an EMR job in two steps with an S3 trigger (`sales_daily`), a
/// scheduled Glue job (`customer_scores`), SparkPi (`hello_world`) and a verbatim Airflow job (`airflow_pi`).
pub fn catalog() -> Catalog {
    load::from_file(&fixtures().join("catalog.toml"))
        .unwrap_or_else(|e| panic!("the fixture catalog: {e}"))
        .catalog
}

/// A catalog from TOML text, loaded and validated as `sparkplug validate` would (paths relative to the repository);
/// its problems as one text.
pub fn catalog_of(text: &str) -> Result<Catalog, String> {
    load::from_toml(text, &repo())
        .map(|loaded| loaded.catalog)
        .map_err(|e| e.to_string())
}

/// The catalog's vars with their default values.
pub fn vars(catalog: &Catalog) -> Vars {
    Vars::resolve(catalog, [], []).unwrap()
}

/// The tests' clock: 2026-11-27 06:30:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 6, 30, 0).unwrap()
}

/// A console-style run request at [`now`] about `input` (an `s3://` URI), with no args.
pub fn manual_input(input: Option<&str>) -> RunInput {
    RunInput {
        trigger: Trigger::Manual {
            time: now(),
            input: input.map(|uri| S3Location::parse(uri).unwrap()),
        },
        args: Default::default(),
        time: now(),
        run_name: None,
    }
}

/// The plan of a manual run of `job` of the fixture catalog, about an object under the sales landing prefix.
pub fn plan_of(job: &str) -> RunPlan {
    let catalog = catalog();
    let input = manual_input(Some("s3://acme-data-dev/landing/sales/x/_SUCCESS"));
    render(&catalog, job, &input, &vars(&catalog)).unwrap()
}

/// A handler's typed input from the JSON the state machine would send.
pub fn input<I: DeserializeOwned>(json: Value) -> I {
    sparkplug::engine::input::decode("test", json).unwrap_or_else(|e| panic!("{e}"))
}

/// A handler's typed output as the JSON the state machine would see.
pub fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// One of the AWS sample events in `tests/events`.
pub fn event(name: &str) -> Value {
    let path = repo().join("tests/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}
