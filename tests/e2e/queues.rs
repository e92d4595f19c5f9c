//! Per-job queues (`max_concurrent_runs`).

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn with_max_concurrent_runs_1_a_second_run_waits_then_runs() {
    let aws = aws().await;
    // ledger_close: max_concurrent_runs = 1. Two runs at once; the first's Glue run takes 40 s (long enough for the
    // checks below even under the suite's load).
    let first = unique("ledger_close-first");
    let second = unique("ledger_close-second");
    aws.fault(&first, json!({"glue_run_seconds": 40})).await;
    aws.fault(&second, json!({"glue_run_seconds": 2})).await;
    let ledger = |run: &str| {
        let run = run.to_string();
        let aws = &aws;
        async move {
            aws.sfn
                .describe_execution()
                .execution_arn(aws.execution_arn(&run))
                .send()
                .await
                .is_ok()
        }
    };
    aws.start("ledger_close", &first).await;
    within(RUN, "the first run holds the slot", || async {
        !aws.ledger_runs(&first).await.is_empty()
    })
    .await;
    aws.start("ledger_close", &second).await;
    assert!(ledger(&second).await);
    // The second waits: no Glue run of its own while the first runs, and history says QUEUED.
    within(RUN, "the second run waits for a slot", || async {
        aws.current_state(&second).await.as_deref() == Some("TakeSlot")
    })
    .await;
    assert!(
        aws.ledger_runs(&second).await.is_empty(),
        "the second run did not wait"
    );
    // history reads the runs' records by the run table's index, which shows a record within a fraction of a second.
    let history = || async {
        sparkplug_cli::history::runs(
            &aws.sfn,
            &aws.run_table(),
            &aws.stack.state_machine_arn,
            Some("ledger_close"),
            chrono::Utc::now() - chrono::Duration::minutes(5),
        )
        .await
        .unwrap()
    };
    let status = |history: &[sparkplug_cli::history::Run], run: &str| {
        history
            .iter()
            .find(|r| r.run_name == run)
            .map(|r| r.status.clone())
    };
    within(
        Duration::from_secs(5),
        "the second run in history",
        || async { status(&history().await, &second).is_some() },
    )
    .await;
    let history = history().await;
    assert_eq!(
        status(&history, &second).as_deref(),
        Some("QUEUED"),
        "{history:?}"
    );
    assert_eq!(status(&history, &first).as_deref(), Some("RUNNING"));
    // Then it runs, after the first ended.
    let first_done = aws.wait(&first, RUN).await;
    assert_eq!(first_done.status, "SUCCEEDED");
    let second_done = aws.wait(&second, RUN).await;
    assert_eq!(second_done.status, "SUCCEEDED");
    // Each summary says how long its run waited for the slot (QueuedSeconds on the dashboard): the first's wait (other
    // tests' ledger runs may hold the slot when it comes), the second's for most of the first's 40 s Glue run.
    assert!(
        first_done.output["queued_seconds"].is_i64(),
        "{}",
        first_done.output
    );
    let waited = second_done.output["queued_seconds"].as_i64().unwrap_or(0);
    assert!(waited >= 20, "{}", second_done.output);
    let ended = aws.ledger_runs(&first).await[0].completed.unwrap();
    let started = aws.ledger_runs(&second).await[0].started.unwrap();
    assert!(
        started >= ended,
        "the second Glue run started {started:?}, before the first ended {ended:?}"
    );
}
