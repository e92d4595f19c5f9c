//! Warm EMR pools: a pooled run leases room on a live cluster of its pool instead of starting a cluster of its own,
//! and gives the lease back when it ends; a cluster idle for the pool's `idle_minutes` is released (terminated).
//!
//! The leases are items of the token table, each write conditional ([`PoolStore`]): a lease is taken only while the
//! cluster is not being released, has fewer runs than `max_concurrent_runs` (its StepConcurrencyLevel) and took
//! fewer than `max_runs_per_cluster`; a release first marks the cluster — only if no run holds a lease and none came
//! and went since it was seen idle — so that no run joins a cluster that is shutting down (mrjob's pooling race).
//! EMR's own idle auto-termination, `idle_minutes` + 15 later, is the backstop if sparkplug cannot release it.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::engine::errors::{ErrorKind, TaskError};
use crate::engine::ports::{ClusterSummary, EmrApi, PoolCluster, PoolStore};
use crate::engine::states::{emr_cluster_phase, emr_step_cancellable, ClusterPhase};
use crate::run::plan::{pool_cluster_name, pooled_step_run, PoolPlan};
use crate::run::RunPlan;

/// A pool cluster gone from ListClusters is forgotten only after this long: a cluster just started may not be
/// listed yet by the time its record is read.
pub const FORGET_GONE_AFTER: Duration = Duration::minutes(10);
/// How long a pool's start lock holds if its run never gives it back (a crashed attempt).
pub const START_LOCK: Duration = Duration::seconds(60);

/// Where a pooled run runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub cluster_id: String,
    /// Joined a cluster that was up or starting already (a cold run started it).
    pub warm: bool,
}

/// Runs a cluster takes side by side: its own StepConcurrencyLevel, set when it started (a pool's limit changed
/// since applies to its new clusters; the old ones would only queue the extra steps).
fn room_of(cluster: &PoolCluster, pool: &PoolPlan) -> u32 {
    match cluster.max_concurrent {
        0 => pool.max_concurrent_runs,
        level => level.min(pool.max_concurrent_runs),
    }
}

fn is_live(state: &str) -> bool {
    matches!(
        emr_cluster_phase(state),
        Ok(ClusterPhase::Starting | ClusterPhase::Up)
    )
}

fn is_up(state: &str) -> bool {
    emr_cluster_phase(state) == Ok(ClusterPhase::Up)
}

/// A lease for the run on a live cluster of its pool with room, else a new cluster of the pool with the run's lease.
/// A retried attempt finds the lease (or the cluster) its earlier attempt took.
pub async fn lease_or_start(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    plan: &RunPlan,
    pool: &PoolPlan,
    cluster_request: &serde_json::Value,
    retry: bool,
    now: DateTime<Utc>,
) -> Result<Lease, TaskError> {
    let run = &plan.run_name;
    let records = pools
        .pool_clusters(Some(&pool.name))
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?;
    if retry {
        if let Some(held) = records.iter().find(|c| c.runs.contains(run)) {
            info!(run = %run, cluster = %held.cluster_id, "the run holds a lease already");
            return Ok(Lease {
                cluster_id: held.cluster_id.clone(),
                warm: &held.started_by != run,
            });
        }
    }
    let active = emr
        .active_clusters()
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    let own_name = pool_cluster_name(&pool.name, run);
    if retry {
        if let Some(started) = active.iter().find(|c| c.name == own_name) {
            // An earlier attempt started it and lost its answer before recording it.
            record_new(pools, pool, &started.id, run, now).await?;
            return Ok(Lease {
                cluster_id: started.id.clone(),
                warm: false,
            });
        }
    }
    if let Some(lease) = try_join(pools, pool, run, &records, &active).await? {
        return Ok(lease);
    }
    // One start at a time per pool: the other runs of a burst retry (the state machine's backoff, seconds) and join
    // the cluster this one starts, instead of each starting its own. They wait as long as a throttle (`Throttled`):
    // a start slowed by EMR's own throttles takes minutes, and waiting for it is no failure.
    let locked = pools
        .claim_start(&pool.name, run, now, now + START_LOCK)
        .await
        .map_err(|e| TaskError::aws("PutItem", e))?;
    if !locked {
        return Err(TaskError {
            kind: ErrorKind::Throttled,
            message: format!(
                "pool {}: another run is starting a cluster; this run joins it on its retry",
                pool.name
            ),
        });
    }
    // Checked again under the lock: a cluster another run started (and recorded) since the look above takes this run.
    let joined = match fresh_look(emr, pools, pool).await {
        Ok((records, active)) => try_join(pools, pool, run, &records, &active).await,
        Err(error) => Err(error),
    };
    if !matches!(joined, Ok(None)) {
        pools
            .end_start(&pool.name, run)
            .await
            .map_err(|e| TaskError::aws("DeleteItem", e))?;
        if let Some(lease) = joined? {
            return Ok(lease);
        }
    }
    let started = emr
        .run_job_flow(cluster_request)
        .await
        .map_err(|e| TaskError::aws("RunJobFlow", e));
    let recorded = match &started {
        Ok(cluster_id) => record_new(pools, pool, cluster_id, run, now).await,
        Err(_) => Ok(()),
    };
    pools
        .end_start(&pool.name, run)
        .await
        .map_err(|e| TaskError::aws("DeleteItem", e))?;
    recorded?;
    let cluster_id = started?;
    info!(run = %run, pool = %pool.name, cluster = %cluster_id, "no warm cluster with room: started one");
    Ok(Lease {
        cluster_id,
        warm: false,
    })
}

