//! The task handlers over real SDK clients and a request/response-level mock: the exact requests sent, retry
//! safety, state mapping and error classification. Each handler is called through its JSON contract
//! ([`handle`]), as the Lambda runtime calls it.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::fake_aws::{state_change, waiter_item, FakeAws};
use common::{catalog, event as fixture, now, plan_of, to_json, vars};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use sparkplug::cost::Pricing;
use sparkplug::engine::input::handle;
use sparkplug::engine::trigger::TriggerConfig;
use sparkplug::engine::{emr, glue, notify, trigger, ErrorKind, TaskError};

async fn create_cluster(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, pools) = (aws.emr(), aws.tokens());
    handle("emr-create-cluster", input, |i| {
        emr::emr_create_cluster(&client, &pools, i, now())
    })
    .await
}

async fn add_steps(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, tokens) = (aws.emr(), aws.tokens());
    handle("emr-add-steps", input, |i| {
        emr::emr_add_steps(&client, &tokens, i, now())
    })
    .await
}

async fn notify(aws: &FakeAws, event: Value) -> Result<Value, TaskError> {
    let (emr, glue, sfn, tokens) = (aws.emr(), aws.glue(), aws.sfn(), aws.tokens());
    let serverless = aws.serverless();
    handle("notify", event, |e| {
        notify::notify(&emr, &glue, &serverless, &sfn, &tokens, e, now())
    })
    .await
}

fn pricing() -> Pricing {
    Pricing::shipped("eu-west-1").unwrap()
}

async fn terminate(aws: &FakeAws, input: Value, now: DateTime<Utc>) -> Result<Value, TaskError> {
    let (client, pools, pricing) = (aws.emr(), aws.tokens(), pricing());
    handle("emr-terminate", input, |i| {
        emr::emr_terminate(&client, &pools, &pricing, i, now)
    })
    .await
}

async fn glue_start(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, tokens) = (aws.glue(), aws.tokens());
    handle("glue-start-run", input, |i| {
        glue::glue_start_run(&client, &tokens, i, now())
    })
    .await
}

async fn glue_finish(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, pricing) = (aws.glue(), pricing());
    handle("glue-finish", input, |i| {
        glue::glue_finish(&client, &pricing, i, now())
    })
    .await
}

async fn start(
    config: &TriggerConfig,
    aws: &FakeAws,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let (client, looks) = (aws.sfn(), aws.tokens());
    handle("trigger", event, |e| {
        trigger::trigger(config, &client, &looks, e, now)
    })
    .await
}

fn resolve_plan(
    catalog: &sparkplug::Catalog,
    vars: &sparkplug::Vars,
    request: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let input = trigger::ResolveInput {
        request,
        execution_name: None,
    };
    trigger::resolve_plan(catalog, vars, input, now).map(|plan| to_json(&plan))
}

fn epoch(h: u32, m: u32) -> f64 {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0)
        .unwrap()
        .timestamp() as f64
}

fn kind(error: &TaskError) -> ErrorKind {
    error.kind
}

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

/// A DescribeCluster answer for an active cluster, tagged with its environment.
fn described(id: &str, name: &str, environment: Option<&str>) -> Value {
    let tags: Vec<Value> = environment
        .map(|env| json!({"Key": "sparkplug:environment", "Value": env}))
        .into_iter()
        .collect();
    json!({"Cluster": {"Id": id, "Name": name, "Status": {"State": "WAITING"}, "Tags": tags}})
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
        (400, "ThrottlingException", ErrorKind::Retryable),
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
async fn a_throttled_terminate_is_retryable() {
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.error("TerminateJobFlows", 400, "ThrottlingException", "slow down");
    let state = json!({"plan": plan_of("hello_world"), "cluster": {"cluster_id": "j-1"}});
    let err = terminate(&aws, state, now()).await.unwrap_err();
    assert_eq!(kind(&err), ErrorKind::Retryable);
}

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

// ---------------------------------------------------------------- Trigger

fn trigger_config() -> TriggerConfig {
    let catalog = catalog();
    TriggerConfig {
        vars: vars(&catalog),
        catalog,
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev"
            .into(),
    }
}

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
    use sparkplug::engine::trigger::{minutes_to_evaluate, MAX_CATCH_UP_MINUTES};
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

/// The name of the run's own cluster, as its plan's RunJobFlow request gives it.
fn own_cluster(plan: &sparkplug::run::RunPlan) -> String {
    sparkplug::run::plan::run_cluster_name(plan.environment.as_deref(), &plan.run_name)
}
