//! What a plan carries of its job's recovery (`retries`, EMR's `fallback`) and of the attempts so far: plain data
//! and the RunJobFlow edits a fallback alternative makes. What happens after a failed attempt is
//! [`crate::run::recovery`]'s.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::recovery::{Alternative, Cause, Retries};

/// What `request` (a RunJobFlow request with instance groups) has where a fallback alternative changes it.
pub fn own_alternative(request: &Value) -> Alternative {
    let instances = &request["Instances"];
    let type_of = |role: &str| {
        instances["InstanceGroups"]
            .as_array()?
            .iter()
            .find(|g| g["InstanceRole"] == role)?["InstanceType"]
            .as_str()
            .map(str::to_string)
    };
    Alternative {
        master: type_of("MASTER"),
        core: type_of("CORE"),
        task: type_of("TASK"),
        subnet_id: instances["Ec2SubnetId"].as_str().map(str::to_string),
    }
}

/// Changes a RunJobFlow `request` as `alternative` says.
pub fn apply_alternative(alternative: &Alternative, request: &mut Value) {
    let instances = &mut request["Instances"];
    if let Some(groups) = instances["InstanceGroups"].as_array_mut() {
        for group in groups {
            for (role, kind) in alternative.roles() {
                if let (true, Some(kind)) = (group["InstanceRole"] == role, kind) {
                    group["InstanceType"] = json!(kind);
                }
            }
        }
    }
    if let Some(subnet) = &alternative.subnet_id {
        instances["Ec2SubnetId"] = json!(subnet);
    }
}

/// What a plan carries of its job's recovery, and of the attempts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// This attempt, from 1.
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// EMR: the job's `emr.fallback`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<Alternative>,
    /// EMR: the job's own cluster, as the fallback alternatives change it (each is applied over it).
    #[serde(default, skip_serializing_if = "Alternative::is_empty")]
    pub own: Alternative,
    /// The alternative this attempt runs on: 0 for the job's own settings, `n` for `fallback[n - 1]`.
    #[serde(default)]
    pub alternative: usize,
    /// Retries spent so far (moving to a fallback alternative spends none).
    #[serde(default)]
    pub retried: u32,
    /// The attempts before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<Attempt>,
}

impl Recovery {
    /// A first attempt's recovery, when the job has any.
    pub fn first(
        retries: Option<Retries>,
        fallback: Vec<Alternative>,
        request: Option<&Value>,
    ) -> Option<Recovery> {
        if retries.is_none() && fallback.is_empty() {
            return None;
        }
        let own = match (&fallback.is_empty(), request) {
            (false, Some(request)) => own_alternative(request),
            _ => Alternative::default(),
        };
        Some(Recovery {
            attempt: 1,
            retries,
            fallback,
            own,
            alternative: 0,
            retried: 0,
            earlier: Vec::new(),
        })
    }
}

/// A failed attempt, as the run's summary and history list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    /// Its cluster, Glue run or EMR Serverless job run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Its failure's name and one-line cause.
    pub error: String,
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The fallback alternative it ran on, when not the job's own settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// EMR: the steps it completed (the next attempt does not run them again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completed_steps: Vec<String>,
}
