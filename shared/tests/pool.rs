//! Warm EMR pools: the catalog's `[pools]`, the pooled plan, and the lease logic — over an in-memory lease store that
//! keeps DynamoDB's conditional-write semantics, with EMR through real SDK clients over the request/response mock.
//! (The same conditions against moto's DynamoDB, under concurrent runs, are the end-to-end suite's.)

mod common;

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use common::fake_aws::FakeAws;
use common::{catalog_of, manual_input, now, vars};
use serde_json::{json, Value};
use sparkplug::engine::emr::{emr_create_cluster, emr_terminate, EmrCreateInput};
use sparkplug::engine::janitor::{self, JanitorConfig};
use sparkplug::engine::pool::{lease_or_start, release_idle, warm_up, warm_up_name, Lease, WarmUp};
use sparkplug::engine::ports::{AwsError, PoolCluster, PoolStore};
use sparkplug::engine::summary::FinishInput;
use sparkplug::engine::TaskError;
use sparkplug::run::plan::pool_cluster;
use sparkplug::run::{render, RunPlan};

const CATALOG: &str = r#"
[vars]
env = "dev"

[defaults.emr]
release_label = "emr-7.5.0"
log_uri = "s3://acme-logs-dev/emr/"
service_role = "EMR_DefaultRole_V2"
instance_profile = "EMR_EC2_DefaultRole"
master = { instance_type = "m5.xlarge" }
core = { instance_type = "m5.xlarge", count = 2 }

[pools.shared]
idle_minutes = 10
max_concurrent_runs = 2
max_runs_per_cluster = 3
warm = ["cron(30 6 ? * MON-FRI *)"]
core = { instance_type = "r5.xlarge", count = 3 }

[jobs.clicks]
engine = "emr"
pool = "shared"
jar = "s3://acme-artifacts-dev/jars/clicks.jar"
class = "com.acme.Clicks"
args = ["{input}"]
tags = { domain = "web" }
"#;

fn plan(run: &str) -> RunPlan {
    let catalog = catalog_of(CATALOG).unwrap();
    let mut input = manual_input(Some("s3://acme-data-dev/landing/clicks/a.json"));
    input.run_name = Some(run.to_string());
    render(&catalog, "clicks", &input, &vars(&catalog)).unwrap()
}

/// The lease records with the conditions of `aws::dynamodb`'s writes.
#[derive(Default)]
struct Leases(
    Mutex<Vec<PoolCluster>>,
    Mutex<Option<(String, DateTime<Utc>)>>,
    /// A cluster another run records just before this one takes the start lock (the race the lock's second look closes).
    Mutex<Option<PoolCluster>>,
);

impl Leases {
    fn with(clusters: Vec<PoolCluster>) -> Self {
        Leases(Mutex::new(clusters), Mutex::new(None), Mutex::new(None))
    }
    fn get(&self, id: &str) -> Option<PoolCluster> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.cluster_id == id)
            .cloned()
    }
}

impl PoolStore for Leases {
    async fn pool_clusters(&self, pool: Option<&str>) -> Result<Vec<PoolCluster>, AwsError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| pool.is_none_or(|p| c.pool == p))
            .cloned()
            .collect())
    }
    async fn add_pool_cluster(&self, cluster: &PoolCluster) -> Result<bool, AwsError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|c| c.cluster_id == cluster.cluster_id) {
            return Ok(false);
        }
        all.push(cluster.clone());
        Ok(true)
    }
    async fn lease(
        &self,
        _: &str,
        id: &str,
        run: &str,
        max_concurrent: u32,
        max_total: u32,
    ) -> Result<bool, AwsError> {
        let mut all = self.0.lock().unwrap();
        let Some(c) = all.iter_mut().find(|c| c.cluster_id == id) else {
            return Ok(false);
        };
        let held = c.runs.iter().any(|r| r == run);
        let room =
            !c.releasing && (c.runs.len() as u32) < max_concurrent && c.runs_total < max_total;
        if !(held || room) {
            return Ok(false);
        }
        if !held {
            c.runs.push(run.to_string());
        }
        c.runs_total += 1;
        Ok(true)
    }
    async fn give_back(
        &self,
        _: &str,
        id: &str,
        run: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PoolCluster>, AwsError> {
        let mut all = self.0.lock().unwrap();
        let Some(c) = all.iter_mut().find(|c| c.cluster_id == id) else {
            return Ok(None);
        };
        c.runs.retain(|r| r != run);
        c.idle_since = Some(now);
        Ok(Some(c.clone()))
    }
    async fn mark_releasing(
        &self,
        _: &str,
        id: &str,
        idle_since: Option<DateTime<Utc>>,
    ) -> Result<bool, AwsError> {
        let mut all = self.0.lock().unwrap();
        let Some(c) = all.iter_mut().find(|c| c.cluster_id == id) else {
            return Ok(false);
        };
        if c.releasing || !c.runs.is_empty() || c.idle_since != idle_since {
            return Ok(false);
        }
        c.releasing = true;
        Ok(true)
    }
    async fn restart_idle(
        &self,
        _: &str,
        id: &str,
        idle_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let mut all = self.0.lock().unwrap();
        let Some(c) = all.iter_mut().find(|c| c.cluster_id == id) else {
            return Ok(false);
        };
        if c.releasing || !c.runs.is_empty() || c.idle_since != idle_since {
            return Ok(false);
        }
        c.idle_since = Some(now);
        Ok(true)
    }
    async fn claim_start(
        &self,
        _: &str,
        run: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        if let Some(recorded) = self.2.lock().unwrap().take() {
            self.0.lock().unwrap().push(recorded);
        }
        let mut lock = self.1.lock().unwrap();
        match &*lock {
            Some((holder, expiry)) if holder != run && *expiry >= now => Ok(false),
            _ => {
                *lock = Some((run.to_string(), until));
                Ok(true)
            }
        }
    }
    async fn end_start(&self, _: &str, run: &str) -> Result<(), AwsError> {
        let mut lock = self.1.lock().unwrap();
        if lock.as_ref().is_some_and(|(holder, _)| holder == run) {
            *lock = None;
        }
        Ok(())
    }
    async fn forget_pool_cluster(&self, _: &str, id: &str) -> Result<(), AwsError> {
        self.0.lock().unwrap().retain(|c| c.cluster_id != id);
        Ok(())
    }
}

