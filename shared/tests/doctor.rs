//! `sparkplug doctor` over real SDK clients and a request/response-level mock: each kind of drift a lost event
//! leaves is found, named with its run and the backstop that makes it good; a stack with none is healthy.

mod common;

use common::fake_aws::{waiter_item, FakeAws};
use common::{catalog, now, vars};
use serde_json::json;
use sparkplug::engine::handlers::doctor::{examine, DoctorConfig};
use sparkplug::engine::handlers::janitor::JanitorConfig;

const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev";

fn config(tick_lag_minutes: Option<i64>) -> DoctorConfig {
    let catalog = catalog();
    DoctorConfig {
        janitor: JanitorConfig {
            vars: vars(&catalog),
            catalog,
            state_machine_arn: MACHINE.into(),
        },
        tick_lag: tick_lag_minutes.map(chrono::Duration::minutes),
    }
}

fn execution(status: &str) -> serde_json::Value {
    json!({"executionArn": "arn:x", "stateMachineArn": MACHINE, "status": status, "startDate": 1.7e9})
}

async fn diagnose(aws: &FakeAws, tick_lag_minutes: Option<i64>) -> serde_json::Value {
    let table = aws.tokens();
    let diagnosis = examine(
        &config(tick_lag_minutes),
        &table,
        &aws.sfn(),
        &aws.emr(),
        &aws.glue(),
        &aws.serverless(),
        &aws.failed_events(),
        now(),
    )
    .await
    .unwrap();
    serde_json::to_value(&diagnosis).unwrap()
}

