//! AWS's quotas in the emulator (local/emulator/quotas.py, on for the whole suite): a burst of arrivals that meets
//! Step Functions' StartExecution bucket is throttled — and fails no run and loses no arrival.

use crate::harness::*;

impl Aws {
    /// The emulator's quotas and what they throttled.
    fn quotas(&self) -> Value {
        self.stack.control_get("/quotas").unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_throttled_by_the_start_execution_quota_fails_no_run_and_loses_no_arrival() {
    let aws = aws().await;
    // StartExecution's bucket cut to 4 tokens refilled at one a second (us-east-1's is 1,300 and 300 a second): a
    // burst of 12 single-file arrivals meets it at once. Every other test's starts meet it too meanwhile.
    // Setting it starts the emulator's count of throttles afresh.
    let mut quotas = suite_quotas(aws.stack);
    quotas["apis"] = json!({"stepfunctions:StartExecution": [4, 1]});
    aws.stack.control("/quotas", &quotas).unwrap();
    let prefix = unique("throttled");
    let keys: Vec<String> = (0..12)
        .map(|i| format!("landing/orders/{prefix}/part-{i:02}.json"))
        .collect();
    for key in &keys {
        aws.put(key).await;
    }
    // Each arrival ends with its run started: by the trigger's own SDK retries, or by Lambda's retry of the event.
    let mut runs = Vec::new();
    for key in &keys {
        let started = within(
            Duration::from_secs(300),
            "the arrival's run started",
            || async { started_for(&aws, key).is_some() },
        )
        .await;
        let run = started_for(&aws, key).unwrap();
        eprintln!("{key}: {run} started after {:.1} s", started.as_secs_f64());
        runs.push(run);
    }
    let throttled = aws.quotas()["throttled"]["stepfunctions:StartExecution"]
        .as_u64()
        .unwrap_or(0);
    // Back to the suite's quotas before the runs are waited for.
    aws.stack
        .control("/quotas", &suite_quotas(aws.stack))
        .unwrap();
    assert!(throttled > 0, "no StartExecution was throttled");
    eprintln!("12 arrivals under a StartExecution bucket of 4 (1/s): {throttled} throttled starts, 0 lost");
    for run in &runs {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED", "{run}");
    }
}

/// The run the trigger started for `key`'s arrival (in whichever of its invocations did), if it has.
fn started_for(aws: &Aws, key: &str) -> Option<String> {
    aws.stack
        .events(&aws.stack.trigger_function, key)
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"]["detail"]["object"]["key"] == key
                && e["function"] == aws.stack.trigger_function.as_str()
        })
        .find_map(|e| {
            ["started", "duplicates"].iter().find_map(|field| {
                e["answer"][field]
                    .as_array()
                    .and_then(|names| names.first())
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        })
}
