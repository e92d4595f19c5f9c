//! `sparkplug history`: recent runs of the run state machine, newest first — status, what triggered them, start-up
//! and execution time, cost estimate, and why a failed one failed — read from Step Functions alone (the execution's input says
//! which job and trigger, its output or its last task's summary says the rest).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sparkplug::aws::sfn::Sfn;
use sparkplug::engine::execution::{is_plan, plan_in, summary_in};
use sparkplug::engine::ports::ExecutionsApi;

/// One run, as `history` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub run_name: String,
    pub job: String,
    /// QUEUED (waiting for a slot of its job), RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED.
    pub status: String,
    /// `s3://bucket/key`, `schedule`, `manual`, `console`, `after <run>` or `rerun of <run> [from step <step>]`.
    pub trigger: String,
    pub started: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_seconds: Option<i64>,
    /// The run's cost estimate in USD (the summary's `cost.usd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The failure's name and cause, for a run that did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long it waited for its job's slot (`max_concurrent_runs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_seconds: Option<i64>,
    /// A pooled run: its pool, and whether it started a cluster (`cold`) or joined one (`warm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Value>,
    /// The execution's input (the plan, or a console request) and the run's summary: what the report reads a failed
    /// run's log tail from.
    #[serde(skip)]
    pub input: Value,
    #[serde(skip)]
    pub summary: Option<Value>,
    /// The tasks' outputs, newest first, when they were read (a rerun, or a run that ended without an output).
    #[serde(skip)]
    pub outputs: Vec<Value>,
}

/// The runs started since `since`, newest first, of `job` when given.
pub async fn runs(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    job: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Vec<Run>, String> {
    let explain = |e: &dyn std::error::Error| {
        aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
    };
    let mut found = Vec::new();
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(state_machine_arn)
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| format!("ListExecutions: {}", explain(&e)))?;
        for listed in page.executions() {
            let started = to_chrono(listed.start_date());
            // ListExecutions answers newest first.
            if started < since {
                break 'pages;
            }
            let execution = sfn
                .describe_execution()
                .execution_arn(listed.execution_arn())
                .send()
                .await
                .map_err(|e| format!("DescribeExecution {}: {}", listed.name(), explain(&e)))?;
            let mut input: Value = execution
                .input()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or_default();
            // The tasks' outputs, read once if at all: a rerun's plan and an ended run's summary are there.
            let mut outputs: Vec<Value> = Vec::new();
            // A rerun's input names only the run it reruns: its plan is its Resolve task's output.
            if input.get("rerun").is_some() {
                outputs = task_outputs(sfn, listed.execution_arn()).await;
                if let Some(plan) = plan_in(&input, &outputs) {
                    input = serde_json::to_value(plan).unwrap_or(input);
                }
            }
            let (run_job, trigger) = job_and_trigger(&input);
            if job.is_some_and(|wanted| wanted != run_job) {
                continue;
            }
            let mut status = execution.status().as_str().to_string();
            if status == "RUNNING" && waiting_for_a_slot(sfn, listed.execution_arn()).await {
                status = "QUEUED".to_string();
            }
            let summary = match execution
                .output()
                .and_then(|o| serde_json::from_str::<Value>(o).ok())
            {
                Some(output) => Some(output),
                None if status != "RUNNING" => {
                    if outputs.is_empty() {
                        outputs = task_outputs(sfn, listed.execution_arn()).await;
                    }
                    summary_in(None, &outputs)
                }
                None => None,
            };
            let timeline = summary.as_ref().map(|s| &s["timeline"]);
            let reason = (status != "SUCCEEDED" && status != "RUNNING").then(|| {
                let error = execution.error().unwrap_or(status.as_str());
                match execution.cause() {
                    Some(cause) => format!("{error}: {cause}"),
                    None => error.to_string(),
                }
            });
            found.push(Run {
                run_name: listed.name().to_string(),
                job: run_job,
                status,
                trigger,
                started,
                startup_seconds: timeline.and_then(|t| t["startup_seconds"].as_i64()),
                execution_seconds: timeline.and_then(|t| t["execution_seconds"].as_i64()),
                cost_usd: summary.as_ref().and_then(|s| s["cost"]["usd"].as_f64()),
                reason,
                queued_seconds: summary.as_ref().and_then(|s| s["queued_seconds"].as_i64()),
                pool: summary
                    .as_ref()
                    .map(|s| s["pool"].clone())
                    .filter(|p| !p.is_null()),
                input,
                summary,
                outputs,
            });
        }
    }
    Ok(found)
}

