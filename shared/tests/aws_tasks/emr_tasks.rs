//! EMR's tasks: create (a run's own cluster), steps, sense and terminate.

use super::*;

// ---------------------------------------------------------------- EMR create

#[tokio::test]
async fn create_sends_the_plans_run_job_flow_request_verbatim() {
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW", "ClusterArn": "arn:aws:elasticmapreduce:eu-west-1:1:cluster/j-NEW"}));
    let plan = plan_of("airflow_pi");
    let out = create_cluster(&aws, json!({"plan": plan, "retry_count": 1}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "j-NEW", "reused": false, "first_attempt": false})
    );
    // The body is exactly the plan's request: every Airflow field included (bootstrap actions, configurations…).
    assert_eq!(aws.requests("RunJobFlow"), vec![plan.emr.unwrap().cluster]);
    let listed = &aws.requests("ListClusters")[0];
    assert_eq!(
        listed["ClusterStates"],
        json!(["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"])
    );
}

#[tokio::test]
async fn a_retried_create_reuses_the_runs_cluster() {
    let plan = plan_of("hello_world");
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        json!({"Clusters": [
            {"Id": "j-OTHER", "Name": "someone-else", "Status": {"State": "WAITING"}},
            {"Id": "j-MINE", "Name": own_cluster(&plan), "Status": {"State": "STARTING"}}
        ]}),
    );
    aws.ok(
        "DescribeCluster",
        described("j-MINE", &plan.run_name, Some("dev")),
    );
    let out = create_cluster(&aws, json!({"plan": plan, "retry_count": 2}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "j-MINE", "reused": true, "first_attempt": false})
    );
    assert!(aws.requests("RunJobFlow").is_empty());
}

#[tokio::test]
async fn a_first_attempt_creates_without_looking_and_terminate_then_ends_only_its_cluster() {
    // The first attempt of the create task: nothing of this run can exist yet (one EMR call, not two).
    let plan = plan_of("hello_world");
    let aws = FakeAws::new();
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    let out = create_cluster(&aws, json!({"plan": plan, "retry_count": 0}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "j-NEW", "reused": false, "first_attempt": true})
    );
    assert_eq!(aws.actions(), vec!["RunJobFlow"]);
    // …so terminate knows it is the run's only cluster: no ListClusters.
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    let state = json!({"plan": plan, "cluster": out});
    terminate(&aws, state, now()).await.unwrap();
    assert_eq!(aws.actions(), vec!["TerminateJobFlows"]);
}

#[tokio::test]
async fn a_cluster_of_the_same_run_name_in_another_environment_is_never_adopted_nor_terminated() {
    // dev and prod in one account run the same schedule at the same minute: same run name, two clusters.
    let plan = plan_of("hello_world");
    assert_eq!(plan.environment.as_deref(), Some("dev"));
    let listed = json!({"Clusters": [
        {"Id": "j-PROD", "Name": own_cluster(&plan), "Status": {"State": "WAITING"}},
        {"Id": "j-PROD2", "Name": own_cluster(&plan), "Status": {"State": "WAITING"}},
        {"Id": "j-DEV", "Name": own_cluster(&plan), "Status": {"State": "WAITING"}}
    ]});

    // prod's clusters are seen (one the policy may not describe, one tagged prod), then dev's.
    let three_clusters = || {
        let aws = FakeAws::new();
        aws.ok("ListClusters", listed.clone());
        aws.error(
            "DescribeCluster",
            400,
            "AccessDeniedException",
            "not authorized",
        );
        aws.ok(
            "DescribeCluster",
            described("j-PROD2", &plan.run_name, Some("prod")),
        );
        aws.ok(
            "DescribeCluster",
            described("j-DEV", &plan.run_name, Some("dev")),
        );
        aws
    };

    // Create: dev's is adopted.
    let aws = three_clusters();
    let out = create_cluster(&aws, json!({"plan": plan, "retry_count": 1}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "j-DEV", "reused": true, "first_attempt": false})
    );
    assert!(aws.requests("RunJobFlow").is_empty());

    // Terminate: only dev's cluster.
    let aws = three_clusters();
    aws.ok("TerminateJobFlows", json!({}));
    terminate(&aws, json!({"plan": plan}), now()).await.unwrap();
    assert_eq!(
        aws.requests("TerminateJobFlows"),
        vec![json!({"JobFlowIds": ["j-DEV"]})]
    );

    // Only prod's: dev creates its own.
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": [{"Id": "j-PROD", "Name": own_cluster(&plan), "Status": {"State": "WAITING"}}]}));
    aws.ok(
        "DescribeCluster",
        described("j-PROD", &plan.run_name, Some("prod")),
    );
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    let out = create_cluster(&aws, json!({"plan": plan, "retry_count": 1}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "j-NEW", "reused": false, "first_attempt": false})
    );
}

