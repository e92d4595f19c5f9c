//! Event-driven completion: the task that starts a run's work waits on a task token; the token waits in a table
//! under the names AWS's state-change events use; `notify` answers it when an event says the work ended, and the
//! reconciler answers what an event missed (EventBridge delivers at least once, not always).
//!
//! An event is a reason to look, never the truth: it may come twice, late, out of order, or about work that is not
//! sparkplug's. `notify` looks up the waiter (no waiter: not ours, or answered already — dropped at no API cost),
//! reads the work's state from the API (the sensors of `sense.rs`), and answers only once the work has
//! ended. A token nobody waits on any more is dropped, never retried.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::engine::errors::{ErrorKind, TaskError};
use crate::engine::ports::{
    CallbackApi, EmrApi, GlueApi, ServerlessApi, TokenAnswer, TokenStore, Waiter, Work,
};
use crate::engine::report::SenseReport;
use crate::engine::sense::{sense_emr, sense_glue, sense_serverless};
use crate::engine::states::{
    emr_cluster_phase, emr_cluster_running_a_step, emr_step_status, glue_run_status,
    serverless_run_status, ClusterPhase, Status,
};
use crate::engine::table_keys::{emr_key, emr_step_key, glue_key, serverless_key};
use crate::run::plan::pooled_step_run;
use crate::run::RunPlan;

/// How long a waiter outlives its run's limit before the table's TTL may delete it.
pub const WAITER_GRACE: Duration = Duration::days(1);
/// The reconciler's default: waiters younger than this are left to their events.
pub const DEFAULT_RECONCILE_AFTER_SECONDS: u64 = 180;

/// The error a waiting task fails with when its cluster or Glue run can no longer be read.
pub const WORK_LOST: &str = "WorkLost";

/// The waiter for a run's work, as the starting task stores it.
pub fn waiter_for(plan: &RunPlan, work: Work, token: &str, now: DateTime<Utc>) -> Waiter {
    let limit = Duration::seconds(i64::try_from(plan.timeout_seconds).unwrap_or(i64::MAX / 2));
    Waiter {
        work,
        token: token.to_string(),
        run_name: plan.run_name.clone(),
        job: plan.job.clone(),
        registered: now,
        expires: now + limit + WAITER_GRACE,
    }
}

/// Stores the waiter of a run's work; a key held by another run is an error (it cannot happen with AWS's unique
/// ids, and must not be papered over).
pub async fn register(tokens: &impl TokenStore, waiter: &Waiter) -> Result<(), TaskError> {
    if waiter.token.is_empty() {
        return Err(TaskError::invalid(
            "no task token: this task must be invoked with `lambda:invoke.waitForTaskToken` and `$$.Task.Token`",
        ));
    }
    let stored = tokens
        .put_waiter(waiter)
        .await
        .map_err(|e| TaskError::aws("PutItem", e))?;
    if !stored {
        return Err(TaskError {
            kind: ErrorKind::Failed,
            message: format!(
                "the token table holds another run's waiter under {}",
                waiter.work.key()
            ),
        });
    }
    info!(run = %waiter.run_name, key = %waiter.work.key(), "waiting for the work to end");
    Ok(())
}

/// An EventBridge event, as far as notify reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChangeEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub detail: Value,
}

/// notify's input: a state-change event, or the reconciler's schedule (`{"reconcile": true}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NotifyInput {
    Reconcile {
        reconcile: bool,
        /// Waiters younger than this are left to their events (default 180 s).
        #[serde(default)]
        older_than_seconds: Option<u64>,
    },
    Event(StateChangeEvent),
}

/// What one notify invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyReport {
    /// Runs whose waiting task was answered, as `run: status`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<String>,
    /// Why an event (or a waiter) led to no answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Waiters looked at (the reconciler).
    #[serde(default)]
    pub looked_at: usize,
}

impl NotifyReport {
    fn drop(mut self, why: impl Into<String>) -> Self {
        let why = why.into();
        info!(why = %why, "event dropped");
        self.dropped.push(why);
        self
    }
}

fn text<'a>(detail: &'a Value, key: &str) -> Result<&'a str, TaskError> {
    detail
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TaskError::invalid(format!("notify: the event's detail has no `{key}`")))
}

