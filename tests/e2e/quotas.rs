//! AWS's quotas in the emulator (local/emulator/quotas.py, on for the whole suite): a burst of arrivals that meets
//! Step Functions' StartExecution bucket is throttled — and fails no run and loses no arrival; runs past the
//! catalog's `[limits]` wait their turn instead of meeting Glue's account quota.

use crate::harness::*;

impl Aws {
    /// The emulator's quotas and what they throttled.
    fn quotas(&self) -> Value {
        self.stack.control_get("/quotas").unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_throttled_by_the_start_execution_quota_fails_no_run_and_loses_no_arrival() {
    // Alone on the stack: the bucket is the account's.
    let aws = aws_alone().await;
    // StartExecution's bucket cut to 2 tokens refilled at one every 5 seconds (us-east-1's is 1,300 and 300 a second):
    // a burst of 12 single-file arrivals meets it at once, and some outlast the SDK's retries. Setting it starts the emulator's count of throttles afresh.
    let mut quotas = suite_quotas(aws.stack);
    quotas["apis"] = json!({"stepfunctions:StartExecution": [2, 0.2]});
    aws.stack.control("/quotas", &quotas).unwrap();
    let prefix = unique("throttled");
    let keys: Vec<String> = (0..12)
        .map(|i| format!("landing/orders/{prefix}/part-{i:02}.json"))
        .collect();
    for key in &keys {
        aws.put(key).await;
    }
    // Each arrival is answered with its run started (the trigger's own SDK retries got through) or parked (still
    // throttled: kept in the run table with its input).
    let mut runs = Vec::new();
    for key in &keys {
        let answered = within(
            Duration::from_secs(300),
            "the arrival's run started or parked",
            || async { run_for(&aws, key).is_some() },
        )
        .await;
        let (run, how) = run_for(&aws, key).unwrap();
        eprintln!("{key}: {run} {how} after {:.1} s", answered.as_secs_f64());
        runs.push(run);
    }
    // The ticks start the parked runs as the bucket refills (here invoked as the minute schedule would).
    let mut parked = 0;
    for run in &runs {
        if !execution_exists_now(&aws, run).await {
            parked += 1;
        }
    }
    within(
        Duration::from_secs(300),
        "every parked run started by a tick",
        || async {
            aws.stack
                .invoke(
                    "trigger",
                    &json!({"tick": true, "time": chrono::Utc::now().to_rfc3339()}),
                )
                .unwrap();
            for run in &runs {
                if !execution_exists_now(&aws, run).await {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let throttled = aws.quotas()["throttled"]["stepfunctions:StartExecution"]
        .as_u64()
        .unwrap_or(0);
    // Back to the suite's quotas before the runs are waited for.
    aws.stack
        .control("/quotas", &suite_quotas(aws.stack))
        .unwrap();
    assert!(throttled > 0, "no StartExecution was throttled");
    assert!(parked > 0, "no start was parked");
    eprintln!(
        "12 arrivals under a StartExecution bucket of 2 (0.2/s): {throttled} throttled starts, {parked} runs parked \
         and started by a tick, 0 lost"
    );
    for run in &runs {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED", "{run}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_past_the_catalogs_glue_limit_wait_their_turn_and_glue_refuses_none() {
    // Alone on the stack: the account's Glue runs are this test's only.
    let aws = aws_alone().await;
    // The account runs 10 Glue jobs at once, as jobs.toml's [limits] glue_concurrent_runs says: past it, StartJobRun
    // is refused with ConcurrentRunsExceededException (counted by the emulator as glue:ConcurrentRuns).
    let mut quotas = suite_quotas(aws.stack);
    quotas["glue_concurrent_runs"] = json!(10);
    aws.stack.control("/quotas", &quotas).unwrap();
    // 16 runs at once of two Glue jobs: customer_scores (no queue of its own) and ledger_close (one at a time).
    let runs: Vec<(&str, String)> = (0..16)
        .map(|i| {
            let job = if i % 4 == 3 {
                "ledger_close"
            } else {
                "customer_scores"
            };
            (job, unique(&format!("glue-limit-{i:02}")))
        })
        .collect();
    for (_, run) in &runs {
        aws.fault(run, json!({"glue_run_seconds": 8})).await;
    }
    for (job, run) in &runs {
        aws.start(job, run).await;
    }
    let mut waited = 0;
    let mut failed = Vec::new();
    for (_, run) in &runs {
        let finished = aws.wait(run, RUN).await;
        if finished.status != "SUCCEEDED" {
            failed.push(format!("{run}: {} {:?}", finished.status, finished.cause));
        }
        if finished.output["queued_seconds"].as_i64().unwrap_or(0) > 0 {
            waited += 1;
        }
    }
    let refused = aws.quotas()["throttled"]["glue:ConcurrentRuns"]
        .as_u64()
        .unwrap_or(0);
    aws.stack
        .control("/quotas", &suite_quotas(aws.stack))
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(refused, 0, "StartJobRun refused past the account's quota");
    // 6 runs past the limit waited at least, and ledger_close's 4 ran one after the other.
    assert!(waited >= 6, "only {waited} runs waited for a slot");
    eprintln!(
        "16 Glue runs under a limit of 10: {waited} waited their turn, 0 refused by Glue, 0 failed"
    );
}

/// The run the trigger answered `key`'s arrival with (in whichever of its invocations did), and how: started, a
/// duplicate, or parked.
fn run_for(aws: &Aws, key: &str) -> Option<(String, &'static str)> {
    aws.stack
        .events(&aws.stack.trigger_function, key)
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"]["detail"]["object"]["key"] == key
                && e["function"] == aws.stack.trigger_function.as_str()
        })
        .find_map(|e| {
            ["started", "duplicates", "parked"]
                .iter()
                .find_map(|field| {
                    e["answer"][*field]
                        .as_array()
                        .and_then(|names| names.first())
                        .and_then(Value::as_str)
                        .map(|run| (run.to_string(), *field))
                })
        })
}

/// Whether the run's execution exists (the test's own call: the quotas count only the stack's).
async fn execution_exists_now(aws: &Aws, run: &str) -> bool {
    aws.sfn
        .describe_execution()
        .execution_arn(aws.execution_arn(run))
        .send()
        .await
        .is_ok()
}
