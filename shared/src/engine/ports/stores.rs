//! The run table's stores (one DynamoDB table; every key in `engine::table_keys`): the task tokens runs wait on, the
//! jobs' slots and queue, the backstops' looks, and the pools' leases.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AwsError;
use crate::engine::table_keys::{emr_key, emr_step_key, glue_key, serverless_key};
use crate::run::budget::{Budgets, Spend};
use crate::run::limits::SlotGroup;

/// The work a task token waits on, named the way AWS's state-change events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum Work {
    /// The run's steps on its cluster: the token is answered once all are done or one failed, or the cluster ended.
    Emr {
        cluster_id: String,
        /// The run's steps, in plan order.
        step_ids: Vec<String>,
        /// Steps run one after the other (StepConcurrencyLevel 1): a COMPLETED step that is not the last says
        /// nothing new, and costs no API call.
        sequential: bool,
        /// On a pool cluster, beside other runs' steps: the waiter is keyed by the run's (one) step. (Read from
        /// `shared` too: the field's name in items written before it was renamed.)
        #[serde(default, alias = "shared", skip_serializing_if = "std::ops::Not::not")]
        pooled: bool,
    },
    Glue {
        job_name: String,
        run_id: String,
    },
    #[serde(rename = "emr_serverless")]
    Serverless {
        application_id: String,
        job_run_id: String,
    },
}

impl Work {
    /// The waiter's key: what an event about this work names.
    pub fn key(&self) -> String {
        match self {
            Work::Emr {
                cluster_id,
                step_ids,
                pooled: true,
                ..
            } => emr_step_key(cluster_id, step_ids.first().map_or("", String::as_str)),
            Work::Emr { cluster_id, .. } => emr_key(cluster_id),
            Work::Glue { job_name, run_id } => glue_key(job_name, run_id),
            Work::Serverless {
                application_id,
                job_run_id,
            } => serverless_key(application_id, job_run_id),
        }
    }
}

/// A task token waiting for a run's work to end, as kept in the token table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub work: Work,
    /// Up to 2,048 characters (Step Functions' task token limit).
    pub token: String,
    pub run_name: String,
    pub job: String,
    pub registered: DateTime<Utc>,
    /// When the table's TTL may delete it: after the run's limit, with a day to spare.
    pub expires: DateTime<Utc>,
}

