//! Errors as the state machine sees them: a handler's failure carries an [`ErrorKind`], which becomes the Lambda
//! error type (`Diagnostic.error_type`) that the ASL's `Retry` and `Catch` match by name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the state machine should treat an error: the Lambda error type its `Retry`/`Catch` match by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Service-side failures, timeouts, `ConcurrentRunsExceededException`: the same call may succeed later.
    Retryable,
    /// AWS throttled the call (past the SDK's own retries), or a warm pool's cluster is being started by another run:
    /// it succeeds once the API's bucket refills (the cluster is up), so the state machine waits it out far longer
    /// than a [`ErrorKind::Retryable`] failure — a burst costs time, not runs.
    Throttled,
    /// The request or the input is wrong: retrying cannot help.
    InvalidInput,
    /// What the input names does not exist.
    NotFound,
    /// Anything else: not retried by the state machine beyond the Lambda service errors.
    Failed,
    /// The run's job (or all jobs) spent its month's budget: the run fails before anything starts.
    BudgetExceeded,
}

impl ErrorKind {
    /// Every kind: the error types the state machine's `Retry`/`Catch` may name.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Retryable,
        ErrorKind::Throttled,
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::Failed,
        ErrorKind::BudgetExceeded,
    ];

    /// Whether the same call may succeed later (a throttle or a transient failure).
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Retryable | ErrorKind::Throttled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::Throttled => "Throttled",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Failed => "Failed",
            ErrorKind::BudgetExceeded => "BudgetExceeded",
        }
    }
}

/// An error from an AWS call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub kind: ErrorKind,
    /// The AWS error code, e.g. `ThrottlingException`; empty for transport failures.
    pub code: String,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for AwsError {}

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

    /// An AWS call's failure, named by its action (e.g. `RunJobFlow`).
    pub fn aws(action: &str, error: AwsError) -> Self {
        TaskError {
            kind: error.kind,
            message: format!("{action}: {error}"),
        }
    }
}