fn record(id: &str, runs: &[&str], total: u32) -> PoolCluster {
    PoolCluster {
        pool: "shared".into(),
        cluster_id: id.into(),
        releasing: false,
        runs: runs.iter().map(|r| r.to_string()).collect(),
        runs_total: total,
        idle_since: None,
        idle_minutes: 10,
        max_concurrent: 2,
        max_runs: 3,
        created: now() - Duration::minutes(30),
        started_by: "first".into(),
    }
}

fn listed(clusters: &[(&str, &str)]) -> Value {
    json!({"Clusters": clusters.iter().map(|(id, state)| json!({"Id": id, "Name": format!("sparkplug-pool-shared-{id}"),
        "Status": {"State": state}})).collect::<Vec<_>>()})
}

/// The run's create task at [`now`], retried or not (its RunJobFlow request, when it starts a cluster, is empty).
async fn join(
    aws: &FakeAws,
    leases: &Leases,
    plan: &RunPlan,
    retry: bool,
) -> Result<Lease, TaskError> {
    lease_or_start(
        &aws.emr(),
        leases,
        plan,
        &pool_of(plan),
        &json!({}),
        retry,
        now(),
    )
    .await
}

fn pool_of(plan: &RunPlan) -> sparkplug::run::plan::PoolPlan {
    plan.emr.as_ref().unwrap().pool.clone().unwrap()
}

