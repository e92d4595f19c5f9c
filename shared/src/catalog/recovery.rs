//! A job's recovery settings: `retries` (which failure causes start a new attempt, how many, after what wait) and
//! EMR's `fallback` alternatives (what a new cluster changes when EC2 had no capacity for the job's own). What they
//! do is `run::recovery`'s.

use serde::{Deserialize, Serialize};

/// Why an attempt failed, when it is a cause a retry can help with (a job's `retries.on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// EC2 had no capacity for the cluster's instances (EMR's ErrorDetail codes, or an instance fleet's
    /// provisioning timeout) before any step ran.
    Capacity,
    /// The cluster was lost while its steps ran on Spot capacity (EC2 took the instances back).
    SpotInterrupted,
    /// AWS kept refusing a call for its rate or a quota (throttling, `ConcurrentRunsExceededException`, 5xx) past
    /// the task's own retries.
    Throttled,
}

impl Cause {
    pub const ALL: [Cause; 3] = [Cause::Capacity, Cause::SpotInterrupted, Cause::Throttled];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Capacity => "capacity",
            Cause::SpotInterrupted => "spot_interrupted",
            Cause::Throttled => "throttled",
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's `retries = { max = 2, on = ["capacity", "spot_interrupted", "throttled"], backoff_seconds = 60 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// New attempts after the first, at most.
    pub max: u32,
    /// The causes that start a new attempt; any other failure ends the run.
    pub on: Vec<Cause>,
    /// The wait before the first retry, doubled for each one after it (at most [`MAX_BACKOFF_SECONDS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_seconds: Option<u32>,
}

pub const DEFAULT_BACKOFF_SECONDS: u32 = 60;
pub const MAX_BACKOFF_SECONDS: u64 = 900;
/// A job's `retries.max`, at most: each attempt may last the job's whole `timeout_minutes`.
pub const MAX_RETRIES: u32 = 5;

impl Retries {
    /// The wait before retry number `retried + 1`.
    pub fn backoff(&self, retried: u32) -> u64 {
        let base = u64::from(self.backoff_seconds.unwrap_or(DEFAULT_BACKOFF_SECONDS));
        base.saturating_mul(1u64 << retried.min(16))
            .min(MAX_BACKOFF_SECONDS)
    }
}

/// One of a job's `emr.fallback` alternatives: what it changes of the job's own cluster (instance groups' types,
/// the subnet); what it does not name stays as the job has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

impl Alternative {
    pub(crate) fn roles(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("MASTER", &self.master),
            ("CORE", &self.core),
            ("TASK", &self.task),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self == &Alternative::default()
    }

    /// e.g. `core m5.2xlarge, subnet subnet-b`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .roles()
            .iter()
            .filter_map(|(role, kind)| Some(format!("{} {}", role.to_lowercase(), kind.as_ref()?)))
            .collect();
        if let Some(subnet) = &self.subnet_id {
            parts.push(format!("subnet {subnet}"));
        }
        parts.join(", ")
    }
}
