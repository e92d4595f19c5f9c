//! The run table's keys, every kind of item in one place. The table (template.yaml's `TokenTable`) has one string
//! partition key, `key`; what an item records is told by its key's prefix:
//!
//! | prefix | item | written by |
//! |---|---|---|
//! | `emr#<cluster-id>` | the task token of a run waiting on its own cluster | emr-add-steps |
//! | `emr#<cluster-id>#<step-id>` | the token of a pooled run waiting on its step of a pool cluster | emr-add-steps |
//! | `glue#<job>#<run-id>` | the token of a run waiting on its Glue run | glue-start-run |
//! | `emrs#<application-id>#<job-run-id>` | the token of a run waiting on its EMR Serverless job run | emr-serverless-start |
//! | `slots#<group>` | the runs holding one of a job's `max_concurrent_runs` slots (group: the job) or of an engine's `[limits]` (group: `limit:<engine>`) | queue |
//! | `queue#<group>#<run>` | a run waiting for a slot of the group, with its token and the group it takes next | queue |
//! | `pool#<pool>#<cluster-id>` | a warm pool cluster and the runs leasing it | emr-create-cluster, janitor |
//! | `pools` | the string set of every pool cluster's `<pool>#<cluster-id>`: what a look at the pools reads | emr-create-cluster, janitor |
//! | `poolstart#<pool>` | the lock of a pool's cluster start (no cluster's record) | emr-create-cluster, janitor |
//! | `look#<name>` | a periodic look's watermark (the backstops) | trigger, alert |
//! | `alert#<run>#<status>` | the claim that makes a run's alert go out once | alert |
//! | `lineage#<run>` | the claim that makes a run's OpenLineage RunEvents go out once | alert |
//! | `spent#<run>` | the marker that counts a run's cost once | alert |
//! | `spend#<job>#<YYYY-MM>` | a job's month-to-date spend and runs (and its budget) | alert |
//! | `spendall#<YYYY-MM>` | all jobs' month-to-date spend and runs (and the catalog's budget) | alert |
//! | `budget#<job or *>#<YYYY-MM>#<percent>` | the claim that makes a budget alert go out once | alert |
//! | `set#<job>#<partition>` | an input set's partition: its arrivals, its run, its deadline's action | trigger |
//! | `batchseq#<job>#<rule>` | the next position under a batched S3 rule | trigger |
//! | `batch#<job>#<rule>#<number>` | a batch's objects, and the run that took it | trigger |
//! | `batched#<job>#<object>` | the claim that puts an object in one batch only | trigger |
//! | `last#<job>` | a job's last started, ended and succeeded runs, and its last missed expectation | trigger, alert |
//! | `missing#<job>#<due>` | the claim that makes a "did not run" alert go out once | trigger |
//! | `run#<run>` | a run's record (job, trigger, times, status, summary), by job and start in the `by-job` index | trigger, alert |
//! | `parked#<run>` | a run whose start was throttled, with its input, until a tick starts it | trigger |
//! | `setsdue` | the partitions whose expectation comes a duration after their first arrival, until it came | trigger |

/// The index of the open work's items, by their `kind` (one of the kinds below) and key (template.yaml's
/// `TokenTable`): the waiters, slots, queued runs and parked runs are read by a Query of it, never a Scan (pool
/// clusters, which must be read consistently, by their registry [`POOLS_KEY`]).
pub const KIND_INDEX: &str = "by-kind";
pub const WAITER_KIND: &str = "waiter";
pub const SLOTS_KIND: &str = "slots";
pub const QUEUE_KIND: &str = "queue";
pub const POOL_KIND: &str = "pool";
pub const PARKED_KIND: &str = "parked";

/// The index of the runs' records, by job (`run_of`) and start (`started`, epoch milliseconds).
pub const JOB_INDEX: &str = "by-job";

pub fn run_record_key(run: &str) -> String {
    format!("run#{run}")
}

pub const PARKED_PREFIX: &str = "parked#";

pub fn parked_key(run: &str) -> String {
    format!("{PARKED_PREFIX}{run}")
}

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

pub fn pool_key(pool: &str, cluster_id: &str) -> String {
    format!("pool#{pool}#{cluster_id}")
}

/// The registry of every pool cluster: one item, read consistently, whose string set `clusters` names each cluster's
/// record as `<pool>#<cluster-id>` — a look at the pools reads it and those records, never the table.
pub const POOLS_KEY: &str = "pools";

/// A pool cluster's entry in the registry.
pub fn pool_entry(pool: &str, cluster_id: &str) -> String {
    format!("{pool}#{cluster_id}")
}

/// The pool and cluster of a registry entry (split at its last `#`: an EMR cluster's id has none).
pub fn pool_of_entry(entry: &str) -> Option<(&str, &str)> {
    entry.rsplit_once('#')
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

/// The marker that counts a run's cost once.
pub fn spent_key(run: &str) -> String {
    format!("spent#{run}")
}

/// A job's spend of a month (`2026-12`).
pub fn spend_key(job: &str, month: &str) -> String {
    format!("spend#{job}#{month}")
}

/// All jobs' spend of a month.
pub fn all_spend_key(month: &str) -> String {
    format!("spendall#{month}")
}

/// The claim that makes the alert of a budget crossing `percent` in `month` go out once (`*`: all jobs' budget).
pub fn budget_claim_key(job: Option<&str>, month: &str, percent: u32) -> String {
    format!("budget#{}#{month}#{percent}", job.unwrap_or("*"))
}

/// An input set's partition.
pub fn set_key(job: &str, partition: &str) -> String {
    format!("set#{job}#{partition}")
}

pub fn batch_position_key(job: &str, rule: usize) -> String {
    format!("batchseq#{job}#{rule}")
}

pub fn batch_key(job: &str, rule: usize, number: u64) -> String {
    format!("batch#{job}#{rule}#{number}")
}

/// The claim that puts an object (`s3://bucket/key#<etag>`: its content) in one batch only.
pub fn batched_claim_key(job: &str, object: &str) -> String {
    format!("batched#{job}#{object}")
}

pub fn ledger_key(job: &str) -> String {
    format!("last#{job}")
}

/// The claim that makes the "did not run" alert of an expectation due at `due` go out once.
pub fn missing_claim_key(job: &str, due: &str) -> String {
    format!("missing#{job}#{due}")
}

/// The one item that lists the partitions whose expectation is due a duration after their first arrival (a string
/// set of `<due>|<job>|<partition>`: 400 KB, some 5,000 partitions awaiting their time).
pub const SETS_DUE_KEY: &str = "setsdue";
