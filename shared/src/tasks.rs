//! The Lambda handlers' logic, over the ports of [`crate::ports`]: each reads only its input (a run plan and what
//! earlier tasks returned) and is safe to retry.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info, warn};

use crate::catalog::{Catalog, Engine};
use crate::plan::{RunPlan, Vars, GLUE_RUN_ARGUMENT, PLAN_VERSION};
use crate::ports::{AwsError, EmrApi, ErrorKind, GlueApi, SfnApi, StartOutcome};
use crate::resolve::resolve_event;
use crate::sense::{
    emf_line, sense_emr, sense_glue, summarize, CaughtError, Poll, SenseReport, Status,
};

/// Step Functions' limit on an execution's input.
pub const MAX_EXECUTION_INPUT_BYTES: usize = 256 * 1024;

/// A handler's failure; `kind` becomes the Lambda error type the state machine's Retry/Catch match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub kind: ErrorKind,
    pub message: String,
}

impl TaskError {
    pub fn invalid(message: impl Into<String>) -> Self {
        TaskError {
            kind: ErrorKind::InvalidInput,
            message: message.into(),
        }
    }

    fn aws(action: &str, error: AwsError) -> Self {
        TaskError {
            kind: error.kind,
            message: format!("{action}: {error}"),
        }
    }
}

fn parse_input<T: DeserializeOwned>(task: &str, input: Value) -> Result<T, TaskError> {
    serde_json::from_value(input).map_err(|e| TaskError::invalid(format!("{task}: bad input: {e}")))
}

fn check_plan(plan: &RunPlan, engine: Engine) -> Result<(), TaskError> {
    if plan.plan_version != PLAN_VERSION {
        return Err(TaskError::invalid(format!(
            "plan version {} is not the version this function reads ({PLAN_VERSION}): redeploy or re-plan",
            plan.plan_version
        )));
    }
    if plan.engine != engine {
        return Err(TaskError::invalid(format!(
            "run {} is a {} run, not {}",
            plan.run_name,
            plan.engine.as_str(),
            engine.as_str()
        )));
    }
    Ok(())
}

fn output<T: Serialize>(value: &T) -> Result<Value, TaskError> {
    serde_json::to_value(value)
        .map_err(|e| TaskError::invalid(format!("cannot write the output: {e}")))
}

// ---------------------------------------------------------------------------------------------------------------
// Trigger and resolve

/// What the trigger function needs besides its Step Functions client.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    pub catalog: Catalog,
    pub vars: Vars,
    pub state_machine_arn: String,
}

/// What one trigger invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TriggerReport {
    /// Run names of the executions started.
    pub started: Vec<String>,
    /// Run names that already had an execution: duplicate deliveries.
    pub duplicates: Vec<String>,
    pub ignored: Vec<String>,
    /// Records or runs that could not be started, and why.
    pub failed: Vec<String>,
}

