//! When a run's parts happened and what it was billed for: start-up vs execution time, each step's times, EMR
//! Serverless's billed usage. The engine's sensors fill it; the cost estimate and the run summary read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What EMR Serverless bills a job run for (`billedResourceUtilization`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerlessUsage {
    pub vcpu_hours: f64,
    pub memory_gb_hours: f64,
    pub storage_gb_hours: f64,
}

// Billing figures are finite numbers: equality is a plain comparison.
impl Eq for ServerlessUsage {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTimes {
    pub name: String,
    pub id: String,
    pub state: String,
    /// When the step was added to the cluster (its CreationDateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
}

/// When things happened; `startup_seconds` vs `execution_seconds` is the table every run keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// EMR: the cluster is ready for steps. Glue: the run started executing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepTimes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_seconds: Option<i64>,
    /// EMR Serverless: what the run is billed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed: Option<ServerlessUsage>,
}
