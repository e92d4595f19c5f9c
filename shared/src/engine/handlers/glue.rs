//! The Glue handlers: define the job as planned, start the run (a retry finds the run it started) and wait for it on
//! a task token; then sum the run up, stopping it if the run ended before it did. Each takes and returns a public
//! type: that is its contract with the state machine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use super::notify::{register, waiter_for};
use crate::catalog::Engine;
use crate::cost::Pricing;
use crate::engine::errors::TaskError;
use crate::engine::input::check_plan;
use crate::engine::ports::{GlueApi, GlueRunView, TokenStore, Work};
use crate::engine::recovery::{caught_cause, recover, AttemptEnd};
use crate::engine::states::{glue_run_status, Status};
use crate::engine::summary::{summarize, work_ended, FinishInput, RunSummary};
use crate::run::plan::GluePlan;
use crate::run::recovery::earlier_resources;
use crate::run::RunPlan;

/// The CreateJob fields UpdateJob cannot take in a `JobUpdate`.
const NOT_UPDATABLE: &[&str] = &["Name", "Tags"];

/// Fields of the plan's job definition whose value in Glue differs (only those the plan sets and Glue reports).
pub fn differing_fields(planned: &Value, current: &Value) -> Vec<String> {
    let (Some(planned), Some(current)) = (planned.as_object(), current.as_object()) else {
        return vec!["(whole definition)".to_string()];
    };
    planned
        .iter()
        .filter(|(key, _)| !NOT_UPDATABLE.contains(&key.as_str()))
        .filter(|(key, value)| current.get(*key).is_some_and(|now| !same_json(value, now)))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Equal as JSON, with numbers compared by value (Glue answers 2.0 where the plan says 2).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        _ => a == b,
    }
}

/// glue-start-run's own output (the state machine waits for the token's answer instead; logs and tests read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlueStartOutput {
    pub job_name: String,
    pub run_id: String,
    /// The run had been started already (a retried start).
    pub reused: bool,
}

/// glue-start-run's input: the plan and the task token the state machine waits on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GlueStartInput {
    pub plan: RunPlan,
    /// `$$.Task.Token` of the `waitForTaskToken` task.
    pub task_token: String,
    /// `$$.State.RetryCount`: on the first attempt no run of this run's name exists yet.
    #[serde(default)]
    pub retry_count: Option<u32>,
}

