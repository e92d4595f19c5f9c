//! The chaos soak: the whole pipeline on its own local stack while every kind of event is lost, late, doubled or out
//! of order and asynchronous invocations fail — and afterwards, nothing is stuck, leaked, lost or doubled.
//!
//! Runs of every engine, pooled runs, a `max_concurrent_runs = 1` job with five runs queued behind each other, a
//! chain of three jobs, scheduled jobs over simulated hours, failing runs and a console Stop; the emulator's
//! scheduler fires every schedule of the template on a simulated clock (`SECONDS_PER_MINUTE` real seconds a
//! minute: every period scaled alike, so the ratios hold); the chaos drops 20 % of every best-effort kind of event
//! (AWS delivers S3's "Object Created" durably: it is duplicated, delayed and reordered, not dropped), duplicates
//! 10 %, reorders 10 %, delays them up to two backstop periods and fails 5 % of asynchronous invocations. Then the
//! failed-events queue is replayed, and the soak checks what an operator would.
//!
//! `SPARKPLUG_SOAK_ROUNDS` (default 1) repeats the mix of runs: `bench/run --chaos` runs a longer soak.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sparkplug_cli::local::{LocalStack, StartedStack};
use sparkplug_cli::operator::Stack;

/// Real seconds per simulated minute: a 5-minute backstop period is 5 s, the janitor's 10-minute sweep 10 s.
const SECONDS_PER_MINUTE: f64 = 1.0;
/// The backstops' period (the drain, the reconciler, the catch-ups), scaled.
const BACKSTOP_PERIOD: f64 = 5.0 * SECONDS_PER_MINUTE;
/// The simulated clock: a Monday, before customer_scores (06:00 daily) and weekly_report (07:30 on Mondays).
const SIMULATED_START: &str = "2026-11-30T05:58:00Z";
const SCHEDULED_RUNS: &[&str] = &[
    "customer_scores-20261130T060000Z",
    "weekly_report-20261130T073000Z",
];
/// Simulated minutes the scheduler runs before the chaos stops (past 07:30).
const SIMULATED_MINUTES: f64 = 94.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rounds() -> usize {
    std::env::var("SPARKPLUG_SOAK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

struct Soak {
    started: StartedStack,
    sfn: aws_sdk_sfn::Client,
    emr: aws_sdk_emr::Client,
    glue: aws_sdk_glue::Client,
}

impl Soak {
    fn stack(&self) -> &LocalStack {
        &self.started.stack
    }

    fn control(&self, path: &str, body: Value) -> Value {
        self.stack()
            .control(path, &body)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn execution_arn(&self, name: &str) -> String {
        sparkplug::engine::execution::execution_arn(&self.stack().state_machine_arn, name)
    }

    async fn start(&self, name: &str, input: Value) {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.stack().state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("StartExecution {name}: {e:?}"));
    }

    /// Every execution of the state machine: name → status.
    async fn executions(&self) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.stack().state_machine_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for execution in page.unwrap().executions() {
                found.insert(
                    execution.name().to_string(),
                    execution.status().as_str().to_string(),
                );
            }
        }
        found
    }

    async fn active_clusters(&self) -> Vec<String> {
        use aws_sdk_emr::types::ClusterState;
        let clusters = self
            .emr
            .list_clusters()
            .cluster_states(ClusterState::Starting)
            .cluster_states(ClusterState::Bootstrapping)
            .cluster_states(ClusterState::Running)
            .cluster_states(ClusterState::Waiting)
            .send()
            .await
            .unwrap();
        clusters
            .clusters()
            .iter()
            .map(|c| format!("{} {}", c.id().unwrap_or(""), c.name().unwrap_or("")))
            .collect()
    }

    async fn live_glue_runs(&self) -> Vec<String> {
        let mut live = Vec::new();
        let jobs = self.glue.get_jobs().send().await.unwrap();
        for job in jobs.jobs() {
            let name = job.name().unwrap_or_default();
            let runs = self
                .glue
                .get_job_runs()
                .job_name(name)
                .send()
                .await
                .unwrap();
            for run in runs.job_runs() {
                let state = run.job_run_state().map(|s| s.as_str().to_string());
                if matches!(
                    state.as_deref(),
                    Some("STARTING" | "RUNNING" | "STOPPING" | "WAITING")
                ) {
                    live.push(format!("{name}/{}", run.id().unwrap_or("")));
                }
            }
        }
        live
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000)
}

/// The runs started by hand, and how each must end.
#[derive(Default)]
struct Expected {
    status: BTreeMap<String, &'static str>,
    /// Runs whose end alerts (failed, stopped; or succeeded and asked to).
    alerted: BTreeSet<String>,
}

