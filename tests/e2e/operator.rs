//! The operator's commands on the local stack: history, backfill, doctor, replay-failed.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_runs_newest_first_with_their_trigger_times_and_failure() {
    let aws = aws().await;
    let ok = unique("history-ok");
    let failed = unique("history-failed");
    aws.fault(
        &failed,
        json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error."}}),
    )
    .await;
    aws.start("hello_world", &ok).await;
    assert_eq!(aws.wait(&ok, RUN).await.status, "SUCCEEDED");
    aws.start("hello_world", &failed).await;
    assert_eq!(aws.wait(&failed, RUN).await.status, "FAILED");

    let since = chrono::Utc::now() - chrono::TimeDelta::minutes(30);
    let runs = sparkplug_cli::history::runs(
        &aws.sfn,
        &aws.run_table(),
        &aws.stack.state_machine_arn,
        Some("hello_world"),
        since,
    )
    .await
    .unwrap();
    assert!(runs.iter().all(|r| r.job == "hello_world"));
    let position = |name: &str| runs.iter().position(|r| r.run_name == name).unwrap();
    assert!(position(&failed) < position(&ok), "newest first");
    let ok_run = &runs[position(&ok)];
    assert_eq!(
        (ok_run.status.as_str(), ok_run.trigger.as_str()),
        ("SUCCEEDED", "console")
    );
    assert!(
        ok_run.startup_seconds.is_some() && ok_run.execution_seconds.is_some(),
        "{ok_run:?}"
    );
    let failed_run = &runs[position(&failed)];
    assert_eq!(failed_run.status, "FAILED");
    assert!(
        failed_run
            .reason
            .as_deref()
            .unwrap()
            .starts_with("StepFailed"),
        "{failed_run:?}"
    );
    // Another job's filter excludes them.
    let glue = sparkplug_cli::history::runs(
        &aws.sfn,
        &aws.run_table(),
        &aws.stack.state_machine_arn,
        Some("customer_scores"),
        since,
    )
    .await
    .unwrap();
    assert!(glue.iter().all(|r| r.job == "customer_scores"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_day_backfill_starts_three_runs_and_run_again_starts_none() {
    use sparkplug_cli::backfill;

    let aws = aws().await;
    // A period no other test uses: this test's own days, far in the past.
    let offset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 100_000) as i64;
    let from = backfill::parse_time("2000-01-01").unwrap() + chrono::TimeDelta::days(offset * 10);
    let times = backfill::periods(
        from,
        from + chrono::TimeDelta::days(2),
        chrono::TimeDelta::days(1),
    )
    .unwrap();
    assert_eq!(times.len(), 3);
    let runs: Vec<_> = times
        .iter()
        .map(|t| (*t, format!("hello_world-backfill-{}", t.format("%Y%m%d"))))
        .collect();
    let args = Default::default();
    let machine = &aws.stack.state_machine_arn;
    let first = backfill::run(&aws.sfn, machine, "hello_world", &args, &runs, 2, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(),
        ["SUCCEEDED"; 3]
    );
    for (time, name) in &runs {
        // Each run has its period's time.
        let execution = aws
            .sfn
            .describe_execution()
            .execution_arn(aws.execution_arn(name))
            .send()
            .await
            .unwrap();
        let input: Value = serde_json::from_str(execution.input().unwrap()).unwrap();
        assert_eq!(input["time"], time.to_rfc3339());
    }
    let again = backfill::run(&aws.sfn, machine, "hello_world", &args, &runs, 2, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(),
        ["already run"; 3]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_names_a_slot_a_lost_end_left_held_and_its_fix_lets_the_next_run_go() {
    let aws = aws().await;
    let first = unique("ledger_close-doctor-first");
    let second = unique("ledger_close-doctor-second");
    // Every delivery of first's end is lost: the queue never hears that its slot is free.
    aws.fault(
        &first,
        json!({"glue_run_seconds": 2, "events": [
            {"detail_type": "Step Functions Execution Status Change", "action": "drop", "times": 10}]}),
    )
    .await;
    aws.start("ledger_close", &first).await;
    within(RUN, "the first run holds the slot", || async {
        aws.current_state(&first).await.as_deref() == Some("StartGlueRun")
    })
    .await;
    aws.start("ledger_close", &second).await;
    assert_eq!(aws.wait(&first, RUN).await.status, "SUCCEEDED");
    within(RUN, "the second run waits for the slot", || async {
        aws.current_state(&second).await.as_deref() == Some("TakeSlot")
    })
    .await;
    let operator = sparkplug_cli::operator::Stack::local(aws.stack, "dev")
        .await
        .unwrap();
    let catalog = sparkplug::load::from_file(&repo().join("jobs.toml"))
        .unwrap()
        .catalog;
    let diagnosis = operator.diagnose(&catalog).await.unwrap();
    // Its job's slot and its engine's ([limits] glue_concurrent_runs), both held past its end.
    let held: Vec<&str> = diagnosis
        .findings
        .iter()
        .filter(|f| f.run.as_deref() == Some(first.as_str()))
        .inspect(|f| {
            assert_eq!(f.kind, "slot");
            assert_eq!(f.status.as_deref(), Some("SUCCEEDED"));
            assert!(f.fixed_by.starts_with("queue"), "{}", f.fixed_by);
        })
        .map(|f| f.what.as_str())
        .collect();
    assert_eq!(
        held,
        ["a slot of ledger_close", "a slot of limit:glue"],
        "{:?}",
        diagnosis.findings
    );
    // `--fix`: the backstops now — the drain gives the slot back and the second run goes on.
    let answers = operator.fix(&diagnosis).await.unwrap();
    assert!(
        answers["queue"]["released"]
            .as_array()
            .is_some_and(|r| r.iter().any(|run| run == first.as_str())),
        "{answers:?}"
    );
    assert_eq!(aws.wait(&second, RUN).await.status, "SUCCEEDED");
    // The doctor reads the slots by the table's index, which shows a write within a fraction of a second; the engine's
    // slot item (limit:glue) is written by every Glue run of the suite, so look until the index has caught up.
    within(
        Duration::from_secs(30),
        "no finding about the first run left",
        || async {
            !operator
                .diagnose(&catalog)
                .await
                .unwrap()
                .findings
                .iter()
                .any(|f| f.run.as_deref() == Some(first.as_str()))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arrival_whose_trigger_failed_past_its_retries_is_replayed_from_the_failed_events_queue()
{
    let aws = aws().await;
    let key = format!("landing/sales/{}/_SUCCESS", unique("replayed"));
    // The trigger fails on this arrival's event on every attempt: Lambda's first and its two retries, in dev and in
    // prod (whose trigger hears every arrival of the account too; a fault names the function, not its environment).
    aws.fault(
        &key,
        json!({"lambda_errors": [{"function": "trigger", "detail_type": "Object Created", "times": 6}]}),
    )
    .await;
    aws.put(&key).await;
    within(
        RUN,
        "the arrival reached the failed-events queue",
        || async {
            let attempts = aws.stack.events("trigger", &key).unwrap();
            attempts.iter().filter(|e| e["error"] == true).count() == 3
        },
    )
    .await;
    // Lambda's record goes to the queue right after the last attempt.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let operator = sparkplug_cli::operator::Stack::local(aws.stack, "dev")
        .await
        .unwrap();
    let report = operator.replay_failed(false).await.unwrap();
    let started: Vec<&String> = report
        .started
        .iter()
        .filter(|run| run.starts_with("sales_daily-"))
        .collect();
    assert_eq!(started.len(), 1, "{report:?}");
    assert_eq!(aws.wait(started[0], RUN).await.status, "SUCCEEDED");
    // The message was deleted once its event was handled: a look at the queue no longer finds it.
    let left = operator.replay_failed(true).await.unwrap();
    assert!(
        !left
            .replayed
            .iter()
            .any(|(_, would)| would.to_string().contains(&key)),
        "{left:?}"
    );
}

/// Counts the requests of the clients it is given to.
#[derive(Debug, Clone, Default)]
struct Requests(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for Requests {
    fn name(&self) -> &'static str {
        "Requests"
    }
    fn read_before_transmit(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// prod's run table and state machine: the measurement's thousand records stay out of the table every other test
/// works in.
const PROD_TABLE: &str = "sparkplug-prod-tokens";

/// Writes `count` ended runs' records of `job` into prod's run table, as the alert function writes them.
async fn seed_records(aws: &Aws, job: &str, count: usize) {
    let client = aws_sdk_dynamodb::Client::new(&aws.config);
    let now = chrono::Utc::now().timestamp_millis();
    let records: Vec<_> = (0..count)
        .map(|i| {
            use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
            let s = |v: String| AttributeValue::S(v);
            let run = format!("{job}-{i:05}");
            let item = [
                ("key", s(format!("run#{run}"))),
                ("run_of", s(job.to_string())),
                ("run_name", s(run)),
                (
                    "started",
                    AttributeValue::N((now - 60_000 * i as i64).to_string()),
                ),
                ("trigger", s("schedule".into())),
                ("status", s("SUCCEEDED".into())),
                ("summary", s(json!({"cost": {"usd": 0.01}}).to_string())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    for batch in records.chunks(25) {
        let written = client
            .batch_write_item()
            .request_items(PROD_TABLE, batch.to_vec())
            .send()
            .await
            .unwrap();
        assert!(written.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_history_costs_calls_in_its_own_runs_not_in_the_accounts() {
    let aws = aws().await;
    let job = unique("measured");
    let other = unique("other");
    seed_records(&aws, &job, 10).await;
    let mut figures = Vec::new();
    for others in [10, 1_000] {
        seed_records(&aws, &other, others).await;
        // The index shows a write within half a second (the emulator's lag, as DynamoDB's "fraction of a second").
        tokio::time::sleep(Duration::from_secs(1)).await;
        let requests = Requests::default();
        let sfn = aws_sdk_sfn::Client::from_conf(
            aws_sdk_sfn::config::Builder::from(&aws.config)
                .interceptor(requests.clone())
                .build(),
        );
        let table = sparkplug::aws::run_table::RunTable::from_client(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&aws.config)
                    .interceptor(requests.clone())
                    .build(),
            ),
            PROD_TABLE,
        );
        let since = chrono::Utc::now() - chrono::TimeDelta::days(30);
        let runs = sparkplug_cli::history::runs(
            &sfn,
            &table,
            &aws.stack.environments["prod"].state_machine_arn,
            Some(&job),
            since,
        )
        .await
        .unwrap();
        assert_eq!(runs.len(), 10);
        assert!(
            runs.windows(2).all(|w| w[0].started >= w[1].started),
            "newest first"
        );
        assert_eq!(runs[0].cost_usd, Some(0.01));
        figures.push((others, requests.0.load(std::sync::atomic::Ordering::SeqCst)));
    }
    eprintln!(
        "history of a job with 10 runs over 30 days: {} call(s) beside 10 runs of another job, {} beside 1,000",
        figures[0].1, figures[1].1
    );
    // One Query of the job's partition of the by-job index, whatever else the account ran.
    assert_eq!(figures, [(10, 1), (1_000, 1)]);
}
