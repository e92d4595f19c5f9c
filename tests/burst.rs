//! The quota-scaled burst: Step Functions' and Lambda's quotas at 1/K of AWS's (local/emulator/quotas.py; each run's
//! own EMR, Glue and EMR Serverless calls meet AWS's unscaled numbers), and 10,000/K arrivals written within one
//! minute over jobs of every engine — transient EMR clusters, a warm pool, EMR Serverless and batched Glue runs —
//! with the stack's schedules firing in real time (the trigger's minute tick starts what a throttle parked). It
//! reports arrivals → executions started → runs ended, the achieved admission and state-transition rates against
//! their buckets' refill, p50/p99 arrival → execution start, what was throttled, failed runs and lost arrivals; and
//! fails on a failed run or a lost arrival.
//!
//! `SPARKPLUG_BURST_K` (default 250: 40 arrivals, the short variant the test suite runs) and
//! `SPARKPLUG_BURST_REGION` (default us-east-1; eu-west-3 has the lower quotas): `bench/run --burst K [REGION]` runs
//! a bigger one and writes its figures to `$CARGO_TARGET_DIR/bench-burst.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sparkplug_cli::local::StartedStack;

const ARRIVALS_AT_K1: f64 = 10_000.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn k() -> f64 {
    std::env::var("SPARKPLUG_BURST_K")
        .ok()
        .and_then(|k| k.parse().ok())
        .filter(|k: &f64| *k >= 1.0)
        .unwrap_or(250.0)
}

fn region() -> String {
    std::env::var("SPARKPLUG_BURST_REGION").unwrap_or_else(|_| "us-east-1".to_string())
}

/// Step Functions' StartExecution and state-transition buckets in `region` (Developer Guide, "Step Functions service
/// quotas"): (size, refill per second).
fn documented(region: &str) -> ((f64, f64), (f64, f64)) {
    if ["us-east-1", "us-west-2", "eu-west-1"].contains(&region) {
        ((1300.0, 300.0), (5000.0, 1500.0))
    } else {
        ((800.0, 150.0), (800.0, 500.0))
    }
}

/// One arrival: its key, the job it is for, and when it was written.
struct Arrival {
    key: String,
    job: &'static str,
    batched: bool,
    written: DateTime<Utc>,
}

