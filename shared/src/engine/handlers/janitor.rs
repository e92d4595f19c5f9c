//! The janitor: nothing a run started keeps running after its execution ends, however it ends.
//!
//! The run state machine's Catch paths terminate the cluster on every failure they see, but some ends skip every
//! Catch: a console Stop (ABORTED), the execution's TimeoutSeconds (TIMED_OUT), the 25,000-event history limit and
//! `States.DataLimitExceeded` (FAILED), a Terminate task that failed itself, or a Glue path that failed while its run
//! went on. Two ways in:
//!
//! - **"Step Functions Execution Status Change"** (EventBridge; ABORTED, TIMED_OUT, FAILED of the run state machine):
//!   the execution's input says which run it was — a plan, or a `{"job": …}` request resolved the way the state
//!   machine resolved it (named after the execution) — and the janitor terminates that run's clusters and stops its
//!   Glue runs. Idempotent: a second delivery finds nothing left to end.
//! - **A sweep** (a schedule, or `{"sweep": true}`): events are best effort, so every active cluster tagged with this
//!   environment and every running Glue run of the catalog's Glue jobs is checked against its execution; what
//!   belongs to an execution that is no longer RUNNING is ended. What belongs to no execution of that name (a plan
//!   pasted into the console under another execution name) is left alone: its execution's own event covers it.
//! - **Warm pools** (`{"release_idle": true, "warm_up": true, "time": …}`, every minute): pools whose `warm` schedule
//!   is due at `time` get a live cluster ([`pool::warm_up`]), then pool clusters idle for their `idle_minutes` are
//!   released ([`pool::release_idle`]). A pooled run's end here cancels its steps on the pool cluster and gives
//!   its lease back; pool clusters carry no run tag, so the sweep never takes them for a run's leftovers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::emr::clusters_of_run;
use super::glue::{is_live, stop_live_runs};
use super::pool::{leave, release_idle, warm_up, warm_up_name, PoolReport, WarmUp};
use super::serverless::{cancel, live_runs_of};
use super::trigger::{resolve_plan, ResolveInput};
use crate::catalog::schedule::is_due;
use crate::catalog::{Catalog, Engine, Vars};
use crate::engine::errors::TaskError;
use crate::engine::execution::{is_plan, plan_in, status_change_error, ExecutionStatusChange};
use crate::engine::metrics::pool_line;
use crate::engine::ports::{EmrApi, ExecutionsApi, GlueApi, PoolStore, ServerlessApi, SfnApi};
use crate::run::plan::{
    pool_cluster, render, run_cluster_prefix, sample_input, TAG_ENVIRONMENT, TAG_RUN,
};
use crate::run::rerun::RerunRequest;
use crate::run::RunPlan;

/// The execution statuses after which the janitor cleans up (the ones the template's rule selects).
pub const ENDED_BADLY: &[&str] = &["ABORTED", "TIMED_OUT", "FAILED"];

/// What the janitor needs besides its clients: the catalog (to resolve `{"job": …}` inputs and to know the Glue
/// jobs), the deployment's vars, and the run state machine whose executions it cleans up after.
#[derive(Debug, Clone)]
pub struct JanitorConfig {
    pub catalog: Catalog,
    pub vars: Vars,
    pub state_machine_arn: String,
}

impl JanitorConfig {
    fn environment(&self) -> Option<&str> {
        self.vars.get("env")
    }
}

/// What one janitor invocation ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupReport {
    /// Clusters terminated.
    pub clusters: Vec<String>,
    /// EMR Serverless job runs cancelled, as `application-id/job-run-id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_runs: Vec<String>,
    /// A pooled run's steps cancelled on its pool's cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// What the look at the warm pools did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pools: Option<PoolReport>,
    /// Glue runs stopped, as `job/run-id`.
    pub glue_runs: Vec<String>,
    /// Why nothing was to be done, when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// The janitor's input: an execution's status change, or a sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum JanitorEvent {
    ExecutionEnded(ExecutionStatusChange),
    Sweep,
    /// Release the pool clusters (of `pool`, or of every pool) idle long enough at `time` (now, when unset); with
    /// `warm_up`, first warm up the pools whose `warm` schedule is due at `time`.
    ReleaseIdle {
        pool: Option<String>,
        time: Option<DateTime<Utc>>,
        warm_up: bool,
    },
}

