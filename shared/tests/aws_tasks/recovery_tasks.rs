//! Recovery in the finish tasks, over the SDK: EMR's answers read for the cause (the ErrorDetail codes and the
//! state-change reason as the SDK parses them), the next attempt handed to the state machine, and the calls it costs.

use super::*;
use sparkplug::run::recovery::{Alternative, Cause, Recovery, Retries};
use sparkplug::run::RunPlan;

fn with_recovery(mut plan: RunPlan, on: &[Cause], fallback: Vec<Alternative>) -> RunPlan {
    let retries = Retries {
        max: 1,
        on: on.to_vec(),
        backoff_seconds: Some(30),
    };
    let request = plan.emr.as_ref().map(|e| e.cluster.clone());
    plan.recovery = Recovery::first(Some(retries), fallback, request.as_ref());
    plan
}

/// DescribeCluster of a cluster that ended with errors, ready or not, with these ErrorDetails.
fn ended_cluster(code: &str, ready: bool, details: Value) -> Value {
    let mut timeline = json!({"CreationDateTime": epoch(6, 0), "EndDateTime": epoch(6, 8)});
    if ready {
        timeline["ReadyDateTime"] = json!(epoch(6, 5));
    }
    json!({"Cluster": {"Id": "j-1", "Name": "run", "Status": {
        "State": "TERMINATED_WITH_ERRORS",
        "StateChangeReason": {"Code": code, "Message": "as EMR says"},
        "ErrorDetails": details,
        "Timeline": timeline}}})
}

/// The report notify answered the steps' task with: the cluster ended, its steps in these states.
fn cluster_ended(steps: &[(&str, &str)]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, (name, state))| {
            let mut step = json!({"name": name, "id": format!("s-{}", i + 1), "state": state});
            if *state != "CANCELLED" {
                step["started"] = json!("2026-11-27T06:10:00Z");
            }
            step
        })
        .collect();
    json!({"status": "failed", "resource_id": "j-1", "state": "TERMINATED_WITH_ERRORS",
        "progress": "cluster TERMINATED_WITH_ERRORS", "timeline": {"steps": steps},
        "failure": {"error": "ClusterTerminated", "reason": "INTERNAL_ERROR"}})
}

const CAPACITY: &str = "INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ";

