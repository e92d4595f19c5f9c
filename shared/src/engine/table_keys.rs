//! The run table's keys, every kind of item in one place. The table (template.yaml's `TokenTable`) has one string
//! partition key, `key`; what an item records is told by its key's prefix:
//!
//! | prefix | item | written by |
//! |---|---|---|
//! | `emr#<cluster-id>` | the task token of a run waiting on its own cluster | emr-add-steps |
//! | `emr#<cluster-id>#<step-id>` | the token of a pooled run waiting on its step of a pool cluster | emr-add-steps |
//! | `glue#<job>#<run-id>` | the token of a run waiting on its Glue run | glue-start-run |
//! | `emrs#<application-id>#<job-run-id>` | the token of a run waiting on its EMR Serverless job run | emr-serverless-start |
//! | `slots#<job>` | the runs holding one of a job's `max_concurrent_runs` slots | queue |
//! | `queue#<job>#<run>` | a run waiting for a slot, with its token | queue |
//! | `pool#<pool>#<cluster-id>` | a warm pool cluster and the runs leasing it | emr-create-cluster, janitor |
//! | `poolstart#<pool>` | the lock of a pool's cluster start (no cluster's record) | emr-create-cluster, janitor |
//! | `look#<name>` | a periodic look's watermark (the backstops) | trigger, alert |
//! | `alert#<run>#<status>` | the claim that makes a run's alert go out once | alert |
//! | `lineage#<run>` | the claim that makes a run's OpenLineage RunEvents go out once | alert |

/// A run's waiter on its own cluster.
pub fn emr_key(cluster_id: &str) -> String {
    format!("emr#{cluster_id}")
}

/// A run's waiter on a pool cluster: by its step, since the cluster has other runs' steps.
pub fn emr_step_key(cluster_id: &str, step_id: &str) -> String {
    format!("emr#{cluster_id}#{step_id}")
}

pub fn glue_key(job_name: &str, run_id: &str) -> String {
    format!("glue#{job_name}#{run_id}")
}

pub fn serverless_key(application_id: &str, job_run_id: &str) -> String {
    format!("emrs#{application_id}#{job_run_id}")
}

pub const SLOTS_PREFIX: &str = "slots#";

pub fn slots_key(job: &str) -> String {
    format!("{SLOTS_PREFIX}{job}")
}

/// Every queued run (`job` unset), or those of `job`.
pub fn queue_prefix(job: Option<&str>) -> String {
    match job {
        Some(job) => format!("queue#{job}#"),
        None => "queue#".to_string(),
    }
}

pub fn queue_key(job: &str, run: &str) -> String {
    format!("{}{run}", queue_prefix(Some(job)))
}

/// Every pool cluster (`pool` unset), or those of `pool`.
pub fn pool_prefix(pool: Option<&str>) -> String {
    match pool {
        Some(pool) => format!("pool#{pool}#"),
        None => "pool#".to_string(),
    }
}

pub fn pool_key(pool: &str, cluster_id: &str) -> String {
    format!("{}{cluster_id}", pool_prefix(Some(pool)))
}

/// The pool's start lock (not under `pool#`: it is no cluster's record).
pub fn pool_start_key(pool: &str) -> String {
    format!("poolstart#{pool}")
}

pub fn look_key(name: &str) -> String {
    format!("look#{name}")
}

/// The claim that makes a run's alert go out once: by run and status.
pub fn alert_claim_key(run: &str, status: &str) -> String {
    format!("alert#{run}#{status}")
}

/// The claim that makes a run's OpenLineage RunEvents (its START and its end) go out once.
pub fn lineage_claim_key(run: &str) -> String {
    format!("lineage#{run}")
}
