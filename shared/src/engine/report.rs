//! What the engine tasks report to the state machine: the sensor's report (the answer to a waiting task, with the
//! run's timeline of `run::timeline`), and why a run failed.

use serde::{Deserialize, Serialize};

use super::states::Status;
use crate::run::timeline::Timeline;

/// The name of a run's failure: the `Error` of the state machine's `Fail` state and the summary's `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FailureName {
    /// A step FAILED, or was cancelled or interrupted on a live cluster.
    StepFailed,
    /// A step the run added is no longer on the cluster.
    StepMissing,
    /// The cluster ended while the run's steps were unfinished.
    ClusterTerminated,
    /// The run exceeded its `timeout_minutes`.
    Timeout,
    /// The Glue run ended FAILED, TIMEOUT, ERROR, STOPPED or EXPIRED.
    GlueRunFailed,
    /// The EMR Serverless job run ended FAILED or CANCELLED.
    JobRunFailed,
    /// AWS reported a state this version of sparkplug does not know.
    UnknownState,
    /// The run ended before its work did, with no failure seen (e.g. before the first look).
    Incomplete,
    /// A task error the state machine caught, by its type (`InvalidInput`, `States.Timeout`, `Lambda.Unknown`, …).
    Caught(String),
}

impl FailureName {
    /// Every name sparkplug gives a failure itself (all but [`FailureName::Caught`]).
    pub const OWN: [FailureName; 8] = [
        FailureName::StepFailed,
        FailureName::StepMissing,
        FailureName::ClusterTerminated,
        FailureName::Timeout,
        FailureName::GlueRunFailed,
        FailureName::JobRunFailed,
        FailureName::UnknownState,
        FailureName::Incomplete,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            FailureName::StepFailed => "StepFailed",
            FailureName::StepMissing => "StepMissing",
            FailureName::ClusterTerminated => "ClusterTerminated",
            FailureName::Timeout => "Timeout",
            FailureName::GlueRunFailed => "GlueRunFailed",
            FailureName::JobRunFailed => "JobRunFailed",
            FailureName::UnknownState => "UnknownState",
            FailureName::Incomplete => "Incomplete",
            FailureName::Caught(name) => name,
        }
    }
}

impl From<String> for FailureName {
    fn from(name: String) -> Self {
        FailureName::OWN
            .into_iter()
            .find(|own| own.as_str() == name)
            .unwrap_or(FailureName::Caught(name))
    }
}

impl From<FailureName> for String {
    fn from(name: FailureName) -> String {
        name.as_str().to_string()
    }
}

impl std::fmt::Display for FailureName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a run failed, in the words the state machine's `Fail` state and the summary carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    pub error: FailureName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where the logs are: the step's log file, or the Glue run's log group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl RunFailure {
    /// A failure with only its name; the other fields are filled by the caller.
    pub fn new(error: FailureName) -> Self {
        RunFailure {
            error,
            step: None,
            reason: None,
            message: None,
            log: None,
        }
    }

    /// One line for the execution's `Cause`.
    pub fn cause(&self) -> String {
        let mut parts = Vec::new();
        if let Some(step) = &self.step {
            parts.push(format!("step {step}"));
        }
        if let Some(reason) = &self.reason {
            parts.push(reason.clone());
        }
        if let Some(message) = &self.message {
            parts.push(message.clone());
        }
        let mut cause = if parts.is_empty() {
            self.error.to_string()
        } else {
            parts.join(": ")
        };
        if let Some(log) = &self.log {
            cause.push_str(&format!(" (logs: {log})"));
        }
        cause
    }
}

/// What a sensor returns to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenseReport {
    pub status: Status,
    /// The cluster's or the Glue run's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The cluster's or the Glue run's state.
    pub state: String,
    pub progress: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    pub timeline: Timeline,
}
