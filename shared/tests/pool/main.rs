//! Warm EMR pools: the catalog's `[pools]`, the pooled plan, and the lease logic — over an in-memory lease store that
//! keeps DynamoDB's conditional-write semantics, with EMR through real SDK clients over the request/response mock.
//! (The same conditions against moto's DynamoDB, under concurrent runs, are the end-to-end suite's.)

#[path = "../common/mod.rs"]
mod common;
mod leases;
mod warm_ups;

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use common::fake_aws::FakeAws;
use common::{catalog_of, manual_input, now, vars};
use serde_json::{json, Value};
use sparkplug::engine::handlers::emr::{emr_create_cluster, emr_terminate, EmrCreateInput};
use sparkplug::engine::handlers::janitor::{self, JanitorConfig};
use sparkplug::engine::handlers::pool::{
    lease_or_start, release_idle, warm_up, warm_up_name, Lease, WarmUp,
};
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

[pools.bursts]
idle_minutes = 10
max_concurrent_runs = 2
max_runs_per_cluster = 3
warm = ["cron(30 6 ? * MON-FRI *)"]
core = { instance_type = "r5.xlarge", count = 3 }

[jobs.clicks]
engine = "emr"
pool = "bursts"
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
        pool: "bursts".into(),
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
    json!({"Clusters": clusters.iter().map(|(id, state)| json!({"Id": id, "Name": format!("sparkplug-pool-bursts-{id}"),
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
