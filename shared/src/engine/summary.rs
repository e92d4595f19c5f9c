//! The end of a run: its summary (what the console shows, the execution's output) and its CloudWatch Embedded Metric
//! Format line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::report::{FailureName, RunFailure, SenseReport};
use super::states::Status;
use crate::catalog::Engine;
use crate::cost::{self, CostEstimate, Pricing};
use crate::run::recovery::{Attempt, Cause};
use crate::run::timeline::Timeline;
use crate::run::RunPlan;

/// A task error the state machine caught (`Catch` with `ResultPath: $.error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// A finish task's input (emr-terminate, glue-finish, emr-serverless-finish): the whole execution state, on every
/// path. Only the plan must be there: what earlier tasks left is read leniently, so that a run that failed half-way
/// still has what it started ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinishInput {
    pub plan: RunPlan,
    /// EMR: emr-create-cluster's output (`$.cluster`).
    #[serde(default)]
    pub cluster: Option<Value>,
    /// The waiting task's answer: the run's report.
    #[serde(default)]
    pub sense: Option<Value>,
    /// What the state machine caught instead (the run's limit, a failed start).
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// A job with `max_concurrent_runs`: the queue's answer when the run got its slot (`{"queued_seconds": N}`).
    #[serde(default)]
    pub slot: Option<Value>,
}

impl FinishInput {
    /// The waiting task's report, when it answered (a caught error leaves none).
    pub fn sense(&self) -> Option<SenseReport> {
        serde_json::from_value(self.sense.clone()?).ok()
    }

    /// How long the run waited for a slot of its job, when its job has `max_concurrent_runs`.
    pub fn queued_seconds(&self) -> Option<i64> {
        self.slot.as_ref()?.get("queued_seconds")?.as_i64()
    }
}

/// Whether a report says the run's work has ended (so nothing of it is left to stop).
pub fn work_ended(report: Option<&SenseReport>) -> bool {
    report.is_some_and(|r| r.status != Status::Running)
}

/// The next attempt as the run's summary carries it: the state machine waits `wait_seconds`, then starts again
/// from the engine's first task with `state` as the execution's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextAttemptState {
    pub attempt: u32,
    pub cause: Cause,
    pub wait_seconds: u64,
    /// The fallback alternative it runs on, when it moves to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
    pub state: Value,
}

/// The output of a run: what the console shows and what the metrics are made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// EMR Serverless: the job run's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    /// For the `Fail` state: the error name and a one-line cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// What the run cost, estimated (`cost::estimate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostEstimate>,
    /// A pooled run: its pool, and whether it started a cluster (cold) or joined one (warm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolUse>,
    /// A job with `max_concurrent_runs`: how long the run waited for its slot before it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_seconds: Option<i64>,
    /// A job with `retries` or `emr.fallback`: this attempt's number (from 1)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// …the failed attempts before it…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// …and, when this attempt failed for a cause the job's recovery covers, the next one (the run goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<NextAttemptState>,
}

/// How a pooled run got its cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUse {
    pub name: String,
    pub start: StartKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartKind {
    /// The run started the cluster: it waited for it to start.
    Cold,
    /// The run joined a cluster that was up or starting already.
    Warm,
}

impl RunSummary {
    /// The summary with its cost estimate: the cluster's life (created → ended, or `now` as it is terminated) or the
    /// Glue run's execution time, priced in `pricing`'s region.
    pub fn priced(mut self, pricing: &Pricing, plan: &RunPlan, now: DateTime<Utc>) -> RunSummary {
        let timeline = self.timeline.clone().unwrap_or_default();
        self.cost = Some(cost::estimate(
            &pricing.book,
            &pricing.region,
            plan,
            &timeline,
            now,
        ));
        self
    }
}

/// Sums up a run from its last sensor report and any error the state machine caught on the way.
pub fn summarize(
    plan: &RunPlan,
    resource_id: Option<&str>,
    sense: Option<&SenseReport>,
    caught: Option<&CaughtError>,
) -> RunSummary {
    let failure = match (caught, sense) {
        // The waiting task's TimeoutSecondsPath is the run's limit.
        (Some(caught), _) if caught.error == "States.Timeout" => Some(RunFailure {
            reason: Some(format!(
                "the run exceeded its {} minute limit (timeout_minutes)",
                plan.timeout_seconds / 60
            )),
            ..RunFailure::new(FailureName::Timeout)
        }),
        (Some(caught), _) if !caught.error.is_empty() => Some(RunFailure {
            message: Some(caught_message(&caught.cause)),
            ..RunFailure::new(FailureName::from(caught.error.clone()))
        }),
        (_, Some(report)) if report.status == Status::Succeeded => None,
        (_, Some(report)) => Some(report.failure.clone().unwrap_or_else(|| RunFailure {
            reason: Some(format!("the run ended while {}", report.progress)),
            ..RunFailure::new(FailureName::Incomplete)
        })),
        (_, None) => Some(RunFailure {
            reason: Some("the run ended before its first look at the engine".into()),
            ..RunFailure::new(FailureName::Incomplete)
        }),
    };
    let id = resource_id.map(str::to_string);
    let (cluster_id, glue_run_id, job_run_id) = match plan.engine {
        Engine::Emr => (id, None, None),
        Engine::Glue => (None, id, None),
        Engine::EmrServerless => (None, None, id),
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
        job_run_id,
        timeline: sense.map(|s| s.timeline.clone()),
        error: failure.as_ref().map(|f| f.error.clone()),
        cause: failure.as_ref().map(RunFailure::cause),
        failure,
        cost: None,
        pool: None,
        queued_seconds: None,
        attempt: None,
        attempts: Vec::new(),
        next_attempt: None,
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
/// (StartupSeconds, ExecutionSeconds, QueuedSeconds for a run that waited for a slot, RunSucceeded/RunFailed, CostUSD
/// by job, engine and environment), no API call.
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
                "Namespace": crate::engine::metrics::NAMESPACE,
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
        ("QueuedSeconds", summary.queued_seconds),
    ] {
        if let Some(value) = value {
            metrics.push(json!({"Name": name, "Unit": "Seconds"}));
            line[name] = json!(value);
        }
    }
    if let Some(cost) = &summary.cost {
        metrics.push(json!({"Name": "CostUSD", "Unit": "None"}));
        line["CostUSD"] = json!(cost.usd);
    }
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(metrics);
    if let Some(error) = &summary.error {
        line["error"] = json!(error);
    }
    line.to_string()
}

/// The run's end, on every engine's finish path: the summary takes the time the run waited for its slot, then the
/// end is logged and the metric line printed.
pub fn finish(mut summary: RunSummary, state: &FinishInput, now: DateTime<Utc>) -> RunSummary {
    summary.queued_seconds = state.queued_seconds();
    match summary.status {
        Status::Succeeded => info!(job = %summary.job, run = %summary.run_name, "run succeeded"),
        _ => {
            warn!(job = %summary.job, run = %summary.run_name, error = ?summary.error, cause = ?summary.cause,
            "run failed")
        }
    }
    // The EMF line must be a JSON object on its own line: printed, not logged through tracing.
    println!("{}", emf_line(&summary, now));
    summary
}