#[tokio::test]
async fn every_kind_of_drift_a_lost_event_leaves_is_named_with_its_fix() {
    let aws = FakeAws::new();
    // The open work, Query by Query of the `by-kind` index: slots, queued runs, waiters; then the pools' registry.
    aws.ok("Query", json!({"Items": [{"key": {"S": "slots#customer_scores"}, "holders": {"SS": ["gone-run", "live-run"]}}]}));
    aws.ok("Query", json!({"Items": [{"key": {"S": "queue#customer_scores#queued-gone"}, "job": {"S": "customer_scores"},
        "run_name": {"S": "queued-gone"}, "token": {"S": "T"}, "max": {"N": "1"}, "enqueued": {"N": "1795900000000"},
        "expires": {"N": "1795990000"}}]}));
    aws.ok("Query", json!({"Items": [waiter_item("waiting-gone", json!({"engine": "glue", "job_name": "sparkplug-customer_scores-dev", "run_id": "jr_1"}), "T2", 1_795_900_000)]}));
    // The pools' registry: no pool cluster.
    aws.ok("GetItem", json!({}));
    // Parked runs: one throttled ten minutes ago and never started (the ticks stopped), one parked just now.
    aws.ok("Query", json!({"Items": [
        {"key": {"S": "parked#stuck-run"}, "job": {"S": "customer_scores"}, "run_name": {"S": "stuck-run"},
         "input": {"S": "{}"}, "parked": {"N": (now().timestamp_millis() - 600_000).to_string()}},
        {"key": {"S": "parked#fresh-run"}, "job": {"S": "customer_scores"}, "run_name": {"S": "fresh-run"},
         "input": {"S": "{}"}, "parked": {"N": (now().timestamp_millis() - 30_000).to_string()}}]}));
    for status in ["ABORTED", "RUNNING", "TIMED_OUT", "FAILED"] {
        aws.ok("DescribeExecution", execution(status));
    }
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.ok(
        "GetQueueAttributes",
        json!({"Attributes": {"ApproximateNumberOfMessages": "2", "ApproximateNumberOfMessagesNotVisible": "0"}}),
    );
    aws.ok(
        "ReceiveMessage",
        json!({"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "Attributes": {"SentTimestamp": "1795759800000"}},
            {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "{}", "Attributes": {"SentTimestamp": "1795758600000"}}]}),
    );
    // The tick last evaluated 06:00; it is 06:30.
    aws.ok(
        "GetItem",
        json!({"Item": {"key": {"S": "look#tick"}, "watermark": {"N": "1795759200000"}}}),
    );
    let diagnosis = diagnose(&aws, Some(5)).await;
    let findings = diagnosis["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "slot",
            "queued",
            "waiter",
            "failed_events",
            "tick",
            "parked"
        ],
        "{diagnosis}"
    );
    assert_eq!(findings[5]["run"], "stuck-run");
    assert!(
        findings[5]["what"]
            .as_str()
            .unwrap()
            .contains("waited 10 minutes"),
        "{}",
        findings[5]
    );
    assert_eq!(findings[5]["fixed_by"], r#"trigger {"tick": true}"#);
    assert_eq!(findings[0]["run"], "gone-run");
    assert_eq!(findings[0]["status"], "ABORTED");
    assert_eq!(findings[0]["fixed_by"], r#"queue {"drain": true}"#);
    assert_eq!(
        findings[2]["what"],
        "glue#sparkplug-customer_scores-dev#jr_1"
    );
    assert!(findings[2]["fixed_by"]
        .as_str()
        .unwrap()
        .starts_with("notify"));
    assert!(
        findings[3]["what"]
            .as_str()
            .unwrap()
            .contains("2 message(s)"),
        "{}",
        findings[3]
    );
    assert_eq!(diagnosis["failed_events"]["oldest"], "2026-11-27T05:50:00Z");
    assert!(
        findings[4]["what"]
            .as_str()
            .unwrap()
            .contains("30 minutes ago"),
        "{}",
        findings[4]
    );
    // The janitor's leftovers were looked for too (the catalog's two Glue jobs).
    assert_eq!(aws.requests("GetJobRuns").len(), 2);
}

#[tokio::test]
async fn a_stack_with_nothing_left_behind_is_healthy() {
    let aws = FakeAws::new();
    aws.ok("Query", json!({"Items": []}));
    aws.ok("GetItem", json!({}));
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.ok(
        "GetQueueAttributes",
        json!({"Attributes": {"ApproximateNumberOfMessages": "0"}}),
    );
    aws.ok("GetItem", json!({}));
    // Locally the tick is not expected every minute: no tick is no drift.
    let diagnosis = diagnose(&aws, None).await;
    assert_eq!(diagnosis["findings"], json!([]), "{diagnosis}");
    assert!(aws.requests("ReceiveMessage").is_empty());
    assert!(aws.requests("DescribeExecution").is_empty());
}

#[tokio::test]
async fn a_run_that_did_not_happen_is_listed_until_a_run_succeeds() {
    let mut config = config(None);
    config.janitor.catalog = common::catalog_of(
        r#"
[defaults.glue]
role = "glue-role"
script_location = "s3://artifacts/runner.scala"

[jobs.report]
engine = "glue"
jar = "s3://artifacts/a.jar"
class = "c.Report"
expect = { succeeded_by = "cron(0 8 * * ? *)" }

[jobs.report.trigger]
schedule = "cron(0 6 * * ? *)"
"#,
    )
    .unwrap();
    // 08:00 on 2026-11-27 (the tests' day, at 06:30 UTC): yesterday's report was missed.
    let missed_at = 1_795_766_400_000_i64 - 86_400_000;
    let script = |aws: &FakeAws, ledger: serde_json::Value| {
        aws.ok("Query", json!({"Items": []}));
        aws.ok("ListClusters", json!({"Clusters": []}));
        aws.ok("GetJobRuns", json!({"JobRuns": []}));
        aws.ok(
            "GetQueueAttributes",
            json!({"Attributes": {"ApproximateNumberOfMessages": "0"}}),
        );
        // The pools' registry, the tick's look, the job's ledger.
        aws.ok("GetItem", json!({}));
        aws.ok("GetItem", json!({}));
        aws.ok("GetItem", ledger);
    };
    let examine_with = |aws: &FakeAws| {
        let table = aws.tokens();
        let (sfn, emr, glue, serverless, failed) = (
            aws.sfn(),
            aws.emr(),
            aws.glue(),
            aws.serverless(),
            aws.failed_events(),
        );
        let config = config.clone();
        async move {
            examine(
                &config,
                &table,
                &sfn,
                &emr,
                &glue,
                &serverless,
                &failed,
                now(),
            )
            .await
            .unwrap()
        }
    };
    let aws = FakeAws::new();
    script(
        &aws,
        json!({"Item": {"key": {"S": "last#report"}, "missed_at": {"N": missed_at.to_string()},
            "missed_why": {"S": "no run was started (never triggered)"}}}),
    );
    let diagnosis = examine_with(&aws).await;
    assert_eq!(diagnosis.missed.len(), 1, "{diagnosis:?}");
    assert_eq!(diagnosis.missed[0].job, "report");
    assert_eq!(diagnosis.missed[0].due.timestamp_millis(), missed_at);
    assert_eq!(
        diagnosis.missed[0].why,
        "no run was started (never triggered)"
    );
    // Not drift: nothing converges it, the doctor is healthy.
    assert!(diagnosis.is_healthy());
    assert_eq!(
        aws.requests("GetItem")[2]["Key"],
        json!({"key": {"S": "last#report"}})
    );

    // A success since: no longer listed.
    let aws = FakeAws::new();
    script(
        &aws,
        json!({"Item": {"key": {"S": "last#report"}, "missed_at": {"N": missed_at.to_string()},
            "missed_why": {"S": "no run was started (never triggered)"},
            "succeeded_run": {"S": "report-late"}, "succeeded_at": {"N": (missed_at + 3_600_000).to_string()}}}),
    );
    assert!(examine_with(&aws).await.missed.is_empty());
}