/// The pool's records and the live clusters, read now.
async fn fresh_look(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pool: &PoolPlan,
) -> Result<(Vec<PoolCluster>, Vec<ClusterSummary>), TaskError> {
    let records = pools
        .pool_clusters(Some(&pool.name))
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?;
    let active = emr
        .active_clusters()
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    Ok((records, active))
}

/// A lease on a live cluster of the pool with room, if one takes the run: ready clusters first, then the busiest
/// (runs pack onto few clusters, and the others go idle and are released).
async fn try_join(
    pools: &impl PoolStore,
    pool: &PoolPlan,
    run: &str,
    records: &[PoolCluster],
    active: &[ClusterSummary],
) -> Result<Option<Lease>, TaskError> {
    let state_of = |id: &str| active.iter().find(|c| c.id == id).map(|c| c.state.clone());
    let mut candidates: Vec<(&PoolCluster, String)> = records
        .iter()
        .filter(|c| !c.releasing)
        .filter(|c| {
            c.runs.len() < room_of(c, pool) as usize && c.runs_total < pool.max_runs_per_cluster
        })
        .filter_map(|c| state_of(&c.cluster_id).map(|state| (c, state)))
        .filter(|(_, state)| is_live(state))
        .collect();
    candidates.sort_by_key(|(c, state)| (!is_up(state), Reverse(c.runs.len()), c.created));
    for (cluster, state) in candidates {
        let taken = pools
            .lease(
                &pool.name,
                &cluster.cluster_id,
                run,
                room_of(cluster, pool),
                pool.max_runs_per_cluster,
            )
            .await
            .map_err(|e| TaskError::aws("UpdateItem", e))?;
        if taken {
            info!(run = %run, pool = %pool.name, cluster = %cluster.cluster_id, state = %state, "joined a warm cluster");
            return Ok(Some(Lease {
                cluster_id: cluster.cluster_id.clone(),
                warm: true,
            }));
        }
        info!(run = %run, cluster = %cluster.cluster_id, "the cluster filled up or is being released meanwhile");
    }
    Ok(None)
}

/// Records a cluster just started by `run` with its lease, unless it has a record already.
async fn record_new(
    pools: &impl PoolStore,
    pool: &PoolPlan,
    cluster_id: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<(), TaskError> {
    record(pools, pool, cluster_id, run, Some(run), now).await
}

/// Records a started cluster of the pool, named after `starter`, with `first_run`'s lease (none for a warm-up: no
/// idle time either, it begins once the cluster is ready), unless it has a record already (a run may have leased it
/// since a repeated attempt looked).
async fn record(
    pools: &impl PoolStore,
    pool: &PoolPlan,
    cluster_id: &str,
    starter: &str,
    first_run: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), TaskError> {
    let runs: Vec<String> = first_run.into_iter().map(str::to_string).collect();
    pools
        .add_pool_cluster(&PoolCluster {
            pool: pool.name.clone(),
            cluster_id: cluster_id.to_string(),
            releasing: false,
            runs_total: runs.len() as u32,
            runs,
            idle_since: None,
            idle_minutes: pool.idle_minutes,
            max_concurrent: pool.max_concurrent_runs,
            max_runs: pool.max_runs_per_cluster,
            created: now,
            started_by: starter.to_string(),
        })
        .await
        .map(|_| ())
        .map_err(|e| TaskError::aws("PutItem", e))
}

/// What a run's leaving its pool did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// The cluster whose lease the run gave back.
    pub cluster_id: String,
    /// The run's steps that were still pending or running there, now cancelled.
    pub cancelled_steps: Vec<String>,
}

