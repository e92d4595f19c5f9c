//! `sparkplug doctor`: the drift a lost event leaves, found from state — the operator's consistency check.
//!
//! Each finding is something a backstop converges at its next period (the queue's drain, notify's reconciler, the
//! janitor's sweep, the tick) or that waits for a person (the failed-events queue): slots held by ended runs, queued
//! runs whose execution ended, waiters and pool leases of ended runs, clusters / Glue runs / EMR Serverless job runs
//! of ended runs, messages in the failed-events queue, a tick that fell behind. Beside the drift, it lists the runs
//! that did not happen: each expecting job's last "did not run" alert of the past week with no success since, a
//! person's to look at (no backstop runs a job late).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::janitor::{leftovers, JanitorConfig};
use crate::engine::backstop::TICK_LOOK;
use crate::engine::errors::TaskError;
use crate::engine::ports::{
    EmrApi, FailedEventsApi, GlueApi, LedgerStore, LookStore, ParkStore, PoolStore, QueueDepth,
    ServerlessApi, SfnApi, SlotStore, TokenStore,
};

/// One piece of drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// slot, queued, waiter, lease, cluster, glue_run, job_run, failed_events, tick, parked.
    pub kind: String,
    /// What it is (a job's slot, a waiter's key, a cluster id, …).
    pub what: String,
    /// The run it belongs to, and that run's execution status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Which backstop makes it good (and what `--fix` does now).
    pub fixed_by: String,
}

/// A run a job's expectation missed: its last "did not run" alert, with no success since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedRun {
    pub job: String,
    /// When the run was due.
    pub due: DateTime<Utc>,
    /// Why it was missing, as the alert said.
    pub why: String,
}

/// A missed run older than this is no longer listed.
pub const MISSED_LISTED_DAYS: i64 = 7;

/// What the doctor found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    /// Runs that did not happen (not drift: nothing converges them, a person looks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<MissedRun>,
    pub failed_events: QueueDepth,
    /// The last minute the tick evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<DateTime<Utc>>,
}

impl Diagnosis {
    pub fn is_healthy(&self) -> bool {
        self.findings.is_empty()
    }
}

/// What the doctor needs besides its clients.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    pub janitor: JanitorConfig,
    /// A tick older than this is drift (on AWS the tick comes every minute); `None`: the tick is not checked (a local
    /// stack whose scheduler is off).
    pub tick_lag: Option<Duration>,
}

