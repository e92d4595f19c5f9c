//! What a run's AWS state means: the one exhaustive map per engine from AWS states to running / succeeded / failed,
//! the sensors' reports (with the next wait and the timeline), the run summary, and its EMF metric line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::catalog::Engine;
use crate::plan::RunPlan;
use crate::ports::{ClusterView, GlueRunView, StepFailure, StepView};

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

/// Glue job run states. A STOPPED run is a failure, always.
pub fn glue_run_status(state: &str) -> Result<Status, UnknownState> {
    match state {
        "STARTING" | "RUNNING" | "WAITING" | "STOPPING" => Ok(Status::Running),
        "SUCCEEDED" => Ok(Status::Succeeded),
        "FAILED" | "TIMEOUT" | "ERROR" | "STOPPED" | "EXPIRED" => Ok(Status::Failed),
        other => Err(UnknownState(other.to_string())),
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{t}` is not a number of seconds"))),
    }
}

/// How long to wait between looks. The state machine passes its `DefinitionSubstitutions` here (as strings, so that
/// the ASL file stays valid JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Poll {
    /// While the cluster starts: nothing can finish, so look rarely.
    #[serde(default, deserialize_with = "number_or_string")]
    pub starting_seconds: Option<u64>,
    /// Once steps (or a Glue run) run.
    #[serde(default, deserialize_with = "number_or_string")]
    pub running_seconds: Option<u64>,
}

pub const DEFAULT_POLL_STARTING_SECONDS: u64 = 120;
pub const DEFAULT_POLL_RUNNING_SECONDS: u64 = 30;

impl Poll {
    pub fn starting(&self) -> u64 {
        self.starting_seconds
            .unwrap_or(DEFAULT_POLL_STARTING_SECONDS)
            .max(1)
    }

    pub fn running(&self) -> u64 {
        self.running_seconds
            .unwrap_or(DEFAULT_POLL_RUNNING_SECONDS)
            .max(1)
    }
}

/// Why a run failed, in the words the state machine's `Fail` state and the summary carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    /// A short name: `StepFailed`, `ClusterTerminated`, `Timeout`, `GlueRunFailed`, `UnknownState`, or a caught
    /// task error's type.
    pub error: String,
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
            self.error.clone()
        } else {
            parts.join(": ")
        };
        if let Some(log) = &self.log {
            cause.push_str(&format!(" (logs: {log})"));
        }
        cause
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTimes {
    pub name: String,
    pub id: String,
    pub state: String,
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
}

/// What a sensor returns to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenseReport {
    pub status: Status,
    /// Seconds the state machine waits before the next look (its Wait state's `SecondsPath`).
    pub wait_seconds: u64,
    /// The cluster's or the Glue run's state.
    pub state: String,
    pub progress: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    pub timeline: Timeline,
}

fn seconds_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<i64> {
    Some((to? - from?).num_seconds())
}

fn timed_out(
    plan: &RunPlan,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<RunFailure> {
    let since = since?;
    let limit = i64::try_from(plan.timeout_seconds).unwrap_or(i64::MAX);
    ((now - since).num_seconds() > limit).then(|| RunFailure {
        error: "Timeout".into(),
        reason: Some(format!(
            "the run exceeded its {} minute limit (timeout_minutes)",
            plan.timeout_seconds / 60
        )),
        ..RunFailure::default()
    })
}

/// The EMR sensor: the cluster and the run's steps (by id, in plan order) → a report.
pub fn sense_emr(
    plan: &RunPlan,
    cluster: &ClusterView,
    all_steps: &[StepView],
    step_ids: &[String],
    poll: Poll,
    now: DateTime<Utc>,
) -> SenseReport {
    let steps: Vec<Option<&StepView>> = step_ids
        .iter()
        .map(|id| all_steps.iter().find(|s| &s.id == id))
        .collect();
    let mut timeline = Timeline {
        created: cluster.created,
        ready: cluster.ready,
        ended: cluster.ended,
        steps: steps
            .iter()
            .zip(step_ids)
            .map(|(step, id)| StepTimes {
                name: step.map(|s| s.name.clone()).unwrap_or_default(),
                id: id.clone(),
                state: step.map_or("MISSING".to_string(), |s| s.state.clone()),
                started: step.and_then(|s| s.started),
                ended: step.and_then(|s| s.ended),
            })
            .collect(),
        ..Timeline::default()
    };
    let first_start = timeline.steps.iter().filter_map(|s| s.started).min();
    let last_end = timeline.steps.iter().filter_map(|s| s.ended).max();
    timeline.startup_seconds = seconds_between(cluster.created, cluster.ready.or(first_start));
    timeline.execution_seconds = seconds_between(first_start, last_end);

    let done = timeline
        .steps
        .iter()
        .filter(|s| s.state == "COMPLETED")
        .count();
    let progress = format!(
        "cluster {}, {done}/{} steps completed",
        cluster.state,
        step_ids.len()
    );
    let report = |status, wait_seconds, failure| SenseReport {
        status,
        wait_seconds,
        state: cluster.state.clone(),
        progress: progress.clone(),
        failure,
        timeline: timeline.clone(),
    };

    // A FAILED step says most about the run, even when the cluster then shut down because of it.
    let mut statuses = Vec::with_capacity(steps.len());
    for (step, id) in steps.iter().zip(step_ids) {
        let Some(step) = step else {
            let failure = RunFailure {
                error: "StepMissing".into(),
                step: Some(id.clone()),
                reason: Some("the step is not on the cluster".into()),
                ..RunFailure::default()
            };
            return report(Status::Failed, 0, Some(failure));
        };
        match emr_step_status(&step.state) {
            Ok(status) => statuses.push((step, status)),
            Err(UnknownState(state)) => {
                return report(Status::Failed, 0, Some(unknown("step", &state)));
            }
        }
    }
    let step_failure = |step: &StepView| {
        let details = step.failure.clone().unwrap_or_default();
        RunFailure {
            error: "StepFailed".into(),
            step: Some(step.name.clone()),
            reason: details
                .reason
                .or_else(|| Some(format!("step {}", step.state))),
            message: details.message.or(step.state_change.message.clone()),
            log: details.log_file,
        }
    };
    if let Some((step, _)) = statuses.iter().find(|(s, _)| s.state == "FAILED") {
        return report(Status::Failed, 0, Some(step_failure(step)));
    }
    let all_succeeded = statuses
        .iter()
        .all(|(_, status)| *status == Status::Succeeded);
    if all_succeeded && !step_ids.is_empty() {
        return report(Status::Succeeded, 0, None);
    }
    let cluster_gone = matches!(emr_cluster_phase(&cluster.state), Ok(ClusterPhase::Gone));
    // Cancelled or interrupted steps on a live cluster: the steps are the story. On a dead cluster, the cluster is.
    if !cluster_gone {
        if let Some((step, _)) = statuses
            .iter()
            .find(|(_, status)| *status == Status::Failed)
        {
            return report(Status::Failed, 0, Some(step_failure(step)));
        }
    }
    match emr_cluster_phase(&cluster.state) {
        Err(UnknownState(state)) => report(Status::Failed, 0, Some(unknown("cluster", &state))),
        Ok(ClusterPhase::Gone) => {
            let failure = RunFailure {
                error: "ClusterTerminated".into(),
                reason: cluster
                    .state_change
                    .code
                    .clone()
                    .or(Some(cluster.state.clone())),
                message: cluster.state_change.message.clone(),
                ..RunFailure::default()
            };
            report(Status::Failed, 0, Some(failure))
        }
        Ok(phase) => {
            if let Some(failure) = timed_out(plan, cluster.created, now) {
                return report(Status::Failed, 0, Some(failure));
            }
            let wait = match phase {
                ClusterPhase::Starting => poll.starting(),
                _ => poll.running(),
            };
            report(Status::Running, wait, None)
        }
    }
}

fn unknown(what: &str, state: &str) -> RunFailure {
    RunFailure {
        error: "UnknownState".into(),
        reason: Some(format!(
            "the {what} is in state `{state}`, which this version of sparkplug does not know"
        )),
        ..RunFailure::default()
    }
}

/// The Glue sensor: a job run → a report.
pub fn sense_glue(
    plan: &RunPlan,
    run: &GlueRunView,
    poll: Poll,
    now: DateTime<Utc>,
) -> SenseReport {
    let mut timeline = Timeline {
        created: run.started,
        ended: run.completed,
        ..Timeline::default()
    };
    timeline.execution_seconds = run.execution_seconds;
    if let (Some(total), Some(execution)) = (
        seconds_between(run.started, run.completed),
        run.execution_seconds,
    ) {
        // Glue reports only the whole run and its execution time: the rest is start-up.
        timeline.startup_seconds = Some((total - execution).max(0));
    }
    let report = |status, wait_seconds, failure| SenseReport {
        status,
        wait_seconds,
        state: run.state.clone(),
        progress: format!("Glue run {} {}", run.id, run.state),
        failure,
        timeline: timeline.clone(),
    };
    match glue_run_status(&run.state) {
        Ok(Status::Succeeded) => report(Status::Succeeded, 0, None),
        Ok(Status::Failed) => {
            let failure = RunFailure {
                error: "GlueRunFailed".into(),
                reason: Some(format!("Glue run {}", run.state)),
                message: run.error_message.clone(),
                log: run.log_group.clone(),
                ..RunFailure::default()
            };
            report(Status::Failed, 0, Some(failure))
        }
        Ok(Status::Running) => match timed_out(plan, run.started, now) {
            Some(failure) => report(Status::Failed, 0, Some(failure)),
            None => report(Status::Running, poll.running(), None),
        },
        Err(UnknownState(state)) => report(Status::Failed, 0, Some(unknown("Glue run", &state))),
    }
}

/// A task error the state machine caught (`Catch` with `ResultPath: $.error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The output of a run: what the console shows and what the metrics are made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub job: String,
    pub engine: Engine,
    pub run_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    /// For the `Fail` state: the error name and a one-line cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// Sums up a run from its last sensor report and any error the state machine caught on the way.
pub fn summarize(
    plan: &RunPlan,
    resource_id: Option<&str>,
    sense: Option<&SenseReport>,
    caught: Option<&CaughtError>,
) -> RunSummary {
    let failure = match (caught, sense) {
        (Some(caught), _) if !caught.error.is_empty() => Some(RunFailure {
            error: caught.error.clone(),
            message: Some(caught_message(&caught.cause)),
            ..RunFailure::default()
        }),
        (_, Some(report)) if report.status == Status::Succeeded => None,
        (_, Some(report)) => Some(report.failure.clone().unwrap_or_else(|| RunFailure {
            error: "Incomplete".into(),
            reason: Some(format!("the run ended while {}", report.progress)),
            ..RunFailure::default()
        })),
        (_, None) => Some(RunFailure {
            error: "Incomplete".into(),
            reason: Some("the run ended before its first look at the engine".into()),
            ..RunFailure::default()
        }),
    };
    let (cluster_id, glue_run_id) = match plan.engine {
        Engine::Emr => (resource_id.map(str::to_string), None),
        Engine::Glue => (None, resource_id.map(str::to_string)),
    };
    RunSummary {
        job: plan.job.clone(),
        engine: plan.engine,
        run_name: plan.run_name.clone(),
        environment: plan.environment.clone(),
        status: if failure.is_none() {
            Status::Succeeded
        } else {
            Status::Failed
        },
        cluster_id,
        glue_run_id,
        timeline: sense.map(|s| s.timeline.clone()),
        error: failure.as_ref().map(|f| f.error.clone()),
        cause: failure.as_ref().map(RunFailure::cause),
        failure,
    }
}

/// A Lambda error caught by Step Functions carries a JSON Cause `{"errorType", "errorMessage", …}`: keep the message.
fn caught_message(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string())
}

/// One CloudWatch Embedded Metric Format line for a finished run: a log line CloudWatch turns into metrics
/// (StartupSeconds, ExecutionSeconds, RunSucceeded/RunFailed by job, engine and environment), no API call.
pub fn emf_line(summary: &RunSummary, now: DateTime<Utc>) -> String {
    let succeeded = u8::from(summary.status == Status::Succeeded);
    let timeline = summary.timeline.clone().unwrap_or_default();
    let mut metrics = vec![
        json!({"Name": "RunSucceeded", "Unit": "Count"}),
        json!({"Name": "RunFailed", "Unit": "Count"}),
    ];
    let mut line = json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "sparkplug",
                "Dimensions": [["job", "engine", "environment"]],
                "Metrics": [],
            }],
        },
        "job": summary.job,
        "engine": summary.engine.as_str(),
        "environment": summary.environment.as_deref().unwrap_or("default"),
        "run_name": summary.run_name,
        "outcome": summary.status,
        "RunSucceeded": succeeded,
        "RunFailed": 1 - succeeded,
    });
    for (name, value) in [
        ("StartupSeconds", timeline.startup_seconds),
        ("ExecutionSeconds", timeline.execution_seconds),
    ] {
        if let Some(value) = value {
            metrics.push(json!({"Name": name, "Unit": "Seconds"}));
            line[name] = json!(value);
        }
    }
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(metrics);
    if let Some(error) = &summary.error {
        line["error"] = json!(error);
    }
    line.to_string()
}

/// EMR's `FailureDetails` fields, for the adapter.
pub fn step_failure(
    reason: Option<String>,
    message: Option<String>,
    log_file: Option<String>,
) -> Option<StepFailure> {
    (reason.is_some() || message.is_some() || log_file.is_some()).then_some(StepFailure {
        reason,
        message,
        log_file,
    })
}