#[test]
fn a_pooled_plan_runs_one_step_named_after_the_run_with_continue_on_the_pools_cluster() {
    let plan = plan("clicks-1");
    let emr = plan.emr.as_ref().unwrap();
    let pool = emr.pool.as_ref().unwrap();
    assert_eq!(
        (
            pool.name.as_str(),
            pool.idle_minutes,
            pool.max_concurrent_runs,
            pool.max_runs_per_cluster
        ),
        ("shared", 10, 2, 3)
    );
    assert_eq!(emr.steps.len(), 1);
    assert_eq!(emr.steps[0]["Name"], "clicks-1: clicks");
    assert_eq!(emr.steps[0]["ActionOnFailure"], "CONTINUE");
    let cluster = &emr.cluster;
    assert_eq!(cluster["Name"], "sparkplug-pool-shared-clicks-1");
    assert_eq!(cluster["StepConcurrencyLevel"], 2);
    // sparkplug releases at 10 idle minutes; EMR's own policy 15 minutes later is the backstop.
    assert_eq!(cluster["AutoTerminationPolicy"]["IdleTimeout"], 25 * 60);
    // The pool's nodes, over the defaults'.
    let groups = cluster["Instances"]["InstanceGroups"].as_array().unwrap();
    assert!(groups.iter().any(|g| g["InstanceRole"] == "CORE"
        && g["InstanceType"] == "r5.xlarge"
        && g["InstanceCount"] == 3));
    // Tagged with the pool and the environment, never with a run or a job: it outlives them.
    let tags: Vec<(String, String)> = cluster["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(tags.contains(&("sparkplug:pool".into(), "shared".into())));
    assert!(tags.contains(&("sparkplug:environment".into(), "dev".into())));
    assert!(tags
        .iter()
        .all(|(k, _)| k != "sparkplug:run" && k != "sparkplug:job" && k != "domain"));
}

#[test]
fn validation_names_what_a_pool_or_a_pooled_job_gets_wrong() {
    let bad = CATALOG
        .replace("max_concurrent_runs = 2", "max_concurrent_runs = 300")
        .replace("idle_minutes = 10", "idle_minutes = 0")
        .replace("pool = \"shared\"", "pool = \"shraed\"");
    let text = catalog_of(&bad).unwrap_err();
    assert!(
        text.contains("pools.shared.max_concurrent_runs: 300: EMR runs 1 to 256 steps at once"),
        "{text}"
    );
    assert!(
        text.contains("pools.shared.idle_minutes: must be at least 1"),
        "{text}"
    );
    assert!(
        text.contains("clicks.pool: no pool `shraed` in [pools]; the catalog has: shared"),
        "{text}"
    );
    // Limits EMR refuses: the idle auto-termination backstop past 604,800 s; a release before steps side by side.
    let limits = CATALOG
        .replace("idle_minutes = 10", "idle_minutes = 10070")
        .replace(
            "[pools.shared]\n",
            "[pools.shared]\nrelease_label = \"emr-5.27.0\"\n",
        );
    let text = catalog_of(&limits).unwrap_err();
    assert!(
        text.contains("pools.shared.idle_minutes: over 10065: EMR's idle auto-termination"),
        "{text}"
    );
    assert!(
        text.contains("pools.shared.release_label: emr-5.27.0: a pool needs EMR 5.28.0 or later"),
        "{text}"
    );
    assert!(catalog_of(&CATALOG.replace(
        "[pools.shared]\n",
        "[pools.shared]\nrelease_label = \"emr-5.28.0\"\n"
    ))
    .is_ok());

    let two_steps = CATALOG.replace(
        "jar = \"s3://acme-artifacts-dev/jars/clicks.jar\"\nclass = \"com.acme.Clicks\"\nargs = [\"{input}\"]",
        "steps = [{ name = \"a\", jar = \"s3://b/a.jar\", class = \"A\" }, { name = \"b\", jar = \"s3://b/a.jar\", class = \"B\" }]\n\
         emr = { core = { instance_type = \"r5.large\" } }",
    );
    let text = catalog_of(&two_steps).unwrap_err();
    assert!(
        text.contains("clicks.steps: a pooled job runs one step per run"),
        "{text}"
    );
    assert!(
        text.contains("clicks.emr: a pooled job's cluster settings are its pool's"),
        "{text}"
    );

    let typo = CATALOG.replace("idle_minutes = 10", "idle_minute = 10");
    let error = catalog_of(&typo).unwrap_err();
    assert!(
        error.contains("pools.shared") && error.contains("idle_minute"),
        "{error}"
    );
}

#[tokio::test]
async fn a_run_joins_a_live_cluster_with_room_the_busiest_ready_one_first() {
    let plan = plan("clicks-2");
    let leases = Leases::with(vec![
        record("j-IDLE", &[], 1),
        record("j-BUSY", &["a"], 1),
        record("j-FULL", &["b", "c"], 2),
        record("j-DEAD", &[], 1),
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[
            ("j-IDLE", "WAITING"),
            ("j-BUSY", "RUNNING"),
            ("j-FULL", "RUNNING"),
            ("j-GOING", "WAITING"),
        ]),
    );
    let lease = join(&aws, &leases, &plan, false).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-BUSY", true));
    assert_eq!(leases.get("j-BUSY").unwrap().runs, vec!["a", "clicks-2"]);
    assert_eq!(aws.actions(), vec!["ListClusters"], "no cluster started");
}

#[tokio::test]
async fn with_no_room_anywhere_a_run_starts_a_cluster_of_the_pool_and_records_its_lease() {
    let plan = plan("clicks-3");
    // Full, past its runs per cluster, being released, gone: none will do.
    let leases = Leases::with(vec![
        record("j-FULL", &["b", "c"], 2),
        record("j-OLD", &[], 3),
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
        record("j-DEAD", &[], 1),
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[
            ("j-FULL", "RUNNING"),
            ("j-OLD", "WAITING"),
            ("j-GOING", "WAITING"),
        ]),
    );
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    let request = plan.emr.as_ref().unwrap().cluster.clone();
    let lease = lease_or_start(
        &aws.emr(),
        &leases,
        &plan,
        &pool_of(&plan),
        &request,
        false,
        now(),
    )
    .await
    .unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-NEW", false));
    assert_eq!(
        aws.requests("RunJobFlow")[0]["Name"],
        "sparkplug-pool-shared-clicks-3"
    );
    let new = leases.get("j-NEW").unwrap();
    assert_eq!(
        (new.runs.clone(), new.runs_total, new.started_by.as_str()),
        (vec!["clicks-3".to_string()], 1, "clicks-3")
    );
}

#[tokio::test]
async fn a_retried_create_finds_the_lease_or_the_cluster_its_earlier_attempt_took() {
    let plan = plan("clicks-4");
    let leases = Leases::with(vec![record("j-HELD", &["clicks-4"], 1)]);
    let aws = FakeAws::new();
    let lease = join(&aws, &leases, &plan, true).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-HELD", true));
    assert!(aws.actions().is_empty());

    // Started, but the answer (and the record) was lost: the cluster named after the run is adopted, not doubled.
    let leases = Leases::default();
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        json!({"Clusters": [{"Id": "j-MINE", "Name": "sparkplug-pool-shared-clicks-4", "Status": {"State": "STARTING"}}]}),
    );
    let lease = join(&aws, &leases, &plan, true).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-MINE", false));
    assert_eq!(leases.get("j-MINE").unwrap().runs, vec!["clicks-4"]);
    assert!(aws.requests("RunJobFlow").is_empty());
}

