//! Calls that are not idempotent, and limits that free up: what a retry finds and when the SDK retries.

use super::*;

// ---------------------------------------------------------------- calls that are not idempotent

#[tokio::test]
async fn a_lost_answer_is_never_resent_by_the_sdk_the_task_retry_finds_what_it_made() {
    // RunJobFlow took effect but its answer was lost (a 5xx): the SDK must not send it again (a second cluster).
    let plan = plan_of("hello_world");
    let aws = FakeAws::with_sdk_retries();
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.error("RunJobFlow", 500, "InternalServerError", "lost");
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-SECOND"}));
    let err = create_cluster(&aws, json!({"plan": plan}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
    assert_eq!(
        aws.requests("RunJobFlow").len(),
        1,
        "the SDK re-sent RunJobFlow"
    );
    // Idempotent calls still get the SDK's retries.
    let aws = FakeAws::with_sdk_retries();
    aws.error("ListClusters", 500, "InternalServerError", "blip");
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-1"}));
    create_cluster(&aws, json!({"plan": plan})).await.unwrap();
    assert_eq!(aws.requests("ListClusters").len(), 2);

    // The state machine's retry of the task finds the cluster the lost call made, and makes none.
    let aws = FakeAws::with_sdk_retries();
    aws.ok("ListClusters", json!({"Clusters": [{"Id": "j-LOST", "Name": own_cluster(&plan), "Status": {"State": "STARTING"}}]}));
    aws.ok(
        "DescribeCluster",
        described("j-LOST", &plan.run_name, Some("dev")),
    );
    let out = create_cluster(&aws, json!({"plan": plan, "retry_count": 1}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "j-LOST", "reused": true, "first_attempt": false})
    );
    assert!(aws.requests("RunJobFlow").is_empty());

    // AddJobFlowSteps and StartJobRun, likewise: one request each.
    let aws = FakeAws::with_sdk_retries();
    aws.ok("ListSteps", json!({"Steps": []}));
    aws.error("AddJobFlowSteps", 503, "ServiceUnavailable", "lost");
    let err = add_steps(
        &aws,
        json!({"plan": plan, "cluster_id": "j-1", "task_token": "T"}),
    )
    .await
    .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
    assert_eq!(
        aws.requests("AddJobFlowSteps").len(),
        1,
        "the SDK re-sent AddJobFlowSteps"
    );

    let glue_plan = plan_of("customer_scores");
    let aws = FakeAws::with_sdk_retries();
    aws.ok(
        "GetJob",
        json!({"Job": glue_plan.glue.as_ref().unwrap().job}),
    );
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.error("StartJobRun", 500, "InternalServiceException", "lost");
    let err = glue_start(&aws, json!({"plan": glue_plan, "task_token": "T"}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
    assert_eq!(
        aws.requests("StartJobRun").len(),
        1,
        "the SDK re-sent StartJobRun"
    );
}

#[tokio::test]
async fn a_glue_job_created_by_a_concurrent_first_run_is_used_not_a_failure() {
    let plan = plan_of("customer_scores");
    let aws = FakeAws::new();
    aws.error("GetJob", 400, "EntityNotFoundException", "no such job");
    aws.error("CreateJob", 400, "AlreadyExistsException", "already exists");
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.ok("StartJobRun", json!({"JobRunId": "jr_1"}));
    aws.ok("PutItem", json!({}));
    let out = glue_start(&aws, json!({"plan": plan, "task_token": "T"}))
        .await
        .unwrap();
    assert_eq!(out["run_id"], "jr_1");
    assert_eq!(aws.requests("StartJobRun").len(), 1);
}

#[test]
fn a_console_run_is_named_after_its_execution() {
    let config = trigger_config();
    let input = common::input(json!({
        "request": {"job": "hello_world"},
        "execution_name": "2f5c2bd4-console-run"
    }));
    let plan = trigger::resolve_plan(&config.catalog, &config.vars, input, now()).unwrap();
    assert_eq!(plan.run_name, "2f5c2bd4-console-run");
    assert_eq!(
        plan.emr.unwrap().cluster["Name"],
        "sparkplug-dev-2f5c2bd4-console-run"
    );
    // A run name the request gives wins.
    let input = common::input(json!({
        "request": {"job": "hello_world", "run_name": "mine"},
        "execution_name": "2f5c2bd4-console-run"
    }));
    let plan = trigger::resolve_plan(&config.catalog, &config.vars, input, now()).unwrap();
    assert_eq!(plan.run_name, "mine");
}

#[tokio::test]
async fn limits_that_free_up_are_retried_where_the_call_says_so_and_refused_elsewhere() {
    use sparkplug::engine::ports::{GlueApi, ServerlessApi};
    // Glue StartJobRun: the account's concurrent runs or DPUs, which free up as runs end (a backfill meets them).
    let aws = FakeAws::new();
    aws.error(
        "StartJobRun",
        400,
        "ResourceNumberLimitExceededException",
        "Failed to start job run due to the account's concurrent run limit",
    );
    let err = aws
        .glue()
        .start_job_run(&json!({"JobName": "sparkplug-customer_scores-dev"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retryable, "{err:?}");
    // CreateJob's is a real limit on the number of jobs: refused.
    let aws = FakeAws::new();
    aws.error(
        "CreateJob",
        400,
        "ResourceNumberLimitExceededException",
        "too many jobs",
    );
    let err = aws
        .glue()
        .create_job(
            &json!({"Name": "sparkplug-x-dev", "Role": "r", "Command": {"Name": "glueetl"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err:?}");
    // EMR Serverless: StartJobRun or UpdateApplication racing the application's auto-start or auto-stop.
    let aws = FakeAws::new();
    aws.error(
        "StartJobRun",
        409,
        "ConflictException",
        "application is STOPPING",
    );
    let err = aws
        .serverless()
        .start_job_run(
            "00abc",
            &json!({"executionRoleArn": "arn:aws:iam::1:role/r", "clientToken": "t"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retryable, "{err:?}");
}