#[tokio::test(flavor = "multi_thread")]
async fn under_chaos_every_run_ends_as_its_faults_say_and_nothing_is_stuck_leaked_lost_or_doubled()
{
    let dir = repo().join(".local");
    let id = std::process::id();
    let started = StartedStack::start(
        &repo(),
        &["dev"],
        &dir.join(format!("soak-{id}.json")),
        &dir.join(format!("soak-{id}.log")),
        Duration::from_secs(1200),
    )
    .unwrap_or_else(|e| panic!("cannot start the local stack: {e}"));
    let config = sparkplug_cli::local::sdk_config(&started.stack).await;
    let soak = Soak {
        sfn: aws_sdk_sfn::Client::new(&config),
        emr: aws_sdk_emr::Client::new(&config),
        glue: aws_sdk_glue::Client::new(&config),
        started,
    };
    soak.control(
        "/settings",
        json!({"step_seconds": 2, "cluster_start_seconds": 1, "bootstrap_seconds": 0.5, "glue_run_seconds": 2,
               "serverless_run_seconds": 2, "step_log_delay_seconds": 0.5, "async_retry_seconds": 0.5}),
    );
    // The chaos, seeded: every best-effort kind dropped at 20 %, every kind duplicated at 10 % and reordered at
    // 10 %, delayed up to two backstop periods; 5 % of asynchronous invocations fail.
    let chaos = soak.control(
        "/faults",
        json!({"chaos": {"drop": 0.2, "duplicate": 0.1, "reorder": 0.1,
            "delay_seconds": [0, 2.0 * BACKSTOP_PERIOD], "delay": 0.3, "async_failure": 0.05, "seed": 7}}),
    );
    eprintln!("soak: chaos {chaos}");
    // Every schedule of the template on the simulated clock; the backstops' inputs as deployed, but for the ages
    // they wait (the reconciler's 180 s, the catch-ups' 60 s grace) scaled like every period; the pools' minute look
    // without warm-ups (the soak's runs, not a morning's warm-up, fill the pools).
    let scaled = |seconds: f64| (seconds / 60.0 * SECONDS_PER_MINUTE).ceil() as i64;
    soak.control(
        "/scheduler",
        json!({"seconds_per_minute": SECONDS_PER_MINUTE, "start": SIMULATED_START, "inputs": {
            "sparkplug-dev-reconcile": {"reconcile": true, "older_than_seconds": scaled(180.0)},
            "sparkplug-dev-chains-catch-up": {"catch_up": true, "grace_seconds": scaled(60.0)},
            "sparkplug-dev-alerts-catch-up": {"catch_up": true, "grace_seconds": scaled(60.0)},
            "sparkplug-dev-release-idle": {"release_idle": true}
        }}),
    );
    let soak_started = Instant::now();

    let mut expected = Expected::default();
    let data_bucket = soak.stack().data_bucket.clone();
    for round in 0..rounds() {
        // EMR: two that succeed, one whose step fails, one stopped from the console.
        for _ in 0..2 {
            let run = unique("hello_world-soak");
            soak.start(&run, json!({"job": "hello_world", "run_name": run}))
                .await;
            expected.status.insert(run, "SUCCEEDED");
        }
        let failing = unique("hello_world-soak-fails");
        soak.control(
            "/faults",
            json!({"run": failing, "fail_step": {"name": "hello_world", "reason": "Unknown Error.",
                "message": "java.lang.RuntimeException: boom"}}),
        );
        soak.start(&failing, json!({"job": "hello_world", "run_name": failing}))
            .await;
        expected.status.insert(failing.clone(), "FAILED");
        expected.alerted.insert(failing);
        let stopped = unique("hello_world-soak-stopped");
        soak.control("/faults", json!({"run": stopped, "step_seconds": 60}));
        soak.start(&stopped, json!({"job": "hello_world", "run_name": stopped}))
            .await;
        expected.status.insert(stopped.clone(), "ABORTED");
        expected.alerted.insert(stopped.clone());
        // EMR Serverless, and pooled runs on the interactive pool.
        for job in ["orders_enrich", "orders_enrich", "quick_pi", "quick_pi"] {
            let run = unique(&format!("{job}-soak"));
            let input = format!("s3://{data_bucket}/orders/{run}.json");
            soak.start(&run, json!({"job": job, "run_name": run, "input": input}))
                .await;
            expected.status.insert(run, "SUCCEEDED");
        }
        // Five runs of a job that runs one at a time: queued behind each other.
        for _ in 0..5 {
            let run = unique("ledger_close-soak");
            soak.start(&run, json!({"job": "ledger_close", "run_name": run}))
                .await;
            expected.status.insert(run, "SUCCEEDED");
        }
        // The chain partner_feed → partner_report → partner_digest: two feeds succeed, one fails (no chain).
        for n in 0..3 {
            let run = unique("partner_feed-soak");
            if n == 2 {
                soak.control(
                    "/faults",
                    json!({"run": run, "fail_glue_run": {"message": "bad CSV"}}),
                );
                expected.status.insert(run.clone(), "FAILED");
                expected.alerted.insert(run.clone());
            } else {
                expected.status.insert(run.clone(), "SUCCEEDED");
            }
            let input = format!("s3://acme-partner-dev/incoming/{run}.csv");
            soak.start(
                &run,
                json!({"job": "partner_feed", "run_name": run, "input": input}),
            )
            .await;
        }
        // S3 arrivals (sales_daily, two steps on EMR): their runs are named by the trigger. The trigger fails on the
        // first one's event on every attempt — Lambda's first and both retries, of each delivery if the chaos doubles
        // it — so it reaches the failed-events queue (a replay invokes the function directly, without the fault).
        for n in 0..2 {
            let key = format!("landing/sales/soak-{round}-{n}-{id}/_SUCCESS");
            if n == 0 {
                soak.control(
                    "/faults",
                    json!({"run": key, "lambda_errors": [
                        {"function": "trigger", "detail_type": "Object Created", "times": 6}]}),
                );
            }
            soak.control(
                "/put-object",
                json!({"bucket": data_bucket, "key": key, "body": "x"}),
            );
        }
        // The console Stop, once its cluster runs its step.
        tokio::time::sleep(Duration::from_secs(8)).await;
        soak.sfn
            .stop_execution()
            .execution_arn(soak.execution_arn(&stopped))
            .send()
            .await
            .unwrap();
    }
    for run in SCHEDULED_RUNS {
        expected.status.insert(run.to_string(), "SUCCEEDED");
    }
    // customer_scores alerts on success too.
    expected.alerted.insert(SCHEDULED_RUNS[0].to_string());

    // The simulated hours pass (the scheduled minutes among them) under the chaos; midway the operator replays the
    // failed-events queue (what landed there by then: the arrivals whose trigger failed), then the chaos stops.
    let operator = Stack::local(soak.stack(), "dev").await.unwrap();
    let chaos_for = Duration::from_secs_f64(SIMULATED_MINUTES * SECONDS_PER_MINUTE);
    tokio::time::sleep((chaos_for / 2).saturating_sub(soak_started.elapsed())).await;
    let replay = operator.replay_failed(false).await.unwrap();
    assert!(
        replay.failed.is_empty() && replay.unreadable.is_empty(),
        "{replay:?}"
    );
    let mut replayed: Vec<String> = replay
        .replayed
        .into_iter()
        .map(|(function, _)| function)
        .collect();
    tokio::time::sleep(chaos_for.saturating_sub(soak_started.elapsed())).await;
    let chaos_report = soak.stack().control_get("/chaos").unwrap();
    soak.control("/faults", json!({"chaos": null}));
    eprintln!("soak: chaos stopped; it did {chaos_report}");
    let last_fault = Instant::now();

    // Settle: the backstops keep running on their schedules; the failed-events queue is replayed again as an
    // operator would (`sparkplug replay-failed`). Converged: every expected run ended, every chained and S3 run
    // ended, nothing left running, no drift.
    let loaded = sparkplug::load::from_file(&repo().join("jobs.toml")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let settled = loop {
        let replay = operator.replay_failed(false).await.unwrap();
        assert!(
            replay.failed.is_empty() && replay.unreadable.is_empty(),
            "{replay:?}"
        );
        replayed.extend(replay.replayed.into_iter().map(|(function, _)| function));
        let executions = soak.executions().await;
        let running: Vec<&String> = executions
            .iter()
            .filter(|(_, status)| *status == "RUNNING")
            .map(|(name, _)| name)
            .collect();
        let missing: Vec<&String> = expected
            .status
            .keys()
            .filter(|run| !executions.contains_key(*run))
            .collect();
        let chained = chains_complete(&executions);
        let diagnosis = operator.diagnose(&loaded.catalog).await.unwrap();
        if running.is_empty() && missing.is_empty() && chained.is_ok() && diagnosis.is_healthy() {
            let settled = last_fault.elapsed();
            eprintln!(
                "soak: converged {:.1} s after the chaos stopped",
                settled.as_secs_f64()
            );
            break settled;
        }
        assert!(
            Instant::now() < deadline,
            "not converged: running {running:?}, missing {missing:?}, chains {chained:?}, drift {:?}",
            diagnosis.findings
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Pool clusters are kept warm for their idle_minutes (real minutes: the look compares the clock): the minute look
    // is asked as if that time had passed, then nothing runs.
    let later = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    soak.stack()
        .invoke("janitor", &json!({"release_idle": true, "time": later}))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let clusters = soak.active_clusters().await;
        let glue = soak.live_glue_runs().await;
        if clusters.is_empty() && glue.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left running: clusters {clusters:?}, Glue runs {glue:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    soak.control("/scheduler", json!({"off": true}));

    // Every run ended as its faults say.
    let executions = soak.executions().await;
    for (run, status) in &expected.status {
        assert_eq!(
            executions.get(run).map(String::as_str),
            Some(*status),
            "{run}"
        );
    }
    // Every S3 arrival started its run once (named by the trigger), and each succeeded.
    let arrivals: Vec<_> = executions
        .iter()
        .filter(|(name, _)| name.starts_with("sales_daily-"))
        .collect();
    assert_eq!(arrivals.len(), 2 * rounds(), "{arrivals:?}");
    assert!(
        arrivals.iter().all(|(_, s)| *s == "SUCCEEDED"),
        "{arrivals:?}"
    );
    // Every scheduled minute started exactly one run (named by job and minute: one name, one run).
    for job in ["customer_scores", "weekly_report"] {
        let scheduled: Vec<_> = executions
            .keys()
            .filter(|name| name.starts_with(&format!("{job}-2026")))
            .collect();
        assert_eq!(scheduled.len(), 1, "{job}: {scheduled:?}");
    }
    // Every downstream job ran exactly once per upstream success.
    chains_complete(&executions).unwrap();
    // Every failed, stopped or alerting run alerted exactly once.
    let messages = soak.stack().control_get("/sns").unwrap();
    let mut alerts: BTreeMap<String, usize> = BTreeMap::new();
    for message in messages.as_array().unwrap() {
        let text = message["email"].as_str().unwrap_or_default();
        if let Some(run) = text
            .lines()
            .find_map(|line| line.strip_prefix("run: "))
            .and_then(|rest| rest.split_whitespace().next())
        {
            *alerts.entry(run.to_string()).or_default() += 1;
        }
    }
    for run in &expected.alerted {
        assert_eq!(
            alerts.get(run),
            Some(&1),
            "{run} alerted {:?} times",
            alerts.get(run)
        );
    }
    assert!(
        alerts.values().all(|n| *n == 1),
        "an alert sent twice: {alerts:?}"
    );
    // Slots free, queues empty, nothing left behind; the failed-events queue replayed to the last message.
    let diagnosis = operator.diagnose(&loaded.catalog).await.unwrap();
    assert!(diagnosis.is_healthy(), "{:?}", diagnosis.findings);
    assert_eq!(diagnosis.failed_events.messages, 0);
    let on_failure = chaos_report["on_failure"].as_u64().unwrap_or(0);
    assert!(
        replayed.iter().filter(|f| f.as_str() == "trigger").count() >= rounds(),
        "the arrivals whose trigger failed past its retries were replayed: {replayed:?}"
    );
    eprintln!(
        "soak: {} executions, {} alerts, {} events replayed from the failed-events queue ({} handed to it), \
         settle time {:.1} s after the last fault (backstop period {BACKSTOP_PERIOD:.1} s, sweep {:.1} s; \
         {SECONDS_PER_MINUTE} s a simulated minute)",
        executions.len(),
        alerts.values().sum::<usize>(),
        replayed.len(),
        on_failure,
        settled.as_secs_f64(),
        2.0 * BACKSTOP_PERIOD,
    );
    assert!(
        settled.as_secs_f64() <= 2.0 * BACKSTOP_PERIOD + 2.0 * BACKSTOP_PERIOD + SECONDS_PER_MINUTE,
        "settled {settled:?} after the last fault: more than the delay the chaos allows plus a period and a minute"
    );
}

/// Each succeeded partner_feed has exactly one partner_report after it, and each succeeded partner_report one
/// partner_digest; no chained run exists without its upstream's success.
fn chains_complete(executions: &BTreeMap<String, String>) -> Result<(), String> {
    use sparkplug::run::runkey::for_upstream;
    for (upstream_job, downstream_job) in [
        ("partner_feed", "partner_report"),
        ("partner_report", "partner_digest"),
    ] {
        let succeeded: BTreeSet<String> = executions
            .iter()
            .filter(|(name, status)| {
                name.starts_with(&format!("{upstream_job}-")) && *status == "SUCCEEDED"
            })
            .map(|(name, _)| for_upstream(downstream_job, name))
            .collect();
        let downstream: BTreeSet<String> = executions
            .keys()
            .filter(|name| name.starts_with(&format!("{downstream_job}-after-")))
            .cloned()
            .collect();
        if succeeded != downstream {
            return Err(format!(
                "{downstream_job}: expected one run after each {upstream_job} success {succeeded:?}, found {downstream:?}"
            ));
        }
        if let Some((name, status)) = executions
            .iter()
            .find(|(name, status)| downstream.contains(*name) && *status != "SUCCEEDED")
        {
            return Err(format!("{name} is {status}"));
        }
    }
    Ok(())
}
