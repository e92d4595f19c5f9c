//! `sparkplug local demo`: the whole pipeline on this machine. Starts the local stack, drops a file into the data
//! bucket and follows the EMR run it starts, runs the Glue job, shows a failing step ending FAILED with its reason and
//! its cluster TERMINATED, a run on instance fleets, two runs on a warm pool (cold, then warm; the pool's cluster
//! released once idle) and an EMR Serverless job run. Exits 0 only if every run ended as expected.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sparkplug_cli::local::{LocalStack, StartedStack};

use crate::output::{self, say, spinner, table};
use crate::remote::{follow, print_outcome, run_input, Outcome, Target};

const RUN_LIMIT: Duration = Duration::from_secs(300);

struct Expectation {
    title: &'static str,
    status: &'static str,
    error: Option<&'static str>,
    /// A pooled run: whether it starts its pool's cluster (cold) or joins it (warm).
    start: Option<&'static str>,
}

pub async fn demo(repo: &Path) -> Result<(), String> {
    say!(
        "Starting the local stack (AWS emulator, the 13 Lambda functions, the run state machine)…"
    );
    let started = Instant::now();
    let waiting = spinner("starting the local stack");
    let stack = StartedStack::start(
        repo,
        &["dev"],
        &repo.join(".local/demo-state.json"),
        &repo.join(".local/demo.log"),
        Duration::from_secs(900),
    );
    waiting.finish_and_clear();
    let stack = stack?;
    say!(
        "ready in {:.0} s: AWS endpoint {}, functions {}\n",
        started.elapsed().as_secs_f64(),
        stack.stack.endpoint,
        stack.stack.lambda_endpoint
    );
    let target = Target::local(&stack.stack).await;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let mut results: Vec<(Expectation, Outcome)> = Vec::new();

    // 1. An arrival: the sales writer finishes a day; the trigger starts sales_daily on EMR.
    let key = format!(
        "landing/sales/dt={}/_SUCCESS",
        chrono::Utc::now().format("%Y-%m-%d-%H%M%S")
    );
    say!(
        "1. s3://{}/{key} arrives → sales_daily (EMR, 2 steps, spot task nodes)",
        stack.stack.data_bucket
    );
    stack.stack.control(
        "/put-object",
        &json!({"bucket": stack.stack.data_bucket, "key": key, "body": ""}),
    )?;
    let run_name = started_run(&stack.stack, &key).await?;
    let outcome = follow(&target, &run_name, RUN_LIMIT).await?;
    print_outcome(&outcome);
    results.push((
        Expectation {
            title: "EMR run from an S3 arrival",
            status: "SUCCEEDED",
            error: None,
            start: None,
        },
        outcome,
    ));

    // 2. A Glue batch, started like the console does: {"job": "customer_scores"}.
    say!("\n2. {{\"job\": \"customer_scores\"}} → Glue (generic jar runner)");
    let run_name = format!("customer_scores-demo-{stamp}");
    let outcome = console_run(&target, "customer_scores", &run_name).await?;
    results.push((
        Expectation {
            title: "Glue run from the console input",
            status: "SUCCEEDED",
            error: None,
            start: None,
        },
        outcome,
    ));

    // 3. A failing step: the run fails with the step's reason and log file, and the cluster is terminated.
    say!("\n3. hello_world with a step that fails → FAILED, cluster TERMINATED");
    let run_name = format!("hello_world-demo-fail-{stamp}");
    stack.stack.control(
        "/faults",
        &json!({"run": run_name, "fail_step": {"name": "hello_world", "reason": "Unknown Error.",
            "message": "Exception in thread \"main\" java.lang.ArithmeticException: / by zero",
            "log_file": "s3://acme-logs-dev/emr/demo/steps/stderr.gz"}}),
    )?;
    let outcome = console_run(&target, "hello_world", &run_name).await?;
    results.push((
        Expectation {
            title: "EMR run with a failing step",
            status: "FAILED",
            error: Some("StepFailed"),
            start: None,
        },
        outcome,
    ));

    // 4. Instance fleets: several instance types, on-demand and spot capacity (the plan's Instances.InstanceFleets).
    say!(
        "\n4. {{\"job\": \"fleet_pi\"}} → EMR on instance fleets (spot, falling back to on-demand)"
    );
    let run_name = format!("fleet_pi-demo-{stamp}");
    let outcome = console_run(&target, "fleet_pi", &run_name).await?;
    results.push((
        Expectation {
            title: "EMR run on instance fleets",
            status: "SUCCEEDED",
            error: None,
            start: None,
        },
        outcome,
    ));

    // 5. A warm pool: the first quick_pi run starts the interactive pool's cluster, the second joins it.
    say!("\n5. {{\"job\": \"quick_pi\"}} twice → a warm EMR pool: the second run joins the first's cluster");
    let mut pool_clusters = Vec::new();
    for (index, start) in [(1, "cold"), (2, "warm")] {
        let run_name = format!("quick_pi-demo-{index}-{stamp}");
        let outcome = console_run(&target, "quick_pi", &run_name).await?;
        say!(
            "  {start}: cluster {}, its step started {} s after it was submitted",
            outcome.summary["cluster_id"].as_str().unwrap_or("?"),
            outcome.summary["timeline"]["startup_seconds"]
        );
        pool_clusters.extend(outcome.summary["cluster_id"].as_str().map(str::to_string));
        results.push((
            Expectation {
                title: if index == 1 {
                    "pooled run, cold"
                } else {
                    "pooled run, warm"
                },
                status: "SUCCEEDED",
                error: None,
                start: Some(start),
            },
            outcome,
        ));
    }
    // Idle for its idle_minutes (20), the pool's cluster is released: the janitor's look, as 21 minutes from now.
    let time = chrono::Utc::now() + chrono::Duration::minutes(21);
    let released = stack
        .stack
        .invoke(
            "janitor",
            &json!({"release_idle": true, "pool": "interactive", "time": time}),
        )
        .map_err(|e| format!("the janitor's look at the pool failed: {e}"))?;
    say!(
        "  idle 21 minutes later: released {}",
        released["pools"]["released"]
    );
    pool_clusters.dedup();
    let pool_released =
        pool_clusters.len() == 1 && released["pools"]["released"] == json!(pool_clusters);

    // 6. EMR Serverless: no cluster; a job run on pre-initialized workers of the job's application.
    say!("\n6. {{\"job\": \"orders_enrich\"}} → EMR Serverless (pre-initialized workers)");
    let run_name = format!("orders_enrich-demo-{stamp}");
    let input = format!(
        "s3://{}/landing/orders/demo-{stamp}.json",
        stack.stack.data_bucket
    );
    let request = run_input(
        "orders_enrich",
        &run_name,
        chrono::Utc::now(),
        &Default::default(),
        Some(&input),
    );
    target.start(&run_name, &request).await?;
    let outcome = follow(&target, &run_name, RUN_LIMIT).await?;
    print_outcome(&outcome);
    results.push((
        Expectation {
            title: "EMR Serverless job run",
            status: "SUCCEEDED",
            error: None,
            start: None,
        },
        outcome,
    ));

    let mut all_expected = pool_released;
    let mut rows = Vec::new();
    for (expected, outcome) in &results {
        let timeline = &outcome.summary["timeline"];
        let seconds = |key: &str| {
            timeline[key]
                .as_i64()
                .map_or("-".to_string(), |s| format!("{s} s"))
        };
        let start = outcome.summary["pool"]["start"].as_str();
        let ok = outcome.status == expected.status
            && outcome.error.as_deref() == expected.error
            && start == expected.start
            && resource_as_expected(expected, outcome.resource_state.as_deref());
        all_expected &= ok;
        rows.push(vec![
            expected.title.to_string(),
            outcome.run_name.clone(),
            outcome.status.clone(),
            start.unwrap_or("-").to_string(),
            seconds("startup_seconds"),
            seconds("execution_seconds"),
            output::usd(outcome.summary["cost"]["usd"].as_f64()),
            if ok { "yes" } else { "NO" }.to_string(),
        ]);
    }
    let header = [
        "scenario",
        "run",
        "status",
        "pool",
        "start-up",
        "execution",
        "cost (est.)",
        "as expected",
    ];
    say!(
        "\n{}",
        table(&header, &["start-up", "execution", "cost (est.)"], rows)
    );
    drop(stack);
    if all_expected {
        say!("\nEvery run ended as expected; no cluster is left running (the pool's was released once idle).");
        Ok(())
    } else {
        Err(if pool_released {
            "a run did not end as expected (see the table)".into()
        } else {
            format!("the warm pool's cluster was not released as expected: {pool_clusters:?}")
        })
    }
}