/// The end of a pooled run, on every path (its finish task, the janitor's event and its sweep): its unfinished steps
/// are cancelled (the cluster goes on for the other runs) unless `steps_ended`, its lease given back (a cluster that
/// has run its `max_runs_per_cluster` is released by the next look at the pools, within the minute). `cluster_id` is
/// the one the run leased, when the caller knows it; otherwise the records tell. `None` when the run holds no lease.
pub async fn leave(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pool: &str,
    run: &str,
    cluster_id: Option<&str>,
    steps_ended: bool,
    now: DateTime<Utc>,
) -> Result<Option<Left>, TaskError> {
    let cluster_id = match cluster_id {
        Some(id) => id.to_string(),
        None => {
            let records = pools
                .pool_clusters(Some(pool))
                .await
                .map_err(|e| TaskError::aws("GetItem", e))?;
            match records
                .into_iter()
                .find(|c| c.runs.iter().any(|r| r == run))
            {
                Some(held) => held.cluster_id,
                None => {
                    info!(run = %run, pool = %pool, "the run holds no lease: nothing to give back");
                    return Ok(None);
                }
            }
        }
    };
    let cancelled_steps = if steps_ended {
        Vec::new()
    } else {
        cancel_run_steps(emr, &cluster_id, run).await?
    };
    pools
        .give_back(pool, &cluster_id, run, now)
        .await
        .map_err(|e| TaskError::aws("UpdateItem", e))?;
    info!(run = %run, pool = %pool, cluster = %cluster_id, "lease given back");
    Ok(Some(Left {
        cluster_id,
        cancelled_steps,
    }))
}

/// Cancels the run's steps still pending or running on a pool cluster (named `<run>: …`).
async fn cancel_run_steps(
    emr: &impl EmrApi,
    cluster_id: &str,
    run: &str,
) -> Result<Vec<String>, TaskError> {
    let steps = match emr.list_steps(cluster_id).await {
        Ok(steps) => steps,
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TaskError::aws("ListSteps", e)),
    };
    let unfinished: Vec<String> = steps
        .iter()
        .filter(|s| pooled_step_run(&s.name) == Some(run))
        .filter(|s| emr_step_cancellable(&s.state))
        .map(|s| s.id.clone())
        .collect();
    if !unfinished.is_empty() {
        emr.cancel_steps(cluster_id, &unfinished)
            .await
            .map_err(|e| TaskError::aws("CancelSteps", e))?;
        warn!(run = %run, cluster = %cluster_id, steps = ?unfinished, "cancelled the run's steps on the pool cluster");
    }
    Ok(unfinished)
}

/// Marks the cluster as being released (no run may join it from then on), terminates it and forgets it. `false`
/// when a run took a lease (or came and went) since it was seen idle: it stays.
async fn release(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    cluster: &PoolCluster,
    why: &str,
) -> Result<bool, TaskError> {
    if !cluster.releasing {
        let marked = pools
            .mark_releasing(&cluster.pool, &cluster.cluster_id, cluster.idle_since)
            .await
            .map_err(|e| TaskError::aws("UpdateItem", e))?;
        if !marked {
            info!(cluster = %cluster.cluster_id, "a run joined the cluster meanwhile: not released");
            return Ok(false);
        }
    }
    emr.terminate_job_flows(std::slice::from_ref(&cluster.cluster_id))
        .await
        .map_err(|e| TaskError::aws("TerminateJobFlows", e))?;
    pools
        .forget_pool_cluster(&cluster.pool, &cluster.cluster_id)
        .await
        .map_err(|e| TaskError::aws("DeleteItem", e))?;
    info!(pool = %cluster.pool, cluster = %cluster.cluster_id, why = %why, "pool cluster released");
    Ok(true)
}

/// What a pool's warm-up did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmUp {
    /// No live cluster with room: this one was started; its idle time begins once it is ready.
    Started(String),
    /// A live cluster with room was up or starting: kept (an idle one's idle time starts again).
    Kept(String),
    /// Someone else is starting a cluster of the pool right now (a run, or another delivery of this look).
    Starting,
}