#[tokio::test]
async fn the_create_task_of_a_pooled_run_says_warm_and_its_pool() {
    let plan = plan("clicks-5");
    let leases = Leases::with(vec![record("j-UP", &[], 1)]);
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-UP", "WAITING")]));
    let output = emr_create_cluster(
        &aws.emr(),
        &leases,
        EmrCreateInput {
            plan,
            retry_count: Some(0),
        },
        now(),
    )
    .await
    .unwrap();
    let output = serde_json::to_value(output).unwrap();
    assert_eq!(output["cluster_id"], "j-UP");
    assert_eq!(output["pool"], "shared");
    assert_eq!(output["warm"], true);
}

fn step(id: &str, name: &str, state: &str) -> Value {
    json!({"Id": id, "Name": name, "Status": {"State": state, "Timeline": {
        "CreationDateTime": 1_795_933_800.0, "StartDateTime": 1_795_933_803.0, "EndDateTime": 1_795_933_863.0}}})
}

#[tokio::test]
async fn a_pooled_run_that_ends_gives_its_lease_back_and_leaves_the_cluster_up() {
    let plan = plan("clicks-6");
    let leases = Leases::with(vec![record("j-UP", &["clicks-6", "other"], 2)]);
    let aws = FakeAws::new();
    let sense = json!({"status": "succeeded", "resource_id": "j-UP", "state": "RUNNING", "progress": "1/1",
        "timeline": {"steps": [{"name": "clicks-6: clicks", "id": "s-1", "state": "COMPLETED",
            "submitted": "2026-11-27T06:30:00Z", "started": "2026-11-27T06:30:03Z", "ended": "2026-11-27T06:31:03Z"}]}});
    let state: FinishInput = serde_json::from_value(
        json!({"plan": plan, "cluster": {"cluster_id": "j-UP", "warm": true,
        "pool": "shared"}, "sense": sense}),
    )
    .unwrap();
    let pricing = sparkplug::cost::Pricing::shipped("eu-west-1").unwrap();
    let summary = emr_terminate(&aws.emr(), &leases, &pricing, state, now())
        .await
        .unwrap();
    assert!(aws.actions().is_empty(), "no EMR call: {:?}", aws.actions());
    let after = leases.get("j-UP").unwrap();
    assert_eq!(
        (after.runs.clone(), after.idle_since),
        (vec!["other".to_string()], Some(now()))
    );
    let summary = serde_json::to_value(summary).unwrap();
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["pool"], json!({"name": "shared", "start": "warm"}));
    // Warm start-up: from the step's submission to its start.
    assert_eq!(summary["timeline"]["startup_seconds"], 3);
    assert!(summary["cost"]["basis"]
        .as_str()
        .unwrap()
        .contains("pooled"));
}

#[tokio::test]
async fn a_pooled_run_stopped_early_cancels_only_its_own_step_and_a_spent_cluster_is_released() {
    let plan = plan("clicks-7");
    // The cluster's third and last run (max_runs_per_cluster = 3) ends: nobody else is on it.
    let leases = Leases::with(vec![record("j-UP", &["clicks-7"], 3)]);
    let aws = FakeAws::new();
    aws.ok(
        "ListSteps",
        json!({"Steps": [step("s-MINE", "clicks-7: clicks", "RUNNING"), step("s-THEIRS", "other: clicks", "RUNNING")]}),
    );
    aws.ok(
        "CancelSteps",
        json!({"CancelStepsInfoList": [{"StepId": "s-MINE", "Status": "SUBMITTED"}]}),
    );
    let state: FinishInput =
        serde_json::from_value(json!({"plan": plan, "cluster": {"cluster_id": "j-UP"},
        "error": {"Error": "States.Timeout", "Cause": ""}}))
        .unwrap();
    let pricing = sparkplug::cost::Pricing::shipped("eu-west-1").unwrap();
    let summary = emr_terminate(&aws.emr(), &leases, &pricing, state, now())
        .await
        .unwrap();
    assert_eq!(aws.requests("CancelSteps")[0]["StepIds"], json!(["s-MINE"]));
    assert!(
        aws.requests("TerminateJobFlows").is_empty(),
        "a run never ends the shared cluster"
    );
    assert_eq!(serde_json::to_value(summary).unwrap()["error"], "Timeout");

    // Spent, and nobody on it: the next look at the pools releases it, however recently it was used.
    aws.ok("ListClusters", listed(&[("j-UP", "WAITING")]));
    aws.ok("TerminateJobFlows", json!({}));
    let report = release_idle(&aws.emr(), &leases, None, now())
        .await
        .unwrap();
    assert_eq!(report.released, vec!["j-UP"]);
    assert_eq!(
        aws.requests("TerminateJobFlows")[0]["JobFlowIds"],
        json!(["j-UP"])
    );
    assert!(
        leases.get("j-UP").is_none(),
        "a released cluster is forgotten"
    );
}