impl JanitorEvent {
    /// Reads an EventBridge event (or `{"sweep": true}`); anything else is `InvalidInput`, naming what it is.
    pub fn parse(event: &Value) -> Result<JanitorEvent, TaskError> {
        let function = "janitor";
        if event.get("sweep").and_then(Value::as_bool) == Some(true) {
            return Ok(JanitorEvent::Sweep);
        }
        if event.get("release_idle").and_then(Value::as_bool) == Some(true) {
            let time = match event.get("time") {
                None | Some(Value::Null) => None,
                Some(value) => Some(serde_json::from_value(value.clone()).map_err(|e| {
                    TaskError::invalid(format!("{function}: `time` is not an RFC 3339 time: {e}"))
                })?),
            };
            let pool = event
                .get("pool")
                .and_then(Value::as_str)
                .map(str::to_string);
            let warm_up = event.get("warm_up").and_then(Value::as_bool) == Some(true);
            return Ok(JanitorEvent::ReleaseIdle {
                pool,
                time,
                warm_up,
            });
        }
        if let Some(change) = ExecutionStatusChange::from_event(event) {
            return change
                .map(JanitorEvent::ExecutionEnded)
                .map_err(|why| status_change_error(function, &why));
        }
        let text =
            |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        match (text(event, "source").as_deref(), text(event, "detail-type").as_deref()) {
            (Some("aws.events" | "aws.scheduler"), Some("Scheduled Event")) => Ok(JanitorEvent::Sweep),
            (source, detail_type) => Err(TaskError::invalid(format!(
                "{function}: expected a \"Step Functions Execution Status Change\" event, a \"Scheduled Event\", \
                 {{\"sweep\": true}} or {{\"release_idle\": true}}, found detail-type {detail_type:?} from {source:?}"
            ))),
        }
    }
}

/// Cleans up after one ended execution, or sweeps. (One port per service it may end something on.)
#[allow(clippy::too_many_arguments)]
pub async fn janitor(
    config: &JanitorConfig,
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    sfn: &(impl SfnApi + ExecutionsApi),
    pools: &impl PoolStore,
    serverless: &impl ServerlessApi,
    event: Value,
    now: DateTime<Utc>,
) -> Result<CleanupReport, TaskError> {
    match JanitorEvent::parse(&event)? {
        JanitorEvent::Sweep => sweep(config, emr, glue, sfn, pools, serverless, now).await,
        JanitorEvent::ReleaseIdle {
            pool,
            time,
            warm_up,
        } => {
            let time = time.unwrap_or(now);
            let warmed = if warm_up {
                warm_pools(config, emr, pools, pool.as_deref(), time, now).await
            } else {
                Ok(BTreeMap::new())
            };
            // Idle clusters are released even when a warm-up failed (its error then fails the look, which the
            // schedule retries for the same minute: a repeated warm-up finds what the first one did).
            let mut report = release_idle(emr, pools, pool.as_deref(), time).await?;
            // Each pool's size as a metric line (the dashboard's pool widget), every pool of the catalog's included:
            // one with no cluster up says 0 rather than nothing.
            let environment = config.environment().unwrap_or("default");
            for name in config.catalog.pools.keys() {
                if pool.as_deref().is_none_or(|only| only == name) {
                    let size = report.sizes.get(name).copied().unwrap_or_default();
                    println!(
                        "{}",
                        pool_line(name, environment, size.clusters, size.leases, now)
                    );
                }
            }
            report.warmed = warmed?;
            Ok(CleanupReport {
                pools: Some(report),
                ..CleanupReport::default()
            })
        }
        JanitorEvent::ExecutionEnded(ExecutionStatusChange {
            state_machine_arn,
            name,
            status,
            input,
            ..
        }) => {
            if state_machine_arn != config.state_machine_arn {
                return Ok(ignored(format!(
                    "{name} is an execution of {state_machine_arn}, not of this stack"
                )));
            }
            if !ENDED_BADLY.contains(&status.as_str()) {
                return Ok(ignored(format!(
                    "{name} ended {status}: its own paths cleaned up"
                )));
            }
            let rerun = input
                .as_deref()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .filter(|input| RerunRequest::from_input(input).is_some());
            let planned = match rerun {
                // A rerun's plan was made by its Resolve task, from the run it reruns: read it there.
                Some(input) => {
                    let arn = crate::engine::execution::execution_arn(&state_machine_arn, &name);
                    let outputs = sfn
                        .task_outputs(&arn)
                        .await
                        .map_err(|e| TaskError::aws("GetExecutionHistory", e))?;
                    plan_in(&input, &outputs)
                        .ok_or_else(|| "its rerun was never planned".to_string())
                }
                None => plan_of_execution(config, &name, input.as_deref(), now),
            };
            let plan = match planned {
                Ok(plan) => plan,
                Err(why) => {
                    return Ok(ignored(format!(
                        "{name}: {why}: it cannot have started anything"
                    )))
                }
            };
            info!(run = %plan.run_name, execution = %name, status = %status, "cleaning up after the execution");
            end_run(emr, glue, pools, serverless, &plan, now).await
        }
    }
}

