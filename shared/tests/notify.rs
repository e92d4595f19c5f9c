//! Event-driven completion over real SDK clients and a request/response-level mock: which events cost a look,
//! what notify answers, how it treats duplicates, strangers and tokens nobody waits on, and what the reconciler
//! looks at. Each case counts the AWS calls it makes: a run's cost is in them.

mod common;

use common::fake_aws::{state_change, waiter_item, FakeAws};
use common::now;
use serde_json::{json, Value};
use sparkplug::engine::handlers::notify;
use sparkplug::engine::input::handle;
use sparkplug::engine::{ErrorKind, TaskError};

async fn notify(aws: &FakeAws, event: Value) -> Result<Value, TaskError> {
    let (emr, glue, sfn, tokens) = (aws.emr(), aws.glue(), aws.sfn(), aws.tokens());
    let serverless = aws.serverless();
    handle("notify", event, |e| {
        notify::notify(&emr, &glue, &serverless, &sfn, &tokens, e, now())
    })
    .await
}

fn step_event(cluster: &str, step: &str, state: &str) -> Value {
    state_change(
        "EMR Step Status Change",
        "aws.emr",
        json!({"severity": "INFO", "actionOnFailure": "CONTINUE", "stepId": step, "name": "x", "clusterId": cluster,
            "state": state, "message": "…"}),
    )
}

fn cluster_event(cluster: &str, state: &str) -> Value {
    state_change(
        "EMR Cluster State Change",
        "aws.emr",
        json!({"severity": "CRITICAL", "stateChangeReason": "{\"code\":\"INSTANCE_FAILURE\"}", "name": "run",
            "clusterId": cluster, "state": state, "message": "…"}),
    )
}

fn emr_work(cluster: &str, steps: &[&str]) -> Value {
    json!({"engine": "emr", "cluster_id": cluster, "step_ids": steps, "sequential": true})
}

fn epoch(minute: u32) -> f64 {
    f64::from(1_795_761_000 + minute * 60)
}

fn step(id: &str, state: &str) -> Value {
    let mut status = json!({"State": state, "Timeline": {"StartDateTime": epoch(10)}});
    if matches!(state, "COMPLETED" | "FAILED" | "CANCELLED") {
        status["Timeline"]["EndDateTime"] = json!(epoch(12));
    }
    json!({"Id": id, "Name": id, "Status": status})
}

fn described(id: &str, state: &str) -> Value {
    json!({"Cluster": {"Id": id, "Name": "run", "Status": {"State": state,
        "StateChangeReason": {"Code": "INSTANCE_FAILURE", "Message": "Spot capacity was reclaimed"},
        "Timeline": {"CreationDateTime": epoch(0), "ReadyDateTime": epoch(9)}}}})
}

/// A fake AWS with the waiter of run `run` on cluster j-1 (steps s-1, s-2) and EMR answering `steps`/`cluster`.
fn waiting_on_j1(steps: Vec<Value>, cluster_state: &str) -> FakeAws {
    let aws = waiting_on_j1_unanswered(steps, cluster_state);
    aws.ok("SendTaskSuccess", json!({}));
    aws
}

/// The same, with no answer to SendTaskSuccess queued yet.
fn waiting_on_j1_unanswered(steps: Vec<Value>, cluster_state: &str) -> FakeAws {
    let aws = FakeAws::new();
    aws.ok(
        "GetItem",
        json!({"Item": waiter_item("run", emr_work("j-1", &["s-1", "s-2"]), "TOKEN", 1_800_000_000)}),
    );
    aws.ok("ListSteps", json!({"Steps": steps}));
    aws.ok("DescribeCluster", described("j-1", cluster_state));
    aws.ok("DeleteItem", json!({}));
    aws
}

fn answer(aws: &FakeAws) -> Option<Value> {
    aws.requests("SendTaskSuccess")
        .first()
        .map(|sent| serde_json::from_str(sent["output"].as_str().unwrap()).unwrap())
}