/// The backstop that fixes each kind of finding: the function and its schedule's input.
pub fn backstop_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "slot" | "queued" => ("queue", r#"{"drain": true}"#),
        "waiter" => ("notify", r#"{"reconcile": true, "older_than_seconds": 0}"#),
        "lease" | "cluster" | "glue_run" | "job_run" => ("janitor", r#"{"sweep": true}"#),
        // The CLI adds the time: the tick then evaluates every minute since the last one it evaluated.
        "tick" | "parked" => ("trigger", r#"{"tick": true}"#),
        _ => ("replay-failed", ""),
    }
}

fn finding(kind: &str, what: String, run: Option<&str>, status: Option<&str>) -> Finding {
    let (function, input) = backstop_of(kind);
    Finding {
        kind: kind.to_string(),
        what,
        run: run.map(str::to_string),
        status: status.map(str::to_string),
        fixed_by: if input.is_empty() {
            "`sparkplug replay-failed`".to_string()
        } else {
            format!("{function} {input}")
        },
    }
}

/// A parked run older than this is drift: a tick a minute starts parked runs.
const PARKED_STALE_MINUTES: i64 = 5;
/// The parked runs the doctor looks at, at most.
const PARKED_LISTED: usize = 100;

/// Looks at every piece of state a lost event can leave behind.
#[allow(clippy::too_many_arguments)]
pub async fn examine(
    config: &DoctorConfig,
    table: &(impl SlotStore + TokenStore + PoolStore + LookStore + LedgerStore + ParkStore),
    sfn: &impl SfnApi,
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    serverless: &impl ServerlessApi,
    failed_events: &impl FailedEventsApi,
    now: DateTime<Utc>,
) -> Result<Diagnosis, TaskError> {
    let machine = &config.janitor.state_machine_arn;
    let status = |run: String| async move {
        sfn.execution_status(machine, &run)
            .await
            .map_err(|e| TaskError::aws("DescribeExecution", e))
    };
    let mut diagnosis = Diagnosis::default();
    // What a run holds in the table — a slot, a place in a queue, a waiter — is drift once its execution has ended.
    let mut held: Vec<(&str, String, String)> = Vec::new();
    for (job, runs) in table
        .holders()
        .await
        .map_err(|e| TaskError::aws("Query", e))?
    {
        held.extend(
            runs.into_iter()
                .map(|run| ("slot", format!("a slot of {job}"), run)),
        );
    }
    for queued in table
        .queued(None)
        .await
        .map_err(|e| TaskError::aws("Query", e))?
    {
        held.push((
            "queued",
            format!("queued for {}", queued.job),
            queued.run_name,
        ));
    }
    for waiter in table
        .waiters_before(now)
        .await
        .map_err(|e| TaskError::aws("Query", e))?
    {
        held.push(("waiter", waiter.work.key(), waiter.run_name));
    }
    for (kind, what, run) in held {
        if let Some(s) = status(run.clone()).await?.filter(|s| s != "RUNNING") {
            diagnosis
                .findings
                .push(finding(kind, what, Some(&run), Some(&s)));
        }
    }
    let left = leftovers(&config.janitor, emr, glue, sfn, table, serverless).await?;
    for (pool, cluster, run) in left.leases {
        diagnosis.findings.push(finding(
            "lease",
            format!("pool {pool} cluster {cluster}"),
            Some(&run),
            None,
        ));
    }
    for (cluster, run) in left.clusters {
        diagnosis
            .findings
            .push(finding("cluster", cluster, Some(&run), None));
    }
    for (job, id, run) in left.glue_runs {
        diagnosis
            .findings
            .push(finding("glue_run", format!("{job}/{id}"), Some(&run), None));
    }
    for (application, id, run) in left.job_runs {
        diagnosis.findings.push(finding(
            "job_run",
            format!("{application}/{id}"),
            Some(&run),
            None,
        ));
    }
    diagnosis.failed_events = failed_events
        .depth()
        .await
        .map_err(|e| TaskError::aws("GetQueueAttributes", e))?;
    if diagnosis.failed_events.messages > 0 {
        diagnosis.findings.push(finding(
            "failed_events",
            format!(
                "{} message(s) in the failed-events queue{}",
                diagnosis.failed_events.messages,
                diagnosis
                    .failed_events
                    .oldest
                    .map(|t| format!(", the oldest sent {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
                    .unwrap_or_default()
            ),
            None,
            None,
        ));
    }
    diagnosis.last_tick = table
        .look_state(TICK_LOOK)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?
        .and_then(|state| state.watermark);
    if let Some(lag) = config.tick_lag {
        let behind = diagnosis.last_tick.is_none_or(|tick| now - tick > lag);
        if behind {
            diagnosis.findings.push(finding(
                "tick",
                match diagnosis.last_tick {
                    Some(tick) => format!(
                        "the last minute evaluated is {} ({} minutes ago)",
                        tick.format("%Y-%m-%dT%H:%MZ"),
                        (now - tick).num_minutes()
                    ),
                    None => "no tick was ever evaluated".to_string(),
                },
                None,
                None,
            ));
        }
    }
    // A parked run waits for the next tick: one parked longer than a few minutes means the ticks stopped or
    // Step Functions throttles every start.
    let parked = table
        .parked(PARKED_LISTED)
        .await
        .map_err(|e| TaskError::aws("Query", e))?;
    for run in parked {
        let waiting = now - run.parked;
        if waiting > Duration::minutes(PARKED_STALE_MINUTES) {
            diagnosis.findings.push(finding(
                "parked",
                format!(
                    "run {} of {} was throttled and has waited {} minutes to start",
                    run.run_name,
                    run.job,
                    waiting.num_minutes()
                ),
                Some(&run.run_name),
                None,
            ));
        }
    }
    diagnosis.missed = missed_runs(&config.janitor.catalog, table, now).await?;
    Ok(diagnosis)
}

/// Each expecting job's last missed run of the past [`MISSED_LISTED_DAYS`] with no success since: one GetItem a job.
async fn missed_runs(
    catalog: &crate::Catalog,
    table: &impl LedgerStore,
    now: DateTime<Utc>,
) -> Result<Vec<MissedRun>, TaskError> {
    let mut missed = Vec::new();
    for (job, _) in catalog.jobs.iter().filter(|(_, job)| job.expect.is_some()) {
        let ledger = table
            .ledger(job)
            .await
            .map_err(|e| TaskError::aws("GetItem", e))?;
        let Some((due, why)) = ledger.missed else {
            continue;
        };
        let recent = due > now - Duration::days(MISSED_LISTED_DAYS);
        let succeeded_since = ledger.succeeded.is_some_and(|(_, at)| at > due);
        if recent && !succeeded_since {
            missed.push(MissedRun {
                job: job.clone(),
                due,
                why,
            });
        }
    }
    Ok(missed)
}
