//! `sparkplug history`: recent runs, newest first — status, what triggered them, start-up and execution time, cost
//! estimate, and why a failed one failed. A job's runs are read from its records in sparkplug's run table (one
//! Query of the `by-job` index: calls that grow with that job's runs, whatever else the account runs; one
//! DescribeExecution per run still recorded as running); every job's, from Step Functions (ListExecutions, and
//! each execution's input and output).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sparkplug::aws::sfn::Sfn;
pub use sparkplug::engine::execution::job_and_trigger;
use sparkplug::engine::execution::{execution_arn, plan_in, summary_in};
use sparkplug::engine::ports::{ExecutionsApi, RunRecord, RunStore};

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

/// The runs started since `since`, newest first: `job`'s from its records, else every execution's.
pub async fn runs(
    sfn: &aws_sdk_sfn::Client,
    table: &impl RunStore,
    state_machine_arn: &str,
    job: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Vec<Run>, String> {
    match job {
        Some(job) => runs_of_job(sfn, table, state_machine_arn, job, since).await,
        None => executions_since(sfn, state_machine_arn, since).await,
    }
}

/// A job's runs from their records. A record still running is asked after (its end may be on its way, or lost
/// until the alerts' catch-up records it), and a running run waiting for its job's slot shows as QUEUED.
async fn runs_of_job(
    sfn: &aws_sdk_sfn::Client,
    table: &impl RunStore,
    state_machine_arn: &str,
    job: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Run>, String> {
    let records = table
        .runs_of(job, since)
        .await
        .map_err(|e| format!("Query of the run table's by-job index: {e}"))?;
    let mut found = Vec::new();
    for record in records {
        let mut run = run_of_record(record);
        if run.status == "RUNNING" {
            let arn = execution_arn(state_machine_arn, &run.run_name);
            let execution = Sfn::from_client(sfn.clone())
                .describe_execution(&arn)
                .await
                .map_err(|e| format!("DescribeExecution {}: {e}", run.run_name))?;
            run.status = execution.status.clone();
            if run.status == "RUNNING" {
                if waiting_for_a_slot(sfn, &arn).await {
                    run.status = "QUEUED".to_string();
                }
            } else {
                run.reason = reason_of(
                    &run.status,
                    execution.error.as_deref(),
                    execution.cause.as_deref(),
                );
                run.summary = execution.output.clone();
                fill_from_summary(&mut run);
            }
            run.input = execution.input;
        }
        found.push(run);
    }
    Ok(found)
}

/// A run as its record has it; its input is read only if needed (a report's failed run).
fn run_of_record(record: RunRecord) -> Run {
    let mut run = Run {
        run_name: record.run_name,
        job: record.job,
        status: record.status,
        trigger: record.trigger,
        started: record.started,
        startup_seconds: None,
        execution_seconds: None,
        cost_usd: None,
        reason: record.reason,
        queued_seconds: None,
        pool: None,
        input: Value::Null,
        summary: record.summary,
        outputs: Vec::new(),
    };
    fill_from_summary(&mut run);
    run
}

/// The figures a run's summary gives: start-up, execution, cost, queue wait, pool.
fn fill_from_summary(run: &mut Run) {
    let Some(summary) = &run.summary else {
        return;
    };
    let timeline = &summary["timeline"];
    run.startup_seconds = timeline["startup_seconds"].as_i64();
    run.execution_seconds = timeline["execution_seconds"].as_i64();
    run.cost_usd = summary["cost"]["usd"].as_f64();
    run.queued_seconds = summary["queued_seconds"].as_i64();
    run.pool = Some(summary["pool"].clone()).filter(|p| !p.is_null());
}

/// `error: cause` of a run that did not succeed.
fn reason_of(status: &str, error: Option<&str>, cause: Option<&str>) -> Option<String> {
    (status != "SUCCEEDED" && status != "RUNNING").then(|| {
        let error = error.unwrap_or(status);
        match cause {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        }
    })
}

/// Every execution started since `since`, newest first (ListExecutions, then each one's input and output).
async fn executions_since(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
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
            let reason = reason_of(&status, execution.error(), execution.cause());
            let mut run = Run {
                run_name: listed.name().to_string(),
                job: run_job,
                status,
                trigger,
                started,
                startup_seconds: None,
                execution_seconds: None,
                cost_usd: None,
                reason,
                queued_seconds: None,
                pool: None,
                input,
                summary,
                outputs,
            };
            fill_from_summary(&mut run);
            found.push(run);
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

    #[test]
    fn durations_read_as_days_hours_minutes_and_nothing_else() {
        assert_eq!(parse_since("7d"), Ok(chrono::TimeDelta::days(7)));
        assert_eq!(parse_since("12h"), Ok(chrono::TimeDelta::hours(12)));
        assert_eq!(parse_since("30m"), Ok(chrono::TimeDelta::minutes(30)));
        for bad in ["", "7", "d", "7w", "-1d", "0d", "9999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
