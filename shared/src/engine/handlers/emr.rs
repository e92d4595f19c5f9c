//! The EMR handlers: create the cluster, add the steps (and wait for them on a task token), terminate the cluster
//! (on every path). Each takes and returns a public type: that is its contract with the state machine. Each is safe
//! to retry.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::notify::{register, waiter_for};
use super::pool;
use crate::catalog::Engine;
use crate::cost::Pricing;
use crate::engine::errors::{ErrorKind, TaskError};
use crate::engine::input::check_plan;
use crate::engine::ports::{ClusterSummary, EmrApi, PoolStore, TokenStore, Work};
use crate::engine::recovery::{caught_cause, emr_cause, recover, AttemptEnd};
use crate::engine::report::SenseReport;
use crate::engine::states::Status;
use crate::engine::summary::{summarize, work_ended, FinishInput, PoolUse, RunSummary, StartKind};
use crate::run::plan::{run_cluster_name, EmrPlan, PoolPlan, TAG_ENVIRONMENT};
use crate::run::RunPlan;

/// emr-create-cluster's input: `{"plan": …, "retry_count": $$.State.RetryCount}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmrCreateInput {
    pub plan: RunPlan,
    /// The task's attempt (`$$.State.RetryCount`): on the first, nothing of this run can exist yet, so nothing is
    /// looked for. Without it, every attempt looks.
    #[serde(default)]
    pub retry_count: Option<u32>,
}

/// Whether a task's earlier attempt may have made something already (an answer lost, a timeout).
fn may_be_retry(retry_count: Option<u32>) -> bool {
    retry_count != Some(0)
}

/// emr-create-cluster's output, kept by the state machine at `$.cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmrCreateOutput {
    pub cluster_id: String,
    /// An active cluster of this run existed already (a retried create).
    #[serde(default)]
    pub reused: bool,
    /// Created by the task's first attempt: no earlier attempt can have left another cluster, so terminate need not
    /// look for one.
    #[serde(default)]
    pub first_attempt: bool,
    /// A pooled run: the pool whose cluster it leased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// A pooled run that joined a cluster up or starting already.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warm: bool,
}

/// RunJobFlow from the plan, unless a cluster of this run is already up (a retry after the call went through); a
/// pooled run leases room on a warm cluster of its pool instead, or starts one ([`pool::lease_or_start`]).
pub async fn emr_create_cluster(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    EmrCreateInput { plan, retry_count }: EmrCreateInput,
    now: DateTime<Utc>,
) -> Result<EmrCreateOutput, TaskError> {
    check_plan(&plan, Engine::Emr)?;
    let request = &emr_plan(&plan)?.cluster;
    let retry = may_be_retry(retry_count);
    if let Some(pool_plan) = &emr_plan(&plan)?.pool {
        let lease = pool::lease_or_start(emr, pools, &plan, pool_plan, request, retry, now).await?;
        return Ok(EmrCreateOutput {
            cluster_id: lease.cluster_id,
            reused: retry,
            first_attempt: !retry,
            pool: Some(pool_plan.name.clone()),
            warm: lease.warm,
        });
    }
    if retry {
        let existing = clusters_of_run(emr, &plan).await?;
        if let Some(cluster_id) = existing.first() {
            info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, "reusing this run's cluster");
            return Ok(EmrCreateOutput {
                cluster_id: cluster_id.clone(),
                reused: true,
                first_attempt: false,
                pool: None,
                warm: false,
            });
        }
    }
    let cluster_id = emr
        .run_job_flow(request)
        .await
        .map_err(|e| TaskError::aws("RunJobFlow", e))?;
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, "cluster created");
    Ok(EmrCreateOutput {
        cluster_id,
        reused: false,
        first_attempt: !retry,
        pool: None,
        warm: false,
    })
}

