//! Bad input at volume: whatever arrives — any JSON, any S3 key, any catalog text, any placeholder string — gives a
//! run, a duplicate, or a clear error, never a panic. proptest with a fixed case budget (CI runs it as is).

mod common;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use sparkplug::catalog::placeholders;
use sparkplug::load;
use sparkplug::run::events::{parse_event, ObjectArrival};
use sparkplug::run::resolve_event;
use sparkplug::run::runkey::{check_execution_name, for_arrival};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        // No files written into the repository by a test run.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with keys that sometimes are the ones sparkplug looks for.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("Records".to_string()),
        Just("detail-type".to_string()),
        Just("source".to_string()),
        Just("detail".to_string()),
        Just("job".to_string()),
        Just("s3".to_string()),
        Just("key".to_string()),
        Just("bucket".to_string()),
        Just("eventName".to_string()),
        ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("Object Created")),
        Just(json!("aws.s3")),
        Just(json!("ObjectCreated:Put")),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An S3 key as users write them: any characters, often with the catalog's prefix and suffix.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,200}",
        "landing/sales/\\PC{0,60}/_SUCCESS",
        "[ %+=:&?#/\\\\]{0,30}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_json_event_parses_or_says_why(event in any_json()) {
        let catalog = common::catalog();
        let vars = common::vars(&catalog);
        let _ = parse_event(&event);
        match resolve_event(&catalog, &event, &vars, common::now()) {
            Ok(resolution) => {
                for run in &resolution.matches {
                    prop_assert!(check_execution_name(&run.run_name).is_ok(), "{}", run.run_name);
                }
                for failure in &resolution.failures {
                    prop_assert!(!failure.to_string().is_empty());
                }
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn any_key_in_a_notification_gives_a_run_or_a_reason(raw_key in any_key(), sequencer in "[0-9A-F]{0,20}") {
        let catalog = common::catalog();
        let vars = common::vars(&catalog);
        // S3 notifications form-urlencode keys; EventBridge events carry them raw.
        let encoded: String = url_encode(&raw_key);
        let notification = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2026-11-27T06:00:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "acme-data-dev"}, "object": {"key": encoded, "size": 1, "sequencer": sequencer}}
        }]});
        let bridge = json!({
            "version": "0", "id": "x", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-27T06:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {"bucket": {"name": "acme-data-dev"}, "object": {"key": raw_key, "size": 1, "sequencer": sequencer}}
        });
        for event in [notification, bridge] {
            let resolution = match resolve_event(&catalog, &event, &vars, common::now()) {
                Ok(resolution) => resolution,
                // An event with nothing to read (an empty key) is refused whole, saying why.
                Err(error) => {
                    prop_assert!(error.to_string().contains("object key"), "{error}");
                    continue;
                }
            };
            for run in &resolution.matches {
                prop_assert!(check_execution_name(&run.run_name).is_ok(), "{}", run.run_name);
                prop_assert_eq!(&run.job, "sales_daily");
            }
        }
    }

    #[test]
    fn run_keys_are_valid_execution_names_for_any_key(job in "[a-z][a-z0-9_]{0,39}", key in "\\PC{0,1100}",
                                                      version in proptest::option::of("\\PC{0,40}")) {
        let arrival = ObjectArrival {
            bucket: "acme-data-dev".into(),
            key,
            version_id: version,
            sequencer: None,
            etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            size: None,
            time: Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).single(),
        };
        let name = for_arrival(&job, &arrival);
        prop_assert!(check_execution_name(&name).is_ok(), "{name}");
    }

    #[test]
    fn placeholders_in_any_string_fill_or_name_the_missing_one(text in "\\PC{0,80}|[${}a-z_ ]{0,40}") {
        let _ = placeholders::placeholders(&text);
        match placeholders::fill(&text, &|_| Some("v".to_string())) {
            Ok(_) => {}
            Err(hole) => prop_assert!(!hole.to_string().is_empty()),
        }
        let filled = placeholders::fill_value(&json!({"a": [text.clone()]}), &|_| None);
        if let Err(missing) = filled {
            prop_assert!(missing.path.starts_with("a["), "{}", missing.path);
        }
    }

    #[test]
    fn any_catalog_text_loads_or_lists_its_problems(text in "\\PC{0,300}") {
        match load::from_toml(&text, &common::fixtures()) {
            Ok(_) => {}
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn a_catalog_with_odd_names_and_values_loads_or_names_the_job(
        name in "\\PC{0,50}", bucket in "\\PC{0,70}", prefix in "\\PC{0,30}", timeout in any::<u32>(),
        workers in any::<u32>(), schedule in "\\PC{0,30}",
    ) {
        let catalog = format!(
            "[defaults.glue]\nrole = \"sparkplug-glue\"\nscript_location = \"s3://artifacts/runner.scala\"\n\n\
             [jobs.{name:?}]\nengine = \"glue\"\njar = \"s3://artifacts/app.jar\"\nclass = \"com.acme.App\"\n\
             timeout_minutes = {timeout}\nglue = {{ number_of_workers = {workers} }}\n\
             trigger = {{ schedule = {schedule:?}, s3 = [{{ bucket = {bucket:?}, prefix = {prefix:?} }}] }}\n"
        );
        match load::from_toml(&catalog, &common::fixtures()) {
            Ok(loaded) => prop_assert_eq!(loaded.catalog.jobs.len(), 1),
            Err(load::CatalogError::Invalid(problems)) => prop_assert!(!problems.is_empty()),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}

/// S3's form-urlencoding of keys in notifications: space → `+`, the rest percent-encoded.
fn url_encode(key: &str) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
