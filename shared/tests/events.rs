//! Trigger events (fixtures shaped like AWS's documented samples) resolved against the example catalog.

mod common;

use chrono::{TimeZone, Utc};
use common::event as fixture;
use serde_json::{json, Value};
use sparkplug::catalog::Vars;
use sparkplug::run::events::{parse_event, EventItem, JobRef};
use sparkplug::run::{resolve_event, Resolution, Trigger};

fn resolve(event: &Value) -> Resolution {
    let catalog = common::catalog();
    let vars = Vars::resolve(&catalog, [], []).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 7, 30, 15).unwrap();
    resolve_event(&catalog, event, &vars, now).unwrap()
}

#[test]
fn aws_samples_parse() {
    let items = parse_event(&fixture("aws-s3-notification-sample.json")).unwrap();
    let Ok(EventItem::Arrival(arrival)) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(arrival.bucket, "mybucket");
    assert_eq!(arrival.key, "HappyFace.jpg");
    assert_eq!(
        arrival.version_id.as_deref(),
        Some("096fKKXTRTtl3on89fVO.nfljtsv6qko")
    );

    let items = parse_event(&fixture("aws-eventbridge-object-created-sample.json")).unwrap();
    let Ok(EventItem::Arrival(arrival)) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(
        (arrival.bucket.as_str(), arrival.key.as_str()),
        ("amzn-s3-demo-bucket1", "example-key")
    );
    assert_eq!(arrival.sequencer.as_deref(), Some("00617F08299329D189"));
    assert_eq!(arrival.size, Some(5));

    let items = parse_event(&fixture("aws-scheduled-event-sample.json")).unwrap();
    let Ok(EventItem::Run(run)) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(run.job, JobRef::Rule("my-scheduled-rule".into()));

    let items = parse_event(&fixture("aws-s3-test-event.json")).unwrap();
    assert!(matches!(&items[0], Ok(EventItem::Ignored(_))));
}

#[test]
fn a_notification_starts_each_matching_record_and_reports_the_rest() {
    let resolution = resolve(&fixture("s3-notification-sales.json"));
    // Only the _SUCCESS marker in the watched bucket starts the job; the data file and the foreign bucket do not.
    assert_eq!(resolution.matches.len(), 1, "{resolution:#?}");
    let run = &resolution.matches[0];
    assert_eq!(run.job, "sales_daily");
    let Trigger::S3(arrival) = &run.plan.trigger else {
        panic!()
    };
    assert_eq!(arrival.key, "landing/sales/dt=2026-11-27/_SUCCESS");
    assert_eq!(
        resolution.ignored,
        [
            "s3://acme-data-dev/landing/sales/dt=2026-11-27/part-00000 copy.parquet matches no job's S3 trigger",
            "s3://someone-elses-bucket/landing/sales/dt=2026-11-27/_SUCCESS matches no job's S3 trigger",
        ]
    );
    assert!(resolution.failures.is_empty());
}

#[test]
fn the_same_object_through_both_formats_has_one_run_name() {
    let notification = resolve(&fixture("s3-notification-sales.json"));
    let eventbridge = resolve(&fixture("eventbridge-object-created-sales.json"));
    assert_eq!(eventbridge.matches.len(), 1);
    assert_eq!(
        notification.matches[0].run_name,
        eventbridge.matches[0].run_name
    );
    // Delivered twice, still the same.
    assert_eq!(
        resolve(&fixture("eventbridge-object-created-sales.json")).matches[0].run_name,
        eventbridge.matches[0].run_name
    );
}

#[test]
fn a_duplicate_record_in_one_batch_starts_once() {
    let mut event = fixture("s3-notification-sales.json");
    let first = event["Records"][0].clone();
    event["Records"].as_array_mut().unwrap().push(first);
    assert_eq!(resolve(&event).matches.len(), 1);
}

