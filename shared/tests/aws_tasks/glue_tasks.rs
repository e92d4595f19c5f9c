//! Glue's tasks: start (the job created or updated as planned), sense on its event, finish.

use super::*;

// ---------------------------------------------------------------- Glue

#[tokio::test]
async fn glue_start_creates_a_missing_job_and_starts_the_planned_run() {
    let plan = plan_of("customer_scores");
    let glue = plan.glue.clone().unwrap();
    let aws = FakeAws::new();
    aws.error("GetJob", 400, "EntityNotFoundException", "no such job");
    aws.ok(
        "CreateJob",
        json!({"Name": "sparkplug-customer_scores-dev"}),
    );
    aws.ok("StartJobRun", json!({"JobRunId": "jr_1"}));
    aws.ok("PutItem", json!({}));
    let out = glue_start(
        &aws,
        json!({"plan": plan, "task_token": "TOKEN-G", "retry_count": 0}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"job_name": "sparkplug-customer_scores-dev", "run_id": "jr_1", "reused": false})
    );
    // A first attempt looks for no earlier run; the token waits under the job and run id.
    assert!(aws.requests("GetJobRuns").is_empty());
    let put = &aws.requests("PutItem")[0];
    assert_eq!(
        put["Item"]["key"],
        json!({"S": "glue#sparkplug-customer_scores-dev#jr_1"})
    );
    assert_eq!(aws.requests("CreateJob"), vec![glue.job]);
    assert_eq!(aws.requests("StartJobRun"), vec![glue.run]);
    assert!(aws.requests("UpdateJob").is_empty());
}

#[tokio::test]
async fn glue_start_updates_a_job_that_differs_and_leaves_an_equal_one() {
    let plan = plan_of("customer_scores");
    let planned = plan.glue.clone().unwrap().job;
    let current = json!({"Name": "sparkplug-customer_scores-dev", "Role": planned["Role"], "Command": planned["Command"],
        "GlueVersion": "5.0", "WorkerType": "G.2X", "NumberOfWorkers": 4, "MaxCapacity": 8.0, "Timeout": 60, "MaxRetries": 0,
        "DefaultArguments": planned["DefaultArguments"], "ExecutionProperty": {"MaxConcurrentRuns": 10}});
    let aws = FakeAws::new();
    aws.ok("GetJob", json!({"Job": current}));
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.ok("StartJobRun", json!({"JobRunId": "jr_2"}));
    aws.ok("PutItem", json!({}));
    glue_start(&aws, json!({"plan": plan, "task_token": "T"}))
        .await
        .unwrap();
    assert!(
        aws.requests("UpdateJob").is_empty(),
        "{:?}",
        aws.requests("UpdateJob")
    );

    let mut stale = current.clone();
    stale["NumberOfWorkers"] = json!(2);
    let aws = FakeAws::new();
    aws.ok("GetJob", json!({"Job": stale}));
    aws.ok(
        "UpdateJob",
        json!({"JobName": "sparkplug-customer_scores-dev"}),
    );
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.ok("StartJobRun", json!({"JobRunId": "jr_3"}));
    aws.ok("PutItem", json!({}));
    glue_start(
        &aws,
        json!({"plan": plan_of("customer_scores"), "task_token": "T"}),
    )
    .await
    .unwrap();
    let update = &aws.requests("UpdateJob")[0];
    assert_eq!(update["JobName"], "sparkplug-customer_scores-dev");
    assert_eq!(update["JobUpdate"]["NumberOfWorkers"], 4);
    assert!(update["JobUpdate"].get("Name").is_none() && update["JobUpdate"].get("Tags").is_none());
}

#[tokio::test]
async fn a_retried_glue_start_reuses_the_run_it_started() {
    let plan = plan_of("customer_scores");
    let aws = FakeAws::new();
    aws.ok("GetJob", json!({"Job": plan.glue.as_ref().unwrap().job}));
    aws.ok(
        "GetJobRuns",
        json!({"JobRuns": [
            {"Id": "jr_old", "Arguments": {"--sparkplug_run": "another-run"}},
            {"Id": "jr_mine", "Arguments": {"--sparkplug_run": plan.run_name}}
        ]}),
    );
    aws.ok("PutItem", json!({}));
    let out = glue_start(&aws, json!({"plan": plan, "task_token": "T"}))
        .await
        .unwrap();
    assert_eq!(
        (out["run_id"].as_str(), out["reused"].as_bool()),
        (Some("jr_mine"), Some(true))
    );
    assert!(aws.requests("StartJobRun").is_empty());
}

