//! A run's execution of the run state machine, for the handlers: its ARN and its status change event (plain types in
//! `run::execution`).

pub use crate::run::execution::{execution_arn, ExecutionStatusChange, STATUS_CHANGE};

use super::errors::TaskError;

/// The `InvalidInput` of `function` for an execution status change without `why` (a field every such event carries).
pub fn status_change_error(function: &str, why: &str) -> TaskError {
    TaskError::invalid(format!("{function}: the execution status change has {why}"))
}
