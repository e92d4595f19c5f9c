//! What AWS's states mean for a run: one exhaustive map per engine from AWS states to running / succeeded / failed.
//! A state sparkplug does not know fails the run loudly instead of being guessed at.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
}

/// A state sparkplug does not know: AWS added one. It fails the run loudly instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState(pub String);

/// EMR step states (DESCRIBE: PENDING, CANCEL_PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, INTERRUPTED).
pub fn emr_step_status(state: &str) -> Result<Status, UnknownState> {
    match state {
        "PENDING" | "CANCEL_PENDING" | "RUNNING" => Ok(Status::Running),
        "COMPLETED" => Ok(Status::Succeeded),
        "CANCELLED" | "FAILED" | "INTERRUPTED" => Ok(Status::Failed),
        other => Err(UnknownState(other.to_string())),
    }
}

/// Whether CancelSteps can cancel an EMR step in this state: PENDING, and RUNNING on EMR 5.28+ (EMR API Reference,
/// CancelSteps). A CANCEL_PENDING step is being cancelled already.
pub fn emr_step_cancellable(state: &str) -> bool {
    matches!(state, "PENDING" | "RUNNING")
}

/// Where an EMR cluster is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterPhase {
    /// STARTING, BOOTSTRAPPING: no step can run yet.
    Starting,
    /// RUNNING, WAITING.
    Up,
    /// TERMINATING, TERMINATED, TERMINATED_WITH_ERRORS.
    Gone,
}

pub fn emr_cluster_phase(state: &str) -> Result<ClusterPhase, UnknownState> {
    match state {
        "STARTING" | "BOOTSTRAPPING" => Ok(ClusterPhase::Starting),
        "RUNNING" | "WAITING" => Ok(ClusterPhase::Up),
        "TERMINATING" | "TERMINATED" | "TERMINATED_WITH_ERRORS" => Ok(ClusterPhase::Gone),
        other => Err(UnknownState(other.to_string())),
    }
}

/// Whether an EMR cluster is running a step right now (RUNNING; a WAITING cluster has none running).
pub fn emr_cluster_running_a_step(state: &str) -> bool {
    state == "RUNNING"
}

/// EMR Serverless job run states (API reference, JobRun `state`). CANCELLED is a failure of the run.
pub fn serverless_run_status(state: &str) -> Result<Status, UnknownState> {
    match state {
        "SUBMITTED" | "PENDING" | "SCHEDULED" | "RUNNING" | "CANCELLING" | "QUEUED" => {
            Ok(Status::Running)
        }
        "SUCCESS" => Ok(Status::Succeeded),
        "FAILED" | "CANCELLED" => Ok(Status::Failed),
        other => Err(UnknownState(other.to_string())),
    }
}

/// Glue job run states. A STOPPED run is a failure, always.
pub fn glue_run_status(state: &str) -> Result<Status, UnknownState> {
    match state {
        "STARTING" | "RUNNING" | "WAITING" | "STOPPING" => Ok(Status::Running),
        "SUCCEEDED" => Ok(Status::Succeeded),
        "FAILED" | "TIMEOUT" | "ERROR" | "STOPPED" | "EXPIRED" => Ok(Status::Failed),
        other => Err(UnknownState(other.to_string())),
    }
}
