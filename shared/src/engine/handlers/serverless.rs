//! The EMR Serverless handlers: make sure the application is as planned (created if missing, updated if it differs
//! and can be), start the job run — its `clientToken` is the run's name, so a retried start returns the same run —
//! and wait for it on a task token; then sum the run up, cancelling it if the run ended before it did.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::notify::{register, waiter_for};
use crate::catalog::Engine;
use crate::cost::Pricing;
use crate::engine::errors::TaskError;
use crate::engine::input::check_plan;
use crate::engine::ports::{ServerlessApi, TokenStore, Work};
use crate::engine::recovery::{caught_cause, recover, AttemptEnd};
use crate::engine::summary::{summarize, work_ended, FinishInput, RunSummary};
use crate::run::plan::EmrServerlessPlan;
use crate::run::RunPlan;

/// CreateApplication fields UpdateApplication cannot take.
const NOT_UPDATABLE: &[&str] = &["name", "type", "tags", "clientToken"];
/// States an application passes through, in which it takes no job run: the start is retried (seconds).
const TRANSIENT_STATES: &[&str] = &["CREATING", "STOPPING"];

/// The application cannot take a job run yet: the state machine's retry starts it a few seconds later.
fn not_ready(name: &str, state: &str) -> TaskError {
    TaskError {
        kind: crate::engine::errors::ErrorKind::Retryable,
        message: format!(
            "the EMR Serverless application {name} is {state}: it takes job runs once CREATED or STARTED; \
             the start is retried"
        ),
    }
}

/// States in which EMR Serverless accepts an UpdateApplication.
const UPDATABLE_STATES: &[&str] = &["CREATED", "STOPPED"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerlessStartInput {
    pub plan: RunPlan,
    /// `$$.Task.Token` of the `waitForTaskToken` task.
    pub task_token: String,
    #[serde(default)]
    pub retry_count: Option<u32>,
}

/// emr-serverless-start's own output (the state machine waits for the token's answer instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerlessStartOutput {
    pub application_id: String,
    pub job_run_id: String,
}

fn serverless_plan(plan: &RunPlan) -> Result<(&EmrServerlessPlan, String), TaskError> {
    let part = plan.emr_serverless.as_ref().ok_or_else(|| {
        TaskError::invalid(format!(
            "run {} has no `emr_serverless` section",
            plan.run_name
        ))
    })?;
    let name = part
        .application
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TaskError::invalid("emr_serverless.application has no name"))?;
    Ok((part, name))
}

/// CreateApplication's idempotency token for an application as planned: two first runs at once (of one job, or of
/// jobs sharing the application) create one application, since EMR Serverless does not keep names unique; an
/// application created with other settings (one deleted and re-created after a catalog change) gets another token,
/// so that EMR Serverless never answers it with the old request's application.
pub fn application_token(name: &str, request: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(request.to_string().as_bytes());
    let digest = hasher.finalize();
    let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sparkplug-{hash}")
}

/// The planned settings the application does not have. Only what the plan sets counts: GetApplication also reports
/// defaults the plan leaves to EMR Serverless (a worker's disk), which are no difference.
pub fn differing_settings(planned: &Value, current: &Value) -> Vec<String> {
    let Some(planned) = planned.as_object() else {
        return vec!["(whole application)".to_string()];
    };
    planned
        .iter()
        .filter(|(key, value)| !current.get(*key).is_some_and(|now| covers(value, now)))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Whether `current` has every value `planned` sets (numbers by value, objects key by key).
fn covers(planned: &Value, current: &Value) -> bool {
    match (planned, current) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .all(|(k, v)| y.get(k).is_some_and(|w| covers(v, w))),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| covers(v, w))
        }
        _ => planned == current,
    }
}