/// Which waiter an event may concern, and whether it is worth a look (only ends are).
enum Interest {
    Look {
        key: String,
        step: Option<(String, String)>,
        /// Where the waiters of runs on a pool cluster are, when `key` has none: a step's own key, or every
        /// run's on the cluster (a cluster's end).
        pool_waiters: Option<PoolWaiters>,
    },
    Ignore(String),
}

enum PoolWaiters {
    Step(String),
    Cluster(String),
}

fn interest(event: &StateChangeEvent) -> Result<Interest, TaskError> {
    let detail = &event.detail;
    match event.detail_type.as_str() {
        // EMR Management Guide, "Amazon EMR events": step states PENDING, CANCEL_PENDING, RUNNING, COMPLETED,
        // CANCELLED, FAILED.
        "EMR Step Status Change" => {
            let (cluster, step, state) = (
                text(detail, "clusterId")?,
                text(detail, "stepId")?,
                text(detail, "state")?,
            );
            Ok(match emr_step_status(state) {
                Ok(Status::Running) => Interest::Ignore(format!("step {step} is {state}")),
                _ => Interest::Look {
                    key: emr_key(cluster),
                    step: Some((step.to_string(), state.to_string())),
                    // A pooled run's step is named `<run>: <step>`: only such a step can have a waiter of its own.
                    pool_waiters: detail
                        .get("name")
                        .and_then(Value::as_str)
                        .filter(|name| pooled_step_run(name).is_some())
                        .map(|_| PoolWaiters::Step(emr_step_key(cluster, step))),
                },
            })
        }
        "EMR Cluster State Change" => {
            let (cluster, state) = (text(detail, "clusterId")?, text(detail, "state")?);
            Ok(match emr_cluster_phase(state) {
                Ok(ClusterPhase::Starting | ClusterPhase::Up) => {
                    Interest::Ignore(format!("cluster {cluster} is {state}"))
                }
                _ => Interest::Look {
                    key: emr_key(cluster),
                    step: None,
                    pool_waiters: Some(PoolWaiters::Cluster(format!("{}#", emr_key(cluster)))),
                },
            })
        }
        // Glue Developer Guide, "Automating AWS Glue with EventBridge": end states SUCCEEDED, FAILED, TIMEOUT, STOPPED.
        "Glue Job State Change" => {
            let (job, run, state) = (
                text(detail, "jobName")?,
                text(detail, "jobRunId")?,
                text(detail, "state")?,
            );
            Ok(match glue_run_status(state) {
                Ok(Status::Running) => Interest::Ignore(format!("Glue run {run} is {state}")),
                _ => Interest::Look {
                    key: glue_key(job, run),
                    step: None,
                    pool_waiters: None,
                },
            })
        }
        // EMR Serverless User Guide, "Monitoring EMR Serverless with EventBridge": job run states SUBMITTED, PENDING,
        // SCHEDULED, RUNNING, SUCCESS, FAILED, CANCELLING, CANCELLED.
        "EMR Serverless Job Run State Change" => {
            let (application, run, state) = (
                text(detail, "applicationId")?,
                text(detail, "jobRunId")?,
                text(detail, "state")?,
            );
            Ok(match serverless_run_status(state) {
                Ok(Status::Running) => Interest::Ignore(format!("job run {run} is {state}")),
                _ => Interest::Look {
                    key: serverless_key(application, run),
                    step: None,
                    pool_waiters: None,
                },
            })
        }
        other => Err(TaskError::invalid(format!(
            "notify: `{other}` is not an event notify handles (EMR Step Status Change, EMR Cluster State Change, \
             Glue Job State Change, EMR Serverless Job Run State Change)"
        ))),
    }
}