#[tokio::test]
async fn the_last_step_completing_answers_the_task_in_four_calls_two_of_them_emr() {
    let aws = waiting_on_j1(
        vec![step("s-2", "COMPLETED"), step("s-1", "COMPLETED")],
        "WAITING",
    );
    let report = notify(&aws, step_event("j-1", "s-2", "COMPLETED"))
        .await
        .unwrap();
    assert_eq!(report["answered"], json!(["run: succeeded"]));
    assert_eq!(
        aws.actions(),
        vec![
            "GetItem",
            "ListSteps",
            "DescribeCluster",
            "SendTaskSuccess",
            "DeleteItem"
        ]
    );
    assert_eq!(
        aws.requests("GetItem")[0],
        json!({"TableName": "sparkplug-dev-tokens", "Key": {"key": {"S": "emr#j-1"}}, "ConsistentRead": true})
    );
    let sent = answer(&aws).unwrap();
    assert_eq!(sent["status"], "succeeded");
    assert_eq!(sent["timeline"]["startup_seconds"], 540);
    assert_eq!(sent["timeline"]["execution_seconds"], 120);
    // The waiter goes only if it still holds this token (a retried task's newer token stays).
    assert_eq!(
        aws.requests("DeleteItem")[0]["ConditionExpression"],
        "#token = :token"
    );
}

#[tokio::test]
async fn events_that_say_nothing_new_cost_no_emr_call() {
    // A step that is not the last completing, one after the other: nothing can be answered yet.
    let aws = waiting_on_j1(vec![], "RUNNING");
    let report = notify(&aws, step_event("j-1", "s-1", "COMPLETED"))
        .await
        .unwrap();
    assert_eq!(aws.actions(), vec!["GetItem"]);
    assert!(report["dropped"][0]
        .as_str()
        .unwrap()
        .contains("has later steps"));

    // A step of someone else's on our cluster.
    let aws = waiting_on_j1(vec![], "RUNNING");
    notify(&aws, step_event("j-1", "s-STRANGER", "FAILED"))
        .await
        .unwrap();
    assert_eq!(aws.actions(), vec!["GetItem"]);

    // A cluster no task waits on: not sparkplug's, or answered already (a duplicate, a late event).
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({}));
    let report = notify(&aws, step_event("j-OTHER", "s-9", "COMPLETED"))
        .await
        .unwrap();
    assert_eq!(aws.actions(), vec!["GetItem"]);
    assert!(report["dropped"][0]
        .as_str()
        .unwrap()
        .contains("no task waits on it"));

    // States that end nothing: no call at all.
    let aws = FakeAws::new();
    for event in [
        step_event("j-1", "s-1", "RUNNING"),
        step_event("j-1", "s-1", "PENDING"),
        cluster_event("j-1", "WAITING"),
        cluster_event("j-1", "BOOTSTRAPPING"),
    ] {
        notify(&aws, event).await.unwrap();
    }
    assert!(aws.actions().is_empty());
}

#[tokio::test]
async fn a_failed_step_or_a_dead_cluster_answers_at_once_with_the_reason() {
    let aws = waiting_on_j1(
        vec![step("s-2", "PENDING"), step("s-1", "FAILED")],
        "WAITING",
    );
    notify(&aws, step_event("j-1", "s-1", "FAILED"))
        .await
        .unwrap();
    let sent = answer(&aws).unwrap();
    assert_eq!(
        (sent["status"].as_str(), sent["failure"]["error"].as_str()),
        (Some("failed"), Some("StepFailed"))
    );

    let aws = waiting_on_j1(
        vec![step("s-2", "CANCELLED"), step("s-1", "CANCELLED")],
        "TERMINATED_WITH_ERRORS",
    );
    notify(&aws, cluster_event("j-1", "TERMINATED_WITH_ERRORS"))
        .await
        .unwrap();
    let sent = answer(&aws).unwrap();
    assert_eq!(
        sent["failure"],
        json!({"error": "ClusterTerminated", "reason": "INSTANCE_FAILURE", "message": "Spot capacity was reclaimed"})
    );
}