#[tokio::test]
async fn only_clusters_idle_for_their_idle_minutes_are_released_and_gone_ones_forgotten() {
    let idle_since = now() - Duration::minutes(12);
    let leases = Leases::with(vec![
        PoolCluster {
            idle_since: Some(idle_since),
            ..record("j-IDLE", &[], 2)
        },
        PoolCluster {
            idle_since: Some(now() - Duration::minutes(5)),
            ..record("j-RECENT", &[], 2)
        },
        PoolCluster {
            idle_since: Some(idle_since),
            ..record("j-BUSY", &["r"], 2)
        },
        record("j-GONE", &[], 1),
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[
            ("j-IDLE", "WAITING"),
            ("j-RECENT", "WAITING"),
            ("j-BUSY", "RUNNING"),
        ]),
    );
    aws.ok("TerminateJobFlows", json!({}));
    let report = release_idle(&aws.emr(), &leases, Some("shared"), now())
        .await
        .unwrap();
    assert_eq!(report.released, vec!["j-IDLE"]);
    assert_eq!(report.forgotten, vec!["j-GONE"]);
    assert_eq!(report.kept, 2);
    assert_eq!(aws.requests("TerminateJobFlows").len(), 1);
    assert!(leases.get("j-IDLE").is_none() && leases.get("j-RECENT").is_some());
}

#[tokio::test]
async fn a_run_that_joins_while_the_cluster_is_released_gets_a_new_cluster() {
    // The reaper saw j-UP idle; a run leases it before the reaper marks it: the mark fails and j-UP stays.
    let leases = Leases::with(vec![PoolCluster {
        idle_since: Some(now() - Duration::minutes(11)),
        ..record("j-UP", &[], 2)
    }]);
    let plan = plan("clicks-8");
    leases
        .lease("shared", "j-UP", "clicks-8", 2, 3)
        .await
        .unwrap();
    let seen = now() - Duration::minutes(11);
    assert!(!leases
        .mark_releasing("shared", "j-UP", Some(seen))
        .await
        .unwrap());

    // The other order: the mark comes first; the run's lease then fails and it starts its own cluster.
    let leases = Leases::with(vec![PoolCluster {
        idle_since: Some(seen),
        ..record("j-UP", &[], 2)
    }]);
    assert!(leases
        .mark_releasing("shared", "j-UP", Some(seen))
        .await
        .unwrap());
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-UP", "WAITING")]));
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    let lease = join(&aws, &leases, &plan, false).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-NEW", false));
}

#[tokio::test]
async fn the_dynamodb_lease_is_one_conditional_update_that_never_over_fills() {
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    let table = aws.tokens();
    assert!(table.lease("shared", "j-1", "run-1", 4, 50).await.unwrap());
    let request = &aws.requests("UpdateItem")[0];
    assert_eq!(request["Key"], json!({"key": {"S": "pool#shared#j-1"}}));
    assert_eq!(
        request["UpdateExpression"],
        "ADD runs :run, runs_total :one"
    );
    let condition = request["ConditionExpression"].as_str().unwrap();
    assert!(
        condition.contains("#state = :open") && condition.contains("size(runs) < :max"),
        "{condition}"
    );
    assert!(condition.contains("runs_total < :total"), "{condition}");
    assert_eq!(
        request["ExpressionAttributeValues"][":max"],
        json!({"N": "4"})
    );

    let aws = FakeAws::new();
    aws.error(
        "UpdateItem",
        400,
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "The conditional request failed",
    );
    assert!(!aws
        .tokens()
        .lease("shared", "j-1", "run-1", 4, 50)
        .await
        .unwrap());
}