#[tokio::test]
async fn concurrent_runs_exceeded_is_retryable() {
    let plan = plan_of("customer_scores");
    let aws = FakeAws::new();
    aws.ok("GetJob", json!({"Job": plan.glue.as_ref().unwrap().job}));
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.error(
        "StartJobRun",
        400,
        "ConcurrentRunsExceededException",
        "too many",
    );
    let err = glue_start(&aws, json!({"plan": plan, "task_token": "T"}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
}

/// notify's answer after a Glue event, when GetJobRun answers `run`; `None` when it sends none.
async fn glue_notified(run: Value) -> Option<Value> {
    let aws = FakeAws::new();
    let work =
        json!({"engine": "glue", "job_name": "sparkplug-customer_scores-dev", "run_id": "jr_1"});
    aws.ok(
        "GetItem",
        json!({"Item": waiter_item("run", work, "TOKEN", 1_800_000_000)}),
    );
    aws.ok("GetJobRun", json!({"JobRun": run}));
    aws.ok("SendTaskSuccess", json!({}));
    aws.ok("DeleteItem", json!({}));
    let event = state_change(
        "Glue Job State Change",
        "aws.glue",
        json!({"jobName": "sparkplug-customer_scores-dev", "severity": "INFO", "state": "SUCCEEDED", "jobRunId": "jr_1",
            "message": "Job run succeeded"}),
    );
    notify(&aws, event).await.unwrap();
    assert_eq!(
        aws.requests("GetJobRun")[0],
        json!({"JobName": "sparkplug-customer_scores-dev", "RunId": "jr_1"})
    );
    aws.requests("SendTaskSuccess")
        .first()
        .map(|sent| serde_json::from_str(sent["output"].as_str().unwrap()).unwrap())
}

#[tokio::test]
async fn glue_runs_are_sensed_on_their_event_and_summed_up_by_finish() {
    let still_running =
        glue_notified(json!({"Id": "jr_1", "JobRunState": "RUNNING", "StartedOn": epoch(6, 0)}))
            .await;
    assert_eq!(still_running, None);

    for (state, status) in [
        ("SUCCEEDED", "succeeded"),
        ("STOPPED", "failed"),
        ("TIMEOUT", "failed"),
        ("ERROR", "failed"),
        ("EXPIRED", "failed"),
    ] {
        let sensed = glue_notified(json!({"Id": "jr_1", "JobRunState": state, "StartedOn": epoch(6, 0),
            "CompletedOn": epoch(6, 12), "ExecutionTime": 600, "ErrorMessage": "boom", "LogGroupName": "/aws-glue/jobs"}))
        .await
        .unwrap();
        assert_eq!(sensed["status"], status, "{state}");
        assert_eq!(sensed["timeline"]["startup_seconds"], 120);
        assert_eq!(sensed["timeline"]["execution_seconds"], 600);
        // glue-finish sums the ended run up without a call.
        let aws = FakeAws::new();
        let summary = glue_finish(
            &aws,
            json!({"plan": plan_of("customer_scores"), "sense": sensed}),
        )
        .await
        .unwrap();
        assert!(aws.actions().is_empty());
        assert_eq!(summary["status"], status);
        assert_eq!(summary["glue_run_id"], "jr_1");
        if status == "failed" {
            assert_eq!(summary["error"], "GlueRunFailed");
            assert_eq!(
                summary["cause"],
                format!("Glue run {state}: boom (logs: /aws-glue/jobs)")
            );
        }
    }
}

#[tokio::test]
async fn a_run_past_its_limit_stops_its_glue_run_and_says_why() {
    let plan = plan_of("customer_scores");
    let aws = FakeAws::new();
    aws.ok(
        "GetJobRuns",
        json!({"JobRuns": [
            {"Id": "jr_other", "JobRunState": "RUNNING", "Arguments": {"--sparkplug_run": "another-run"}},
            {"Id": "jr_mine", "JobRunState": "RUNNING", "Arguments": {"--sparkplug_run": plan.run_name}}
        ]}),
    );
    aws.ok(
        "BatchStopJobRun",
        json!({"SuccessfulSubmissions": [{"JobName": "sparkplug-customer_scores-dev", "JobRunId": "jr_mine"}], "Errors": []}),
    );
    let state = json!({"plan": plan, "error": {"Error": "States.Timeout", "Cause": ""}});
    let summary = glue_finish(&aws, state).await.unwrap();
    assert_eq!(
        aws.requests("BatchStopJobRun"),
        vec![json!({"JobName": "sparkplug-customer_scores-dev", "JobRunIds": ["jr_mine"]})]
    );
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["error"], "Timeout");
    assert_eq!(summary["glue_run_id"], "jr_mine");
    assert!(
        summary["cause"]
            .as_str()
            .unwrap()
            .contains("minute limit (timeout_minutes)"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_run_that_waited_for_its_slot_says_how_long_in_its_summary_and_metric_line() {
    // TakeSlot's answer stands at $.slot in the state the finish task gets (a job with max_concurrent_runs).
    let plan = plan_of("customer_scores");
    let sensed = json!({"status": "succeeded", "resource_id": "jr_1", "state": "SUCCEEDED",
        "progress": "Glue run SUCCEEDED", "timeline": {"startup_seconds": 5, "execution_seconds": 60}});
    let aws = FakeAws::new();
    let summary = glue_finish(
        &aws,
        json!({"plan": plan, "sense": sensed, "slot": {"queued_seconds": 42}}),
    )
    .await
    .unwrap();
    assert!(aws.actions().is_empty(), "{:?}", aws.actions());
    assert_eq!(summary["queued_seconds"], 42, "{summary}");
    let summary: sparkplug::engine::summary::RunSummary = serde_json::from_value(summary).unwrap();
    let line: Value =
        serde_json::from_str(&sparkplug::engine::summary::emf_line(&summary, now())).unwrap();
    assert_eq!(line["QueuedSeconds"], 42);
    assert!(line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .contains(&json!({"Name": "QueuedSeconds", "Unit": "Seconds"})));
    // A run of a job without a queue has no slot: no queue wait, no QueuedSeconds.
    let summary = glue_finish(
        &FakeAws::new(),
        json!({"plan": plan_of("customer_scores"), "sense": sensed}),
    )
    .await
    .unwrap();
    assert!(summary.get("queued_seconds").is_none(), "{summary}");
}
