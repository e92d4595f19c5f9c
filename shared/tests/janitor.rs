//! The janitor over real SDK clients and a request/response-level mock: what a stopped, timed-out or failed
//! execution left running is ended, exactly that, once; the sweep ends what an event missed.

mod common;

use common::fake_aws::FakeAws;
use common::{catalog, now, plan_of, vars};
use serde_json::{json, Value};
use sparkplug::engine::handlers::janitor::{self, JanitorConfig};
use sparkplug::engine::input::handle;
use sparkplug::engine::{ErrorKind, TaskError};

const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev";

fn config() -> JanitorConfig {
    let catalog = catalog();
    JanitorConfig {
        vars: vars(&catalog),
        catalog,
        state_machine_arn: MACHINE.into(),
    }
}

async fn janitor(aws: &FakeAws, event: Value) -> Result<Value, TaskError> {
    let (emr, glue, sfn, pools) = (aws.emr(), aws.glue(), aws.sfn(), aws.tokens());
    let serverless = aws.serverless();
    let config = config();
    handle("janitor", event, |e| {
        janitor::janitor(&config, &emr, &glue, &sfn, &pools, &serverless, e, now())
    })
    .await
}

/// "Step Functions Execution Status Change" as AWS documents it.
fn ended(name: &str, status: &str, input: &Value) -> Value {
    json!({
        "version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": "123456789012", "time": "2026-11-27T06:40:00Z", "region": "eu-west-1",
        "resources": [format!("arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:{name}")],
        "detail": {
            "executionArn": format!("arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:{name}"),
            "stateMachineArn": MACHINE, "name": name, "status": status,
            "startDate": 1_795_933_200_000_i64, "stopDate": 1_795_933_800_000_i64,
            "input": input.to_string(), "output": null,
            "inputDetails": {"included": true}, "outputDetails": null
        }
    })
}

/// DescribeCluster of `run`'s own cluster in `environment` (named `sparkplug-<env>-<run>`).
fn cluster(id: &str, run: &str, environment: &str) -> Value {
    json!({"Cluster": {"Id": id, "Name": format!("sparkplug-{environment}-{run}"), "Status": {"State": "WAITING"},
        "Tags": [{"Key": "sparkplug:environment", "Value": environment}, {"Key": "sparkplug:run", "Value": run}]}})
}

#[tokio::test]
async fn a_stopped_emr_run_has_its_cluster_terminated() {
    let plan = plan_of("hello_world");
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        json!({"Clusters": [
            {"Id": "j-OTHER", "Name": "another-run", "Status": {"State": "WAITING"}},
            {"Id": "j-RUN", "Name": format!("sparkplug-dev-{}", plan.run_name), "Status": {"State": "WAITING"}}
        ]}),
    );
    aws.ok("DescribeCluster", cluster("j-RUN", &plan.run_name, "dev"));
    aws.ok("TerminateJobFlows", json!({}));
    let input = serde_json::to_value(&plan).unwrap();
    let report = janitor(&aws, ended(&plan.run_name, "ABORTED", &input))
        .await
        .unwrap();
    assert_eq!(report["clusters"], json!(["j-RUN"]));
    assert_eq!(
        aws.requests("TerminateJobFlows"),
        vec![json!({"JobFlowIds": ["j-RUN"]})]
    );

    // A second delivery finds nothing left to end.
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": []}));
    let report = janitor(&aws, ended(&plan.run_name, "ABORTED", &input))
        .await
        .unwrap();
    assert_eq!(report["clusters"], json!([]));
    assert!(aws.requests("TerminateJobFlows").is_empty());
}

#[tokio::test]
async fn a_console_run_is_found_by_its_execution_name() {
    // {"job": "hello_world"} from the console: the state machine named the run after the execution.
    let aws = FakeAws::new();
    aws.ok("ListClusters", json!({"Clusters": [{"Id": "j-RUN", "Name": "sparkplug-dev-console-7f3a", "Status": {"State": "RUNNING"}}]}));
    aws.ok("DescribeCluster", cluster("j-RUN", "console-7f3a", "dev"));
    aws.ok("TerminateJobFlows", json!({}));
    let report = janitor(
        &aws,
        ended("console-7f3a", "TIMED_OUT", &json!({"job": "hello_world"})),
    )
    .await
    .unwrap();
    assert_eq!(report["clusters"], json!(["j-RUN"]));
}