#[tokio::test]
async fn aws_errors_are_classified_for_the_state_machine() {
    let plan = json!({"plan": plan_of("hello_world")});
    for (status, code, expected) in [
        (400, "ThrottlingException", ErrorKind::Throttled),
        (429, "SomethingNew", ErrorKind::Throttled),
        (500, "InternalServerError", ErrorKind::Retryable),
        (400, "ValidationException", ErrorKind::InvalidInput),
        (400, "InvalidRequestException", ErrorKind::InvalidInput),
        (503, "SomethingNew", ErrorKind::Retryable),
        (400, "SomethingNew", ErrorKind::Failed),
    ] {
        let aws = FakeAws::new();
        aws.ok("ListClusters", json!({"Clusters": []}));
        aws.error("RunJobFlow", status, code, "no");
        let err = create_cluster(&aws, plan.clone()).await.unwrap_err();
        assert_eq!(kind(&err), expected, "{code}: {err}");
        assert!(err.message.starts_with("RunJobFlow: "), "{err}");
        let diagnostic: Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, expected.as_str());
    }
}

#[tokio::test]
async fn bad_input_is_invalid_input_and_calls_nothing() {
    let aws = FakeAws::new();
    for input in [json!({}), json!({"plan": {"job": "x"}}), json!("text")] {
        let err = create_cluster(&aws, input).await.unwrap_err();
        assert_eq!(kind(&err), ErrorKind::InvalidInput);
        assert!(
            err.message.contains("emr-create-cluster: bad input"),
            "{err}"
        );
    }
    let glue_plan = plan_of("customer_scores");
    let err = create_cluster(&aws, json!({"plan": glue_plan}))
        .await
        .unwrap_err();
    assert!(err.message.contains("is a glue run, not emr"), "{err}");
    let mut old = serde_json::to_value(plan_of("hello_world")).unwrap();
    old["plan_version"] = json!(99);
    let err = create_cluster(&aws, json!({"plan": old}))
        .await
        .unwrap_err();
    assert!(err.message.contains("plan version 99"), "{err}");
    assert!(aws.actions().is_empty());
}

// ---------------------------------------------------------------- EMR steps