#[tokio::test]
async fn a_burst_into_an_empty_pool_starts_one_cluster_the_others_retry_and_join_it() {
    let leases = Leases::default();
    let (first, second) = (plan("clicks-9"), plan("clicks-10"));
    // The first run holds the start lock while its RunJobFlow is in flight.
    assert!(leases
        .claim_start("shared", "clicks-9", now(), now() + Duration::seconds(60))
        .await
        .unwrap());
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[]));
    let error = join(&aws, &leases, &second, false).await.unwrap_err();
    assert_eq!(
        error.kind,
        sparkplug::engine::ErrorKind::Retryable,
        "{error}"
    );
    assert!(
        error.message.contains("another run is starting a cluster"),
        "{error}"
    );
    assert!(aws.requests("RunJobFlow").is_empty());
    leases.end_start("shared", "clicks-9").await.unwrap();

    // The first run's cluster is recorded; the second's retry joins it.
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-ONE"}));
    let lease = join(&aws, &leases, &first, false).await.unwrap();
    assert_eq!(lease.cluster_id, "j-ONE");
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-ONE", "STARTING")]));
    let lease = join(&aws, &leases, &second, true).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-ONE", true));
    assert!(aws.requests("RunJobFlow").is_empty());

    // A lock whose holder died expires.
    assert!(leases
        .claim_start("shared", "ghost", now(), now() + Duration::seconds(60))
        .await
        .unwrap());
    let later = now() + Duration::seconds(61);
    assert!(leases
        .claim_start("shared", "clicks-11", later, later + Duration::seconds(60))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_cluster_recorded_while_this_run_waited_for_the_start_lock_takes_it_instead_of_a_new_one()
{
    // This run looked and found no room; meanwhile another run started j-B and recorded it, then let the lock go.
    let leases = Leases::default();
    *leases.2.lock().unwrap() = Some(record("j-B", &["other"], 1));
    let plan = plan("clicks-12");
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-B", "STARTING")]));
    let lease = join(&aws, &leases, &plan, false).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-B", true));
    assert!(aws.requests("RunJobFlow").is_empty(), "no second cluster");
    assert_eq!(leases.get("j-B").unwrap().runs, vec!["other", "clicks-12"]);
    // …and the lock is given back.
    assert!(leases
        .claim_start("shared", "next", now(), now() + Duration::seconds(60))
        .await
        .unwrap());
}

// ------------------------------------------------------------------------------------------------- warm-ups

fn janitor_config() -> JanitorConfig {
    let catalog = catalog_of(CATALOG).unwrap();
    JanitorConfig {
        vars: vars(&catalog),
        catalog,
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev"
            .into(),
    }
}

fn warm_request() -> (Value, sparkplug::run::plan::PoolPlan) {
    let catalog = catalog_of(CATALOG).unwrap();
    pool_cluster(
        &catalog,
        "shared",
        &warm_up_name(now()),
        now(),
        &vars(&catalog),
    )
    .unwrap()
}

#[tokio::test]
async fn a_warm_up_starts_a_cluster_idle_from_its_time_which_the_next_run_joins_warm() {
    let (request, pool) = warm_request();
    // The pool's cluster as a run would start it, named after the warm-up's minute.
    assert_eq!(request["Name"], "sparkplug-pool-shared-warm-20261127T0630");
    assert_eq!(request["StepConcurrencyLevel"], 2);
    assert_eq!(request, {
        let mut run_request = plan("x").emr.unwrap().cluster;
        run_request["Name"] = request["Name"].clone();
        run_request
    });
    let leases = Leases::default();
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[]));
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-WARM"}));
    let warmed = warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
        .await
        .unwrap();
    assert_eq!(warmed, WarmUp::Started("j-WARM".into()));
    assert_eq!(aws.requests("RunJobFlow").len(), 1);
    let record = leases.get("j-WARM").unwrap();
    assert!(record.runs.is_empty() && record.runs_total == 0);
    assert_eq!(record.idle_since, None, "a start is not idle time");
    assert_eq!(record.started_by, "warm-20261127T0630");
    assert!(leases.1.lock().unwrap().is_none(), "start lock given back");

    // The first run joins it while it starts.
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-WARM", "STARTING")]));
    let plan = plan("clicks-after-warm-up");
    let lease = lease_or_start(
        &aws.emr(),
        &leases,
        &plan,
        &pool_of(&plan),
        &json!({}),
        false,
        now() + Duration::minutes(3),
    )
    .await
    .unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-WARM", true));

    // Had no run come: kept while it starts (however long), idle from the first look that finds it ready, released
    // idle_minutes (10) after that.
    let unused = Leases::with(vec![record]);
    let look = |state: &'static str, minutes: i64| {
        let (aws, unused) = (FakeAws::new(), &unused);
        async move {
            aws.ok("ListClusters", listed(&[("j-WARM", state)]));
            aws.ok("TerminateJobFlows", json!({}));
            release_idle(&aws.emr(), unused, None, now() + Duration::minutes(minutes))
                .await
                .unwrap()
        }
    };
    assert!(look("STARTING", 30).await.released.is_empty());
    assert_eq!(unused.get("j-WARM").unwrap().idle_since, None);
    assert!(look("WAITING", 31).await.released.is_empty());
    assert_eq!(
        unused.get("j-WARM").unwrap().idle_since,
        Some(now() + Duration::minutes(31)),
        "idle from when it is ready"
    );
    assert!(look("WAITING", 40).await.released.is_empty());
    assert_eq!(look("WAITING", 41).await.released, vec!["j-WARM"]);
}

