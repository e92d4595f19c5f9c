//! The Glue handlers: define the job as planned and start the run (a retry finds the run it started), then sense it.
//! Each takes and returns a public type: that is its contract with the state machine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use super::errors::TaskError;
use super::input::check_plan;
use super::ports::GlueApi;
use super::report::{Poll, SenseReport};
use super::sense::sense_glue;
use super::states::Status;
use super::summary::{finish, summarize, RunSummary};
use crate::catalog::Engine;
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

/// glue-start-run's output, kept by the state machine at `$.glue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlueStartOutput {
    pub job_name: String,
    pub run_id: String,
    /// The run had been started already (a retried start).
    pub reused: bool,
    pub wait_seconds: u64,
}

/// glue-start-run's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GlueStartInput {
    pub plan: RunPlan,
    #[serde(default)]
    pub poll: Poll,
}

/// Makes sure the Glue job is defined as the plan says (created if missing, updated if it differs), then starts the
/// run — unless a run of this run's name exists already.
pub async fn glue_start_run(
    glue: &impl GlueApi,
    GlueStartInput { plan, poll }: GlueStartInput,
) -> Result<GlueStartOutput, TaskError> {
    check_plan(&plan, Engine::Glue)?;
    let glue_plan = plan.glue.as_ref().ok_or_else(|| {
        TaskError::invalid(format!("run {} has no `glue` section", plan.run_name))
    })?;
    let job_name = glue_plan
        .job
        .get("Name")
        .and_then(Value::as_str)
        .ok_or_else(|| TaskError::invalid("glue.job has no Name"))?
        .to_string();
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
    let existing = glue
        .job_runs(&job_name)
        .await
        .map_err(|e| TaskError::aws("GetJobRuns", e))?
        .into_iter()
        .find(|run| run.run_name.as_deref() == Some(plan.run_name.as_str()))
        .map(|run| run.id);
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
    Ok(GlueStartOutput {
        job_name,
        run_id,
        reused,
        wait_seconds: poll.running(),
    })
}

/// glue-sense's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GlueSenseInput {
    pub plan: RunPlan,
    pub job_name: String,
    pub run_id: String,
    #[serde(default)]
    pub poll: Poll,
}

/// glue-sense's output: the sensor's report, and the run's summary once it has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlueSenseOutput {
    #[serde(flatten)]
    pub report: SenseReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<RunSummary>,
}

/// GetJobRun → running / succeeded / failed; a finished run also gets its summary and metric line.
pub async fn glue_sense(
    glue: &impl GlueApi,
    GlueSenseInput {
        plan,
        job_name,
        run_id,
        poll,
    }: GlueSenseInput,
    now: DateTime<Utc>,
) -> Result<GlueSenseOutput, TaskError> {
    check_plan(&plan, Engine::Glue)?;
    let run = glue
        .get_job_run(&job_name, &run_id)
        .await
        .map_err(|e| TaskError::aws("GetJobRun", e))?;
    let report = sense_glue(&plan, &run, poll, now);
    info!(job = %plan.job, run = %plan.run_name, glue_run = %run_id, status = ?report.status, "sensed");
    let summary = (report.status != Status::Running).then(|| {
        let summary = summarize(&plan, Some(&run_id), Some(&report), None);
        finish(&summary, now);
        summary
    });
    Ok(GlueSenseOutput { report, summary })
}
