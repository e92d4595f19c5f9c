//! The EMR handlers: create the cluster, add the steps, sense them, terminate the cluster (on every path). Each
//! takes and returns a public type: that is its contract with the state machine. Each is safe to retry.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use super::errors::{ErrorKind, TaskError};
use super::input::check_plan;
use super::ports::{ClusterSummary, EmrApi};
use super::report::{Poll, SenseReport};
use super::sense::sense_emr;
use super::summary::{finish, summarize, CaughtError, RunSummary};
use crate::catalog::Engine;
use crate::run::plan::{EmrPlan, TAG_ENVIRONMENT};
use crate::run::RunPlan;

/// emr-create-cluster's input: `{"plan": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanInput {
    pub plan: RunPlan,
}

/// emr-create-cluster's output, kept by the state machine at `$.cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterOutput {
    pub cluster_id: String,
    /// An active cluster of this run existed already (a retried create).
    #[serde(default)]
    pub reused: bool,
}

/// RunJobFlow from the plan, unless a cluster of this run is already up (a retry after the call went through).
pub async fn emr_create_cluster(
    emr: &impl EmrApi,
    PlanInput { plan }: PlanInput,
) -> Result<ClusterOutput, TaskError> {
    check_plan(&plan, Engine::Emr)?;
    let request = &emr_plan(&plan)?.cluster;
    let existing = clusters_of_run(emr, &plan).await?;
    if let Some(cluster_id) = existing.first() {
        info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, "reusing this run's cluster");
        return Ok(ClusterOutput {
            cluster_id: cluster_id.clone(),
            reused: true,
        });
    }
    let cluster_id = emr
        .run_job_flow(request)
        .await
        .map_err(|e| TaskError::aws("RunJobFlow", e))?;
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, "cluster created");
    Ok(ClusterOutput {
        cluster_id,
        reused: false,
    })
}

/// The active clusters of this run: named after it and tagged with its environment. dev and prod may share an
/// account and a run name (a schedule's minute): a cluster of the other environment is never adopted nor terminated,
/// whether this function's policy may describe it (its tag tells) or not (AccessDenied).
pub async fn clusters_of_run(emr: &impl EmrApi, plan: &RunPlan) -> Result<Vec<String>, TaskError> {
    let candidates = emr
        .active_clusters()
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    let mut ours = Vec::new();
    for ClusterSummary { id, name } in candidates {
        if name != plan.run_name {
            continue;
        }
        match emr.describe_cluster(&id).await {
            Ok(cluster) => {
                let environment = cluster.tags.get(TAG_ENVIRONMENT).map(String::as_str);
                if environment == plan.environment.as_deref() {
                    ours.push(id);
                } else {
                    info!(run = %plan.run_name, cluster = %id, environment = ?environment,
                        "a cluster of this name in another environment: not this run's");
                }
            }
            Err(e) if e.code == "AccessDeniedException" => {
                info!(run = %plan.run_name, cluster = %id,
                    "a cluster of this name this environment may not describe: not this run's");
            }
            Err(e) => return Err(TaskError::aws("DescribeCluster", e)),
        }
    }
    Ok(ours)
}

fn emr_plan(plan: &RunPlan) -> Result<&EmrPlan, TaskError> {
    plan.emr
        .as_ref()
        .ok_or_else(|| TaskError::invalid(format!("run {} has no `emr` section", plan.run_name)))
}

/// emr-add-steps' input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepsInput {
    pub plan: RunPlan,
    pub cluster_id: String,
    #[serde(default)]
    pub poll: Poll,
}

/// emr-add-steps' output, kept by the state machine at `$.steps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
pub async fn emr_add_steps(
    emr: &impl EmrApi,
    StepsInput {
        plan,
        cluster_id,
        poll,
    }: StepsInput,
) -> Result<StepsOutput, TaskError> {
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
    Ok(StepsOutput {
        step_ids,
        added: missing.len(),
        wait_seconds: poll.starting(),
    })
}

/// emr-sense's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SenseInput {
    pub plan: RunPlan,
    pub cluster_id: String,
    pub step_ids: Vec<String>,
    #[serde(default)]
    pub poll: Poll,
}

/// DescribeCluster + ListSteps → running (with the next wait), succeeded or failed (with the reason and logs).
pub async fn emr_sense(
    emr: &impl EmrApi,
    SenseInput {
        plan,
        cluster_id,
        step_ids,
        poll,
    }: SenseInput,
    now: DateTime<Utc>,
) -> Result<SenseReport, TaskError> {
    check_plan(&plan, Engine::Emr)?;
    // Steps first, then the cluster: the two answers are not one snapshot, and a cluster that dies between them
    // cancels its steps. Read in this order, a cancelled step is always seen beside the cluster that ended.
    let steps = emr
        .list_steps(&cluster_id)
        .await
        .map_err(|e| TaskError::aws("ListSteps", e))?;
    let cluster = emr
        .describe_cluster(&cluster_id)
        .await
        .map_err(|e| TaskError::aws("DescribeCluster", e))?;
    let report = sense_emr(&plan, &cluster, &steps, &step_ids, poll, now);
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, status = ?report.status,
        progress = %report.progress, "sensed");
    Ok(report)
}

/// emr-terminate's input: the whole execution state, on every path. Only the plan must be there: what earlier tasks
/// left is read leniently, so that a run that failed half-way still gets its cluster terminated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub plan: RunPlan,
    #[serde(default)]
    pub cluster: Option<Value>,
    #[serde(default)]
    pub sense: Option<Value>,
    #[serde(default)]
    pub error: Option<CaughtError>,
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
    state: RunState,
    now: DateTime<Utc>,
) -> Result<RunSummary, TaskError> {
    let plan = &state.plan;
    let known = RunState::field(&state.cluster, "cluster_id");
    let mut ids = clusters_of_run(emr, plan).await?;
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
    Ok(summary)
}
