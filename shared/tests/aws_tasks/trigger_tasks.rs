//! The trigger: one execution per run, its backstops (lost ticks, lost chain events), and resolve.

use super::*;

// ---------------------------------------------------------------- Trigger

#[tokio::test]
async fn trigger_starts_one_execution_per_run_named_by_its_run_key() {
    let aws = FakeAws::new();
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.ok("StartExecution", json!({"executionArn": "arn:aws:states:eu-west-1:1:execution:m:x", "startDate": epoch(6, 0)}));
    let config = trigger_config();
    let event = fixture("s3-notification-sales.json");
    let report = start(&config, &aws, event.clone(), now()).await.unwrap();
    let expected = sparkplug::run::resolve_event(&config.catalog, &event, &config.vars, now())
        .unwrap()
        .matches;
    let starts = aws.requests("StartExecution");
    assert_eq!(starts.len(), 1);
    let looked = aws.requests("DescribeExecution");
    assert_eq!(
        looked[0]["executionArn"],
        format!(
            "arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:{}",
            expected[0].run_name
        )
    );
    assert_eq!(starts[0]["stateMachineArn"], config.state_machine_arn);
    assert_eq!(starts[0]["name"], expected[0].run_name);
    let input: Value = serde_json::from_str(starts[0]["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, serde_json::to_value(&expected[0].plan).unwrap());
    assert_eq!(report["started"], json!([expected[0].run_name]));
    assert_eq!(report["ignored"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_duplicate_delivery_is_counted_not_failed() {
    // The execution exists already: nothing is started.
    let aws = FakeAws::new();
    aws.ok(
        "DescribeExecution",
        json!({"executionArn": "arn:x", "stateMachineArn": "arn:y", "status": "RUNNING", "startDate": epoch(6, 0)}),
    );
    let report = start(
        &trigger_config(),
        &aws,
        fixture("eventbridge-object-created-sales.json"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(report["duplicates"].as_array().unwrap().len(), 1);
    assert!(aws.requests("StartExecution").is_empty());

    // Two deliveries racing: the second StartExecution is refused as a duplicate.
    let aws = FakeAws::new();
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.error(
        "StartExecution",
        400,
        "ExecutionAlreadyExists",
        "Execution Already Exists",
    );
    let report = start(
        &trigger_config(),
        &aws,
        fixture("eventbridge-object-created-sales.json"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(report["started"], json!([]));
    assert_eq!(report["duplicates"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_throttled_start_is_retryable_and_bad_events_are_invalid_input() {
    let aws = FakeAws::new();
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.error(
        "StartExecution",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let err = start(
        &trigger_config(),
        &aws,
        fixture("manual-hello-world.json"),
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);

    let aws = FakeAws::new();
    for (event, says) in [
        (json!({"hello": "world"}), "unrecognised event"),
        (json!({"job": "nope"}), "unknown job `nope`"),
        (
            json!({"job": "sales_daily", "args": {"outptu": "x"}}),
            "unknown argument `outptu`",
        ),
    ] {
        let err = start(&trigger_config(), &aws, event, now())
            .await
            .unwrap_err();
        assert_eq!(kind(&err), ErrorKind::InvalidInput);
        assert!(err.message.contains(says), "{err}");
    }
    // An event for a bucket nobody watches is ignored, not an error.
    let report = start(
        &trigger_config(),
        &aws,
        fixture("aws-s3-notification-sample.json"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(report["ignored"].as_array().unwrap().len(), 1);
    assert!(aws.actions().is_empty());
}

// ------------------------------------------------------------------ the trigger's backstops

fn look_item(name: &str, h: u32, m: u32) -> Value {
    json!({"Item": {"key": {"S": format!("look#{name}")},
        "watermark": {"N": format!("{}", epoch(h, m) as i64 * 1000)}}})
}

fn tick(h: u32, m: u32) -> Value {
    json!({"tick": true, "time": Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap().to_rfc3339()})
}

#[tokio::test]
async fn a_lost_tick_starts_its_runs_on_the_next_tick_and_the_minute_is_recorded() {
    // The trigger last evaluated 05:58; the ticks of 05:59 and 06:00 were lost. customer_scores runs at 06:00.
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("tick", 5, 58));
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.ok("StartExecution", json!({"executionArn": "arn:aws:states:eu-west-1:1:execution:m:x", "startDate": epoch(6, 1)}));
    aws.ok("PutItem", json!({}));
    let report = start(&trigger_config(), &aws, tick(6, 1), now())
        .await
        .unwrap();
    assert_eq!(
        report["started"],
        json!(["customer_scores-20261127T060000Z"])
    );
    let saved = aws.requests("PutItem");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0]["Item"]["key"]["S"], "look#tick");
    assert_eq!(
        saved[0]["Item"]["watermark"]["N"],
        format!("{}", epoch(6, 1) as i64 * 1000)
    );
    // The watermark never moves back: a late write loses to a newer one.
    assert!(saved[0]["ConditionExpression"]
        .as_str()
        .unwrap()
        .contains("watermark <= :watermark"));

    // A minute evaluated already (a duplicate or late tick) starts nothing and looks at nothing.
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("tick", 6, 1));
    let report = start(&trigger_config(), &aws, tick(6, 0), now())
        .await
        .unwrap();
    assert_eq!(report["started"], json!([]));
    assert_eq!(aws.actions(), vec!["GetItem"]);
}

#[tokio::test]
async fn a_tick_whose_start_failed_is_not_recorded_so_the_next_one_evaluates_it_again() {
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({}));
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.error(
        "StartExecution",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let err = start(&trigger_config(), &aws, tick(6, 0), now())
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
    assert!(aws.requests("PutItem").is_empty());
}

#[test]
fn a_tick_evaluates_the_minutes_since_the_last_one_at_most_an_hour() {
    use sparkplug::engine::handlers::trigger::{minutes_to_evaluate, MAX_CATCH_UP_MINUTES};
    let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap();
    assert_eq!(minutes_to_evaluate(None, at(6, 0)), vec![at(6, 0)]);
    assert_eq!(
        minutes_to_evaluate(Some(at(5, 58)), at(6, 0)),
        vec![at(5, 59), at(6, 0)]
    );
    assert!(minutes_to_evaluate(Some(at(6, 0)), at(6, 0)).is_empty());
    assert!(minutes_to_evaluate(Some(at(6, 5)), at(6, 0)).is_empty());
    let gap = minutes_to_evaluate(Some(at(1, 0)), at(6, 0));
    assert_eq!(gap.len() as i64, MAX_CATCH_UP_MINUTES);
    assert_eq!(gap.first(), Some(&at(5, 1)));
    assert_eq!(gap.last(), Some(&at(6, 0)));
}

#[tokio::test]
async fn the_chains_catch_up_starts_the_run_a_lost_success_event_would_have_started_once() {
    let config = trigger_config();
    let upstream = "customer_scores-20261127T060000Z";
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("chains", 6, 0));
    aws.ok(
        "ListExecutions",
        json!({"executions": [
            {"executionArn": "arn:x:1", "stateMachineArn": config.state_machine_arn, "name": "still-running",
             "status": "RUNNING", "startDate": epoch(6, 20)},
            {"executionArn": "arn:x:2", "stateMachineArn": config.state_machine_arn, "name": upstream,
             "status": "SUCCEEDED", "startDate": epoch(6, 0), "stopDate": epoch(6, 20)},
            {"executionArn": "arn:x:3", "stateMachineArn": config.state_machine_arn, "name": "older",
             "status": "SUCCEEDED", "startDate": epoch(5, 0), "stopDate": epoch(5, 10)}]}),
    );
    // The upstream's input (its plan names its job), then: the downstream run does not exist yet.
    aws.ok(
        "DescribeExecution",
        json!({"executionArn": "arn:x:2", "stateMachineArn": config.state_machine_arn, "status": "SUCCEEDED",
               "startDate": epoch(6, 0), "input": json!({"job": "customer_scores"}).to_string()}),
    );
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:4", "startDate": epoch(6, 30)}),
    );
    aws.ok("PutItem", json!({}));
    let report = start(&config, &aws, json!({"catch_up": true}), now())
        .await
        .unwrap();
    let downstream = sparkplug::run::runkey::for_upstream("scores_report", upstream);
    assert_eq!(report["started"], json!([downstream]));
    // Only the one success past the grace was described; the look went no further back than its watermark.
    assert_eq!(aws.requests("DescribeExecution").len(), 2);
    let saved = &aws.requests("PutItem")[0];
    assert_eq!(saved["Item"]["key"]["S"], "look#chains");
    assert_eq!(saved["Item"]["watching"]["SS"], json!(["still-running"]));
    assert_eq!(
        saved["Item"]["watermark"]["N"],
        format!("{}", epoch(6, 20) as i64 * 1000)
    );

    // The event came after all (or a second look): the downstream run exists, nothing starts twice.
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("chains", 6, 0));
    aws.ok(
        "ListExecutions",
        json!({"executions": [{"executionArn": "arn:x:2", "stateMachineArn": config.state_machine_arn,
            "name": upstream, "status": "SUCCEEDED", "startDate": epoch(6, 0), "stopDate": epoch(6, 20)}]}),
    );
    aws.ok(
        "DescribeExecution",
        json!({"executionArn": "arn:x:2", "stateMachineArn": config.state_machine_arn, "status": "SUCCEEDED",
               "startDate": epoch(6, 0), "input": json!({"job": "customer_scores"}).to_string()}),
    );
    aws.ok(
        "DescribeExecution",
        json!({"executionArn": "arn:x:4", "stateMachineArn": config.state_machine_arn, "status": "RUNNING",
               "startDate": epoch(6, 30)}),
    );
    aws.ok("PutItem", json!({}));
    let report = start(&config, &aws, json!({"catch_up": true}), now())
        .await
        .unwrap();
    assert_eq!(report["started"], json!([]));
    assert_eq!(report["duplicates"], json!([downstream]));
    assert!(aws.requests("StartExecution").is_empty());
}

#[test]
fn resolve_turns_a_console_input_into_a_plan() {
    let config = trigger_config();
    let plan = resolve_plan(
        &config.catalog,
        &config.vars,
        json!({"job": "hello_world"}),
        now(),
    )
    .unwrap();
    assert_eq!(plan["job"], "hello_world");
    assert_eq!(plan["engine"], "emr");
    let err = resolve_plan(
        &config.catalog,
        &config.vars,
        json!({"jobb": "hello_world"}),
        now(),
    )
    .unwrap_err();
    assert!(err.message.contains("{\"job\": \"<name>\"}"), "{err}");
    let err =
        resolve_plan(&config.catalog, &config.vars, json!({"job": "nope"}), now()).unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_succeeded_rerun_starts_its_chained_jobs_as_any_run_of_its_upstream() {
    // {"rerun": …} names neither job nor input: the plan its Resolve task made does.
    let config = trigger_config();
    let rerun = "customer_scores-1-rerun-1";
    let mut plan = common::plan_of("customer_scores");
    plan.run_name = rerun.into();
    let aws = FakeAws::new();
    aws.ok(
        "GetExecutionHistory",
        json!({"events": [{"timestamp": epoch(6, 5), "type": "TaskSucceeded", "id": 5, "previousEventId": 4,
            "taskSucceededEventDetails": {"resourceType": "lambda", "resource": "invoke",
                "output": serde_json::to_string(&plan).unwrap()}}]}),
    );
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:5", "startDate": epoch(6, 30)}),
    );
    let event = json!({"version": "0", "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": format!("arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:{rerun}"),
            "stateMachineArn": config.state_machine_arn, "name": rerun, "status": "SUCCEEDED",
            "startDate": epoch(6, 0) as i64 * 1000, "stopDate": epoch(6, 20) as i64 * 1000,
            "input": json!({"rerun": "customer_scores-1"}).to_string()}});
    let report = start(&config, &aws, event, now()).await.unwrap();
    let downstream = sparkplug::run::runkey::for_upstream("scores_report", rerun);
    assert_eq!(report["started"], json!([downstream]));
    assert_eq!(
        aws.requests("GetExecutionHistory")[0]["executionArn"],
        format!("arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:{rerun}")
    );
}

#[tokio::test]
async fn resolve_plans_a_rerun_from_the_run_it_reruns() {
    let config = trigger_config();
    let original = common::plan_of("sales_daily");
    let this = "arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:console-7f3a";
    let input = |request: Value| trigger::ResolveInput {
        request,
        execution_name: Some("console-7f3a".into()),
        execution_arn: Some(this.into()),
    };
    let aws = FakeAws::new();
    // The run it reruns: FAILED at aggregate, its plan its input.
    let described = json!({"executionArn": "arn:x", "stateMachineArn": config.state_machine_arn,
        "status": "FAILED", "startDate": epoch(6, 0), "stopDate": epoch(6, 20),
        "input": serde_json::to_string(&original).unwrap()});
    aws.ok("DescribeExecution", described);
    aws.ok(
        "GetExecutionHistory",
        json!({"events": [{"timestamp": epoch(6, 20), "type": "TaskSucceeded", "id": 9, "previousEventId": 8,
            "taskSucceededEventDetails": {"resourceType": "lambda", "resource": "invoke",
                "output": json!({"job": "sales_daily", "run_name": original.run_name, "status": "FAILED",
                    "failure": {"error": "StepFailed", "step": "aggregate"}}).to_string()}}]}),
    );
    let plan = trigger::resolve_run(
        &config.catalog,
        &config.vars,
        &aws.sfn(),
        input(json!({"rerun": original.run_name, "from_failed": true})),
        now(),
    )
    .await
    .unwrap();
    // Named after its execution; only the failed step; the run it reruns read from the same state machine.
    assert_eq!(plan.run_name, "console-7f3a");
    let steps: Vec<&str> = plan
        .emr
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["aggregate"]);
    assert_eq!(plan.rerun.as_ref().unwrap().run, original.run_name);
    assert_eq!(
        aws.requests("DescribeExecution")[0]["executionArn"],
        format!(
            "arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:{}",
            original.run_name
        )
    );

    // No such run: invalid input, naming it.
    let aws = FakeAws::new();
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    let err = trigger::resolve_run(
        &config.catalog,
        &config.vars,
        &aws.sfn(),
        input(json!({"rerun": "sales_daily-nope"})),
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidInput);
    assert!(
        err.message.contains("no run `sales_daily-nope` to rerun"),
        "{err}"
    );
    // A misspelt field is refused before any call.
    let err = trigger::resolve_run(
        &config.catalog,
        &config.vars,
        &FakeAws::new().sfn(),
        input(json!({"rerun": "x", "fromfailed": true})),
        now(),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("fromfailed"), "{err}");
}

// ---------------------------------------------------------------- Partitions watched for an expectation

#[tokio::test]
async fn watched_partitions_are_one_string_set_added_to_and_deleted_from_atomically() {
    use sparkplug::engine::ports::SetStore;
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    aws.ok("UpdateItem", json!({}));
    aws.ok(
        "GetItem",
        json!({"Item": {"key": {"S": "setsdue"}, "due": {"SS": [
            "2026-12-04T07:10:00.000Z|margin|date=2026-12-03",
            "2026-12-04T06:00:00.000Z|margin|date=2026-12-02,hour=05",
            "a string sparkplug did not write"]}}}),
    );
    let table = aws.tokens();
    let due = chrono::DateTime::parse_from_rfc3339("2026-12-04T07:10:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    table
        .watch_due("margin", "date=2026-12-03", due)
        .await
        .unwrap();
    table
        .unwatch_due("margin", "date=2026-12-03", due)
        .await
        .unwrap();
    let watched = table.watched_due().await.unwrap();
    let updates = aws.requests("UpdateItem");
    for (update, action) in updates.iter().zip(["ADD", "DELETE"]) {
        assert_eq!(update["Key"], json!({"key": {"S": "setsdue"}}));
        assert_eq!(update["UpdateExpression"], format!("{action} due :entry"));
        assert_eq!(
            update["ExpressionAttributeValues"][":entry"],
            json!({"SS": ["2026-12-04T07:10:00.000Z|margin|date=2026-12-03"]})
        );
    }
    // Soonest first; what sparkplug did not write is left out.
    let read: Vec<(String, &str, &str)> = watched
        .iter()
        .map(|(due, job, partition)| (due.to_rfc3339(), job.as_str(), partition.as_str()))
        .collect();
    assert_eq!(
        read,
        [
            (
                "2026-12-04T06:00:00+00:00".to_string(),
                "margin",
                "date=2026-12-02,hour=05"
            ),
            (
                "2026-12-04T07:10:00+00:00".to_string(),
                "margin",
                "date=2026-12-03"
            ),
        ]
    );
    assert_eq!(aws.requests("GetItem")[0]["ConsistentRead"], true);
}

// ---------------------------------------------------------------- No Scan on a hot path

#[tokio::test]
async fn waiters_slots_and_queued_runs_are_read_by_a_query_of_their_index_not_a_scan() {
    use sparkplug::engine::ports::{SlotStore, TokenStore};
    let aws = FakeAws::new();
    for _ in 0..5 {
        aws.ok("Query", json!({"Items": [], "Count": 0}));
    }
    let table = aws.tokens();
    table.holders().await.unwrap();
    table.queued(Some("sales_daily")).await.unwrap();
    table.queued(None).await.unwrap();
    table.waiters_with_prefix("emr#j-1#").await.unwrap();
    table.waiters_before(now()).await.unwrap();
    // The reads of the queue's drain, the reconciler and the doctor: a Query of the sparse `by-kind` index, whose
    // size is the open work's. (The pools' clusters are still a consistent Scan: see RunTable::items_with_prefix.)
    assert_eq!(aws.actions(), vec!["Query"; 5]);
    let queries = aws.requests("Query");
    let kinds: Vec<(&str, &str)> = queries
        .iter()
        .map(|q| {
            assert_eq!(q["IndexName"], "by-kind");
            (
                q["ExpressionAttributeValues"][":kind"]["S"]
                    .as_str()
                    .unwrap(),
                q["ExpressionAttributeValues"][":prefix"]["S"]
                    .as_str()
                    .unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("slots", "slots#"),
            ("queue", "queue#sales_daily#"),
            ("queue", "queue#"),
            ("waiter", "emr#j-1#"),
            ("waiter", ""),
        ]
    );
    assert_eq!(
        queries[0]["KeyConditionExpression"],
        "#kind = :kind AND begins_with(#key, :prefix)"
    );
}

#[tokio::test]
async fn the_open_works_items_carry_their_kind() {
    use sparkplug::engine::ports::{QueuedRun, SlotStore, TokenStore, Waiter, Work};
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    aws.ok("PutItem", json!({}));
    aws.ok("PutItem", json!({}));
    let table = aws.tokens();
    table.acquire("sales_daily", "run-1", 2).await.unwrap();
    table
        .enqueue(&QueuedRun {
            job: "sales_daily".into(),
            run_name: "run-2".into(),
            token: "T".into(),
            max: 2,
            enqueued: now(),
            expires: now(),
        })
        .await
        .unwrap();
    table
        .put_waiter(&Waiter {
            work: Work::Glue {
                job_name: "g".into(),
                run_id: "jr_1".into(),
            },
            token: "T".into(),
            run_name: "run-3".into(),
            job: "sales_daily".into(),
            registered: now(),
            expires: now(),
        })
        .await
        .unwrap();
    let update = &aws.requests("UpdateItem")[0];
    assert_eq!(
        update["UpdateExpression"],
        "ADD holders :run SET kind = :kind"
    );
    assert_eq!(
        update["ExpressionAttributeValues"][":kind"],
        json!({"S": "slots"})
    );
    let puts = aws.requests("PutItem");
    assert_eq!(puts[0]["Item"]["kind"], json!({"S": "queue"}));
    assert_eq!(puts[1]["Item"]["kind"], json!({"S": "waiter"}));
}