/// The notify function: a state-change event → maybe an answer to a waiting task; or, on its schedule, the
/// reconciler.
pub async fn notify(
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    serverless: &impl ServerlessApi,
    sfn: &impl CallbackApi,
    tokens: &impl TokenStore,
    input: NotifyInput,
    now: DateTime<Utc>,
) -> Result<NotifyReport, TaskError> {
    let event = match input {
        NotifyInput::Reconcile {
            reconcile: true,
            older_than_seconds,
        } => {
            let age = older_than_seconds.unwrap_or(DEFAULT_RECONCILE_AFTER_SECONDS);
            return reconcile(emr, glue, serverless, sfn, tokens, age, now).await;
        }
        NotifyInput::Reconcile { .. } => {
            return Err(TaskError::invalid(
                "notify: `reconcile` must be true (the reconciler's schedule input is {\"reconcile\": true})",
            ))
        }
        NotifyInput::Event(event) => event,
    };
    let report = NotifyReport::default();
    let (key, step, pool_waiters) = match interest(&event)? {
        Interest::Ignore(why) => return Ok(report.drop(why)),
        Interest::Look {
            key,
            step,
            pool_waiters,
        } => (key, step, pool_waiters),
    };
    let mut waiter = tokens
        .get_waiter(&key)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?;
    match (&waiter, pool_waiters) {
        (Some(_), _) | (None, None) => {}
        (None, Some(PoolWaiters::Step(step_key))) => {
            waiter = tokens
                .get_waiter(&step_key)
                .await
                .map_err(|e| TaskError::aws("GetItem", e))?;
        }
        (None, Some(PoolWaiters::Cluster(prefix))) => {
            // A pool cluster ended: every run still on it is answered (each sees its cluster gone).
            let on_cluster = tokens
                .waiters_with_prefix(&prefix)
                .await
                .map_err(|e| TaskError::aws("Query", e))?;
            if !on_cluster.is_empty() {
                let mut report = report;
                for waiter in &on_cluster {
                    report = settle(emr, glue, serverless, sfn, tokens, waiter, report).await?;
                }
                return Ok(report);
            }
        }
    }
    let Some(waiter) = waiter else {
        return Ok(report.drop(format!(
            "{key}: no task waits on it (not sparkplug's, or answered already)"
        )));
    };
    if let (
        Some((step_id, state)),
        Work::Emr {
            step_ids,
            sequential,
            ..
        },
    ) = (&step, &waiter.work)
    {
        if !step_ids.contains(step_id) {
            return Ok(report.drop(format!(
                "step {step_id} is not one of run {}'s steps",
                waiter.run_name
            )));
        }
        // One after the other, a completed step before the last changes nothing: the last one's event (or a failure,
        // or the cluster's end) will. Saves the API calls of a look per step.
        if *sequential
            && emr_step_status(state) == Ok(Status::Succeeded)
            && step_ids.last() != Some(step_id)
        {
            return Ok(report.drop(format!(
                "step {step_id} COMPLETED, run {} has later steps",
                waiter.run_name
            )));
        }
    }
    settle(emr, glue, serverless, sfn, tokens, &waiter, report).await
}

/// The waiters old enough that their event may have been lost: each is looked at, and answered if its work ended.
pub async fn reconcile(
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    serverless: &impl ServerlessApi,
    sfn: &impl CallbackApi,
    tokens: &impl TokenStore,
    older_than_seconds: u64,
    now: DateTime<Utc>,
) -> Result<NotifyReport, TaskError> {
    let cutoff = now - Duration::seconds(i64::try_from(older_than_seconds).unwrap_or(i64::MAX / 2));
    let waiters = tokens
        .waiters_before(cutoff)
        .await
        .map_err(|e| TaskError::aws("Query", e))?;
    // One ListClusters for every EMR waiter (it carries each cluster's state), instead of two calls per run per period.
    let active = if waiters.iter().any(|w| matches!(w.work, Work::Emr { .. })) {
        Some(
            emr.active_clusters()
                .await
                .map_err(|e| TaskError::aws("ListClusters", e))?,
        )
    } else {
        None
    };
    let mut report = NotifyReport {
        looked_at: waiters.len(),
        ..NotifyReport::default()
    };
    let mut first_error = None;
    for waiter in &waiters {
        // One waiter's trouble (a throttled call) must not keep the others waiting: look at all, then fail.
        if let (
            Work::Emr {
                cluster_id, pooled, ..
            },
            Some(active),
        ) = (&waiter.work, &active)
        {
            // RUNNING: a step runs; STARTING, BOOTSTRAPPING: none can have ended. Only a WAITING cluster (its steps
            // done) or one no longer active is worth the two calls of a look — but a pool cluster RUNNING other
            // runs' steps may hold this run's ended one.
            let state = active
                .iter()
                .find(|c| &c.id == cluster_id)
                .map(|c| c.state.as_str());
            let starting = state.map(emr_cluster_phase) == Some(Ok(ClusterPhase::Starting));
            if starting || (!*pooled && state.is_some_and(emr_cluster_running_a_step)) {
                continue;
            }
        }
        match settle(
            emr,
            glue,
            serverless,
            sfn,
            tokens,
            waiter,
            NotifyReport::default(),
        )
        .await
        {
            Ok(one) => {
                report.answered.extend(one.answered);
                report.dropped.extend(one.dropped);
            }
            Err(error) => {
                warn!(run = %waiter.run_name, error = %error.message, "reconcile: look failed");
                first_error.get_or_insert(error);
            }
        }
    }
    info!(
        looked_at = report.looked_at,
        answered = report.answered.len(),
        "reconciled"
    );
    match first_error {
        Some(error) if report.answered.is_empty() => Err(error),
        _ => Ok(report),
    }
}