#[tokio::test]
async fn a_warm_up_keeps_a_live_cluster_an_idle_one_for_another_idle_minutes() {
    let (request, pool) = warm_request();
    let leases = Leases::with(vec![PoolCluster {
        idle_since: Some(now() - Duration::minutes(9)),
        ..record("j-IDLE", &[], 2)
    }]);
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-IDLE", "WAITING")]));
    aws.ok("TerminateJobFlows", json!({}));
    let warmed = warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
        .await
        .unwrap();
    assert_eq!(warmed, WarmUp::Kept("j-IDLE".into()));
    assert!(aws.requests("RunJobFlow").is_empty());
    assert_eq!(leases.get("j-IDLE").unwrap().idle_since, Some(now()));
    // Without the warm-up it would have gone at +1 minute; now it stays until +10.
    let report = release_idle(&aws.emr(), &leases, None, now() + Duration::minutes(5))
        .await
        .unwrap();
    assert!(report.released.is_empty(), "{report:?}");

    // A busy cluster with room is kept as it is; one being released, or spent (it took max_runs_per_cluster = 3),
    // does not count: a new one is started instead.
    let leases = Leases::with(vec![
        record("j-BUSY", &["r"], 1),
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[("j-BUSY", "RUNNING"), ("j-GOING", "WAITING")]),
    );
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Kept("j-BUSY".into())
    );
    let leases = Leases::with(vec![
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
        PoolCluster {
            idle_since: Some(now() - Duration::minutes(1)),
            ..record("j-SPENT", &[], 3)
        },
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[("j-GOING", "WAITING"), ("j-SPENT", "WAITING")]),
    );
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Started("j-NEW".into())
    );
}

#[tokio::test]
async fn a_warm_up_starts_nothing_while_a_run_starts_a_cluster_and_a_repeat_records_the_first_ones()
{
    let (request, pool) = warm_request();
    let leases = Leases::default();
    *leases.1.lock().unwrap() = Some(("clicks-1".into(), now() + Duration::seconds(30)));
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[]));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Starting
    );
    // Another delivery of the same minute's look holding it: the same.
    *leases.1.lock().unwrap() =
        Some(("warm-20261127T0630@1".into(), now() + Duration::seconds(30)));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Starting
    );
    assert!(aws.requests("RunJobFlow").is_empty());

    // The same minute again, after a first warm-up started its cluster but lost RunJobFlow's answer.
    let leases = Leases::default();
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        json!({"Clusters": [{"Id": "j-FIRST", "Name": "sparkplug-pool-shared-warm-20261127T0630",
            "Status": {"State": "STARTING"}}]}),
    );
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Started("j-FIRST".into())
    );
    assert!(aws.requests("RunJobFlow").is_empty());
    assert_eq!(leases.get("j-FIRST").unwrap().runs_total, 0);
    // …and once more after a run leased it: its record is left as it is.
    assert!(leases
        .lease("shared", "j-FIRST", "clicks-9", 2, 3)
        .await
        .unwrap());
    let repeat = warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
        .await
        .unwrap();
    assert_eq!(repeat, WarmUp::Started("j-FIRST".into()));
    assert_eq!(leases.get("j-FIRST").unwrap().runs, vec!["clicks-9"]);
    assert!(aws.requests("RunJobFlow").is_empty());
}

#[tokio::test]
async fn a_cluster_a_run_recorded_while_the_warm_up_waited_for_the_lock_is_kept_instead_of_a_new_one(
) {
    let (request, pool) = warm_request();
    // Listed already, recorded (with its run's lease) just before the warm-up takes the lock.
    let leases = Leases::with(Vec::new());
    *leases.2.lock().unwrap() = Some(PoolCluster {
        created: now(),
        ..record("j-RUNS", &["clicks-1"], 1)
    });
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-RUNS", "STARTING")]));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Kept("j-RUNS".into())
    );
    assert!(aws.requests("RunJobFlow").is_empty());
    assert!(leases.1.lock().unwrap().is_none(), "start lock given back");
}

#[tokio::test]
async fn the_janitors_minute_warms_the_pools_due_then_releases_idle_ones() {
    let config = janitor_config();
    let look = |event: Value| {
        let (aws, leases, config) = (FakeAws::new(), Leases::default(), config.clone());
        async move {
            aws.ok("ListClusters", listed(&[]));
            aws.ok("RunJobFlow", json!({"JobFlowId": "j-WARM"}));
            let report = janitor::janitor(
                &config,
                &aws.emr(),
                &aws.glue(),
                &aws.sfn(),
                &leases,
                &aws.serverless(),
                event,
                now() + Duration::hours(5),
            )
            .await
            .unwrap();
            (
                serde_json::to_value(report).unwrap(),
                aws.requests("RunJobFlow").len(),
            )
        }
    };
    // Friday 06:30 is due (cron(30 6 ? * MON-FRI *)).
    let (report, started) =
        look(json!({"release_idle": true, "warm": true, "time": "2026-11-27T06:30:00Z"})).await;
    assert_eq!(
        report["pools"]["warmed"],
        json!({"shared": {"started": "j-WARM"}})
    );
    assert_eq!(started, 1);
    // 06:31, Saturday 06:30, or a look without `warm` (a test's, the demo's): nothing started.
    for event in [
        json!({"release_idle": true, "warm": true, "time": "2026-11-27T06:31:00Z"}),
        json!({"release_idle": true, "warm": true, "time": "2026-11-28T06:30:00Z"}),
        json!({"release_idle": true, "time": "2026-11-27T06:30:00Z"}),
        json!({"release_idle": true, "warm": true, "pool": "other", "time": "2026-11-27T06:30:00Z"}),
    ] {
        let (report, started) = look(event.clone()).await;
        assert_eq!(started, 0, "{event}: {report}");
        assert!(report["pools"].get("warmed").is_none(), "{event}: {report}");
    }
}

