//! The trigger: one execution per run, its backstops (lost ticks, lost chain events), and resolve.

use super::*;

// ---------------------------------------------------------------- Trigger

#[tokio::test]
async fn trigger_starts_one_execution_per_run_named_by_its_run_key() {
    let aws = FakeAws::new();
    aws.ok("StartExecution", json!({"executionArn": "arn:aws:states:eu-west-1:1:execution:m:x", "startDate": started_now()}));
    let config = trigger_config();
    let event = fixture("s3-notification-sales.json");
    let report = start(&config, &aws, event.clone(), now()).await.unwrap();
    let expected = sparkplug::run::resolve_event(&config.catalog, &event, &config.vars, now())
        .unwrap()
        .matches;
    // StartExecution is idempotent by name: no DescribeExecution first (its quota is 20 times lower); then the
    // job's ledger notes the run, and its record is written (what `history` reads).
    assert_eq!(
        aws.actions(),
        ["StartExecution", "UpdateItem", "UpdateItem"]
    );
    let record = &aws.requests("UpdateItem")[1];
    assert_eq!(
        record["Key"]["key"]["S"],
        format!("run#{}", expected[0].run_name)
    );
    assert_eq!(
        record["ExpressionAttributeValues"][":job"]["S"],
        "sales_daily"
    );
    assert_eq!(
        record["ExpressionAttributeValues"][":status"]["S"],
        "RUNNING"
    );
    assert!(record["ExpressionAttributeValues"][":trigger"]["S"]
        .as_str()
        .unwrap()
        .starts_with("s3://"));
    let starts = aws.requests("StartExecution");
    assert_eq!(starts[0]["stateMachineArn"], config.state_machine_arn);
    assert_eq!(starts[0]["name"], expected[0].run_name);
    let input: Value = serde_json::from_str(starts[0]["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, serde_json::to_value(&expected[0].plan).unwrap());
    assert_eq!(report["started"], json!([expected[0].run_name]));
    assert_eq!(report["ignored"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_duplicate_delivery_is_counted_not_failed() {
    // The execution is running already with the same input: Step Functions answers as it did its start, whose
    // startDate is before this call.
    let aws = FakeAws::new();
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x", "startDate": started_now() - 5.0}),
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

    // It has ended (or its input differs): StartExecution refuses it.
    let aws = FakeAws::new();
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
async fn a_throttled_start_is_parked_retryable_if_it_cannot_be_and_bad_events_are_invalid_input() {
    // Throttled past the SDK's retries: the run is parked in the run table with its input, the event answered.
    let aws = FakeAws::new();
    aws.error(
        "StartExecution",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    aws.ok("PutItem", json!({}));
    let report = start(
        &trigger_config(),
        &aws,
        fixture("manual-hello-world.json"),
        now(),
    )
    .await
    .unwrap();
    let run = report["parked"][0].as_str().unwrap();
    let parked = &aws.requests("PutItem")[0]["Item"];
    assert_eq!(parked["key"]["S"], format!("parked#{run}"));
    assert_eq!(parked["kind"]["S"], "parked");
    assert_eq!(parked["job"]["S"], "hello_world");
    assert_eq!(
        parked["input"]["S"],
        aws.requests("StartExecution")[0]["input"]
    );
    assert!(
        parked.get("expires").is_none(),
        "a parked run waits until it starts"
    );

    // Not even parked: Lambda retries the event.
    let aws = FakeAws::new();
    aws.error(
        "StartExecution",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    aws.error(
        "PutItem",
        400,
        "ProvisionedThroughputExceededException",
        "slow down",
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
    aws.ok("Query", json!({"Items": [], "Count": 0}));
    aws.ok("StartExecution", json!({"executionArn": "arn:aws:states:eu-west-1:1:execution:m:x", "startDate": started_now()}));
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

    // A minute evaluated already (a duplicate or late tick) starts nothing and looks at nothing but the parked runs.
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("tick", 6, 1));
    aws.ok("Query", json!({"Items": [], "Count": 0}));
    let report = start(&trigger_config(), &aws, tick(6, 0), now())
        .await
        .unwrap();
    assert_eq!(report["started"], json!([]));
    assert_eq!(aws.actions(), vec!["GetItem", "Query"]);
}

#[tokio::test]
async fn a_tick_whose_start_could_not_be_parked_is_not_recorded_so_the_next_one_evaluates_it_again()
{
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({}));
    aws.ok("Query", json!({"Items": [], "Count": 0}));
    aws.error(
        "StartExecution",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    aws.error("PutItem", 500, "InternalServerError", "try again");
    let err = start(&trigger_config(), &aws, tick(6, 0), now())
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
    let writes = aws.requests("PutItem");
    assert!(writes.iter().all(|w| w["Item"]["key"]["S"] != "look#tick"));
}

#[tokio::test]
async fn a_tick_starts_the_parked_runs_before_its_minutes_and_stops_at_a_throttle() {
    let parked = |run: &str| {
        json!({"key": {"S": format!("parked#{run}")}, "kind": {"S": "parked"}, "job": {"S": "hello_world"},
            "run_name": {"S": run}, "input": {"S": json!({"job": "hello_world", "run_name": run}).to_string()},
            "parked": {"N": "1"}})
    };
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("tick", 6, 0));
    aws.ok(
        "Query",
        json!({"Items": [parked("a"), parked("b"), parked("c")], "Count": 3}),
    );
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:a", "startDate": started_now()}),
    );
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:b", "startDate": started_now() - 30.0}),
    );
    aws.error(
        "StartExecution",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    aws.ok("DeleteItem", json!({}));
    aws.ok("PutItem", json!({}));
    aws.ok("UpdateItem", json!({}));
    let report = start(&trigger_config(), &aws, tick(6, 1), now())
        .await
        .unwrap();
    assert_eq!(report["started"], json!(["a"]));
    assert_eq!(report["duplicates"], json!(["b"]));
    assert_eq!(report["parked"], json!(["c"]));
    let query = &aws.requests("Query")[0];
    assert_eq!(query["IndexName"], "by-kind");
    assert_eq!(query["ExpressionAttributeValues"][":kind"]["S"], "parked");
    assert_eq!(query["Limit"], 500);
    // Each start with its kept input; a and b forgotten, c kept for the next tick, which was the last start tried.
    let starts = aws.requests("StartExecution");
    assert_eq!(starts[0]["input"], parked("a")["input"]["S"]);
    assert_eq!(starts.len(), 3);
    let forgotten: Vec<_> = aws
        .requests("DeleteItem")
        .iter()
        .map(|d| d["Key"]["key"]["S"].clone())
        .collect();
    assert_eq!(forgotten, [json!("parked#a"), json!("parked#b")]);
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
    // The upstream has no run record (a run of before the records): it is described.
    aws.ok("GetItem", json!({}));
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
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:4", "startDate": started_now()}),
    );
    aws.ok("PutItem", json!({}));
    let report = start(&config, &aws, json!({"catch_up": true}), now())
        .await
        .unwrap();
    let downstream = sparkplug::run::runkey::for_upstream("scores_report", upstream);
    assert_eq!(report["started"], json!([downstream]));
    // Only the one success past the grace was described; the look went no further back than its watermark.
    assert_eq!(aws.requests("DescribeExecution").len(), 1);
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
    aws.ok("GetItem", json!({}));
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
    // Step Functions answers the repeated start of the running downstream run as it answered its start.
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:4", "startDate": epoch(6, 30)}),
    );
    aws.ok("PutItem", json!({}));
    let report = start(&config, &aws, json!({"catch_up": true}), now())
        .await
        .unwrap();
    assert_eq!(report["started"], json!([]));
    assert_eq!(report["duplicates"], json!([downstream]));
}

#[tokio::test]
async fn a_console_run_is_recorded_by_its_resolve_task() {
    let config = trigger_config();
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    let plan = sparkplug::engine::handlers::trigger::resolve_task(
        &config.catalog,
        &config.vars,
        &aws.sfn(),
        &aws.tokens(),
        json!({"request": {"job": "hello_world"}, "execution_name": "hello-console-1"}),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(plan["run_name"], "hello-console-1");
    // The trigger never saw it: its record is written here, as running, for `history hello_world`.
    let record = &aws.requests("UpdateItem")[0];
    assert_eq!(record["Key"]["key"]["S"], "run#hello-console-1");
    assert_eq!(
        record["ExpressionAttributeValues"][":job"]["S"],
        "hello_world"
    );
    assert_eq!(
        record["ExpressionAttributeValues"][":trigger"]["S"],
        "console"
    );
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
    aws.ok(
        "StartExecution",
        json!({"executionArn": "arn:x:5", "startDate": started_now()}),
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
async fn the_chains_catch_up_describes_only_the_successes_of_jobs_others_run_after() {
    let config = trigger_config();
    let aws = FakeAws::new();
    aws.ok("GetItem", look_item("chains", 6, 0));
    // sales_daily's run is recorded: nothing runs after sales_daily, so it is not described.
    aws.ok(
        "GetItem",
        json!({"Item": {"key": {"S": "run#sales_daily-1"}, "run_of": {"S": "sales_daily"},
            "run_name": {"S": "sales_daily-1"}, "started": {"N": "1"}, "status": {"S": "SUCCEEDED"}}}),
    );
    aws.ok(
        "ListExecutions",
        json!({"executions": [{"executionArn": "arn:x:1", "stateMachineArn": config.state_machine_arn,
            "name": "sales_daily-1", "status": "SUCCEEDED", "startDate": epoch(6, 0), "stopDate": epoch(6, 20)}]}),
    );
    aws.ok("PutItem", json!({}));
    start(&config, &aws, json!({"catch_up": true}), now())
        .await
        .unwrap();
    assert!(aws.requests("DescribeExecution").is_empty());
    assert_eq!(
        aws.requests("GetItem")[1]["Key"]["key"]["S"],
        "run#sales_daily-1"
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
    // size is the open work's.
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
async fn pool_clusters_are_read_by_key_through_their_registry_consistently() {
    use sparkplug::engine::ports::PoolStore;
    let aws = FakeAws::new();
    let record = |pool: &str, cluster: &str, created: i64| {
        json!({"Item": {
            "key": {"S": format!("pool#{pool}#{cluster}")}, "kind": {"S": "pool"}, "pool": {"S": pool},
            "cluster_id": {"S": cluster}, "state": {"S": "open"}, "runs": {"SS": ["run-1"]},
            "runs_total": {"N": "1"}, "idle_minutes": {"N": "10"}, "max_concurrent": {"N": "4"},
            "max_runs": {"N": "20"}, "created": {"N": created.to_string()}, "started_by": {"S": "run-1"}}})
    };
    // The registry names three records; one of them is gone (its writer stopped between its two writes).
    aws.ok(
        "GetItem",
        json!({"Item": {"key": {"S": "pools"}, "clusters": {"SS": ["etl#j-2", "etl#j-1", "adhoc#j-9"]}}}),
    );
    aws.ok("GetItem", record("etl", "j-2", 2_000));
    aws.ok("GetItem", json!({}));
    aws.ok("GetItem", record("adhoc", "j-9", 1_000));
    let table = aws.tokens();
    let all = table.pool_clusters(None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|c| (c.pool.as_str(), c.cluster_id.as_str()))
            .collect::<Vec<_>>(),
        [("adhoc", "j-9"), ("etl", "j-2")],
        "oldest first, the missing record passed over"
    );
    // Never a Scan: the registry and one record per open cluster, each read consistently.
    assert_eq!(aws.actions(), vec!["GetItem"; 4]);
    let reads = aws.requests("GetItem");
    assert!(reads.iter().all(|r| r["ConsistentRead"] == true));
    let keys: Vec<&str> = reads
        .iter()
        .map(|r| r["Key"]["key"]["S"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["pools", "pool#etl#j-2", "pool#etl#j-1", "pool#adhoc#j-9"]
    );

    // One pool's look reads only that pool's records.
    let aws = FakeAws::new();
    aws.ok(
        "GetItem",
        json!({"Item": {"key": {"S": "pools"}, "clusters": {"SS": ["etl#j-1", "adhoc#j-9"]}}}),
    );
    aws.ok("GetItem", record("adhoc", "j-9", 1_000));
    let adhoc = aws.tokens().pool_clusters(Some("adhoc")).await.unwrap();
    assert_eq!(adhoc.len(), 1);
    assert_eq!(aws.actions(), vec!["GetItem"; 2]);

    // No registry yet: no pool cluster, one call.
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({}));
    assert!(aws.tokens().pool_clusters(None).await.unwrap().is_empty());
    assert_eq!(aws.actions(), ["GetItem"]);
}

#[tokio::test]
async fn a_pool_cluster_is_registered_before_its_record_and_unregistered_after() {
    use sparkplug::engine::ports::{PoolCluster, PoolStore};
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    aws.ok("PutItem", json!({}));
    aws.ok("DeleteItem", json!({}));
    let table = aws.tokens();
    let cluster = PoolCluster {
        pool: "etl".into(),
        cluster_id: "j-1".into(),
        releasing: false,
        runs: vec!["run-1".into()],
        runs_total: 1,
        idle_since: None,
        idle_minutes: 10,
        max_concurrent: 4,
        max_runs: 20,
        created: now(),
        started_by: "run-1".into(),
    };
    assert!(table.add_pool_cluster(&cluster).await.unwrap());
    table.forget_pool_cluster("etl", "j-1").await.unwrap();
    assert_eq!(
        aws.actions(),
        ["UpdateItem", "PutItem", "DeleteItem", "UpdateItem"]
    );
    let registry = aws.requests("UpdateItem");
    for (update, expression) in registry
        .iter()
        .zip(["ADD #clusters :entry", "DELETE #clusters :entry"])
    {
        assert_eq!(update["ExpressionAttributeNames"]["#clusters"], "clusters");
        assert_eq!(update["Key"]["key"]["S"], "pools");
        assert_eq!(update["UpdateExpression"], expression);
        assert_eq!(
            update["ExpressionAttributeValues"][":entry"]["SS"],
            json!(["etl#j-1"])
        );
    }
    assert_eq!(
        aws.requests("PutItem")[0]["Item"]["key"]["S"],
        "pool#etl#j-1"
    );
}

#[tokio::test]
async fn a_jobs_runs_are_one_query_of_the_by_job_index_whatever_else_ran() {
    use sparkplug::engine::ports::RunStore;
    let aws = FakeAws::new();
    let record = |run: &str, started: i64, status: &str| {
        json!({"key": {"S": format!("run#{run}")}, "run_of": {"S": "sales_daily"}, "run_name": {"S": run},
            "started": {"N": started.to_string()}, "trigger": {"S": "schedule"}, "status": {"S": status},
            "summary": {"S": json!({"cost": {"usd": 0.5}}).to_string()}})
    };
    aws.ok(
        "Query",
        json!({"Items": [record("b", 2_000, "RUNNING"), record("a", 1_000, "FAILED")], "Count": 2}),
    );
    let since = DateTime::from_timestamp_millis(500).unwrap();
    let runs = aws.tokens().runs_of("sales_daily", since).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_name.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(runs[1].summary.as_ref().unwrap()["cost"]["usd"], 0.5);
    // One call for the job's runs: a Query of its partition of the `by-job` index, newest first — other jobs'
    // runs are in other partitions, and no execution is listed or described.
    assert_eq!(aws.actions(), ["Query"]);
    let query = &aws.requests("Query")[0];
    assert_eq!(query["IndexName"], "by-job");
    assert_eq!(
        query["KeyConditionExpression"],
        "#job = :job AND #started >= :since"
    );
    assert_eq!(query["ExpressionAttributeNames"]["#job"], "run_of");
    assert_eq!(query["ExpressionAttributeValues"][":since"]["N"], "500");
    assert_eq!(query["ScanIndexForward"], false);
}

#[tokio::test]
async fn a_runs_start_never_overwrites_its_end_and_its_end_records_everything() {
    use sparkplug::engine::ports::{RunRecord, RunStore};
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    let table = aws.tokens();
    let mut run = RunRecord {
        job: "sales_daily".into(),
        run_name: "sales_daily-1".into(),
        trigger: "schedule".into(),
        started: now(),
        status: "RUNNING".into(),
        ended: None,
        summary: None,
        reason: None,
    };
    table.run_began(&run).await.unwrap();
    run.status = "FAILED".into();
    run.ended = Some(now());
    run.summary = Some(json!({"cost": {"usd": 0.1}}));
    run.reason = Some("StepFailed: boom".into());
    table.run_finished(&run).await.unwrap();
    let updates = aws.requests("UpdateItem");
    let began = updates[0]["UpdateExpression"].as_str().unwrap();
    assert!(
        began.contains("#status = if_not_exists(#status, :status)"),
        "{began}"
    );
    assert!(
        began.contains("#started = if_not_exists(#started, :started)"),
        "{began}"
    );
    // `status` and `trigger` are reserved words in DynamoDB: every name goes through a placeholder.
    assert_eq!(updates[0]["ExpressionAttributeNames"]["#status"], "status");
    let finished = &updates[1];
    let expression = finished["UpdateExpression"].as_str().unwrap();
    for part in [
        "#status = :status",
        "#ended = :ended",
        "#summary = :summary",
        "#reason = :reason",
    ] {
        assert!(expression.contains(part), "{expression}");
    }
    assert_eq!(
        finished["ExpressionAttributeValues"][":summary"]["S"],
        json!({"cost": {"usd": 0.1}}).to_string()
    );
    // Kept a year and a month after its start (the table's TTL).
    assert_eq!(
        finished["ExpressionAttributeValues"][":expires"]["N"],
        (now() + chrono::Duration::days(400))
            .timestamp()
            .to_string()
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
            since: now(),
            then: None,
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