/// The application of the plan, as planned: its id.
pub async fn ensure_application(
    serverless: &impl ServerlessApi,
    plan: &RunPlan,
) -> Result<String, TaskError> {
    let (part, name) = serverless_plan(plan)?;
    let Some(current) = serverless
        .find_application(&name)
        .await
        .map_err(|e| TaskError::aws("GetApplication", e))?
    else {
        let mut request = part.application.clone();
        request["clientToken"] = Value::String(application_token(&name, &part.application));
        let id = serverless
            .create_application(&request)
            .await
            .map_err(|e| TaskError::aws("CreateApplication", e))?;
        info!(job = %plan.job, application = %name, id = %id, "EMR Serverless application created");
        return Err(not_ready(&name, "CREATING"));
    };
    if TRANSIENT_STATES.contains(&current.state.as_str()) {
        return Err(not_ready(&name, &current.state));
    }
    let mut planned = part.application.clone();
    if let Some(fields) = planned.as_object_mut() {
        fields.retain(|key, _| !NOT_UPDATABLE.contains(&key.as_str()));
    }
    let differing = differing_settings(&planned, &current.settings);
    if differing.is_empty() {
        return Ok(current.id);
    }
    if UPDATABLE_STATES.contains(&current.state.as_str()) {
        serverless
            .update_application(&current.id, &planned)
            .await
            .map_err(|e| TaskError::aws("UpdateApplication", e))?;
        info!(job = %plan.job, application = %name, fields = ?differing, "EMR Serverless application updated");
    } else {
        // EMR Serverless updates only a stopped application; stopping it would end other runs' work.
        warn!(job = %plan.job, application = %name, state = %current.state, fields = ?differing,
            "the application differs from the catalog but is not stopped: this run uses it as it is; it is updated \
             by a run that finds it stopped");
    }
    Ok(current.id)
}

/// Makes sure the application is as planned, starts the job run (a repeated start, same clientToken, returns the
/// same run) and leaves the task token in the token table under the application and job run ids.
pub async fn serverless_start(
    serverless: &impl ServerlessApi,
    tokens: &impl TokenStore,
    ServerlessStartInput {
        plan, task_token, ..
    }: ServerlessStartInput,
    now: DateTime<Utc>,
) -> Result<ServerlessStartOutput, TaskError> {
    check_plan(&plan, Engine::EmrServerless)?;
    let (part, _) = serverless_plan(&plan)?;
    let application_id = ensure_application(serverless, &plan).await?;
    let job_run_id = serverless
        .start_job_run(&application_id, &part.run)
        .await
        .map_err(|e| TaskError::aws("StartJobRun", e))?;
    info!(job = %plan.job, run = %plan.run_name, application = %application_id, job_run = %job_run_id,
        "EMR Serverless job run started");
    let work = Work::Serverless {
        application_id: application_id.clone(),
        job_run_id: job_run_id.clone(),
    };
    register(tokens, &waiter_for(&plan, work, &task_token, now)).await?;
    Ok(ServerlessStartOutput {
        application_id,
        job_run_id,
    })
}

/// The job runs of this run's name still going on the plan's application: (application id, job run id).
pub async fn live_runs_of(
    serverless: &impl ServerlessApi,
    plan: &RunPlan,
) -> Result<Vec<(String, String)>, TaskError> {
    let (_, name) = serverless_plan(plan)?;
    let Some(application) = serverless
        .find_application(&name)
        .await
        .map_err(|e| TaskError::aws("GetApplication", e))?
    else {
        return Ok(Vec::new());
    };
    Ok(serverless
        .active_job_runs(&application.id)
        .await
        .map_err(|e| TaskError::aws("ListJobRuns", e))?
        .into_iter()
        .filter(|(_, name)| name == &plan.run_name)
        .map(|(id, _)| (application.id.clone(), id))
        .collect())
}

/// Cancels the job runs given: the ids of those cancelled.
pub async fn cancel(
    serverless: &impl ServerlessApi,
    runs: &[(String, String)],
) -> Result<Vec<String>, TaskError> {
    let mut cancelled = Vec::new();
    for (application_id, job_run_id) in runs {
        serverless
            .cancel_job_run(application_id, job_run_id)
            .await
            .map_err(|e| TaskError::aws("CancelJobRun", e))?;
        warn!(application = %application_id, job_run = %job_run_id, "EMR Serverless job run cancelled");
        cancelled.push(format!("{application_id}/{job_run_id}"));
    }
    Ok(cancelled)
}

/// Sums the run up and emits its metric line; when the run ended without its job run's end (its limit, a failed
/// task), the job run of this run's name is cancelled first.
pub async fn serverless_finish(
    serverless: &impl ServerlessApi,
    pricing: &Pricing,
    state: FinishInput,
    now: DateTime<Utc>,
) -> Result<RunSummary, TaskError> {
    let plan = &state.plan;
    check_plan(plan, Engine::EmrServerless)?;
    let report = state.sense();
    let mut job_run_id = report.as_ref().and_then(|r| r.resource_id.clone());
    if !work_ended(report.as_ref()) {
        let live = live_runs_of(serverless, plan).await?;
        cancel(serverless, &live).await?;
        job_run_id = job_run_id.or_else(|| live.first().map(|(_, id)| id.clone()));
    }
    let summary = summarize(
        plan,
        job_run_id.as_deref(),
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