/// Warms up every pool (or `only` that one) whose `warm` schedule is due at `time` (the look's scheduled minute;
/// the records and the start lock keep the clock's `now`).
async fn warm_pools(
    config: &JanitorConfig,
    emr: &impl EmrApi,
    pools: &impl PoolStore,
    only: Option<&str>,
    time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, WarmUp>, TaskError> {
    let mut warmed = BTreeMap::new();
    for (name, pool) in &config.catalog.pools {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        // The catalog's expressions were checked when it was built: one that fails here is simply not due.
        if !pool.warm.iter().any(|e| is_due(e, time).unwrap_or(false)) {
            continue;
        }
        let (request, plan) = pool_cluster(
            &config.catalog,
            name,
            &warm_up_name(time),
            time,
            &config.vars,
        )
        .map_err(|e| TaskError::invalid(format!("warm-up of pool {name}: {e}")))?;
        warmed.insert(
            name.clone(),
            warm_up(emr, pools, &plan, &request, time, now).await?,
        );
    }
    Ok(warmed)
}

fn ignored(why: String) -> CleanupReport {
    info!(reason = %why, "nothing to clean up");
    CleanupReport {
        ignored: Some(why),
        ..CleanupReport::default()
    }
}

/// The run an execution was: its input is a plan, or a request the state machine resolved under the execution's name.
fn plan_of_execution(
    config: &JanitorConfig,
    execution_name: &str,
    input: Option<&str>,
    now: DateTime<Utc>,
) -> Result<RunPlan, String> {
    let input: Value = serde_json::from_str(input.unwrap_or("{}"))
        .map_err(|e| format!("its input is not JSON: {e}"))?;
    if is_plan(&input) {
        return serde_json::from_value(input)
            .map_err(|e| format!("its input is not a readable plan: {e}"));
    }
    let request = ResolveInput {
        request: input,
        execution_name: Some(execution_name.to_string()),
        execution_arn: None,
    };
    resolve_plan(&config.catalog, &config.vars, request, now)
        .map_err(|e| format!("its input resolves to no run ({e})"))
}

/// Ends whatever of `plan`'s run is still running: its clusters, its Glue runs.
async fn end_run(
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    pools: &impl PoolStore,
    serverless: &impl ServerlessApi,
    plan: &RunPlan,
    now: DateTime<Utc>,
) -> Result<CleanupReport, TaskError> {
    let mut report = CleanupReport::default();
    match plan.engine {
        Engine::Emr if plan.emr.as_ref().is_some_and(|e| e.pool.is_some()) => {
            // A pool cluster is not the run's to end: its steps are, and its lease.
            let pool_plan = plan.emr.as_ref().and_then(|e| e.pool.as_ref());
            if let Some(pool_plan) = pool_plan {
                let left = leave(
                    emr,
                    pools,
                    &pool_plan.name,
                    &plan.run_name,
                    None,
                    false,
                    now,
                )
                .await?;
                report.steps = left.map(|l| l.cancelled_steps).unwrap_or_default();
            }
        }
        Engine::Emr => {
            let ids = clusters_of_run(emr, plan).await?;
            if !ids.is_empty() {
                emr.terminate_job_flows(&ids)
                    .await
                    .map_err(|e| TaskError::aws("TerminateJobFlows", e))?;
                warn!(run = %plan.run_name, clusters = ?ids, "terminated what the run left running");
                report.clusters = ids;
            }
        }
        Engine::EmrServerless => {
            let live = live_runs_of(serverless, plan).await?;
            report.job_runs = cancel(serverless, &live).await?;
        }
        Engine::Glue => {
            let Some(job_name) = plan
                .glue
                .as_ref()
                .and_then(|g| g.job.get("Name"))
                .and_then(Value::as_str)
            else {
                return Ok(ignored(format!(
                    "run {} has no Glue job name",
                    plan.run_name
                )));
            };
            let (_, stopped) = stop_live_runs(glue, job_name, &plan.run_name).await?;
            if !stopped.is_empty() {
                warn!(glue_job = %job_name, runs = ?stopped, "stopped what the run left running");
            }
            report.glue_runs = stopped
                .into_iter()
                .map(|id| format!("{job_name}/{id}"))
                .collect();
        }
    }
    if report.clusters.is_empty()
        && report.glue_runs.is_empty()
        && report.steps.is_empty()
        && report.job_runs.is_empty()
    {
        info!(run = %plan.run_name, "nothing of the run is running");
    }
    Ok(report)
}

async fn stop(
    glue: &impl GlueApi,
    job_name: &str,
    run_ids: &[String],
) -> Result<Vec<String>, TaskError> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let stopped = glue
        .stop_job_runs(job_name, run_ids)
        .await
        .map_err(|e| TaskError::aws("BatchStopJobRun", e))?;
    warn!(glue_job = %job_name, runs = ?stopped, "stopped what the run left running");
    Ok(stopped
        .into_iter()
        .map(|id| format!("{job_name}/{id}"))
        .collect())
}