#[tokio::test]
async fn a_stopped_rerun_is_cleaned_up_from_the_plan_its_resolve_task_made() {
    // {"rerun": …}: the input names only the run it reruns; the plan is the Resolve task's output.
    let mut plan = plan_of("hello_world");
    plan.run_name = "hello_world-1-rerun-1".into();
    plan.emr.as_mut().unwrap().cluster["Name"] = json!("sparkplug-dev-hello_world-1-rerun-1");
    let aws = FakeAws::new();
    aws.ok(
        "GetExecutionHistory",
        json!({"events": [{
            "timestamp": 1_795_933_300.0, "type": "TaskSucceeded", "id": 5, "previousEventId": 4,
            "taskSucceededEventDetails": {"resourceType": "lambda", "resource": "invoke",
                "output": serde_json::to_string(&plan).unwrap()}
        }]}),
    );
    aws.ok("ListClusters", json!({"Clusters": [
        {"Id": "j-RERUN", "Name": "sparkplug-dev-hello_world-1-rerun-1", "Status": {"State": "RUNNING"}}
    ]}));
    aws.ok(
        "DescribeCluster",
        cluster("j-RERUN", "hello_world-1-rerun-1", "dev"),
    );
    aws.ok("TerminateJobFlows", json!({}));
    let input = json!({"rerun": "hello_world-1", "from_failed": true});
    let report = janitor(&aws, ended("hello_world-1-rerun-1", "ABORTED", &input))
        .await
        .unwrap();
    assert_eq!(report["clusters"], json!(["j-RERUN"]));
    assert_eq!(
        aws.requests("GetExecutionHistory")[0]["executionArn"],
        "arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:hello_world-1-rerun-1"
    );

    // A rerun stopped before its plan was made started nothing.
    let aws = FakeAws::new();
    aws.ok("GetExecutionHistory", json!({"events": []}));
    let report = janitor(&aws, ended("hello_world-1-rerun-2", "ABORTED", &input))
        .await
        .unwrap();
    assert!(
        report["ignored"]
            .as_str()
            .unwrap_or_default()
            .contains("never planned"),
        "{report}"
    );
    assert!(aws.requests("ListClusters").is_empty());
}