#[tokio::test]
async fn an_event_before_the_api_shows_the_end_answers_nothing() {
    // Out of order: the API still shows the step running. No answer; the waiter stays for a later event.
    let aws = waiting_on_j1(
        vec![step("s-2", "RUNNING"), step("s-1", "COMPLETED")],
        "RUNNING",
    );
    notify(&aws, step_event("j-1", "s-2", "COMPLETED"))
        .await
        .unwrap();
    assert_eq!(answer(&aws), None);
    assert!(aws.requests("DeleteItem").is_empty());
}

#[tokio::test]
async fn a_token_nobody_waits_on_is_dropped_not_retried() {
    for code in ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"] {
        let aws = waiting_on_j1_unanswered(
            vec![step("s-2", "COMPLETED"), step("s-1", "COMPLETED")],
            "WAITING",
        );
        aws.error(
            "SendTaskSuccess",
            400,
            code,
            "Provided task does not exist anymore",
        );
        let report = notify(&aws, step_event("j-1", "s-2", "COMPLETED"))
            .await
            .unwrap();
        assert!(
            report["dropped"][0].as_str().unwrap().contains(code),
            "{report}"
        );
        assert_eq!(
            aws.requests("DeleteItem").len(),
            1,
            "{code}: the waiter is forgotten"
        );
    }
    // A throttled answer fails the invocation (Throttled): Lambda's async retry delivers the event again, and the
    // waiter stays.
    let aws = waiting_on_j1_unanswered(
        vec![step("s-2", "COMPLETED"), step("s-1", "COMPLETED")],
        "WAITING",
    );
    aws.error(
        "SendTaskSuccess",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let err = notify(&aws, step_event("j-1", "s-2", "COMPLETED"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert!(aws.requests("DeleteItem").is_empty());
}

#[tokio::test]
async fn glue_events_are_keyed_by_job_and_run() {
    let aws = FakeAws::new();
    let work =
        json!({"engine": "glue", "job_name": "sparkplug-customer_scores-dev", "run_id": "jr_1"});
    aws.ok(
        "GetItem",
        json!({"Item": waiter_item("run", work, "TOKEN", 1_800_000_000)}),
    );
    aws.ok(
        "GetJobRun",
        json!({"JobRun": {"Id": "jr_1", "JobRunState": "FAILED", "ErrorMessage": "boom"}}),
    );
    aws.ok("SendTaskSuccess", json!({}));
    aws.ok("DeleteItem", json!({}));
    let event = state_change(
        "Glue Job State Change",
        "aws.glue",
        json!({"jobName": "sparkplug-customer_scores-dev", "severity": "ERROR", "state": "FAILED", "jobRunId": "jr_1",
            "message": "…"}),
    );
    notify(&aws, event).await.unwrap();
    assert_eq!(
        aws.requests("GetItem")[0]["Key"],
        json!({"key": {"S": "glue#sparkplug-customer_scores-dev#jr_1"}})
    );
    assert_eq!(answer(&aws).unwrap()["failure"]["error"], "GlueRunFailed");
}

#[tokio::test]
async fn bad_events_are_invalid_input_and_call_nothing() {
    let aws = FakeAws::new();
    for (event, names) in [
        (
            state_change(
                "EMR Step Status Change",
                "aws.emr",
                json!({"stepId": "s-1", "state": "FAILED"}),
            ),
            "`clusterId`",
        ),
        (
            state_change("Object Created", "aws.s3", json!({})),
            "`Object Created` is not an event notify handles",
        ),
        (json!({"reconcile": false}), "must be true"),
        (json!([1, 2]), "notify: bad input"),
    ] {
        let err = notify(&aws, event).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains(names), "{}", err.message);
    }
    assert!(aws.actions().is_empty());
}

#[tokio::test]
async fn the_reconciler_looks_only_at_old_waiters_whose_work_may_have_ended() {
    let aws = FakeAws::new();
    let old = now().timestamp() - 600;
    aws.ok(
        "Query",
        json!({"Items": [
            waiter_item("busy", emr_work("j-BUSY", &["s-1"]), "T-BUSY", old),
            waiter_item("done", emr_work("j-DONE", &["s-D"]), "T-DONE", old),
            waiter_item("lost", emr_work("j-LOST", &["s-L"]), "T-LOST", old),
            waiter_item("glue", json!({"engine": "glue", "job_name": "sparkplug-g", "run_id": "jr_1"}), "T-GLUE", old),
        ], "Count": 4, "ScannedCount": 4}),
    );
    // One ListClusters for every EMR waiter: a RUNNING cluster is busy; a WAITING one may be done; j-LOST is gone.
    aws.ok(
        "ListClusters",
        json!({"Clusters": [
            {"Id": "j-BUSY", "Name": "busy", "Status": {"State": "RUNNING"}},
            {"Id": "j-DONE", "Name": "done", "Status": {"State": "WAITING"}}
        ]}),
    );
    aws.ok("ListSteps", json!({"Steps": [step("s-D", "COMPLETED")]}));
    aws.error(
        "ListSteps",
        400,
        "InvalidRequestException",
        "Cluster id 'j-LOST' is not valid.",
    );
    aws.ok("DescribeCluster", described("j-DONE", "WAITING"));
    aws.ok(
        "GetJobRun",
        json!({"JobRun": {"Id": "jr_1", "JobRunState": "RUNNING"}}),
    );
    aws.ok("SendTaskSuccess", json!({}));
    aws.ok("SendTaskFailure", json!({}));
    aws.ok("DeleteItem", json!({}));
    let report = notify(&aws, json!({"reconcile": true})).await.unwrap();
    assert_eq!(report["looked_at"], 4);
    assert_eq!(
        report["answered"],
        json!(["done: succeeded", "lost: WorkLost"])
    );
    // Waiters registered in the last 180 s are left to their events.
    let query = &aws.requests("Query")[0];
    assert_eq!(query["IndexName"], "by-kind");
    assert_eq!(query["KeyConditionExpression"], "#kind = :kind");
    assert_eq!(
        query["ExpressionAttributeValues"][":kind"],
        json!({"S": "waiter"})
    );
    assert_eq!(query["FilterExpression"], "registered < :before");
    assert_eq!(
        query["ExpressionAttributeValues"][":before"],
        json!({"N": (now().timestamp() - 180).to_string()})
    );
    assert_eq!(aws.requests("ListClusters").len(), 1);
    let looked: Vec<Value> = aws
        .requests("ListSteps")
        .iter()
        .map(|r| r["ClusterId"].clone())
        .collect();
    assert_eq!(looked, vec![json!("j-DONE"), json!("j-LOST")]);
    assert_eq!(aws.requests("SendTaskSuccess")[0]["taskToken"], "T-DONE");
    let failed = &aws.requests("SendTaskFailure")[0];
    assert_eq!(
        (failed["taskToken"].as_str(), failed["error"].as_str()),
        (Some("T-LOST"), Some("WorkLost"))
    );
    assert!(failed["cause"].as_str().unwrap().contains("not valid"));
    // The Glue run still runs: no answer, its waiter stays.
    assert_eq!(aws.requests("DeleteItem").len(), 2);

    // The schedule may say how old: {"reconcile": true, "older_than_seconds": 0} looks at every waiter.
    let aws = FakeAws::new();
    aws.ok("Query", json!({"Items": [], "Count": 0, "ScannedCount": 0}));
    notify(&aws, json!({"reconcile": true, "older_than_seconds": 0}))
        .await
        .unwrap();
    assert_eq!(
        aws.requests("Query")[0]["ExpressionAttributeValues"][":before"],
        json!({"N": now().timestamp().to_string()})
    );
    assert_eq!(aws.actions(), vec!["Query"]);
}