#[test]
fn a_bad_record_does_not_stop_the_good_ones() {
    let mut event = fixture("s3-notification-sales.json");
    event["Records"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"eventName": "ObjectCreated:Put", "s3": {}}));
    let resolution = resolve(&event);
    assert_eq!(resolution.matches.len(), 1);
    assert_eq!(resolution.failures.len(), 1);
    let failure = resolution.failures[0].to_string();
    assert!(
        failure.starts_with("record 0: not an S3 event record"),
        "{failure}"
    );
}

#[test]
fn several_jobs_on_one_prefix_each_get_a_run() {
    let mut catalog = common::catalog();
    let mut twin = catalog.jobs["sales_daily"].clone();
    twin.description = Some("a second consumer of the same arrivals".into());
    catalog.jobs.insert("sales_audit".into(), twin);
    let vars = Vars::resolve(&catalog, [], []).unwrap();
    let resolution = resolve_event(
        &catalog,
        &fixture("eventbridge-object-created-sales.json"),
        &vars,
        Utc::now(),
    )
    .unwrap();
    let jobs: Vec<&str> = resolution.matches.iter().map(|m| m.job.as_str()).collect();
    assert_eq!(jobs, ["sales_audit", "sales_daily"]);
    assert_ne!(
        resolution.matches[0].run_name,
        resolution.matches[1].run_name
    );
}

#[test]
fn schedules_resolve_by_constant_input_or_by_rule_name() {
    let by_input = resolve(&fixture("schedule-input-customer-scores.json"));
    assert_eq!(
        by_input.matches[0].run_name,
        "customer_scores-20261127T060000Z"
    );
    // A Scheduled Event of a rule named after the job, delivered 7 s late, is the same scheduled run.
    let by_rule = resolve(&fixture("scheduled-event-customer-scores.json"));
    assert_eq!(
        by_rule.matches[0].run_name,
        "customer_scores-20261127T060000Z"
    );
    assert_eq!(
        by_rule.matches[0].plan.trigger,
        Trigger::Schedule {
            time: Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap(),
            rule: Some("sparkplug-dev-customer_scores".into())
        }
    );
    let unknown = resolve(&fixture("aws-scheduled-event-sample.json"));
    assert!(unknown.matches.is_empty());
    assert!(
        unknown.failures[0]
            .reason
            .contains("`my-scheduled-rule` names no scheduled job"),
        "{unknown:?}"
    );
}

#[test]
fn manual_runs_resolve_with_args_input_and_time() {
    let hello = resolve(&fixture("manual-hello-world.json"));
    assert_eq!(hello.matches[0].job, "hello_world");
    assert!(hello.matches[0]
        .run_name
        .starts_with("hello_world-manual-20261127T073015Z-"));

    let backfill = resolve(&fixture("manual-sales-backfill.json"));
    let plan = &backfill.matches[0].plan;
    let steps = &plan.emr.as_ref().unwrap().steps;
    let ingest: Vec<&str> = steps[0]["HadoopJarStep"]["Args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ingest.ends_with(&[
            "--input",
            "s3://acme-data-dev/landing/sales/dt=2026-11-01/",
            "--date",
            "2026-11-01",
            "--run",
            &plan.run_name
        ]),
        "{ingest:?}"
    );

    let unknown = resolve(&json!({"job": "nope"}));
    assert!(
        unknown.failures[0]
            .to_string()
            .starts_with("unknown job `nope`"),
        "{unknown:?}"
    );
}

#[test]
fn malformed_events_are_errors_that_say_what_is_wrong() {
    let catalog = common::catalog();
    let vars = Vars::resolve(&catalog, [], []).unwrap();
    for (event, expected) in [
        (json!("hello"), "expected a JSON object, found a string"),
        (json!({"foo": 1}), "found the fields [foo]"),
        (
            json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}),
            "`EC2 Instance State-change Notification` from `aws.ec2` is not a trigger",
        ),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {}}}),
            "bad `detail`",
        ),
    ] {
        let err = resolve_event(&catalog, &event, &vars, Utc::now()).unwrap_err();
        assert!(err.to_string().contains(expected), "{event}: {err}");
    }
}