/// The name a warm-up at `minute` gives its cluster's starter: `warm-<YYYYMMDDTHHMM>`, one per minute, so that a
/// repeated warm-up of the same minute finds the cluster the first one started.
pub fn warm_up_name(minute: DateTime<Utc>) -> String {
    format!("warm-{}", minute.format("%Y%m%dT%H%M"))
}

/// Makes sure the pool has a live cluster with room for runs (its `warm` schedule is due at `minute`): a live one is
/// kept — an idle one's idle time starts again at `now`, so it is not released before the runs come; with none, one
/// is started under the pool's start lock and recorded with no lease, its idle time beginning once it is ready
/// (released `idle_minutes` after that if no run comes).
pub async fn warm_up(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pool: &PoolPlan,
    cluster_request: &serde_json::Value,
    minute: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<WarmUp, TaskError> {
    let starter = warm_up_name(minute);
    let (records, active) = fresh_look(emr, pools, pool).await?;
    if let Some(found) = keep_or_record(pools, pool, &records, &active, &starter, now).await? {
        return Ok(found);
    }
    // The lock's holder is this delivery alone (two deliveries of one minute's look must not both hold it).
    let holder = format!("{starter}@{}", now.timestamp_micros());
    let locked = pools
        .claim_start(&pool.name, &holder, now, now + START_LOCK)
        .await
        .map_err(|e| TaskError::aws("PutItem", e))?;
    if !locked {
        info!(pool = %pool.name, "warm-up: a cluster of the pool is being started");
        return Ok(WarmUp::Starting);
    }
    let outcome = start_warm(emr, pools, pool, cluster_request, &starter, now).await;
    pools
        .end_start(&pool.name, &holder)
        .await
        .map_err(|e| TaskError::aws("DeleteItem", e))?;
    outcome
}

/// Under the start lock: what the first look would have found had it looked now, else a new cluster, recorded.
async fn start_warm(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pool: &PoolPlan,
    cluster_request: &serde_json::Value,
    starter: &str,
    now: DateTime<Utc>,
) -> Result<WarmUp, TaskError> {
    let (records, active) = fresh_look(emr, pools, pool).await?;
    if let Some(found) = keep_or_record(pools, pool, &records, &active, starter, now).await? {
        return Ok(found);
    }
    let cluster_id = emr
        .run_job_flow(cluster_request)
        .await
        .map_err(|e| TaskError::aws("RunJobFlow", e))?;
    record(pools, pool, &cluster_id, starter, None, now).await?;
    info!(pool = %pool.name, cluster = %cluster_id, "warm-up: started a cluster for the runs to come");
    Ok(WarmUp::Started(cluster_id))
}

/// A live cluster of the pool that runs can still join, kept (an idle one's idle time started again), or the cluster
/// an earlier delivery of this minute's warm-up started (found by its name), recorded if it is not yet.
async fn keep_or_record(
    pools: &impl PoolStore,
    pool: &PoolPlan,
    records: &[PoolCluster],
    active: &[ClusterSummary],
    starter: &str,
    now: DateTime<Utc>,
) -> Result<Option<WarmUp>, TaskError> {
    let own_name = pool_cluster_name(&pool.name, starter);
    if let Some(started) = active.iter().find(|c| c.name == own_name) {
        // Recorded unless it is already: a run may have leased it since.
        record(pools, pool, &started.id, starter, None, now).await?;
        return Ok(Some(WarmUp::Started(started.id.clone())));
    }
    // As `try_join` takes them: not being released, with room, not spent, live.
    let joinable = records.iter().filter(|c| {
        !c.releasing
            && c.runs.len() < room_of(c, pool) as usize
            && c.runs_total < pool.max_runs_per_cluster
            && active
                .iter()
                .any(|a| a.id == c.cluster_id && is_live(&a.state))
    });
    for cluster in joinable {
        if !cluster.runs.is_empty() || cluster.idle_since.is_none() {
            // Runs on it, or a warmed-up cluster still starting: up for the runs to come as it is.
            info!(pool = %pool.name, cluster = %cluster.cluster_id, "warm-up: a cluster of the pool is up");
            return Ok(Some(WarmUp::Kept(cluster.cluster_id.clone())));
        }
        let restarted = pools
            .restart_idle(&pool.name, &cluster.cluster_id, cluster.idle_since, now)
            .await
            .map_err(|e| TaskError::aws("UpdateItem", e))?;
        if restarted {
            info!(pool = %pool.name, cluster = %cluster.cluster_id, "warm-up: an idle cluster stays up");
            return Ok(Some(WarmUp::Kept(cluster.cluster_id.clone())));
        }
        // A run joined it (it stays up), or a release began on it: look at it again.
        let still_open = pools
            .pool_clusters(Some(&pool.name))
            .await
            .map_err(|e| TaskError::aws("GetItem", e))?
            .into_iter()
            .any(|c| c.cluster_id == cluster.cluster_id && !c.releasing);
        if still_open {
            return Ok(Some(WarmUp::Kept(cluster.cluster_id.clone())));
        }
    }
    Ok(None)
}

/// What one look at the pools did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolReport {
    /// Clusters terminated: idle for their `idle_minutes`, or left marked by an interrupted release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
    /// Records of clusters that are gone (failed, or ended by EMR's backstop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<String>,
    /// Clusters kept: busy, or not idle long enough.
    pub kept: usize,
    /// Pools warmed up at this time (their `warm` schedule), and how.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warmed: BTreeMap<String, WarmUp>,
    /// Each pool's clusters left up after this look, and the runs holding a lease on them (by pool; a pool with none
    /// up is absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sizes: BTreeMap<String, PoolSize>,
}