/// The active clusters of this run: named after it ([`run_cluster_name`]) and tagged with its environment. dev and prod may share an
/// account and a run name (a schedule's minute): a cluster of the other environment is never adopted nor terminated,
/// whether this function's policy may describe it (its tag tells) or not (AccessDenied).
pub async fn clusters_of_run(emr: &impl EmrApi, plan: &RunPlan) -> Result<Vec<String>, TaskError> {
    let candidates = emr
        .active_clusters()
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    // The name its RunJobFlow request gave (a plan made before clusters were named by `run_cluster_name` too).
    let own_name = plan
        .emr
        .as_ref()
        .and_then(|emr| emr.cluster.get("Name")?.as_str().map(str::to_string))
        .unwrap_or_else(|| run_cluster_name(plan.environment.as_deref(), &plan.run_name));
    let mut ours = Vec::new();
    for ClusterSummary { id, name, .. } in candidates {
        if name != own_name {
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

/// emr-add-steps' input: the plan, the cluster, and the task token the state machine waits on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmrStepsInput {
    pub plan: RunPlan,
    pub cluster_id: String,
    /// `$$.Task.Token` of the `waitForTaskToken` task.
    pub task_token: String,
    /// `$$.State.RetryCount`: on the first attempt no step of this run is on the cluster yet.
    #[serde(default)]
    pub retry_count: Option<u32>,
}

/// emr-add-steps' own output (the state machine waits for the token's answer instead; logs and tests read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmrStepsOutput {
    /// The run's steps' ids, in plan order.
    pub step_ids: Vec<String>,
    pub added: usize,
}

fn step_name(step: &Value) -> &str {
    step.get("Name").and_then(Value::as_str).unwrap_or_default()
}

/// AddJobFlowSteps with the plan's steps that are not on the cluster yet (a retry after the call went through), then
/// the task token into the token table under the cluster's id: the state machine waits until `notify` (or the
/// reconciler) answers it with the steps' report.
pub async fn emr_add_steps(
    emr: &impl EmrApi,
    tokens: &impl TokenStore,
    EmrStepsInput {
        plan,
        cluster_id,
        task_token,
        retry_count,
    }: EmrStepsInput,
    now: DateTime<Utc>,
) -> Result<EmrStepsOutput, TaskError> {
    check_plan(&plan, Engine::Emr)?;
    let emr_plan = emr_plan(&plan)?;
    let steps = &emr_plan.steps;
    let present = if may_be_retry(retry_count) {
        emr.list_steps(&cluster_id)
            .await
            .map_err(|e| TaskError::aws("ListSteps", e))?
    } else {
        Vec::new()
    };
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
    let step_ids: Vec<String> = steps
        .iter()
        .map(|s| ids.get(step_name(s)).cloned().unwrap_or_default())
        .collect();
    info!(job = %plan.job, run = %plan.run_name, cluster = %cluster_id, added = missing.len(), "steps on the cluster");
    let sequential = emr_plan
        .cluster
        .get("StepConcurrencyLevel")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        <= 1;
    let work = Work::Emr {
        cluster_id,
        step_ids: step_ids.clone(),
        sequential,
        pooled: emr_plan.pool.is_some(),
    };
    register(tokens, &waiter_for(&plan, work, &task_token, now)).await?;
    Ok(EmrStepsOutput {
        step_ids,
        added: missing.len(),
    })
}

impl FinishInput {
    fn field(value: &Option<Value>, key: &str) -> Option<String> {
        value.as_ref()?.get(key)?.as_str().map(str::to_string)
    }
}

/// Terminates the run's cluster — the one created, and any other active cluster carrying the run's name (a create
/// whose answer was lost) — then sums the run up and emits its metric line. Runs on every path, failures included.
pub async fn emr_terminate(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pricing: &Pricing,
    state: FinishInput,
    now: DateTime<Utc>,
) -> Result<RunSummary, TaskError> {
    let plan = &state.plan;
    let known = FinishInput::field(&state.cluster, "cluster_id");
    if let Some(pool_plan) = plan.emr.as_ref().and_then(|e| e.pool.as_ref()) {
        return leave_pool(emr, pools, pricing, &state, pool_plan, known, now).await;
    }
    let first_attempt = state
        .cluster
        .as_ref()
        .and_then(|c| c.get("first_attempt"))
        .and_then(Value::as_bool)
        == Some(true);
    // A cluster made by the create task's first attempt is the run's only one; otherwise an attempt whose answer was
    // lost may have left another, named after the run.
    let mut ids = match (&known, first_attempt) {
        (Some(id), true) => vec![id.clone()],
        _ => clusters_of_run(emr, plan).await?,
    };
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
    let sense = state.sense();
    let cluster_id = known.as_deref().or(ids.first().map(String::as_str));
    let summary = summarize(plan, cluster_id, sense.as_ref(), state.error.as_ref())
        .priced(pricing, plan, now);
    let mut end = attempt_end(&state, sense.as_ref());
    if let (Status::Failed, Some(id), Some(_)) = (summary.status, cluster_id, &plan.recovery) {
        // One look at how the cluster ended: EMR's reason and error codes tell a capacity failure or a Spot
        // interruption from the job's own failure. The cluster is terminated already: a look AWS refuses for good
        // only leaves the cause unknown (no new attempt), it does not fail the run's end.
        match emr.describe_cluster(id).await {
            Ok(cluster) => {
                end.any_step_ran |= cluster.ready.is_some();
                end.cause = emr_cause(&cluster, &emr_plan(plan)?.cluster).or(end.cause);
            }
            Err(e) if e.kind.is_transient() => return Err(TaskError::aws("DescribeCluster", e)),
            Err(e) => {
                warn!(job = %plan.job, run = %plan.run_name, cluster = %id, error = %e,
                    "cannot tell why the cluster ended: no new attempt")
            }
        }
    }
    Ok(recover(summary, &state, end, now))
}

/// What a finished EMR attempt tells of itself from its report: the steps it completed, whether any ran, and a
/// caught error's cause (throttled).
fn attempt_end(state: &FinishInput, sense: Option<&SenseReport>) -> AttemptEnd {
    let steps = sense
        .map(|s| s.timeline.steps.as_slice())
        .unwrap_or_default();
    AttemptEnd {
        cause: caught_cause(state.error.as_ref()),
        any_step_ran: steps.iter().any(|s| s.started.is_some()),
        completed_steps: steps
            .iter()
            .filter(|s| s.state == "COMPLETED")
            .map(|s| s.name.clone())
            .collect(),
    }
}

/// The end of a pooled run ("release" instead of "terminate"): its steps cancelled if they did not end, its lease
/// given back — the cluster stays up for the pool's other runs, and is released once idle for `idle_minutes`. Its
/// summary says whether it ran warm, with start-up as the time from its step's submission to its start and cost as
/// its share: the cluster's rate over its step's time.
async fn leave_pool(
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    pricing: &Pricing,
    state: &FinishInput,
    pool_plan: &PoolPlan,
    known: Option<String>,
    now: DateTime<Utc>,
) -> Result<RunSummary, TaskError> {
    let plan = &state.plan;
    let sense = state.sense();
    let steps_ended = work_ended(sense.as_ref());
    let cluster_id = pool::leave(
        emr,
        pools,
        &pool_plan.name,
        &plan.run_name,
        known.as_deref(),
        steps_ended,
        now,
    )
    .await?
    .map(|left| left.cluster_id);
    let warm = state
        .cluster
        .as_ref()
        .and_then(|c| c.get("warm"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut summary = summarize(
        plan,
        cluster_id.as_deref(),
        sense.as_ref(),
        state.error.as_ref(),
    );
    let cluster_times = summary.timeline.as_ref().map(|t| (t.created, t.ended));
    if let Some(timeline) = &mut summary.timeline {
        let first = timeline.steps.first().cloned().unwrap_or_default();
        timeline.startup_seconds = first
            .started
            .zip(first.submitted)
            .map(|(started, submitted)| (started - submitted).num_seconds());
        // Priced as the run's share of the cluster: from its step's start to its end.
        (timeline.created, timeline.ended) = (first.started, first.ended);
    }
    summary.pool = Some(PoolUse {
        name: pool_plan.name.clone(),
        start: if warm {
            StartKind::Warm
        } else {
            StartKind::Cold
        },
    });
    let mut summary = summary.priced(pricing, plan, now);
    // …and shown with the cluster's own times.
    if let (Some(shown), Some((created, ended))) = (&mut summary.timeline, cluster_times) {
        (shown.created, shown.ended) = (created, ended);
    }
    if let Some(cost) = &mut summary.cost {
        cost.basis
            .push_str("; pooled: the cluster's rate over this run's step");
    }
    let end = attempt_end(state, sense.as_ref());
    Ok(recover(summary, state, end, now))
}
