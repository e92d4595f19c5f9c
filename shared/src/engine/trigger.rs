//! The trigger and resolve handlers: an event (S3 arrival, schedule, console request) → the runs it starts.
//!
//! Their input is any event: [`crate::run::events`] is the contract that parses it, with an error per bad record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info};

use super::errors::{ErrorKind, TaskError};
use super::ports::{SfnApi, StartOutcome};
use crate::catalog::{Catalog, Vars};
use crate::run::{resolve_event, RunPlan};

/// Step Functions' limit on an execution's input.
pub const MAX_EXECUTION_INPUT_BYTES: usize = 256 * 1024;

/// What the trigger function needs besides its Step Functions client.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    pub catalog: Catalog,
    pub vars: Vars,
    pub state_machine_arn: String,
}

/// What one trigger invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
) -> Result<TriggerReport, TaskError> {
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
            .execution_status(&config.state_machine_arn, &run.run_name)
            .await
        {
            Ok(Some(_)) => Ok(StartOutcome::AlreadyExists),
            Ok(None) => {
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
    Ok(report)
}

/// resolve's input: the execution's input (when it is not a plan) and the execution's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolveInput {
    /// `{"job": …, "args": …, "input": …, "time": …, "run_name": …}`.
    pub request: Value,
    /// The execution's name (`$$.Execution.Name`): the run's name unless the request gives one, so that the
    /// execution, the cluster and the Glue run share it (the janitor finds what a stopped run left by it).
    #[serde(default)]
    pub execution_name: Option<String>,
}

/// The console path: `{"job": …, "args": …}` (the state machine's input when it is not a plan) → the run's plan.
pub fn resolve_plan(
    catalog: &Catalog,
    vars: &Vars,
    ResolveInput {
        mut request,
        execution_name,
    }: ResolveInput,
    now: DateTime<Utc>,
) -> Result<RunPlan, TaskError> {
    if !request.get("job").is_some_and(Value::is_string) {
        return Err(TaskError::invalid(
            "a run's input is a plan (from `sparkplug plan`) or {\"job\": \"<name>\"} with optional \"args\", \
             \"input\", \"time\"",
        ));
    }
    if let (Some(fields), Some(name)) = (request.as_object_mut(), execution_name) {
        fields.entry("run_name").or_insert(Value::String(name));
    }
    let mut resolution = resolve_event(catalog, &request, vars, now)
        .map_err(|e| TaskError::invalid(e.to_string()))?;
    match (resolution.matches.len(), resolution.failures.first()) {
        (1, _) => Ok(resolution.matches.swap_remove(0).plan),
        (_, Some(failure)) => Err(TaskError::invalid(failure.to_string())),
        (n, None) => Err(TaskError::invalid(format!(
            "the input resolves to {n} runs, expected one"
        ))),
    }
}