#[tokio::test]
async fn a_cluster_ec2_had_no_capacity_for_hands_the_next_attempt_on_the_fallback_to_the_state_machine(
) {
    let fallback = vec![Alternative {
        core: Some("r6i.xlarge".into()),
        ..Alternative::default()
    }];
    let plan = with_recovery(plan_of("sales_daily"), &[Cause::Throttled], fallback);
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.ok(
        "DescribeCluster",
        ended_cluster(
            "INTERNAL_ERROR",
            false,
            json!([{"ErrorCode": CAPACITY, "ErrorData": [{"instance-type": "r5.xlarge",
                "availability-zone": "eu-west-1a"}], "ErrorMessage": "no capacity"}]),
        ),
    );
    let state = json!({"plan": plan, "cluster": {"cluster_id": "j-1", "first_attempt": true},
        "sense": cluster_ended(&[("ingest", "CANCELLED"), ("aggregate", "CANCELLED")]),
        "slot": {"queued_seconds": 3}});
    let summary = terminate(&aws, state, now()).await.unwrap();

    // One look at the cluster beyond what a failed run costs anyway: nothing else.
    assert_eq!(aws.actions(), ["TerminateJobFlows", "DescribeCluster"]);
    assert_eq!(summary["status"], "failed");
    let next = &summary["next_attempt"];
    assert_eq!(next["attempt"], 2);
    assert_eq!(next["cause"], "capacity");
    assert_eq!(next["wait_seconds"], 0);
    assert_eq!(next["alternative"], "core r6i.xlarge");
    // The next attempt's state: its plan, no cluster yet, the slot it holds.
    let state = &next["state"];
    assert_eq!(state["cluster"], json!({}));
    assert_eq!(state["slot"], json!({"queued_seconds": 3}));
    let core = state["plan"]["emr"]["cluster"]["Instances"]["InstanceGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["InstanceRole"] == "CORE")
        .unwrap()["InstanceType"]
        .clone();
    assert_eq!(core, "r6i.xlarge");
    assert_eq!(state["plan"]["recovery"]["earlier"][0]["cause"], "capacity");
    assert_eq!(
        state["plan"]["recovery"]["earlier"][0]["resource_id"],
        "j-1"
    );
}

#[tokio::test]
async fn a_spot_interruption_resumes_from_the_step_that_did_not_complete_after_the_backoff() {
    let mut plan = with_recovery(
        plan_of("sales_daily"),
        &[Cause::SpotInterrupted],
        Vec::new(),
    );
    // Core nodes on Spot: losing them ends the cluster.
    let groups = plan.emr.as_mut().unwrap().cluster["Instances"]["InstanceGroups"]
        .as_array_mut()
        .unwrap();
    for group in groups.iter_mut().filter(|g| g["InstanceRole"] == "CORE") {
        group["Market"] = json!("SPOT");
    }
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.ok(
        "DescribeCluster",
        ended_cluster("INSTANCE_FAILURE", true, json!([])),
    );
    let state = json!({"plan": plan, "cluster": {"cluster_id": "j-1", "first_attempt": true},
        "sense": cluster_ended(&[("ingest", "COMPLETED"), ("aggregate", "CANCELLED")])});
    let summary = terminate(&aws, state, now()).await.unwrap();
    let next = &summary["next_attempt"];
    assert_eq!(next["cause"], "spot_interrupted");
    assert_eq!(next["wait_seconds"], 30);
    let steps: Vec<&str> = next["state"]["plan"]["emr"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["aggregate"]);

    // The same loss with only task nodes on Spot is no Spot interruption of the cluster: the run fails.
    let plan = with_recovery(
        plan_of("sales_daily"),
        &[Cause::SpotInterrupted],
        Vec::new(),
    );
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.ok(
        "DescribeCluster",
        ended_cluster("INSTANCE_FAILURE", true, json!([])),
    );
    let state = json!({"plan": plan, "cluster": {"cluster_id": "j-1", "first_attempt": true},
        "sense": cluster_ended(&[("ingest", "COMPLETED"), ("aggregate", "CANCELLED")])});
    let summary = terminate(&aws, state, now()).await.unwrap();
    assert!(summary.get("next_attempt").is_none(), "{summary}");
}

#[tokio::test]
async fn the_last_attempt_ends_the_run_listing_the_attempts_before_it_and_their_cost() {
    let plan = with_recovery(plan_of("sales_daily"), &[Cause::Throttled], Vec::new());
    let caught = json!({"Error": "Retryable", "Cause": "{\"errorType\":\"Retryable\",\"errorMessage\":\"AddJobFlowSteps: ThrottlingException: Rate exceeded\"}"});
    // Attempt 1: throttled past the task's retries → attempt 2.
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.ok("DescribeCluster", described("j-1", "run", Some("dev")));
    let state = json!({"plan": plan, "cluster": {"cluster_id": "j-1", "first_attempt": true}, "error": caught});
    let first = terminate(&aws, state, now()).await.unwrap();
    assert_eq!(first["next_attempt"]["cause"], "throttled");
    let first_cost = first["cost"]["usd"].as_f64().unwrap();

    // Attempt 2, throttled again: retries spent, the run fails with both attempts told.
    let mut second_state = first["next_attempt"]["state"].clone();
    second_state["cluster"] = json!({"cluster_id": "j-2", "first_attempt": true});
    second_state["error"] = caught;
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.ok("DescribeCluster", described("j-2", "run", Some("dev")));
    let last = terminate(&aws, second_state, now()).await.unwrap();
    assert!(last.get("next_attempt").is_none());
    assert_eq!(last["attempt"], 2);
    assert_eq!(last["attempts"][0]["resource_id"], "j-1");
    assert_eq!(last["attempts"][0]["cause"], "throttled");
    let cost = &last["cost"];
    assert!(
        cost["usd"].as_f64().unwrap() >= first_cost + cost["compute_usd"].as_f64().unwrap() - 1e-9,
        "{cost}"
    );
    assert!(
        cost["basis"]
            .as_str()
            .unwrap()
            .contains("1 earlier attempt"),
        "{cost}"
    );
}

#[tokio::test]
async fn a_job_without_recovery_costs_no_extra_call_when_it_fails() {
    let plan = plan_of("sales_daily");
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    let state = json!({"plan": plan, "cluster": {"cluster_id": "j-1", "first_attempt": true},
        "sense": cluster_ended(&[("ingest", "CANCELLED"), ("aggregate", "CANCELLED")])});
    let summary = terminate(&aws, state, now()).await.unwrap();
    assert_eq!(aws.actions(), ["TerminateJobFlows"]);
    assert!(summary.get("next_attempt").is_none());
    assert!(summary.get("attempt").is_none());
}

#[tokio::test]
async fn a_glue_attempt_never_adopts_an_earlier_attempts_run() {
    let mut plan = plan_of("customer_scores");
    plan.recovery = Recovery::first(
        Some(Retries {
            max: 2,
            on: vec![Cause::Throttled],
            backoff_seconds: None,
        }),
        Vec::new(),
        None,
    );
    let caught =
        json!({"Error": "Retryable", "Cause": "StartJobRun: ConcurrentRunsExceededException"});
    let aws = FakeAws::new();
    let state = json!({"plan": plan, "error": caught,
        "sense": {"status": "failed", "resource_id": "jr_1", "state": "FAILED", "progress": "Glue run jr_1 FAILED",
            "timeline": {}}});
    let summary = glue_finish(&aws, state).await.unwrap();
    assert_eq!(summary["next_attempt"]["wait_seconds"], 60);
    let next_plan = summary["next_attempt"]["state"]["plan"].clone();

    // The next attempt's start, retried by the state machine, looks for a run of its own: jr_1 is attempt 1's.
    let aws = FakeAws::new();
    let job_name = next_plan["glue"]["job"]["Name"].clone();
    aws.ok("GetJob", json!({"Job": next_plan["glue"]["job"]}));
    aws.ok(
        "GetJobRuns",
        json!({"JobRuns": [{"Id": "jr_1", "JobName": job_name, "JobRunState": "FAILED",
        "Arguments": {"--sparkplug_run": next_plan["run_name"]}}]}),
    );
    aws.ok("StartJobRun", json!({"JobRunId": "jr_2"}));
    aws.ok("PutItem", json!({}));
    let started = glue_start(
        &aws,
        json!({"plan": next_plan, "task_token": "T", "retry_count": 1}),
    )
    .await
    .unwrap();
    assert_eq!(started["run_id"], "jr_2");
    assert_eq!(started["reused"], false);
}

#[tokio::test]
async fn a_look_at_the_ended_cluster_that_aws_refuses_leaves_no_new_attempt_and_the_run_ends() {
    let plan = with_recovery(plan_of("sales_daily"), &[Cause::Capacity], Vec::new());
    let state = json!({"plan": plan, "cluster": {"cluster_id": "j-1", "first_attempt": true},
        "sense": cluster_ended(&[("ingest", "CANCELLED"), ("aggregate", "CANCELLED")])});
    // Refused for good: the run's end is told without a cause.
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.error(
        "DescribeCluster",
        400,
        "AccessDeniedException",
        "not authorized",
    );
    let summary = terminate(&aws, state.clone(), now()).await.unwrap();
    assert_eq!(summary["status"], "failed");
    assert!(summary.get("next_attempt").is_none(), "{summary}");
    // Throttled: the task fails as throttled, and its retry looks again.
    let aws = FakeAws::new();
    aws.ok("TerminateJobFlows", json!({}));
    aws.error(
        "DescribeCluster",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let error = terminate(&aws, state, now()).await.unwrap_err();
    assert_eq!(kind(&error), ErrorKind::Throttled);
}