/// Whether a running execution waits in its job's queue: its latest state entered is TakeSlot.
async fn waiting_for_a_slot(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> bool {
    // The whole history, in order (a run's is a few dozen events: it waits, it does not poll).
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .into_paginator()
        .send();
    let mut last = None;
    while let Some(Ok(page)) = pages.next().await {
        if let Some(name) = page
            .events()
            .iter()
            .filter_map(|e| e.state_entered_event_details())
            .next_back()
        {
            last = Some(name.name().to_string());
        }
    }
    last.as_deref() == Some("TakeSlot")
}

/// The job and what triggered it, from an execution's input: a plan, or a `{"job": …}` request.
pub fn job_and_trigger(input: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if is_plan(input) {
        let trigger = &input["trigger"];
        if let Some(rerun) = input.get("rerun") {
            let from = match rerun["from_step"].as_str() {
                Some(step) => format!(" from step {step}"),
                None => String::new(),
            };
            return (
                text(&input["job"]),
                format!("rerun of {}{from}", text(&rerun["run"])),
            );
        }
        let kind = match text(&trigger["type"]).as_str() {
            "s3" => format!(
                "s3://{}/{}",
                text(&trigger["bucket"]),
                text(&trigger["key"])
            ),
            "upstream" => format!("after {}", text(&trigger["run"])),
            "input_set" => {
                let partition: Vec<String> = trigger["partition"]
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| format!("{k}={}", text(v))).collect())
                    .unwrap_or_default();
                format!("input set {}", partition.join(","))
            }
            "batch" => format!(
                "batch of {} objects",
                trigger["objects"].as_u64().unwrap_or_default()
            ),
            other => other.to_string(),
        };
        return (text(&input["job"]), kind);
    }
    if let Some(run) = input["rerun"].as_str() {
        // A rerun that never got its plan (its Resolve task failed).
        return (String::new(), format!("rerun of {run}"));
    }
    let kind = if input["scheduled"].as_bool() == Some(true) {
        "schedule"
    } else {
        "console"
    };
    (text(&input["job"]), kind.to_string())
}

/// The summary the run's last task returned (a failed execution has no output).
pub async fn last_summary(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> Option<Value> {
    summary_in(None, &task_outputs(sfn, execution_arn).await)
}

/// The outputs of the execution's successful tasks, newest first (none when its history cannot be read).
pub async fn task_outputs(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> Vec<Value> {
    Sfn::from_client(sfn.clone())
        .task_outputs(execution_arn)
        .await
        .unwrap_or_default()
}

fn to_chrono(time: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos()).unwrap_or_default()
}

/// `7d`, `12h`, `30m`: how far back `history` looks, how far apart backfill periods are.
pub fn parse_since(text: &str) -> Result<chrono::TimeDelta, String> {
    let bad = || format!("`{text}` is not a duration such as 7d, 12h or 30m");
    let (number, unit) = text.trim().split_at(text.trim().len().saturating_sub(1));
    let amount: i64 = number.parse().map_err(|_| bad())?;
    let delta = match unit {
        "d" => chrono::TimeDelta::try_days(amount),
        "h" => chrono::TimeDelta::try_hours(amount),
        "m" => chrono::TimeDelta::try_minutes(amount),
        _ => None,
    };
    delta
        .filter(|d| *d > chrono::TimeDelta::zero())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_days_hours_minutes_and_nothing_else() {
        assert_eq!(parse_since("7d"), Ok(chrono::TimeDelta::days(7)));
        assert_eq!(parse_since("12h"), Ok(chrono::TimeDelta::hours(12)));
        assert_eq!(parse_since("30m"), Ok(chrono::TimeDelta::minutes(30)));
        for bad in ["", "7", "d", "7w", "-1d", "0d", "9999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_job_and_trigger_come_from_a_plan_or_a_request() {
        let plan = json!({"plan_version": 1, "job": "sales_daily", "run_name": "sales_daily-1",
            "trigger": {"type": "s3", "bucket": "b", "key": "landing/x/_SUCCESS"}});
        assert_eq!(
            job_and_trigger(&plan),
            ("sales_daily".into(), "s3://b/landing/x/_SUCCESS".into())
        );
        let plan = json!({"plan_version": 1, "job": "customer_scores", "run_name": "customer_scores-1",
                "trigger": {"type": "schedule"}});
        assert_eq!(job_and_trigger(&plan).1, "schedule");
        assert_eq!(
            job_and_trigger(&json!({"job": "hello_world"})),
            ("hello_world".into(), "console".into())
        );
        assert_eq!(
            job_and_trigger(&json!({"job": "x", "scheduled": true})).1,
            "schedule"
        );
        let rerun = json!({"plan_version": 1, "job": "sales_daily", "run_name": "s-1-rerun-1",
            "trigger": {"type": "manual"}, "rerun": {"run": "s-1", "root": "s-1", "from_step": "aggregate"}});
        assert_eq!(
            job_and_trigger(&rerun),
            (
                "sales_daily".into(),
                "rerun of s-1 from step aggregate".into()
            )
        );
    }
}