#[tokio::test]
async fn a_failed_glue_run_path_has_its_live_run_stopped_and_nothing_else() {
    let plan = plan_of("customer_scores");
    let job = plan.glue.as_ref().unwrap().job["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let aws = FakeAws::new();
    aws.ok("GetJobRuns", json!({"JobRuns": [
        {"Id": "jr_LIVE", "JobName": job, "JobRunState": "RUNNING", "Arguments": {"--sparkplug_run": plan.run_name}},
        {"Id": "jr_DONE", "JobName": job, "JobRunState": "SUCCEEDED", "Arguments": {"--sparkplug_run": plan.run_name}},
        {"Id": "jr_OTHER", "JobName": job, "JobRunState": "RUNNING", "Arguments": {"--sparkplug_run": "another-run"}}
    ]}));
    aws.ok(
        "BatchStopJobRun",
        json!({"SuccessfulSubmissions": [{"JobName": job, "JobRunId": "jr_LIVE"}], "Errors": []}),
    );
    let input = serde_json::to_value(&plan).unwrap();
    let report = janitor(&aws, ended(&plan.run_name, "FAILED", &input))
        .await
        .unwrap();
    assert_eq!(report["glue_runs"], json!([format!("{job}/jr_LIVE")]));
    assert_eq!(
        aws.requests("BatchStopJobRun"),
        vec![json!({"JobName": job, "JobRunIds": ["jr_LIVE"]})]
    );
}

#[tokio::test]
async fn what_is_not_the_janitors_business_is_left_alone() {
    let plan = plan_of("hello_world");
    let input = serde_json::to_value(&plan).unwrap();
    let aws = FakeAws::new();
    // Succeeded runs cleaned up on their own paths; another stack's executions are its janitor's.
    let report = janitor(&aws, ended(&plan.run_name, "SUCCEEDED", &input))
        .await
        .unwrap();
    assert!(report["ignored"]
        .as_str()
        .unwrap()
        .contains("ended SUCCEEDED"));
    let mut other = ended(&plan.run_name, "ABORTED", &input);
    other["detail"]["stateMachineArn"] =
        json!("arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-prod");
    let report = janitor(&aws, other).await.unwrap();
    assert!(report["ignored"]
        .as_str()
        .unwrap()
        .contains("not of this stack"));
    // An input that resolves to no run started nothing.
    let report = janitor(&aws, ended("bad", "FAILED", &json!({"job": "no_such_job"})))
        .await
        .unwrap();
    assert!(
        report["ignored"]
            .as_str()
            .unwrap()
            .contains("resolves to no run"),
        "{report}"
    );
    assert!(aws.actions().is_empty(), "{:?}", aws.actions());
    // An event that is none of its events is refused, naming what it is.
    let err = janitor(
        &aws,
        json!({"source": "aws.s3", "detail-type": "Object Created"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("\"Object Created\""), "{err}");
}

#[tokio::test]
async fn the_sweep_ends_what_belongs_to_executions_that_have_ended() {
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({}));
    aws.ok(
        "ListClusters",
        json!({"Clusters": [
            {"Id": "j-THEIRS", "Name": "etl-nightly", "Status": {"State": "WAITING"}},
            {"Id": "j-PROD", "Name": "sparkplug-prod-run-a", "Status": {"State": "WAITING"}},
            {"Id": "j-POOL", "Name": "sparkplug-pool-bursts-run-p", "Status": {"State": "WAITING"}},
            {"Id": "j-DENIED", "Name": "sparkplug-dev-run-w", "Status": {"State": "WAITING"}},
            {"Id": "j-BUSY", "Name": "sparkplug-dev-run-x", "Status": {"State": "WAITING"}},
            {"Id": "j-LEAKED", "Name": "sparkplug-dev-run-b", "Status": {"State": "WAITING"}},
            {"Id": "j-LIVE", "Name": "sparkplug-dev-run-c", "Status": {"State": "RUNNING"}},
            {"Id": "j-NOEXEC", "Name": "sparkplug-dev-run-d", "Status": {"State": "WAITING"}}
        ]}),
    );
    aws.error(
        "DescribeCluster",
        400,
        "AccessDeniedException",
        "another environment's",
    );
    // A throttled look at one cluster does not end the sweep: the others are still looked at.
    aws.error(
        "DescribeCluster",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    aws.ok("DescribeCluster", cluster("j-LEAKED", "run-b", "dev"));
    aws.ok("DescribeCluster", cluster("j-LIVE", "run-c", "dev"));
    aws.ok("DescribeCluster", cluster("j-NOEXEC", "run-d", "dev"));
    let execution = |status: &str| json!({"executionArn": "arn:x", "stateMachineArn": MACHINE, "status": status, "startDate": 1.7e9});
    aws.ok("DescribeExecution", execution("ABORTED"));
    aws.ok("DescribeExecution", execution("RUNNING"));
    aws.error("DescribeExecution", 400, "ExecutionDoesNotExist", "none");
    // The Glue job of customer_scores: a live run of a timed-out execution.
    aws.ok(
        "GetJobRuns",
        json!({"JobRuns": [
            {"Id": "jr_LEAKED", "JobRunState": "RUNNING", "Arguments": {"--sparkplug_run": "run-e"}}
        ]}),
    );
    // …and scores_report's Glue job: no run.
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    aws.ok("DescribeExecution", execution("TIMED_OUT"));
    aws.ok("TerminateJobFlows", json!({}));
    aws.ok("BatchStopJobRun", json!({"SuccessfulSubmissions": [{"JobName": "sparkplug-customer_scores-dev", "JobRunId": "jr_LEAKED"}]}));
    let report = janitor(&aws, json!({"sweep": true})).await.unwrap();
    assert_eq!(report["clusters"], json!(["j-LEAKED"]));
    // Only this environment's run clusters are described: another team's, prod's and a pool's are not (ListClusters
    // names every active cluster of the account; DescribeCluster is throttled per account).
    assert_eq!(
        aws.requests("DescribeCluster"),
        ["j-DENIED", "j-BUSY", "j-LEAKED", "j-LIVE", "j-NOEXEC"]
            .map(|id| json!({"ClusterId": id}))
            .to_vec()
    );
    assert_eq!(
        aws.requests("TerminateJobFlows"),
        vec![json!({"JobFlowIds": ["j-LEAKED"]})]
    );
    assert_eq!(
        aws.requests("GetJobRuns"),
        vec![
            json!({"JobName": "sparkplug-customer_scores-dev", "MaxResults": 200}),
            json!({"JobName": "sparkplug-scores_report-dev", "MaxResults": 200})
        ]
    );
    assert_eq!(
        report["glue_runs"],
        json!(["sparkplug-customer_scores-dev/jr_LEAKED"])
    );

    // The scheduler's own event is a sweep too.
    let scheduled =
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({}));
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    janitor(&aws, scheduled).await.unwrap();
    // One look at the pools' registry (no pool cluster: no more), one ListClusters, one GetJobRuns per Glue job of
    // the catalog.
    assert_eq!(
        aws.actions(),
        vec!["GetItem", "ListClusters", "GetJobRuns", "GetJobRuns"]
    );
}

#[tokio::test]
async fn the_sweep_gives_back_the_lease_of_a_pooled_run_whose_end_was_missed() {
    let aws = FakeAws::new();
    let lease = json!({"key": {"S": "pool#bursts#j-POOL"}, "pool": {"S": "bursts"}, "cluster_id": {"S": "j-POOL"},
        "state": {"S": "open"}, "runs": {"SS": ["gone-run", "live-run"]}, "runs_total": {"N": "2"},
        "idle_minutes": {"N": "10"}, "max_concurrent": {"N": "4"}, "max_runs": {"N": "50"},
        "created": {"N": "1795930000000"}, "started_by": {"S": "gone-run"}});
    aws.ok(
        "GetItem",
        json!({"Item": {"key": {"S": "pools"}, "clusters": {"SS": ["bursts#j-POOL"]}}}),
    );
    aws.ok("GetItem", json!({ "Item": lease }));
    let execution = |status: &str| json!({"executionArn": "arn:x", "stateMachineArn": MACHINE, "status": status, "startDate": 1.7e9});
    aws.ok("DescribeExecution", execution("ABORTED"));
    aws.ok("DescribeExecution", execution("RUNNING"));
    aws.ok(
        "ListSteps",
        json!({"Steps": [{"Id": "s-GONE", "Name": "gone-run: clicks", "Status": {"State": "RUNNING"}},
            {"Id": "s-LIVE", "Name": "live-run: clicks", "Status": {"State": "RUNNING"}}]}),
    );
    aws.ok(
        "CancelSteps",
        json!({"CancelStepsInfoList": [{"StepId": "s-GONE", "Status": "SUBMITTED"}]}),
    );
    aws.ok("UpdateItem", json!({}));
    aws.ok("ListClusters", json!({"Clusters": []}));
    aws.ok("GetJobRuns", json!({"JobRuns": []}));
    let report = janitor(&aws, json!({"sweep": true})).await.unwrap();
    assert_eq!(report["steps"], json!(["s-GONE"]));
    assert_eq!(aws.requests("CancelSteps")[0]["StepIds"], json!(["s-GONE"]));
    let give_back = &aws.requests("UpdateItem")[0];
    assert_eq!(
        give_back["Key"],
        json!({"key": {"S": "pool#bursts#j-POOL"}})
    );
    assert_eq!(
        give_back["ExpressionAttributeValues"][":run"],
        json!({"SS": ["gone-run"]})
    );
}