/// Whether the execution named `run` has ended: `None` when there is no such execution (leave its resources alone).
async fn ended(
    sfn: &impl SfnApi,
    config: &JanitorConfig,
    run: &str,
) -> Result<Option<bool>, TaskError> {
    let status = sfn
        .execution_status(&config.state_machine_arn, run)
        .await
        .map_err(|e| TaskError::aws("DescribeExecution", e))?;
    Ok(status.map(|status| status != "RUNNING"))
}

/// What runs whose execution has ended left behind: what a lost "Execution Status Change" leaves, found from state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftovers {
    /// Pool leases still held by ended runs: (pool, cluster id, run).
    pub leases: Vec<(String, String, String)>,
    /// Clusters of this environment tagged with an ended run: (cluster id, run).
    pub clusters: Vec<(String, String)>,
    /// Live runs of the catalog's Glue jobs whose run has ended: (job name, run id, run).
    pub glue_runs: Vec<(String, String, String)>,
    /// Live EMR Serverless job runs whose run has ended: (application id, job run id, run).
    pub job_runs: Vec<(String, String, String)>,
    /// Clusters not looked at this time (DescribeCluster throttled): the next sweep looks again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
            && self.clusters.is_empty()
            && self.glue_runs.is_empty()
            && self.job_runs.is_empty()
    }
}

/// Looks for [`Leftovers`]: the pools' lease records, every active cluster of this environment, the live runs of
/// the catalog's Glue jobs and EMR Serverless applications, each checked against its run's execution. What belongs to
/// no execution of that name (a plan pasted into the console under another name) is left alone.
pub async fn leftovers(
    config: &JanitorConfig,
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    sfn: &impl SfnApi,
    pools: &impl PoolStore,
    serverless: &impl ServerlessApi,
) -> Result<Leftovers, TaskError> {
    let mut found = Leftovers::default();
    for cluster in pools
        .pool_clusters(None)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?
    {
        for run in &cluster.runs {
            if ended(sfn, config, run).await? == Some(true) {
                found.leases.push((
                    cluster.pool.clone(),
                    cluster.cluster_id.clone(),
                    run.clone(),
                ));
            }
        }
    }
    let clusters = emr
        .active_clusters()
        .await
        .map_err(|e| TaskError::aws("ListClusters", e))?;
    // Only this environment's run clusters are described (their names say whose they are): ListClusters names every
    // active cluster of the account, and DescribeCluster is throttled per account. Pool clusters carry no run: their
    // leases are looked at above.
    let prefix = run_cluster_prefix(config.environment());
    for summary in clusters
        .into_iter()
        .filter(|summary| summary.name.starts_with(&prefix))
    {
        let cluster = match emr.describe_cluster(&summary.id).await {
            Ok(cluster) => cluster,
            // Another environment's (or not sparkplug's): this function may not describe it.
            Err(e) if e.code == "AccessDeniedException" => continue,
            // ListClusters names every active cluster of the account: a throttled look at one of them must not
            // end the sweep before the others (EMR's per-API token buckets; the next sweep looks again).
            Err(e) if e.kind.is_transient() => {
                warn!(cluster = %summary.id, error = %e, "sweep: could not describe a cluster this time");
                found.skipped.push(summary.id);
                continue;
            }
            Err(e) => return Err(TaskError::aws("DescribeCluster", e)),
        };
        if cluster.tags.get(TAG_ENVIRONMENT).map(String::as_str) != config.environment() {
            continue;
        }
        let Some(run) = cluster.tags.get(TAG_RUN) else {
            continue;
        };
        if ended(sfn, config, run).await? == Some(true) {
            found.clusters.push((summary.id, run.clone()));
        }
    }
    for plan in sample_plans(config, Engine::Glue) {
        let Some(job_name) = plan
            .glue
            .and_then(|glue| glue.job.get("Name")?.as_str().map(str::to_string))
        else {
            continue;
        };
        let runs = glue
            .job_runs(&job_name)
            .await
            .map_err(|e| TaskError::aws("GetJobRuns", e))?;
        for run in runs.into_iter().filter(|run| is_live(&run.state)) {
            let Some(run_name) = &run.run_name else {
                continue;
            };
            if ended(sfn, config, run_name).await? == Some(true) {
                found
                    .glue_runs
                    .push((job_name.clone(), run.id, run_name.clone()));
            }
        }
    }
    // EMR Serverless: the live job runs of each application the catalog's jobs use.
    let mut applications = std::collections::BTreeSet::new();
    for plan in sample_plans(config, Engine::EmrServerless) {
        let Some(application) = plan.emr_serverless.and_then(|serverless| {
            serverless
                .application
                .get("name")?
                .as_str()
                .map(str::to_string)
        }) else {
            continue;
        };
        if !applications.insert(application.clone()) {
            continue;
        }
        let Some(app) = serverless
            .find_application(&application)
            .await
            .map_err(|e| TaskError::aws("GetApplication", e))?
        else {
            continue;
        };
        let runs = serverless
            .active_job_runs(&app.id)
            .await
            .map_err(|e| TaskError::aws("ListJobRuns", e))?;
        for (id, run_name) in runs {
            if ended(sfn, config, &run_name).await? == Some(true) {
                found.job_runs.push((app.id.clone(), id, run_name));
            }
        }
    }
    Ok(found)
}