/// A pool's clusters up and the runs holding a lease on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSize {
    pub clusters: usize,
    pub leases: usize,
}

impl PoolReport {
    fn count_up(&mut self, cluster: &PoolCluster) {
        self.kept += 1;
        let size = self.sizes.entry(cluster.pool.clone()).or_default();
        size.clusters += 1;
        size.leases += cluster.runs.len();
    }
}

/// Releases every pool cluster (of `pool`, or of every pool) idle for its `idle_minutes` at `now`, or with no run
/// left after its `max_runs_per_cluster` (the janitor's schedule, every minute).
pub async fn release_idle(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pool: Option<&str>,
    now: DateTime<Utc>,
) -> Result<PoolReport, TaskError> {
    let records = pools
        .pool_clusters(pool)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?;
    let mut report = PoolReport::default();
    if records.is_empty() {
        return Ok(report);
    }
    let active = emr
        .active_clusters()
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    for cluster in &records {
        let live = active
            .iter()
            .any(|c| c.id == cluster.cluster_id && is_live(&c.state));
        if !live {
            if now - cluster.created >= FORGET_GONE_AFTER || cluster.releasing {
                pools
                    .forget_pool_cluster(&cluster.pool, &cluster.cluster_id)
                    .await
                    .map_err(|e| TaskError::aws("DeleteItem", e))?;
                report.forgotten.push(cluster.cluster_id.clone());
            } else {
                report.kept += 1;
            }
            continue;
        }
        let ready = active
            .iter()
            .any(|c| c.id == cluster.cluster_id && is_up(&c.state));
        if ready && cluster.runs.is_empty() && cluster.idle_since.is_none() && !cluster.releasing {
            // A warmed-up cluster that no run has joined, ready now: its idle time begins (a start is not idle time).
            pools
                .restart_idle(&cluster.pool, &cluster.cluster_id, None, now)
                .await
                .map_err(|e| TaskError::aws("UpdateItem", e))?;
            report.count_up(cluster);
            continue;
        }
        let idle_for = cluster.idle_since.map(|since| now - since);
        let idle_enough = cluster.runs.is_empty()
            && idle_for.is_some_and(|d| d >= Duration::minutes(i64::from(cluster.idle_minutes)));
        let spent = cluster.runs.is_empty() && cluster.runs_total >= cluster.max_runs;
        if cluster.releasing || idle_enough || spent {
            let why = if cluster.releasing {
                "an earlier release was interrupted".to_string()
            } else if idle_enough {
                format!("idle for {} minutes", cluster.idle_minutes)
            } else {
                format!(
                    "it ran its {} runs (max_runs_per_cluster)",
                    cluster.max_runs
                )
            };
            if release(emr, pools, cluster, &why).await? {
                report.released.push(cluster.cluster_id.clone());
                continue;
            }
        }
        report.count_up(cluster);
    }
    info!(released = ?report.released, forgotten = ?report.forgotten, kept = report.kept, "pools looked at");
    Ok(report)
}