/// The jobs an arrival goes to, in turn: every engine.
const KINDS: [(&str, &str, bool); 4] = [
    ("sales_daily", "landing/sales/{burst}/{n}/_SUCCESS", false),
    ("orders_enrich", "landing/orders/{burst}/{n}.json", false),
    ("clicks_hourly", "landing/clicks/{burst}/{n}.json", false),
    ("events_compact", "landing/events/{burst}/{n}.json", true),
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn time_of(value: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(value.to_millis().unwrap_or_default()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_at_the_scaled_quotas_is_admitted_at_their_rate_and_fails_no_run_and_loses_no_arrival(
) {
    let (k, region) = (k(), region());
    let count = (ARRIVALS_AT_K1 / k).round().max(4.0) as usize;
    let dir = repo().join(".local");
    let id = std::process::id();
    let started = StartedStack::start(
        &repo(),
        &["dev"],
        &dir.join(format!("burst-{id}.json")),
        &dir.join(format!("burst-{id}.log")),
        Duration::from_secs(1200),
    )
    .unwrap_or_else(|e| panic!("cannot start the local stack: {e}"));
    let stack = &started.stack;
    let control = |path: &str, body: Value| {
        stack
            .control(path, &body)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let config = sparkplug_cli::local::sdk_config(stack).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    control(
        "/settings",
        json!({"step_seconds": 2, "cluster_start_seconds": 2, "bootstrap_seconds": 0.5, "glue_run_seconds": 2,
               "serverless_run_seconds": 2, "step_log_delay_seconds": 0.5, "async_retry_seconds": 1}),
    );
    control(
        "/quotas",
        json!({"scale": k, "region": region, "scaled_services": ["stepfunctions", "lambda"]}),
    );
    // Every schedule of the template in real time: the trigger's tick each minute, the backstops at their periods.
    let now = Utc::now();
    control(
        "/scheduler",
        json!({"seconds_per_minute": 60.0, "start": now.to_rfc3339()}),
    );
    let ((start_size, start_rate), (transition_size, transition_rate)) = documented(&region);
    eprintln!(
        "burst: {count} arrivals in one minute at K = {k} in {region}: StartExecution {:.1} burst, {:.2}/s; state \
         transitions {:.1} burst, {:.2}/s",
        start_size / k,
        start_rate / k,
        transition_size / k,
        transition_rate / k
    );

    // The arrivals, evenly over one minute; the emulator's quotas sampled every second meanwhile and after.
    let burst = format!("burst{}", id % 100_000);
    let pace = Duration::from_secs_f64(60.0 / count as f64);
    let began = Instant::now();
    let mut arrivals = Vec::new();
    let mut samples: Vec<(f64, Value)> = Vec::new();
    for n in 0..count {
        let (job, pattern, batched) = KINDS[n % KINDS.len()];
        let key = pattern
            .replace("{burst}", &burst)
            .replace("{n}", &format!("{n:05}"));
        control(
            "/put-object",
            json!({"bucket": stack.data_bucket, "key": key, "body": "x"}),
        );
        arrivals.push(Arrival {
            key,
            job,
            batched,
            written: Utc::now(),
        });
        if samples
            .last()
            .is_none_or(|(at, _)| began.elapsed().as_secs_f64() - at >= 1.0)
        {
            samples.push((
                began.elapsed().as_secs_f64(),
                stack.control_get("/quotas").unwrap(),
            ));
        }
        tokio::time::sleep((pace * (n as u32 + 1)).saturating_sub(began.elapsed())).await;
    }

    // Every arrival's run: named by the trigger's answer (started, a duplicate, or parked for a tick); a batched
    // object's, by the manifest of the batch that took it.
    let deadline = Instant::now() + Duration::from_secs(60 * 30);
    let mut run_of: BTreeMap<String, String> = BTreeMap::new();
    let mut batch_runs: BTreeSet<String> = BTreeSet::new();
    let mut batched_in: BTreeSet<String> = BTreeSet::new();
    let mut execution_started: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut ended: BTreeMap<String, String> = BTreeMap::new();
    loop {
        for arrival in arrivals.iter().filter(|a| !a.batched) {
            if run_of.contains_key(&arrival.key) {
                continue;
            }
            let answered = stack
                .events(&stack.trigger_function, &arrival.key)
                .unwrap_or_default()
                .iter()
                .filter(|e| e["event"]["detail"]["object"]["key"] == arrival.key.as_str())
                .find_map(|e| {
                    ["started", "duplicates", "parked"]
                        .iter()
                        .find_map(|field| e["answer"][*field][0].as_str().map(str::to_string))
                });
            if let Some(run) = answered {
                run_of.insert(arrival.key.clone(), run);
            }
        }
        // The state machine's executions since the burst began: starts, ends, and the batches' runs.
        let mut pages = sfn
            .list_executions()
            .state_machine_arn(&stack.state_machine_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for execution in page.unwrap().executions() {
                let started = time_of(execution.start_date());
                if started < now {
                    continue;
                }
                let name = execution.name().to_string();
                execution_started.insert(name.clone(), started);
                let status = execution.status().as_str().to_string();
                if status != "RUNNING" {
                    ended.insert(name.clone(), status);
                }
                if name.starts_with("events_compact-batch-") && batch_runs.insert(name.clone()) {
                    let described = sfn
                        .describe_execution()
                        .execution_arn(execution.execution_arn())
                        .send()
                        .await
                        .unwrap();
                    let plan: Value =
                        serde_json::from_str(described.input().unwrap_or("{}")).unwrap_or_default();
                    let manifest = &plan["trigger"]["manifest"];
                    if let (Some(bucket), Some(key)) =
                        (manifest["bucket"].as_str(), manifest["key"].as_str())
                    {
                        let body = s3
                            .get_object()
                            .bucket(bucket)
                            .key(key)
                            .send()
                            .await
                            .unwrap();
                        let body = body.body.collect().await.unwrap().into_bytes();
                        let manifest: Value = serde_json::from_slice(&body).unwrap_or_default();
                        for object in manifest["objects"].as_array().into_iter().flatten() {
                            if let Some(uri) = object.as_str() {
                                batched_in.insert(uri.to_string());
                            }
                        }
                    }
                }
            }
        }
        samples.push((
            began.elapsed().as_secs_f64(),
            stack.control_get("/quotas").unwrap(),
        ));
        let placed = |a: &Arrival| batched_in.iter().any(|uri| uri.ends_with(&a.key));
        let waiting_for_start = arrivals
            .iter()
            .filter(|a| {
                if a.batched {
                    !placed(a)
                } else {
                    run_of
                        .get(&a.key)
                        .is_none_or(|run| !execution_started.contains_key(run))
                }
            })
            .count();
        let runs: BTreeSet<&String> = run_of.values().chain(batch_runs.iter()).collect();
        let running = runs.iter().filter(|run| !ended.contains_key(**run)).count();
        if waiting_for_start == 0 && running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 minutes {waiting_for_start} arrivals have no execution and {running} runs still run"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let finished = began.elapsed().as_secs_f64();

    // The figures.
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter(|a| !a.batched)
        .filter_map(|a| {
            let started = execution_started.get(run_of.get(&a.key)?)?;
            Some((*started - a.written).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let runs: BTreeSet<&String> = run_of.values().chain(batch_runs.iter()).collect();
    let mut failed: Vec<String> = Vec::new();
    for run in runs
        .iter()
        .filter(|run| ended.get(**run).map(String::as_str) != Some("SUCCEEDED"))
    {
        // Why, as the execution says.
        let described = sfn
            .describe_execution()
            .execution_arn(sparkplug::engine::execution::execution_arn(
                &stack.state_machine_arn,
                run,
            ))
            .send()
            .await;
        let why = described.map_or_else(
            |e| format!("{e}"),
            |d| format!("{}: {}", d.error().unwrap_or("-"), d.cause().unwrap_or("-")),
        );
        failed.push(format!("{run} {:?}: {why}", ended.get(*run)));
    }
    let lost: Vec<&str> = arrivals
        .iter()
        .filter(|a| {
            if a.batched {
                !batched_in.iter().any(|uri| uri.ends_with(&a.key))
            } else {
                !run_of.contains_key(&a.key)
            }
        })
        .map(|a| a.key.as_str())
        .collect();
    // Each bucket that refused calls: the rate it let calls through while it was refusing them (the sample
    // intervals in which its refusals grew), against its refill — how close sparkplug keeps a saturated quota busy.
    let bucket = |sample: &Value, name: &str, field: &str| {
        sample["buckets"][name][field].as_f64().unwrap_or(0.0)
    };
    let mut saturation = BTreeMap::new();
    if let Some(last) = samples.last() {
        for (name, state) in last.1["buckets"].as_object().into_iter().flatten() {
            if state["refused"].as_f64().unwrap_or(0.0) == 0.0 {
                continue;
            }
            let mut seconds = 0.0;
            let mut let_through = 0.0;
            for w in samples.windows(2) {
                if bucket(&w[1].1, name, "refused") > bucket(&w[0].1, name, "refused") {
                    seconds += w[1].0 - w[0].0;
                    let_through += bucket(&w[1].1, name, "taken") - bucket(&w[0].1, name, "taken");
                }
            }
            let refill = state["rate"].as_f64().unwrap_or(f64::NAN);
            let achieved = (seconds > 0.0).then(|| let_through / seconds);
            saturation.insert(
                name.clone(),
                json!({"refill_per_second": refill, "refused": state["refused"], "seconds_refusing": seconds,
                    "achieved_per_second_while_refusing": achieved,
                    "fraction_of_refill": achieved.map(|a| a / refill)}),
            );
        }
    }
    // The binding quota: the bucket that refused the most.
    let binding = saturation
        .iter()
        .max_by(|a, b| {
            a.1["refused"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b.1["refused"].as_f64().unwrap_or(0.0))
        })
        .map(|(name, _)| name.clone());
    let quotas = stack.control_get("/quotas").unwrap();
    let mut by_job: BTreeMap<&str, usize> = BTreeMap::new();
    for arrival in &arrivals {
        *by_job.entry(arrival.job).or_default() += 1;
    }
    let figures = json!({
        "arrivals_by_job": by_job,
        "k": k, "region": region, "arrivals": count, "batched_arrivals": arrivals.iter().filter(|a| a.batched).count(),
        "executions_started": execution_started.len(), "runs": runs.len(),
        "runs_ended": runs.iter().filter(|r| ended.contains_key(**r)).count(),
        "failed_runs": failed.len(), "lost_arrivals": lost.len(),
        "seconds_to_settle": finished.round(),
        "arrival_to_start_seconds": {"p50": percentile(&latencies, 50.0), "p99": percentile(&latencies, 99.0),
            "max": latencies.last().copied().unwrap_or(f64::NAN)},
        "binding": binding, "saturated_buckets": saturation,
        "throttled": quotas["throttled"], "transitions_delayed": quotas["transitions_delayed"],
    });
    eprintln!("burst: {}", serde_json::to_string_pretty(&figures).unwrap());
    if let Ok(target) = std::env::var("CARGO_TARGET_DIR") {
        let _ = std::fs::write(
            Path::new(&target).join("bench-burst.json"),
            serde_json::to_string_pretty(&figures).unwrap(),
        );
    }
    assert!(failed.is_empty(), "failed runs:\n{}", failed.join("\n"));
    assert!(lost.is_empty(), "lost arrivals: {lost:?}");
    // The burst met a quota: executions waited for state transitions (the bucket a burst of runs meets first,
    // each run entering a dozen states), or starts were throttled.
    let met = quotas["transitions_delayed"].as_u64().unwrap_or(0) > 0
        || quotas["throttled"]
            .as_object()
            .is_some_and(|throttled| !throttled.is_empty());
    assert!(met, "the burst met no quota: {figures}");
}
