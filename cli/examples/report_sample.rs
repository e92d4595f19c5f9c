//! The run report of a sample week, for the docs' screenshot (docs/images/report.png): the batches this tool was made
//! for, as AWS runs them — a Glue job whose workers take nine minutes to start for one minute of work, a transient EMR
//! cluster, a warm pool's run, EMR Serverless with pre-initialized workers, a queued run and a failure.
//!
//!     cargo run -p sparkplug-cli --example report_sample -- report.html

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use sparkplug_cli::history::Run;
use sparkplug_cli::report::{render, Report, ReportRun};

/// (job, day, minute, status, queued, start-up, execution, cost, pool start)
type SampleRun = (
    &'static str,
    i64,
    i64,
    &'static str,
    i64,
    i64,
    i64,
    f64,
    Option<&'static str>,
);

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "report.html".into());
    let start = DateTime::parse_from_rfc3339("2026-12-01T06:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    let sample: &[SampleRun] = &[
        ("customer_scores", 0, 0, "SUCCEEDED", 0, 552, 63, 0.44, None),
        ("sales_daily", 0, 12, "SUCCEEDED", 0, 598, 241, 0.61, None),
        (
            "ledger_hourly",
            0,
            20,
            "SUCCEEDED",
            0,
            7,
            118,
            0.05,
            Some("warm"),
        ),
        (
            "ledger_hourly",
            0,
            21,
            "SUCCEEDED",
            95,
            6,
            121,
            0.05,
            Some("warm"),
        ),
        ("clickstream", 0, 30, "SUCCEEDED", 0, 9, 58, 0.03, None),
        ("customer_scores", 1, 0, "SUCCEEDED", 0, 548, 61, 0.43, None),
        ("sales_daily", 1, 12, "FAILED", 0, 603, 187, 0.52, None),
        (
            "ledger_hourly",
            1,
            20,
            "SUCCEEDED",
            0,
            431,
            117,
            0.09,
            Some("cold"),
        ),
        ("clickstream", 1, 30, "SUCCEEDED", 0, 11, 64, 0.03, None),
        ("customer_scores", 2, 0, "SUCCEEDED", 0, 561, 66, 0.45, None),
        ("sales_daily", 2, 12, "SUCCEEDED", 0, 589, 236, 0.60, None),
    ];
    let runs = sample
        .iter()
        .enumerate()
        .map(|(n, &(job, day, minute, status, queued, startup, execution, cost, pool))| {
            let started = start + TimeDelta::days(day) + TimeDelta::minutes(minute);
            let failed = status == "FAILED";
            ReportRun {
                run: Run {
                    run_name: format!("{job}-{}-{n}", started.format("%Y%m%d%H%M")),
                    job: job.into(),
                    status: status.into(),
                    trigger: format!("s3://acme-data-prod/landing/{job}/dt={}/_SUCCESS", started.format("%Y-%m-%d")),
                    started,
                    startup_seconds: Some(startup),
                    execution_seconds: Some(execution),
                    cost_usd: Some(cost),
                    reason: failed.then(|| {
                        "StepFailed: step aggregate: Unknown Error.: java.lang.ArithmeticException: / by zero".into()
                    }),
                    queued_seconds: (queued > 0).then_some(queued),
                    pool: pool.map(|start| json!({"name": "bursts", "start": start})),
                    input: Value::Null,
                    summary: None,
                    outputs: Vec::new(),
                },
                tail: failed.then(|| {
                    Ok((
                        vec![
                            "26/12/02 06:22:10 INFO DAGScheduler: Job 4 failed: save at Aggregate.scala:88".into(),
                            "Exception in thread \"main\" java.lang.ArithmeticException: / by zero".into(),
                            "\tat com.acme.sales.Aggregate$.margin(Aggregate.scala:41)".into(),
                            "\tat com.acme.sales.Aggregate$.main(Aggregate.scala:88)".into(),
                        ],
                        "s3://acme-logs-prod/emr/j-2AXXXXXXGAPLF/containers/application_1764655123_0001/container_1764655123_0001_01_000001/stderr.gz".into(),
                    ))
                }),
            }
        })
        .collect();
    let report = Report {
        since: start,
        until: start + TimeDelta::days(3),
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-prod"
            .into(),
        jobs: Vec::new(),
        runs,
    };
    if let Err(e) = std::fs::write(&out, render(&report)) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
    println!("{out}");
}