/// The plan's Glue part and its job's name.
fn glue_job(plan: &RunPlan) -> Result<(&GluePlan, String), TaskError> {
    let glue_plan = plan.glue.as_ref().ok_or_else(|| {
        TaskError::invalid(format!("run {} has no `glue` section", plan.run_name))
    })?;
    let name = glue_plan
        .job
        .get("Name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TaskError::invalid("glue.job has no Name"))?;
    Ok((glue_plan, name))
}

/// Makes sure the Glue job is defined as the plan says (created if missing, updated if it differs), then starts the
/// run — unless a run of this run's name exists already — and leaves the task token in the token table under the
/// job and run id: the state machine waits until `notify` (or the reconciler) answers it with the run's report.
pub async fn glue_start_run(
    glue: &impl GlueApi,
    tokens: &impl TokenStore,
    GlueStartInput {
        plan,
        task_token,
        retry_count,
    }: GlueStartInput,
    now: DateTime<Utc>,
) -> Result<GlueStartOutput, TaskError> {
    check_plan(&plan, Engine::Glue)?;
    let (glue_plan, job_name) = glue_job(&plan)?;
    match glue
        .get_job(&job_name)
        .await
        .map_err(|e| TaskError::aws("GetJob", e))?
    {
        None => {
            match glue.create_job(&glue_plan.job).await {
                Ok(()) => info!(job = %plan.job, glue_job = %job_name, "Glue job created"),
                // Two first runs at once: the other created it between our GetJob and CreateJob.
                Err(e) if e.code == "AlreadyExistsException" => {
                    info!(job = %plan.job, glue_job = %job_name, "Glue job created by a concurrent run")
                }
                Err(e) => return Err(TaskError::aws("CreateJob", e)),
            }
        }
        Some(current) => {
            let differing = differing_fields(&glue_plan.job, &current);
            if !differing.is_empty() {
                let mut update = glue_plan.job.clone();
                if let Some(fields) = update.as_object_mut() {
                    fields.retain(|key, _| !NOT_UPDATABLE.contains(&key.as_str()));
                }
                glue.update_job(&job_name, &update)
                    .await
                    .map_err(|e| TaskError::aws("UpdateJob", e))?;
                info!(job = %plan.job, glue_job = %job_name, fields = ?differing, "Glue job updated");
            }
        }
    }
    let existing = if retry_count == Some(0) {
        None
    } else {
        glue.job_runs(&job_name)
            .await
            .map_err(|e| TaskError::aws("GetJobRuns", e))?
            .into_iter()
            // Not a run of an earlier attempt of this run (`retries`): that one ended.
            .find(|run| {
                run.run_name.as_deref() == Some(plan.run_name.as_str())
                    && !earlier_resources(&plan).contains(&run.id.as_str())
            })
            .map(|run| run.id)
    };
    let (run_id, reused) = match existing {
        Some(id) => (id, true),
        None => (
            glue.start_job_run(&glue_plan.run)
                .await
                .map_err(|e| TaskError::aws("StartJobRun", e))?,
            false,
        ),
    };
    info!(job = %plan.job, run = %plan.run_name, glue_job = %job_name, glue_run = %run_id, reused, "Glue run started");
    let work = Work::Glue {
        job_name: job_name.clone(),
        run_id: run_id.clone(),
    };
    register(tokens, &waiter_for(&plan, work, &task_token, now)).await?;
    Ok(GlueStartOutput {
        job_name,
        run_id,
        reused,
    })
}

/// A Glue run that has not ended (an unknown state counts as live: stopping an ended run is harmless).
pub fn is_live(state: &str) -> bool {
    !matches!(
        glue_run_status(state),
        Ok(Status::Succeeded | Status::Failed)
    )
}

/// Stops the live Glue runs of `job_name` that carry `run_name` (a run's own): answers that job's runs of this run
/// (as GetJobRuns lists them, newest first) and the ids of those it stopped. Used by the finish task and the janitor.
pub async fn stop_live_runs(
    glue: &impl GlueApi,
    job_name: &str,
    run_name: &str,
) -> Result<(Vec<GlueRunView>, Vec<String>), TaskError> {
    let runs: Vec<GlueRunView> = glue
        .job_runs(job_name)
        .await
        .map_err(|e| TaskError::aws("GetJobRuns", e))?
        .into_iter()
        .filter(|run| run.run_name.as_deref() == Some(run_name))
        .collect();
    let live: Vec<String> = runs
        .iter()
        .filter(|run| is_live(&run.state))
        .map(|run| run.id.clone())
        .collect();
    if live.is_empty() {
        return Ok((runs, Vec::new()));
    }
    let stopped = glue
        .stop_job_runs(job_name, &live)
        .await
        .map_err(|e| TaskError::aws("BatchStopJobRun", e))?;
    Ok((runs, stopped))
}

/// Sums the run up and emits its metric line. When the run ended without its Glue run's end (its limit, a failed
/// task), the Glue run of this run's name is stopped first, so that nothing keeps running.
pub async fn glue_finish(
    glue: &impl GlueApi,
    pricing: &Pricing,
    state: FinishInput,
    now: DateTime<Utc>,
) -> Result<RunSummary, TaskError> {
    let plan = &state.plan;
    check_plan(plan, Engine::Glue)?;
    let report = state.sense();
    let mut run_id = report.as_ref().and_then(|r| r.resource_id.clone());
    if !work_ended(report.as_ref()) {
        let (_, job_name) = glue_job(plan)?;
        let (runs, stopped) = stop_live_runs(glue, &job_name, &plan.run_name).await?;
        if !stopped.is_empty() {
            info!(job = %plan.job, run = %plan.run_name, glue_runs = ?stopped, "Glue run stopped");
        }
        run_id = runs.first().map(|run| run.id.clone());
    }
    let summary = summarize(
        plan,
        run_id.as_deref(),
        report.as_ref(),
        state.error.as_ref(),
    )
    .priced(pricing, plan, now);
    let end = AttemptEnd {
        cause: caught_cause(state.error.as_ref()),
        ..AttemptEnd::default()
    };
    Ok(recover(summary, &state, end, now))
}