/// Where task tokens wait (a DynamoDB table: key, token, run, TTL).
pub trait TokenStore {
    /// Stores the waiter; a retried task's new token replaces the old one of the same run. Another run's waiter
    /// under the same key is never replaced: `Ok(false)`.
    fn put_waiter(&self, waiter: &Waiter) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn get_waiter(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Waiter>, AwsError>> + Send;
    /// Deletes the waiter if it still holds `token` (a newer token of a retried task stays).
    fn delete_waiter(
        &self,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Claims `key` once (a conditional put of a marker item, deleted by the TTL at `expires`): `true` the first
    /// time, `false` for every later claim. What happens once per run (its alert) claims first.
    fn claim(
        &self,
        key: &str,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Whether `key` has been claimed (and its claim has not expired): a look that would claim it checks first.
    fn is_claimed(&self, key: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Gives a claim back, so that a later attempt can claim it again: what the claim stood for failed before it
    /// was done.
    fn unclaim(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Every waiter whose key starts with `prefix` (the runs on one pool cluster: `emr#<cluster-id>#`).
    fn waiters_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Waiter>, AwsError>> + Send;
    /// Every waiter registered before `before`.
    fn waiters_before(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Waiter>, AwsError>> + Send;
}

/// A run waiting for a slot of a group: its job's, or its engine's (`crate::run::limits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun {
    /// The slot group: the job, or `limit:<engine>`.
    pub job: String,
    pub run_name: String,
    /// The waiting task's token.
    pub token: String,
    /// The group's size when the run queued (the job's `max_concurrent_runs`, the engine's limit).
    pub max: u32,
    /// When it queued in this group: each queue is first in, first out.
    pub enqueued: DateTime<Utc>,
    /// When it first queued, in any group: its wait in all (`queued_seconds`).
    pub since: DateTime<Utc>,
    /// The group it takes a slot of next, once it has this one: its engine's, after its job's.
    pub then: Option<SlotGroup>,
    pub expires: DateTime<Utc>,
}

/// Per-job run slots and the runs waiting for one (items of the token table).
pub trait SlotStore {
    /// Takes one of the job's `max` slots for `run`: `true` when it holds one (already held counts).
    fn acquire(
        &self,
        job: &str,
        run: &str,
        max: u32,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Gives `run`'s slot back: `true` when it held one (`false`: nothing to give back, nothing written).
    fn release(&self, job: &str, run: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn enqueue(&self, queued: &QueuedRun) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn dequeue(&self, job: &str, run: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The runs holding a slot, by job (every job with a slot item).
    fn holders(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, Vec<String>>, AwsError>> + Send;
    /// The runs waiting, of `job` or of every job, oldest first.
    fn queued(
        &self,
        job: Option<&str>,
    ) -> impl Future<Output = Result<Vec<QueuedRun>, AwsError>> + Send;
}

/// Where a periodic look keeps what it saw (items of the token table): the backstops that converge from state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookState {
    /// How far the look got: the last tick minute evaluated, or the newest execution start listed.
    pub watermark: Option<DateTime<Utc>>,
    /// Executions seen running (or ended too recently to act on), looked at again next time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watching: Vec<String>,
}

pub trait LookStore {
    /// The state the look `name` saved last, if any.
    fn look_state(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<LookState>, AwsError>> + Send;
    /// Saves the look's state unless a newer watermark was saved meanwhile (two looks at once: the further one
    /// wins): `true` when saved.
    fn save_look_state(
        &self,
        name: &str,
        state: &LookState,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

/// Month-to-date spend (items of the token table): each ended run's cost estimate added once to its job's month and
/// to all jobs' month.
pub trait SpendStore {
    /// Adds `usd` to `job`'s and all jobs' spend of `month`, once per run: `false` when `run` was counted already
    /// (a repeated event, a retry) — its marker kept until `marked_until`, the month's spend until `kept_until`. The
    /// budgets are kept beside the spend, for `sparkplug history`.
    #[allow(clippy::too_many_arguments)]
    fn add_spend(
        &self,
        run: &str,
        job: &str,
        month: &str,
        usd: f64,
        budgets: &Budgets,
        marked_until: DateTime<Utc>,
        kept_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// `job`'s and all jobs' spend of `month` so far.
    fn spend(&self, job: &str, month: &str)
        -> impl Future<Output = Result<Spend, AwsError>> + Send;
}

/// A partition of a job's input set, as the run table records it (`set#<job>#<partition>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetRecord {
    pub job: String,
    /// The partition's id (`date=2026-12-03`).
    pub partition: String,
    /// The inputs that arrived, by their index in the set: where, and when first.
    pub arrived: BTreeMap<usize, (String, DateTime<Utc>)>,
    pub first_at: Option<DateTime<Utc>>,
    /// The run the partition started, once it did.
    pub run: Option<String>,
    /// What its deadline did (`alert`, `run`, `skip`), once it came.
    pub deadline: Option<String>,
    /// When the backstop last looked for its missing inputs in S3.
    pub checked: Option<DateTime<Utc>>,
}

/// What of a partition is marked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMark {
    /// The run it started.
    Run,
    /// What its deadline did.
    Deadline,
}

/// The input sets' partitions (items of the run table): each arrival recorded, the run and the deadline marked once.
pub trait SetStore {
    /// Records that input `index` of the partition arrived (the first arrival of it is kept); the partition as it
    /// stands then.
    #[allow(clippy::too_many_arguments)]
    fn record_input(
        &self,
        job: &str,
        partition: &str,
        index: usize,
        uri: &str,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<SetRecord, AwsError>> + Send;
    fn set_record(
        &self,
        job: &str,
        partition: &str,
    ) -> impl Future<Output = Result<Option<SetRecord>, AwsError>> + Send;
    /// Marks `mark` once (the partition's record made if need be): `false` when it was marked already.
    fn mark_set(
        &self,
        job: &str,
        partition: &str,
        mark: SetMark,
        value: &str,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn set_checked(
        &self,
        job: &str,
        partition: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Watches a partition whose expectation is due at `due` (a duration after its first arrival): watching it again
    /// changes nothing.
    fn watch_due(
        &self,
        job: &str,
        partition: &str,
        due: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Stops watching what [`SetStore::watch_due`] watched.
    fn unwatch_due(
        &self,
        job: &str,
        partition: &str,
        due: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The partitions watched: (due, job, partition), soonest first.
    fn watched_due(
        &self,
    ) -> impl Future<Output = Result<Vec<(DateTime<Utc>, String, String)>, AwsError>> + Send;
}

/// A watched partition as one string, `<due>|<job>|<partition>` (the due time first, so that they sort by it).
pub fn due_entry(job: &str, partition: &str, due: DateTime<Utc>) -> String {
    format!(
        "{}|{job}|{partition}",
        due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// A watched partition from its string, `None` for one sparkplug did not write.
pub fn due_of_entry(entry: &str) -> Option<(DateTime<Utc>, String, String)> {
    let mut parts = entry.splitn(3, '|');
    let due = DateTime::parse_from_rfc3339(parts.next()?).ok()?;
    let job = parts.next()?.to_string();
    let partition = parts.next()?.to_string();
    Some((due.with_timezone(&Utc), job, partition))
}

/// A batch of arrivals under a job's S3 rule (`batch#<job>#<rule>#<number>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchRecord {
    pub job: String,
    pub rule: usize,
    pub number: u64,
    /// Its objects' `s3://` URIs.
    pub objects: Vec<String>,
    pub first_at: Option<DateTime<Utc>>,
    /// The run that took it, once closed.
    pub closed_by: Option<String>,
}

/// Batches (items of the run table): each object gets a position under its rule once, and a batch is closed once.
pub trait BatchStore {
    /// The next position under the job's rule (1, 2, …): the batch an object joins is its position's.
    fn next_position(
        &self,
        job: &str,
        rule: usize,
    ) -> impl Future<Output = Result<u64, AwsError>> + Send;
    /// An object's position under the job's rule, given once (a redelivered event gets its object's): the position,
    /// and whether it was given now.
    fn position_of(
        &self,
        job: &str,
        rule: usize,
        object: &str,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<(u64, bool), AwsError>> + Send;
    /// Gives an object a new position (its batch was closed before the object was added to it).
    fn move_object(
        &self,
        job: &str,
        object: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Adds an object to a batch; the batch as it stands then, or none when it was closed already.
    #[allow(clippy::too_many_arguments)]
    fn add_to_batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
        object: &str,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<BatchRecord>, AwsError>> + Send;
    /// Closes a batch for `run`: the batch, when this call closed it.
    fn close_batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
        run: &str,
    ) -> impl Future<Output = Result<Option<BatchRecord>, AwsError>> + Send;
    /// Moves the rule's next position to at least `position` (a batch closed before it was full leaves its other
    /// positions unused).
    fn skip_to(
        &self,
        job: &str,
        rule: usize,
        position: u64,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The last position given under the job's rule (0 before any).
    fn position(
        &self,
        job: &str,
        rule: usize,
    ) -> impl Future<Output = Result<u64, AwsError>> + Send;
    fn batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
    ) -> impl Future<Output = Result<Option<BatchRecord>, AwsError>> + Send;
}

/// What the run table keeps of a job's runs (`last#<job>`): what an expectation's look reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLedger {
    /// The last run the trigger started, and when.
    pub started: Option<(String, DateTime<Utc>)>,
    /// The last run that ended: its name, status, end and error.
    pub ended: Option<(String, String, DateTime<Utc>, Option<String>)>,
    /// The last run that succeeded, and when it ended.
    pub succeeded: Option<(String, DateTime<Utc>)>,
    /// The last expectation it missed: when it was due, and why as far as sparkplug could tell.
    pub missed: Option<(DateTime<Utc>, String)>,
}

pub trait LedgerStore {
    fn run_started(
        &self,
        job: &str,
        run: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn run_ended(
        &self,
        job: &str,
        run: &str,
        status: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn run_missed(
        &self,
        job: &str,
        due: DateTime<Utc>,
        why: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn ledger(&self, job: &str) -> impl Future<Output = Result<JobLedger, AwsError>> + Send;
}

/// A run as sparkplug's own table records it — written when the trigger starts it and when it ends (the alert
/// function sees every end) — so that a job's runs are read by job and time, not by listing every execution of the
/// account's state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub job: String,
    pub run_name: String,
    /// What triggered it, as `history` shows it (`s3://…`, `schedule`, `after <run>`, …).
    pub trigger: String,
    pub started: DateTime<Utc>,
    /// RUNNING until its end is recorded; then SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
    pub status: String,
    pub ended: Option<DateTime<Utc>>,
    /// The run's summary (timeline, cost, queue wait, pool, error), when it has one.
    pub summary: Option<serde_json::Value>,
    /// Why a run that did not succeed ended so (the execution's error and cause).
    pub reason: Option<String>,
}

impl RunRecord {
    /// A run that has just started: its record until its end is recorded.
    pub fn running(job: String, run_name: String, trigger: String, started: DateTime<Utc>) -> Self {
        RunRecord {
            job,
            run_name,
            trigger,
            started,
            status: "RUNNING".to_string(),
            ended: None,
            summary: None,
            reason: None,
        }
    }
}

pub trait RunStore {
    /// Records a run that started; a record of its end is never overwritten by it (events come in any order).
    fn run_began(&self, run: &RunRecord) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Records a run's end, with its start as Step Functions has it.
    fn run_finished(&self, run: &RunRecord) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// One run's record, read consistently (`None`: none was written, or it expired).
    fn run_record(
        &self,
        run: &str,
    ) -> impl Future<Output = Result<Option<RunRecord>, AwsError>> + Send;
    /// The runs of `job` that started at or after `since`, newest first.
    fn runs_of(
        &self,
        job: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<RunRecord>, AwsError>> + Send;
}

/// A run whose start Step Functions refused for now (throttled past the SDK's retries): kept in the run table with
/// its execution's input until a tick starts it, so that its arrival is not lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRun {
    pub job: String,
    pub run_name: String,
    /// The execution's input (the plan, as JSON).
    pub input: String,
    pub parked: DateTime<Utc>,
}

pub trait ParkStore {
    /// Keeps the run (a second park of the same run replaces the first: same name, same plan).
    fn park(&self, run: &ParkedRun) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Up to `max` parked runs (by name: each start takes its run out, so none waits behind the same others twice).
    fn parked(&self, max: usize) -> impl Future<Output = Result<Vec<ParkedRun>, AwsError>> + Send;
    /// Forgets the run: it started (or will never start).
    fn unpark(&self, run_name: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A cluster of a warm pool, as the pool's lease records keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCluster {
    pub pool: String,
    pub cluster_id: String,
    /// Being released: no run may join it any more.
    pub releasing: bool,
    /// The runs holding a lease on it now.
    pub runs: Vec<String>,
    /// Leases taken in its life.
    pub runs_total: u32,
    /// When its last lease was given back, or when a warmed-up cluster became ready (none before either).
    pub idle_since: Option<DateTime<Utc>>,
    /// The pool's `idle_minutes`, `max_concurrent_runs` (the cluster's StepConcurrencyLevel, fixed at its start)
    /// and `max_runs_per_cluster` when the cluster was started.
    pub idle_minutes: u32,
    pub max_concurrent: u32,
    pub max_runs: u32,
    pub created: DateTime<Utc>,
    /// The run that started it (the cluster is named after it).
    pub started_by: String,
}

/// Leases on warm pool clusters (items of the token table): every write is conditional, so that two runs never
/// over-fill a cluster and no run joins a cluster being released.
pub trait PoolStore {
    /// The clusters of `pool` (every pool's when `None`) sparkplug keeps a record of.
    fn pool_clusters(
        &self,
        pool: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PoolCluster>, AwsError>> + Send;
    /// Records a cluster just started, with its first lease (`cluster.runs`) or none (a warm-up), unless it has a
    /// record already (a repeated attempt's): `true` when recorded now.
    fn add_pool_cluster(
        &self,
        cluster: &PoolCluster,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Takes a lease for `run` if the cluster is not being released, has fewer than `max_concurrent` runs and took
    /// fewer than `max_total` in its life: `true` when taken (or held already).
    fn lease(
        &self,
        pool: &str,
        cluster_id: &str,
        run: &str,
        max_concurrent: u32,
        max_total: u32,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Gives `run`'s lease back (idempotent) and notes the time; the cluster's record after, if it has one.
    fn give_back(
        &self,
        pool: &str,
        cluster_id: &str,
        run: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PoolCluster>, AwsError>> + Send;
    /// Marks the cluster as being released, if no run holds a lease and it has been idle since `idle_since` (a run
    /// that came and went since makes it fail): `true` when marked.
    fn mark_releasing(
        &self,
        pool: &str,
        cluster_id: &str,
        idle_since: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Starts a cluster's idle time again at `now`, if no run holds a lease, it is not being released and its idle
    /// time is still `idle_since` (none: a warmed-up cluster that just became ready): `true` when set.
    fn restart_idle(
        &self,
        pool: &str,
        cluster_id: &str,
        idle_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Takes the pool's start lock for `run` until `until` (held by another run and not expired: `false`), so that a
    /// burst of runs into an empty pool starts one cluster, not one each.
    fn claim_start(
        &self,
        pool: &str,
        run: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Gives the start lock back, if `run` holds it.
    fn end_start(&self, pool: &str, run: &str)
        -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Forgets the cluster (it was released, or is gone).
    fn forget_pool_cluster(
        &self,
        pool: &str,
        cluster_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}
