//! A run's execution of the run state machine, for the handlers and the CLI: its ARN and its status change event
//! (plain types in `run::execution`), and the plan and summary read from what the execution holds.

pub use crate::run::execution::{execution_arn, ExecutionStatusChange, STATUS_CHANGE};

use serde_json::Value;

use super::errors::TaskError;
use crate::run::RunPlan;

/// The `InvalidInput` of `function` for an execution status change without `why` (a field every such event carries).
pub fn status_change_error(function: &str, why: &str) -> TaskError {
    TaskError::invalid(format!("{function}: the execution status change has {why}"))
}

/// Whether an execution's input or a task's output is a run plan (the trigger starts an execution with one; resolve
/// makes one of a console request).
pub fn is_plan(value: &Value) -> bool {
    value.get("plan_version").is_some() && value.get("run_name").is_some()
}

/// The plan of an execution: its input when that is a plan, else the task output that is one (resolve's).
pub fn plan_in(input: &Value, outputs: &[Value]) -> Option<RunPlan> {
    std::iter::once(input)
        .chain(outputs)
        .find(|value| is_plan(value))
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}

/// The run's summary: the execution's output, else the newest task output that is one (a failed execution has no
/// output; its finish task's is the summary).
pub fn summary_in(output: Option<&Value>, outputs: &[Value]) -> Option<Value> {
    output
        .into_iter()
        .chain(outputs)
        .find(|value| {
            value.get("status").is_some() && value.get("run_name").is_some() && !is_plan(value)
        })
        .cloned()
}