#[tokio::test]
async fn a_failed_warm_up_fails_the_look_after_idle_clusters_are_released() {
    let config = janitor_config();
    // A release interrupted after its mark: no live cluster to keep, so the warm-up starts one, and EMR refuses.
    let leases = Leases::with(vec![PoolCluster {
        releasing: true,
        ..record("j-GOING", &[], 1)
    }]);
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-GOING", "WAITING")]));
    aws.error("RunJobFlow", 400, "ThrottlingException", "Rate exceeded");
    aws.ok("TerminateJobFlows", json!({}));
    let error = janitor::janitor(
        &config,
        &aws.emr(),
        &aws.glue(),
        &aws.sfn(),
        &leases,
        &aws.serverless(),
        json!({"release_idle": true, "warm": true, "time": "2026-11-27T06:30:00Z"}),
        now(),
    )
    .await
    .unwrap_err();
    assert!(error.message.contains("RunJobFlow"), "{error:?}");
    assert_eq!(
        aws.requests("TerminateJobFlows")[0]["JobFlowIds"],
        json!(["j-GOING"])
    );
    assert!(leases.get("j-GOING").is_none());
    assert!(leases.1.lock().unwrap().is_none(), "start lock given back");
}

#[test]
fn a_warm_schedule_is_checked_and_needs_a_job_on_its_pool() {
    let bad = CATALOG.replace("cron(30 6 ? * MON-FRI *)", "cron(30 6 * * MON-FRI *)");
    let text = catalog_of(&bad).unwrap_err();
    assert!(text.contains("pools.shared.warm[0]: "), "{text}");
    let unused = CATALOG.replace("pool = \"shared\"\n", "");
    let text = catalog_of(&unused).unwrap_err();
    assert!(
        text.contains("pools.shared.warm: no job uses this pool: a warm-up would start a cluster no run takes"),
        "{text}"
    );
    let typo = CATALOG.replace("warm = [", "warm = 3 #[");
    let text = catalog_of(&typo).unwrap_err();
    assert!(text.contains("warm: invalid type"), "{text}");
}

#[tokio::test]
async fn the_dynamodb_warm_up_records_idle_time_and_restarts_it_only_on_an_idle_open_cluster() {
    let aws = FakeAws::new();
    aws.ok("PutItem", json!({}));
    aws.ok("UpdateItem", json!({}));
    let table = aws.tokens();
    assert!(table
        .add_pool_cluster(&PoolCluster {
            idle_since: Some(now()),
            started_by: "warm-20261127T0630".into(),
            ..record("j-WARM", &[], 0)
        })
        .await
        .unwrap());
    let put = &aws.requests("PutItem")[0];
    assert_eq!(put["ConditionExpression"], "attribute_not_exists(#key)");
    assert_eq!(
        put["Item"]["idle_since"],
        json!({"N": now().timestamp_millis().to_string()})
    );
    assert!(put["Item"].get("runs").is_none(), "no empty set: {put}");
    let later = now() + Duration::minutes(1440);
    assert!(table
        .restart_idle("shared", "j-WARM", Some(now()), later)
        .await
        .unwrap());
    let update = &aws.requests("UpdateItem")[0];
    assert_eq!(update["UpdateExpression"], "SET idle_since = :now");
    assert_eq!(
        update["ConditionExpression"],
        "#state = :open AND attribute_not_exists(runs) AND idle_since = :since"
    );
    assert_eq!(
        update["ExpressionAttributeValues"][":since"],
        json!({"N": now().timestamp_millis().to_string()})
    );

    let aws = FakeAws::new();
    aws.error(
        "UpdateItem",
        400,
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "The conditional request failed",
    );
    assert!(!aws
        .tokens()
        .restart_idle("shared", "j-WARM", Some(now()), later)
        .await
        .unwrap());
    // A warmed-up cluster's first idle time: only while it has none.
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    assert!(aws
        .tokens()
        .restart_idle("shared", "j-WARM", None, later)
        .await
        .unwrap());
    assert_eq!(
        aws.requests("UpdateItem")[0]["ConditionExpression"],
        "#state = :open AND attribute_not_exists(runs) AND attribute_not_exists(idle_since)"
    );
}