#[tokio::test]
async fn add_steps_adds_only_the_steps_not_yet_on_the_cluster() {
    let plan = plan_of("sales_daily");
    let aws = FakeAws::new();
    aws.ok(
        "ListSteps",
        json!({"Steps": [{"Id": "s-INGEST", "Name": "ingest", "Status": {"State": "PENDING"}}]}),
    );
    aws.ok("AddJobFlowSteps", json!({"StepIds": ["s-AGG"]}));
    aws.ok("PutItem", json!({}));
    let input =
        json!({"plan": plan, "cluster_id": "j-1", "task_token": "TOKEN-1", "retry_count": 1});
    let out = add_steps(&aws, input).await.unwrap();
    assert_eq!(out, json!({"step_ids": ["s-INGEST", "s-AGG"], "added": 1}));
    let steps = plan.emr.as_ref().unwrap().steps.clone();
    assert_eq!(
        aws.requests("AddJobFlowSteps"),
        vec![json!({"JobFlowId": "j-1", "Steps": [steps[1]]})]
    );
    // The token waits under the cluster id, with the run's steps; another run's waiter is never replaced.
    let put = &aws.requests("PutItem")[0];
    assert_eq!(put["TableName"], "sparkplug-dev-tokens");
    assert_eq!(put["Item"]["key"], json!({"S": "emr#j-1"}));
    assert_eq!(put["Item"]["token"], json!({"S": "TOKEN-1"}));
    assert_eq!(
        serde_json::from_str::<Value>(put["Item"]["work"]["S"].as_str().unwrap()).unwrap(),
        json!({"engine": "emr", "cluster_id": "j-1", "step_ids": ["s-INGEST", "s-AGG"], "sequential": true})
    );
    assert_eq!(
        put["ConditionExpression"],
        "attribute_not_exists(#key) OR run_name = :run"
    );
    assert_eq!(
        put["ExpressionAttributeValues"][":run"],
        json!({"S": plan.run_name})
    );
    // TTL: the run's limit and a day.
    let expires: i64 = put["Item"]["expires"]["N"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let registered: i64 = put["Item"]["registered"]["N"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        expires - registered,
        i64::try_from(plan.timeout_seconds).unwrap() + 86_400
    );

    // All present: nothing is added.
    let aws = FakeAws::new();
    aws.ok(
        "ListSteps",
        json!({"Steps": [
            {"Id": "s-AGG", "Name": "aggregate", "Status": {"State": "PENDING"}},
            {"Id": "s-INGEST", "Name": "ingest", "Status": {"State": "RUNNING"}}
        ]}),
    );
    aws.ok("PutItem", json!({}));
    let out = add_steps(
        &aws,
        json!({"plan": plan_of("sales_daily"), "cluster_id": "j-1", "task_token": "TOKEN-2"}),
    )
    .await
    .unwrap();
    assert_eq!(out["step_ids"], json!(["s-INGEST", "s-AGG"]));
    assert!(aws.requests("AddJobFlowSteps").is_empty());

    // The first attempt adds every step without looking; a key held by another run is a failure, not an overwrite.
    let aws = FakeAws::new();
    aws.ok("AddJobFlowSteps", json!({"StepIds": ["s-1", "s-2"]}));
    aws.error(
        "PutItem",
        400,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    let err = add_steps(
        &aws,
        json!({"plan": plan_of("sales_daily"), "cluster_id": "j-1", "task_token": "T", "retry_count": 0}),
    )
    .await
    .unwrap_err();
    assert_eq!(aws.actions(), vec!["AddJobFlowSteps", "PutItem"]);
    assert!(
        err.message.contains("another run's waiter"),
        "{}",
        err.message
    );
    // No token, no wait: a task not invoked with waitForTaskToken is refused before it adds anything.
    let aws = FakeAws::new();
    let err = add_steps(
        &aws,
        json!({"plan": plan_of("sales_daily"), "cluster_id": "j-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidInput);
    assert!(aws.actions().is_empty());
}

// ---------------------------------------------------------------- EMR sense

fn cluster(state: &str, reason: Value) -> Value {
    json!({"Cluster": {"Id": "j-1", "Name": "run", "Status": {"State": state, "StateChangeReason": reason,
        "Timeline": {"CreationDateTime": epoch(6, 0), "ReadyDateTime": epoch(6, 9)}}}})
}

fn step(id: &str, name: &str, state: &str, extra: Value) -> Value {
    let mut status = json!({"State": state, "Timeline": {"StartDateTime": epoch(6, 10)}});
    if state == "COMPLETED" || state == "FAILED" {
        status["Timeline"]["EndDateTime"] = json!(epoch(6, 12));
    }
    if let Some(details) = extra.get("FailureDetails") {
        status["FailureDetails"] = details.clone();
    }
    json!({"Id": id, "Name": name, "Status": status})
}

/// What notify answers the waiting task with after an event about step s-2 of j-1, when EMR answers these; for work
/// that has not ended, `{"status": "running", "dropped": [why]}` (no answer is sent).
async fn sense(cluster_answer: Value, steps: Vec<Value>) -> Value {
    let aws = FakeAws::new();
    let work = json!({"engine": "emr", "cluster_id": "j-1", "step_ids": ["s-1", "s-2"], "sequential": true});
    aws.ok(
        "GetItem",
        json!({"Item": waiter_item("run", work, "TOKEN", 1_800_000_000)}),
    );
    aws.ok("DescribeCluster", cluster_answer);
    aws.ok("ListSteps", json!({"Steps": steps}));
    aws.ok("SendTaskSuccess", json!({}));
    aws.ok("DeleteItem", json!({}));
    let event = state_change(
        "EMR Step Status Change",
        "aws.emr",
        json!({"severity": "INFO", "stepId": "s-2", "name": "aggregate", "clusterId": "j-1", "state": "COMPLETED"}),
    );
    let report = notify(&aws, event).await.unwrap();
    match aws.requests("SendTaskSuccess").first() {
        Some(sent) => {
            assert_eq!(sent["taskToken"], "TOKEN");
            assert_eq!(
                aws.requests("DeleteItem")[0]["ExpressionAttributeValues"][":token"],
                json!({"S": "TOKEN"})
            );
            serde_json::from_str(sent["output"].as_str().unwrap()).unwrap()
        }
        None => {
            assert!(aws.requests("DeleteItem").is_empty());
            json!({"status": "running", "dropped": report["dropped"]})
        }
    }
}

#[tokio::test]
async fn sense_maps_emr_states_and_times_the_run() {
    let running = sense(
        cluster("RUNNING", json!({})),
        vec![
            step("s-2", "aggregate", "PENDING", json!({})),
            step("s-1", "ingest", "RUNNING", json!({})),
        ],
    )
    .await;
    assert_eq!(running["status"], "running");
    assert_eq!(
        running["dropped"],
        json!(["run run: cluster RUNNING, 0/2 steps completed (not ended yet)"])
    );

    let done = sense(
        cluster("WAITING", json!({})),
        vec![
            step("s-1", "ingest", "COMPLETED", json!({})),
            step("s-2", "aggregate", "COMPLETED", json!({})),
        ],
    )
    .await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["resource_id"], "j-1");
    assert_eq!(done["timeline"]["startup_seconds"], 9 * 60);
    assert_eq!(done["timeline"]["execution_seconds"], 2 * 60);
    assert_eq!(done["timeline"]["steps"][0]["name"], "ingest");

    let failed = sense(
        cluster("WAITING", json!({})),
        vec![
            step("s-1", "ingest", "FAILED", json!({"FailureDetails": {"Reason": "Unknown Error.",
                "Message": "Exception in thread main", "LogFile": "s3://acme-logs-dev/emr/j-1/steps/s-1/stderr.gz"}})),
            step("s-2", "aggregate", "CANCELLED", json!({})),
        ],
    )
    .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["failure"],
        json!({"error": "StepFailed", "step": "ingest", "reason": "Unknown Error.", "message": "Exception in thread main",
               "log": "s3://acme-logs-dev/emr/j-1/steps/s-1/stderr.gz"})
    );
}

#[tokio::test]
async fn a_cluster_that_dies_mid_step_fails_the_run_with_its_reason() {
    let died = sense(
        cluster(
            "TERMINATED_WITH_ERRORS",
            json!({"Code": "INSTANCE_FAILURE", "Message": "Spot capacity was reclaimed"}),
        ),
        vec![
            step("s-1", "ingest", "RUNNING", json!({})),
            step("s-2", "aggregate", "PENDING", json!({})),
        ],
    )
    .await;
    assert_eq!(died["status"], "failed");
    assert_eq!(
        died["failure"],
        json!({"error": "ClusterTerminated", "reason": "INSTANCE_FAILURE", "message": "Spot capacity was reclaimed"})
    );
}

#[tokio::test]
async fn unknown_states_fail_loudly() {
    let odd = sense(
        cluster("RUNNING", json!({})),
        vec![
            step("s-1", "ingest", "QUANTUM", json!({})),
            step("s-2", "aggregate", "PENDING", json!({})),
        ],
    )
    .await;
    assert_eq!(odd["status"], "failed");
    assert_eq!(odd["failure"]["error"], "UnknownState");
    assert!(odd["failure"]["reason"]
        .as_str()
        .unwrap()
        .contains("`QUANTUM`"));
}

// ---------------------------------------------------------------- EMR terminate

#[tokio::test]
async fn terminate_ends_the_cluster_and_sums_up_the_run() {
    let plan = plan_of("sales_daily");
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("TerminateJobFlows", json!({}));
    let sensed = sense(
        cluster("WAITING", json!({})),
        vec![
            step("s-1", "ingest", "COMPLETED", json!({})),
            step("s-2", "aggregate", "COMPLETED", json!({})),
        ],
    )
    .await;
    let state =
        json!({"plan": plan, "cluster": {"cluster_id": "j-1", "reused": false}, "sense": sensed});
    let summary = terminate(&aws, state, now()).await.unwrap();
    assert_eq!(
        aws.requests("TerminateJobFlows"),
        vec![json!({"JobFlowIds": ["j-1"]})]
    );
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["cluster_id"], "j-1");
    assert_eq!(summary["timeline"]["startup_seconds"], 540);
    assert!(summary.get("error").is_none());
}

#[tokio::test]
async fn terminate_after_a_failed_create_finds_the_cluster_by_the_run_name() {
    let plan = plan_of("hello_world");
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": [{"Id": "j-LOST", "Name": own_cluster(&plan), "Status": {"State": "STARTING"}}]}));
    aws.ok(
        "DescribeCluster",
        described("j-LOST", &plan.run_name, Some("dev")),
    );
    aws.ok("TerminateJobFlows", json!({}));
    let caught = json!({"Error": "Retryable", "Cause": "{\"errorType\":\"Retryable\",\"errorMessage\":\"RunJobFlow: ThrottlingException: Rate exceeded\"}"});
    let state = json!({"plan": plan, "cluster": {}, "error": caught});
    let summary = terminate(&aws, state, now()).await.unwrap();
    assert_eq!(
        aws.requests("TerminateJobFlows"),
        vec![json!({"JobFlowIds": ["j-LOST"]})]
    );
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["error"], "Retryable");
    assert_eq!(
        summary["cause"],
        "RunJobFlow: ThrottlingException: Rate exceeded"
    );

    // No cluster at all: nothing to terminate, still a summary.
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": []}));
    let summary = terminate(&aws, json!({"plan": plan_of("hello_world")}), now())
        .await
        .unwrap();
    assert!(aws.requests("TerminateJobFlows").is_empty());
    assert_eq!(summary["error"], "Incomplete");
}

#[tokio::test]
async fn a_throttled_terminate_is_retried_as_throttled() {
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.error("TerminateJobFlows", 400, "ThrottlingException", "slow down");
    let state = json!({"plan": plan_of("hello_world"), "cluster": {"cluster_id": "j-1"}});
    let err = terminate(&aws, state, now()).await.unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Throttled);
}