/// The plan of each of the catalog's jobs on `engine`, rendered with a sample input: what names its Glue job or its
/// EMR Serverless application (a job whose plan cannot be rendered names nothing to look at).
fn sample_plans(config: &JanitorConfig, engine: Engine) -> impl Iterator<Item = RunPlan> + '_ {
    config
        .catalog
        .jobs
        .iter()
        .filter(move |(_, job)| job.engine == engine)
        .filter_map(|(name, job)| {
            render(
                &config.catalog,
                name,
                &sample_input(job, &config.vars),
                &config.vars,
            )
            .ok()
        })
}

/// Every cluster of this environment and every live run of the catalog's Glue jobs whose execution has ended.
async fn sweep(
    config: &JanitorConfig,
    emr: &impl EmrApi,
    glue: &impl GlueApi,
    sfn: &impl SfnApi,
    pools: &impl PoolStore,
    serverless: &impl ServerlessApi,
    now: DateTime<Utc>,
) -> Result<CleanupReport, TaskError> {
    let mut report = CleanupReport::default();
    let found = leftovers(config, emr, glue, sfn, pools, serverless).await?;
    // Leases held by runs whose execution ended (their end's event was lost): the run's steps are cancelled and the
    // lease given back, or the cluster would never count as idle.
    for (pool, cluster_id, run) in &found.leases {
        if let Some(left) = leave(emr, pools, pool, run, Some(cluster_id), false, now).await? {
            report.steps.extend(left.cancelled_steps);
        }
        warn!(run = %run, cluster = %cluster_id, "sweep: gave back the lease of a run that has ended");
    }
    let leaked: Vec<String> = found.clusters.iter().map(|(id, _)| id.clone()).collect();
    if !leaked.is_empty() {
        emr.terminate_job_flows(&leaked)
            .await
            .map_err(|e| TaskError::aws("TerminateJobFlows", e))?;
        warn!(clusters = ?leaked, "sweep: terminated clusters whose execution has ended");
        report.clusters = leaked;
    }
    let mut by_job: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (job_name, run_id, _) in &found.glue_runs {
        by_job.entry(job_name).or_default().push(run_id.clone());
    }
    for (job_name, run_ids) in by_job {
        report
            .glue_runs
            .extend(stop(glue, job_name, &run_ids).await?);
    }
    let job_runs: Vec<(String, String)> = found
        .job_runs
        .iter()
        .map(|(app, id, _)| (app.clone(), id.clone()))
        .collect();
    report.job_runs.extend(cancel(serverless, &job_runs).await?);
    info!(
        clusters = report.clusters.len(),
        glue_runs = report.glue_runs.len(),
        job_runs = report.job_runs.len(),
        "sweep done"
    );
    Ok(report)
}