#[test]
fn a_succeeded_run_starts_the_jobs_after_it_with_its_input_passed_on() {
    use sparkplug::run::events::{parse_event, EventItem};
    let event = |status: &str, input: serde_json::Value| {
        serde_json::json!({"version": "0", "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
            "resources": [], "detail": {"executionArn": "arn:…:execution:sparkplug-run-dev:partner_feed-1",
            "stateMachineArn": "arn:…:stateMachine:sparkplug-run-dev", "name": "partner_feed-1", "status": status,
            "startDate": 1_795_761_000_000_i64, "stopDate": 1_795_761_060_000_i64, "input": input.to_string()}})
    };
    // A console request with an input object.
    let items = parse_event(&event(
        "SUCCEEDED",
        serde_json::json!({"job": "partner_feed", "input": "s3://acme-partner-dev/incoming/a.csv"}),
    ))
    .unwrap();
    let Ok(EventItem::Succeeded(upstream)) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(
        (upstream.job.as_str(), upstream.run.as_str()),
        ("partner_feed", "partner_feed-1")
    );
    assert_eq!(
        upstream.input.as_ref().unwrap().to_string(),
        "s3://acme-partner-dev/incoming/a.csv"
    );
    assert_eq!(upstream.time.timestamp_millis(), 1_795_761_060_000);
    // A failed run starts nothing, and says so.
    let items = parse_event(&event("FAILED", serde_json::json!({"job": "partner_feed"}))).unwrap();
    assert!(matches!(&items[0], Ok(EventItem::Ignored(why)) if why.contains("only a success")));
    // An input that names no job is refused with the reason.
    let err = parse_event(&event("SUCCEEDED", serde_json::json!({"x": 1}))).unwrap_err();
    assert!(err.to_string().contains("names no `job`"), "{err}");
}

#[test]
fn a_downstream_run_is_named_after_its_upstream_run_and_knows_it() {
    let event = json!({"version": "0", "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "resources": [], "detail": {"executionArn": "arn:…", "stateMachineArn": "arn:…", "name": "customer_scores-20261127T060000Z",
        "status": "SUCCEEDED", "stopDate": 1_795_761_060_000_i64,
        "input": json!({"job": "customer_scores", "scheduled": true}).to_string()}});
    let resolution = resolve(&event);
    assert_eq!(resolution.matches.len(), 1, "{resolution:?}");
    let run = &resolution.matches[0];
    assert_eq!(run.job, "scores_report");
    assert!(
        run.run_name.starts_with("scores_report-after-"),
        "{}",
        run.run_name
    );
    // The same success delivered again names the same run: it starts once.
    assert_eq!(resolve(&event).matches[0].run_name, run.run_name);
    let Trigger::Upstream {
        job, run: upstream, ..
    } = &run.plan.trigger
    else {
        panic!("{:?}", run.plan.trigger)
    };
    assert_eq!(
        (job.as_str(), upstream.as_str()),
        ("customer_scores", "customer_scores-20261127T060000Z")
    );
    let args = run.plan.glue.as_ref().unwrap().run["Arguments"]["--sparkplug_args"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        args.contains("customer_scores-20261127T060000Z")
            && args.contains("\"--of\",\"customer_scores\""),
        "{args}"
    );
    // Another job's success starts nothing, and says why.
    let other = event
        .to_string()
        .replace("\\\"customer_scores\\\"", "\\\"hello_world\\\"");
    let resolution = resolve(&serde_json::from_str(&other).unwrap());
    assert!(resolution.matches.is_empty());
    assert!(
        resolution.ignored[0].contains("no job runs after hello_world"),
        "{resolution:?}"
    );
}