/// Starts one execution per run the event resolves to. Duplicates (the execution exists) are counted, not errors.
/// Returns an error only when nothing could be done about the event (so that a caller sees why), or when a start
/// failed in a way worth retrying (so that Lambda retries the event; the runs already started are duplicates then).
pub async fn trigger(
    config: &TriggerConfig,
    sfn: &impl SfnApi,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let resolution = resolve_event(&config.catalog, &event, &config.vars, now)
        .map_err(|e| TaskError::invalid(e.to_string()))?;
    let mut report = TriggerReport {
        ignored: resolution.ignored,
        failed: resolution
            .failures
            .iter()
            .map(ToString::to_string)
            .collect(),
        ..TriggerReport::default()
    };
    for why in &report.ignored {
        info!(reason = %why, "ignored");
    }
    for failure in &report.failed {
        error!(reason = %failure, "cannot start");
    }
    let mut retryable = false;
    for run in &resolution.matches {
        let input =
            serde_json::to_string(&run.plan).map_err(|e| TaskError::invalid(e.to_string()))?;
        if input.len() > MAX_EXECUTION_INPUT_BYTES {
            let why = format!(
                "{}: the plan is {} bytes, over Step Functions' 256 KiB input limit",
                run.run_name,
                input.len()
            );
            error!(job = %run.job, run = %run.run_name, reason = %why, "cannot start");
            report.failed.push(why);
            continue;
        }
        // Step Functions answers a repeated StartExecution (same name, same input) with the running execution, as
        // if it had started it: look first, so that a redelivery is reported as the duplicate it is.
        let started = match sfn
            .execution_exists(&config.state_machine_arn, &run.run_name)
            .await
        {
            Ok(true) => Ok(StartOutcome::AlreadyExists),
            Ok(false) => {
                sfn.start_execution(&config.state_machine_arn, &run.run_name, &input)
                    .await
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(StartOutcome::Started { execution_arn }) => {
                info!(job = %run.job, run = %run.run_name, execution = %execution_arn, "started");
                report.started.push(run.run_name.clone());
            }
            Ok(StartOutcome::AlreadyExists) => {
                info!(job = %run.job, run = %run.run_name, "duplicate: this arrival already has its run");
                report.duplicates.push(run.run_name.clone());
            }
            Err(e) => {
                error!(job = %run.job, run = %run.run_name, error = %e, "StartExecution failed");
                retryable |= e.kind == ErrorKind::Retryable;
                report.failed.push(format!("{}: {e}", run.run_name));
            }
        }
    }
    info!(
        started = report.started.len(),
        duplicates = report.duplicates.len(),
        ignored = report.ignored.len(),
        failed = report.failed.len(),
        "trigger done"
    );
    let nothing_done = report.started.is_empty() && report.duplicates.is_empty();
    if retryable {
        return Err(TaskError {
            kind: ErrorKind::Retryable,
            message: format!(
                "some runs could not be started: {}",
                report.failed.join("; ")
            ),
        });
    }
    if nothing_done && !report.failed.is_empty() {
        return Err(TaskError::invalid(report.failed.join("; ")));
    }
    output(&report)
}

/// The console path: `{"job": …, "args": …}` (the state machine's input when it is not a plan) → the run's plan.
pub fn resolve_plan(
    catalog: &Catalog,
    vars: &Vars,
    request: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    if !request.get("job").is_some_and(Value::is_string) {
        return Err(TaskError::invalid(
            "a run's input is a plan (from `sparkplug plan`) or {\"job\": \"<name>\"} with optional \"args\", \
             \"input\", \"time\"",
        ));
    }
    let resolution = resolve_event(catalog, &request, vars, now)
        .map_err(|e| TaskError::invalid(e.to_string()))?;
    match (resolution.matches.len(), resolution.failures.first()) {
        (1, _) => output(&resolution.matches[0].plan),
        (_, Some(failure)) => Err(TaskError::invalid(failure.to_string())),
        (n, None) => Err(TaskError::invalid(format!(
            "the input resolves to {n} runs, expected one"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// EMR

#[derive(Deserialize)]
struct PlanInput {
    plan: RunPlan,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterOutput {
    pub cluster_id: String,
    /// An active cluster of this run existed already (a retried create).
    pub reused: bool,
}

/// RunJobFlow from the plan, unless a cluster of this run is already up (a retry after the call went through).
pub async fn emr_create_cluster(emr: &impl EmrApi, input: Value) -> Result<Value, TaskError> {
    let PlanInput { plan } = parse_input("emr-create-cluster", input)?;
    check_plan(&plan, Engine::Emr)?;
    let request = &emr_plan(&plan)?.cluster;
    let existing = emr
        .find_active_clusters(&plan.run_name)
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    if let Some(cluster_id) = existing.first() {
        info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, "reusing this run's cluster");
        return output(&ClusterOutput {
            cluster_id: cluster_id.clone(),
            reused: true,
        });
    }
    let cluster_id = emr
        .run_job_flow(request)
        .await
        .map_err(|e| TaskError::aws("RunJobFlow", e))?;
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, "cluster created");
    output(&ClusterOutput {
        cluster_id,
        reused: false,
    })
}

fn emr_plan(plan: &RunPlan) -> Result<&crate::plan::EmrPlan, TaskError> {
    plan.emr
        .as_ref()
        .ok_or_else(|| TaskError::invalid(format!("run {} has no `emr` section", plan.run_name)))
}

#[derive(Deserialize)]
struct StepsInput {
    plan: RunPlan,
    cluster_id: String,
    #[serde(default)]
    poll: Poll,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StepsOutput {
    /// The run's steps' ids, in plan order.
    pub step_ids: Vec<String>,
    pub added: usize,
    /// Seconds to wait before the first look: the cluster is still starting.
    pub wait_seconds: u64,
}

fn step_name(step: &Value) -> &str {
    step.get("Name").and_then(Value::as_str).unwrap_or_default()
}

/// AddJobFlowSteps with the plan's steps that are not on the cluster yet (a retry after the call went through).
pub async fn emr_add_steps(emr: &impl EmrApi, input: Value) -> Result<Value, TaskError> {
    let StepsInput {
        plan,
        cluster_id,
        poll,
    } = parse_input("emr-add-steps", input)?;
    check_plan(&plan, Engine::Emr)?;
    let steps = &emr_plan(&plan)?.steps;
    let present = emr
        .list_steps(&cluster_id)
        .await
        .map_err(|e| TaskError::aws("ListSteps", e))?;
    let mut ids: BTreeMap<&str, String> = present
        .iter()
        .filter(|s| steps.iter().any(|p| step_name(p) == s.name))
        .map(|s| (s.name.as_str(), s.id.clone()))
        .collect();
    let missing: Vec<Value> = steps
        .iter()
        .filter(|s| !ids.contains_key(step_name(s)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let new_ids = emr
            .add_job_flow_steps(&cluster_id, &missing)
            .await
            .map_err(|e| TaskError::aws("AddJobFlowSteps", e))?;
        if new_ids.len() != missing.len() {
            return Err(TaskError {
                kind: ErrorKind::Failed,
                message: format!(
                    "AddJobFlowSteps returned {} ids for {} steps",
                    new_ids.len(),
                    missing.len()
                ),
            });
        }
        for (step, id) in missing.iter().zip(new_ids) {
            ids.insert(step_name(step), id);
        }
    }
    let step_ids = steps
        .iter()
        .map(|s| ids.get(step_name(s)).cloned().unwrap_or_default())
        .collect();
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, added = missing.len(), "steps on the cluster");
    output(&StepsOutput {
        step_ids,
        added: missing.len(),
        wait_seconds: poll.starting(),
    })
}

#[derive(Deserialize)]
struct SenseInput {
    plan: RunPlan,
    cluster_id: String,
    step_ids: Vec<String>,
    #[serde(default)]
    poll: Poll,
}

/// DescribeCluster + ListSteps → running (with the next wait), succeeded or failed (with the reason and logs).
pub async fn emr_sense(
    emr: &impl EmrApi,
    input: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let SenseInput {
        plan,
        cluster_id,
        step_ids,
        poll,
    } = parse_input("emr-sense", input)?;
    check_plan(&plan, Engine::Emr)?;
    let cluster = emr
        .describe_cluster(&cluster_id)
        .await
        .map_err(|e| TaskError::aws("DescribeCluster", e))?;
    let steps = emr
        .list_steps(&cluster_id)
        .await
        .map_err(|e| TaskError::aws("ListSteps", e))?;
    let report = sense_emr(&plan, &cluster, &steps, &step_ids, poll, now);
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, status = ?report.status,
        progress = %report.progress, "sensed");
    output(&report)
}

/// The whole execution state, as the state machine passes it to the terminate task.
#[derive(Deserialize)]
struct RunState {
    plan: RunPlan,
    #[serde(default)]
    cluster: Option<Value>,
    #[serde(default)]
    sense: Option<Value>,
    #[serde(default)]
    error: Option<CaughtError>,
}

impl RunState {
    fn field(value: &Option<Value>, key: &str) -> Option<String> {
        value.as_ref()?.get(key)?.as_str().map(str::to_string)
    }

    fn sense(&self) -> Option<SenseReport> {
        serde_json::from_value(self.sense.clone()?).ok()
    }
}

/// Terminates the run's cluster — the one created, and any other active cluster carrying the run's name (a create
/// whose answer was lost) — then sums the run up and emits its metric line. Runs on every path, failures included.
pub async fn emr_terminate(
    emr: &impl EmrApi,
    input: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let state: RunState = parse_input("emr-terminate", input)?;
    let plan = &state.plan;
    let known = RunState::field(&state.cluster, "cluster_id");
    let mut ids = emr
        .find_active_clusters(&plan.run_name)
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    if let Some(id) = &known {
        if !ids.contains(id) {
            ids.insert(0, id.clone());
        }
    }
    if ids.is_empty() {
        info!(job = %plan.job, run = %plan.run_name, "no cluster to terminate");
    } else {
        emr.terminate_job_flows(&ids)
            .await
            .map_err(|e| TaskError::aws("TerminateJobFlows", e))?;
        info!(job = %plan.job, run = %plan.run_name, clusters = ?ids, "terminated");
    }
    let summary = summarize(
        plan,
        known.as_deref().or(ids.first().map(String::as_str)),
        state.sense().as_ref(),
        state.error.as_ref(),
    );
    finish(&summary, now);
    output(&summary)
}

fn finish(summary: &crate::sense::RunSummary, now: DateTime<Utc>) {
    match summary.status {
        Status::Succeeded => info!(job = %summary.job, run = %summary.run_name, "run succeeded"),
        _ => {
            warn!(job = %summary.job, run = %summary.run_name, error = ?summary.error, cause = ?summary.cause,
            "run failed")
        }
    }
    // The EMF line must be a JSON object on its own line: printed, not logged through tracing.
    println!("{}", emf_line(summary, now));
}

// ---------------------------------------------------------------------------------------------------------------
// Glue

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

#[derive(Debug, Serialize, Deserialize)]
pub struct GlueStartOutput {
    pub job_name: String,
    pub run_id: String,
    /// The run had been started already (a retried start).
    pub reused: bool,
    pub wait_seconds: u64,
}

#[derive(Deserialize)]
struct GlueStartInput {
    plan: RunPlan,
    #[serde(default)]
    poll: Poll,
}

/// Makes sure the Glue job is defined as the plan says (created if missing, updated if it differs), then starts the
/// run — unless a run of this run's name exists already.
pub async fn glue_start_run(glue: &impl GlueApi, input: Value) -> Result<Value, TaskError> {
    let GlueStartInput { plan, poll } = parse_input("glue-start-run", input)?;
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
            glue.create_job(&glue_plan.job)
                .await
                .map_err(|e| TaskError::aws("CreateJob", e))?;
            info!(job = %plan.job, glue_job = %job_name, "Glue job created");
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
        .find_run(&job_name, GLUE_RUN_ARGUMENT, &plan.run_name)
        .await
        .map_err(|e| TaskError::aws("GetJobRuns", e))?;
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
    output(&GlueStartOutput {
        job_name,
        run_id,
        reused,
        wait_seconds: poll.running(),
    })
}

#[derive(Deserialize)]
struct GlueSenseInput {
    plan: RunPlan,
    job_name: String,
    run_id: String,
    #[serde(default)]
    poll: Poll,
}

/// GetJobRun → running / succeeded / failed; a finished run also gets its summary and metric line.
pub async fn glue_sense(
    glue: &impl GlueApi,
    input: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let GlueSenseInput {
        plan,
        job_name,
        run_id,
        poll,
    } = parse_input("glue-sense", input)?;
    check_plan(&plan, Engine::Glue)?;
    let run = glue
        .get_job_run(&job_name, &run_id)
        .await
        .map_err(|e| TaskError::aws("GetJobRun", e))?;
    let report = sense_glue(&plan, &run, poll, now);
    info!(job = %plan.job, run = %plan.run_name, glue_run = %run_id, status = ?report.status, "sensed");
    let mut value = output(&report)?;
    if report.status != Status::Running {
        let summary = summarize(&plan, Some(&run_id), Some(&report), None);
        finish(&summary, now);
        value["summary"] = output(&summary)?;
    }
    Ok(value)
}