/// The sensors' report on the waiter's work, as the API says it is now.
async fn look(
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    serverless: &impl ServerlessApi,
    waiter: &Waiter,
) -> Result<SenseReport, TaskError> {
    match &waiter.work {
        Work::Emr {
            cluster_id,
            step_ids,
            ..
        } => {
            // Steps first, then the cluster: a cluster that dies between the two answers cancels its steps, and read
            // in this order a cancelled step is always seen beside the cluster that ended.
            let steps = emr
                .list_steps(cluster_id)
                .await
                .map_err(|e| TaskError::aws("ListSteps", e))?;
            let cluster = emr
                .describe_cluster(cluster_id)
                .await
                .map_err(|e| TaskError::aws("DescribeCluster", e))?;
            Ok(sense_emr(&cluster, &steps, step_ids))
        }
        Work::Glue { job_name, run_id } => {
            let run = glue
                .get_job_run(job_name, run_id)
                .await
                .map_err(|e| TaskError::aws("GetJobRun", e))?;
            Ok(sense_glue(&run))
        }
        Work::Serverless {
            application_id,
            job_run_id,
        } => {
            let run = serverless
                .get_job_run(application_id, job_run_id)
                .await
                .map_err(|e| TaskError::aws("GetJobRun", e))?;
            Ok(sense_serverless(&run))
        }
    }
}

/// Looks at the waiter's work; once it has ended, answers the token with the report and forgets the waiter.
async fn settle(
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    serverless: &impl ServerlessApi,
    sfn: &impl CallbackApi,
    tokens: &impl TokenStore,
    waiter: &Waiter,
    mut report: NotifyReport,
) -> Result<NotifyReport, TaskError> {
    let key = waiter.work.key();
    let sensed = match look(emr, glue, serverless, waiter).await {
        Ok(sensed) => sensed,
        // The cluster or run is gone from the API, or this stack may not read it: no event will ever end the wait.
        Err(error) if matches!(error.kind, ErrorKind::NotFound | ErrorKind::InvalidInput) => {
            let answer = sfn
                .send_task_failure(&waiter.token, WORK_LOST, &error.message)
                .await
                .map_err(|e| TaskError::aws("SendTaskFailure", e))?;
            warn!(run = %waiter.run_name, key = %key, error = %error.message, answer = ?answer, "the run's work is lost");
            tokens
                .delete_waiter(&key, &waiter.token)
                .await
                .map_err(|e| TaskError::aws("DeleteItem", e))?;
            report
                .answered
                .push(format!("{}: {WORK_LOST}", waiter.run_name));
            return Ok(report);
        }
        Err(error) => return Err(error),
    };
    if sensed.status == Status::Running {
        return Ok(report.drop(format!(
            "run {}: {} (not ended yet)",
            waiter.run_name, sensed.progress
        )));
    }
    let output = serde_json::to_string(&sensed)
        .map_err(|e| TaskError::invalid(format!("notify: cannot write the report: {e}")))?;
    let answer = sfn
        .send_task_success(&waiter.token, &output)
        .await
        .map_err(|e| TaskError::aws("SendTaskSuccess", e))?;
    let status = serde_json::to_value(sensed.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match answer {
        TokenAnswer::Delivered => {
            info!(run = %waiter.run_name, key = %key, status = %status, "task answered");
            report
                .answered
                .push(format!("{}: {status}", waiter.run_name));
        }
        TokenAnswer::Gone { code } => {
            report = report.drop(format!(
                "run {}: nobody waits on its token any more ({code})",
                waiter.run_name
            ));
        }
    }
    tokens
        .delete_waiter(&key, &waiter.token)
        .await
        .map_err(|e| TaskError::aws("DeleteItem", e))?;
    Ok(report)
}