/// The run's cluster, Glue run or EMR Serverless job run as the follow last saw it: a pool's cluster stays up for the
/// pool's next runs (released above), cold or warm; every other run's has ended.
fn resource_as_expected(expected: &Expectation, last_state: Option<&str>) -> bool {
    match (expected.start, last_state) {
        (Some(_), Some(state)) => state == "WAITING" || state == "RUNNING",
        (None, Some(state)) => {
            state.starts_with("TERMINATED") || state == "SUCCEEDED" || state == "SUCCESS"
        }
        (_, None) => false,
    }
}

/// Starts `job` with a console-style input under `run_name`, follows it and prints how it ended.
async fn console_run(target: &Target, job: &str, run_name: &str) -> Result<Outcome, String> {
    let input = run_input(job, run_name, chrono::Utc::now(), &Default::default(), None);
    target.start(run_name, &input).await?;
    let outcome = follow(target, run_name, RUN_LIMIT).await?;
    print_outcome(&outcome);
    Ok(outcome)
}

/// The run the trigger started for the object `key`, from the emulator's log of delivered events.
async fn started_run(stack: &LocalStack, key: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = stack.events(&stack.trigger_function, key)?;
        for delivered in &events {
            if delivered["event"]["detail"]["object"]["key"] == key {
                let answer = &delivered["answer"];
                return answer["started"][0]
                    .as_str()
                    .or(answer["duplicates"][0].as_str())
                    .map(str::to_string)
                    .ok_or_else(|| format!("the trigger started nothing for {key}: {answer}"));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no event reached the trigger for {key}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
