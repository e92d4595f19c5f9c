//! Alerts: one message per run that ended badly — failed, stopped, timed out — (or well, when its job asks), with
//! what an operator needs to act: the job, the run, what triggered it, the failed step and its reason, where the
//! logs are, a link to the execution, the cost estimate, and the **last lines of the log that says why** — the
//! failed EMR step's `stderr.gz` (which EMR writes to the cluster's log URI minutes after the failure: looked for
//! with backoff, then sent without it, saying so) or the Glue run's driver stream (where each engine writes them: [`crate::engine::logs`]).
//!
//! Published to the stack's SNS topic (email, chat) and as an EventBridge event (`source` [`EVENT_SOURCE`],
//! `detail-type` [`EVENT_DETAIL_TYPE`]). Once per run: the first delivery claims the run in the token table, a
//! second delivery of the same status change sends nothing; a claim whose alert could not be sent is given back, so
//! that Lambda's retry sends it.
//!
//! The status change is delivered best effort: the `{"catch_up": true}` schedule looks at the executions that ended
//! since its last look ([`crate::engine::backstop::ended_since_last_look`]) and alerts each that holds no claim, marked
//! `late` — the claim makes the event and the look send one alert between them.

use std::future::Future;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::info;

use super::budget::{self, EndedCost};
use crate::catalog::{Engine, NotifyOn};
use crate::engine::backstop::{self, ALERTS_LOOK};
use crate::engine::errors::TaskError;
use crate::engine::execution::{
    is_plan, plan_in, status_change_error, summary_in, trigger_of, ExecutionStatusChange,
};
use crate::engine::logs::{failure_tail, LogWait};
use crate::engine::ports::{
    AlertsApi, ExecutionView, ExecutionsApi, LedgerStore, LogsApi, LookStore, RunRecord, RunStore,
    SfnApi, SnsMessage, SpendStore, TokenStore,
};
use crate::engine::table_keys::{alert_claim_key, lineage_claim_key};
use crate::run::lineage::{run_events, Ended};
use crate::run::{RunPlan, Trigger};

pub use super::EVENT_SOURCE;
pub const EVENT_DETAIL_TYPE: &str = "sparkplug Run Alert";
/// The `detail-type` of a run's OpenLineage RunEvents on the bus (`detail`: the RunEvent).
pub const LINEAGE_DETAIL_TYPE: &str = "OpenLineage RunEvent";
/// How many log lines an alert carries.
pub const TAIL_LINES: usize = 50;

/// What the alert function needs besides its clients.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub topic_arn: String,
    pub region: String,
    /// How long to keep looking for a log that has not arrived yet (EMR writes a step's logs minutes late).
    pub log_wait: StdDuration,
    /// The first pause between looks; each next one doubles.
    pub first_pause: StdDuration,
    /// The run state machine whose executions the catch-up looks at.
    pub state_machine_arn: String,
}

/// What one alert invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The catch-up: runs alerted late.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late: Vec<String>,
}

/// The alert, as it goes out (the EventBridge event's `detail`; the SNS message is its text form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub job: String,
    pub run_name: String,
    pub engine: Engine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// SUCCEEDED, FAILED, TIMED_OUT, ABORTED.
    pub status: String,
    /// `s3://bucket/key`, `schedule <time>`, `manual`.
    pub trigger: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    pub console_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The last lines of the relevant log, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Why there is no tail, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail_note: Option<String>,
    /// The file the tail was read from (`s3://…` or `cloudwatch:<group>:<stream>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail_from: Option<String>,
    /// Sent by the backstop's look, not on the run's end event (which was lost or failed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// A job with `retries` or `emr.fallback`: how many attempts the run made (this alert is its final outcome's)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// …and why each one before the last failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<String>,
}

impl Alert {
    pub fn subject(&self) -> String {
        let subject = format!(
            "sparkplug {}: {} {}",
            self.environment.as_deref().unwrap_or("-"),
            self.job,
            self.status
        );
        // SNS subjects are at most 100 characters.
        subject.chars().take(100).collect()
    }

    /// The SNS message: readable in an email or a chat, the tail last.
    pub fn text(&self) -> String {
        let mut lines = vec![
            format!(
                "sparkplug run {}: {} ({})",
                self.status,
                self.job,
                self.engine.as_str()
            ),
            format!(
                "run: {}  environment: {}",
                self.run_name,
                self.environment.as_deref().unwrap_or("-")
            ),
            format!("triggered by: {}", self.trigger),
        ];
        if let Some(error) = &self.error {
            lines.push(format!("error: {error}"));
        }
        if let Some(step) = &self.failed_step {
            lines.push(format!("failed step: {step}"));
        }
        if let Some(reason) = &self.reason {
            lines.push(format!("reason: {reason}"));
        }
        if let Some(log) = &self.log {
            lines.push(format!("logs: {log}"));
        }
        if let Some(cost) = self.cost_usd {
            lines.push(format!("cost (estimate): ${cost:.5}"));
        }
        if let Some(attempts) = self.attempts {
            lines.push(format!("attempts: {attempts}"));
            lines.extend(self.earlier_attempts.iter().map(|a| format!("  {a}")));
        }
        lines.push(format!("execution: {}", self.console_url));
        if self.late {
            lines.push(
                "(sent late: the run's end event was lost; a periodic look found the run ended)"
                    .to_string(),
            );
        }
        if !self.log_tail.is_empty() {
            lines.push(String::new());
            match &self.log_tail_from {
                Some(from) => lines.push(format!("last {} lines of {from}:", self.log_tail.len())),
                None => lines.push(format!("last {} lines of the log:", self.log_tail.len())),
            }
            lines.extend(self.log_tail.iter().cloned());
        } else if let Some(note) = &self.log_tail_note {
            lines.push(String::new());
            lines.push(format!("(no log tail: {note})"));
        }
        lines.join("\n")
    }
}

/// One earlier attempt of a run in a line: `attempt 1 (capacity, core r6i.xlarge): ClusterTerminated — why`.
fn describe_attempt(attempt: &Value) -> String {
    let mut about: Vec<&str> = Vec::new();
    if let Some(cause) = attempt["cause"].as_str() {
        about.push(cause);
    }
    if let Some(alternative) = attempt["alternative"].as_str() {
        about.push(alternative);
    }
    let about = if about.is_empty() {
        String::new()
    } else {
        format!(" ({})", about.join(", "))
    };
    format!(
        "attempt {}{about}: {} — {}",
        attempt["attempt"],
        attempt["error"].as_str().unwrap_or_default(),
        attempt["why"].as_str().unwrap_or_default()
    )
}

/// How many log lines the chat message carries (the email and the event carry [`TAIL_LINES`]): a chat message is
/// read on a phone, and the execution's page is one click away.
pub const CHAT_TAIL_LINES: usize = 15;
/// How much of each of those lines the chat message keeps.
const CHAT_LINE_CHARS: usize = 200;

impl Alert {
    /// The alert as a custom notification of Amazon Q Developer in chat applications (formerly AWS Chatbot), which
    /// renders it in Slack, Microsoft Teams or Amazon Chime: `version` "1.0" and `source` "custom" (both required),
    /// `content` (title, description, next steps, keywords) in the chat's own markdown (`textType`
    /// "client-markdown", the only one supported), and `metadata.threadId`, which threads every message of one run
    /// together (Amazon Q Developer in chat applications Administrator Guide, "Custom notifications": event schema
    /// and parameter details).
    pub fn chat_notification(&self) -> Value {
        let icon = match self.status.as_str() {
            "SUCCEEDED" => ":white_check_mark:",
            "TIMED_OUT" => ":hourglass:",
            "ABORTED" => ":octagonal_sign:",
            _ => ":x:",
        };
        let environment = self.environment.as_deref().unwrap_or("-");
        let mut description = vec![
            format!(
                "*Run* `{}` ({}, {environment})",
                self.run_name,
                self.engine.as_str()
            ),
            format!("*Triggered by* {}", self.trigger),
        ];
        if let Some(step) = &self.failed_step {
            description.push(format!("*Failed step* `{step}`"));
        }
        if let Some(error) = &self.error {
            description.push(format!("*Error* `{error}`"));
        }
        if let Some(reason) = &self.reason {
            description.push(format!("*Reason* {reason}"));
        }
        if let Some(cost) = self.cost_usd {
            description.push(format!("*Cost (estimate)* ${cost:.4}"));
        }
        if let Some(attempts) = self.attempts {
            description.push(format!("*Attempts* {attempts}"));
            description.extend(self.earlier_attempts.iter().map(|a| format!("• {a}")));
        }
        if self.late {
            description.push(
                "_Sent late: the run's end event was lost; a periodic look found the run ended._"
                    .to_string(),
            );
        }
        if !self.log_tail.is_empty() {
            let from = self.log_tail_from.as_deref().unwrap_or("the log");
            let shown = &self.log_tail[self.log_tail.len().saturating_sub(CHAT_TAIL_LINES)..];
            let lines: Vec<String> = shown
                .iter()
                // A line's own fence would end the code block early.
                .map(|line| {
                    let line: String = line.chars().take(CHAT_LINE_CHARS).collect();
                    line.replace("```", "'''")
                })
                .collect();
            description.push(format!("*Last {} lines of* `{from}`", lines.len()));
            description.push(format!("```\n{}\n```", lines.join("\n")));
        } else if let Some(note) = &self.log_tail_note {
            description.push(format!("_No log tail: {note}_"));
        }
        let mut next_steps = vec![format!("Open the execution: {}", self.console_url)];
        if let Some(log) = &self.log {
            next_steps.push(format!("Read the step's logs: {log}"));
        }
        if self.status != "SUCCEEDED" {
            next_steps.push(format!(
                "See the run from a terminal: `sparkplug status {}`",
                self.run_name
            ));
        }
        json!({
            "version": "1.0",
            "source": "custom",
            "id": format!("{}:{}", self.run_name, self.status),
            "content": {
                "textType": "client-markdown",
                "title": format!("{icon} sparkplug {environment}: {} {}", self.job, self.status),
                "description": description.join("\n"),
                "nextSteps": next_steps,
                "keywords": [environment, self.job, self.engine.as_str(), self.status],
            },
            "metadata": {
                "threadId": self.run_name,
                "summary": format!("sparkplug {environment}: {} {}", self.job, self.status),
                "eventType": EVENT_DETAIL_TYPE,
                "relatedResources": [self.console_url],
                "additionalContext": {
                    "job": self.job,
                    "run": self.run_name,
                    "status": self.status,
                    "environment": environment,
                },
            },
        })
    }

    /// The SNS message: the chat notification for the chat service (and every other subscriber but email), the
    /// text for email.
    pub fn sns_message(&self) -> SnsMessage {
        SnsMessage {
            default: self.chat_notification().to_string(),
            email: self.text(),
        }
    }
}

/// The Step Functions console's page of an execution.
pub fn console_url(region: &str, execution_arn: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}")
}

fn describe_trigger(trigger: &Trigger) -> String {
    match (trigger, trigger.input()) {
        (Trigger::S3(_), Some(object)) => object.to_string(),
        (Trigger::Schedule { time, .. }, _) => {
            format!("schedule {}", time.format("%Y-%m-%dT%H:%MZ"))
        }
        (Trigger::Manual { .. }, Some(object)) => format!("manual, input {object}"),
        (Trigger::Upstream { run, .. }, _) => format!("after run {run}"),
        (Trigger::InputSet { partition, .. }, _) => format!(
            "input set {}",
            crate::run::inputs::Partition(partition.clone()).id()
        ),
        (
            Trigger::Batch {
                objects, manifest, ..
            },
            _,
        ) => {
            format!("batch of {objects} objects, manifest {manifest}")
        }
        _ => "manual".to_string(),
    }
}

/// The alert function: an execution's status change → at most one alert; or the catch-up (`{"catch_up": true}`).
#[allow(clippy::too_many_arguments)]
pub async fn alert<S, F>(
    config: &AlertConfig,
    executions: &(impl ExecutionsApi + SfnApi),
    logs: &impl LogsApi,
    sink: &impl AlertsApi,
    tokens: &(impl TokenStore + LookStore + SpendStore + LedgerStore + RunStore),
    event: Value,
    now: DateTime<Utc>,
    sleep: S,
) -> Result<AlertReport, TaskError>
where
    S: Fn(StdDuration) -> F,
    F: Future<Output = ()>,
{
    if event.get("catch_up") == Some(&Value::Bool(true)) {
        return catch_up(config, executions, logs, sink, tokens, &event, now, &sleep).await;
    }
    let Some(change) = ExecutionStatusChange::from_event(&event) else {
        return Err(TaskError::invalid(
            "alert: the input is not a \"Step Functions Execution Status Change\" event or {\"catch_up\": true}",
        ));
    };
    let change = change.map_err(|why| status_change_error("alert", &why))?;
    let late = event.get("sparkplug-backstop") == Some(&Value::Bool(true));
    let run = EndedRun {
        state_machine_arn: &change.state_machine_arn,
        name: &change.name,
        status: &change.status,
        late,
        carried: carried_view(&change),
    };
    alert_run(config, executions, logs, sink, tokens, run, now, &sleep).await
}

/// An execution that ended, as the alert sees it.
struct EndedRun<'a> {
    state_machine_arn: &'a str,
    name: &'a str,
    status: &'a str,
    late: bool,
    /// The execution as its event carried it, when that is all the alert needs.
    carried: Option<ExecutionView>,
}

/// A succeeded execution as its status change carries it — input, output, dates — so that its alert, spend, ledger
/// and record need no DescribeExecution, whose quota (15 a second at most) a burst of runs ending would exhaust. A
/// failure's error and cause are not in the event: those are described.
fn carried_view(change: &ExecutionStatusChange) -> Option<ExecutionView> {
    if change.status != "SUCCEEDED" {
        return None;
    }
    Some(ExecutionView {
        status: change.status.clone(),
        input: change.input_json()?,
        output: Some(change.output_json()?),
        error: None,
        cause: None,
        stopped: change.stop_date,
        started: change.start_date,
    })
}

/// The backstop: every execution that ended since the last look and holds no alert claim is alerted, late.
#[allow(clippy::too_many_arguments)]
async fn catch_up<S, F>(
    config: &AlertConfig,
    executions: &(impl ExecutionsApi + SfnApi),
    logs: &impl LogsApi,
    sink: &impl AlertsApi,
    tokens: &(impl TokenStore + LookStore + SpendStore + LedgerStore + RunStore),
    event: &Value,
    now: DateTime<Utc>,
    sleep: &S,
) -> Result<AlertReport, TaskError>
where
    S: Fn(StdDuration) -> F,
    F: Future<Output = ()>,
{
    let grace = backstop::grace_of(event);
    let look = backstop::ended_since_last_look(
        executions,
        tokens,
        ALERTS_LOOK,
        &config.state_machine_arn,
        now,
        grace,
    )
    .await?;
    let mut report = AlertReport::default();
    for execution in &look.ended {
        // One GetItem: a run alerted (or found not to want an alert) already costs nothing more.
        if tokens
            .is_claimed(&alert_claim_key(&execution.name, &execution.status))
            .await
            .map_err(|e| TaskError::aws("GetItem", e))?
        {
            continue;
        }
        let run = EndedRun {
            state_machine_arn: &config.state_machine_arn,
            name: &execution.name,
            status: &execution.status,
            late: true,
            carried: None,
        };
        let sent = alert_run(config, executions, logs, sink, tokens, run, now, sleep).await?;
        if sent.sent.is_some() {
            report.late.push(execution.name.clone());
        }
    }
    backstop::save(tokens, ALERTS_LOOK, &look).await?;
    info!(
        looked_at = look.ended.len(),
        described = look.described,
        late = report.late.len(),
        "alerts catch-up done"
    );
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn alert_run<S, F>(
    config: &AlertConfig,
    executions: &impl ExecutionsApi,
    logs: &impl LogsApi,
    sink: &impl AlertsApi,
    tokens: &(impl TokenStore + SpendStore + LedgerStore + RunStore),
    run: EndedRun<'_>,
    now: DateTime<Utc>,
    sleep: &S,
) -> Result<AlertReport, TaskError>
where
    S: Fn(StdDuration) -> F,
    F: Future<Output = ()>,
{
    let EndedRun {
        state_machine_arn,
        name,
        status,
        late,
        carried,
    } = run;
    let (name, status) = (name.to_string(), status.to_string());
    let claim = alert_claim_key(&name, &status);
    let execution_arn = crate::engine::execution::execution_arn(state_machine_arn, &name);
    let execution = match carried {
        Some(execution) => execution,
        None => executions
            .describe_execution(&execution_arn)
            .await
            .map_err(|e| TaskError::aws("DescribeExecution", e))?,
    };
    // The tasks' outputs hold a console run's plan and a failed run's summary: a run whose input is its plan and
    // whose output is its summary needs no GetExecutionHistory (20 a second at most).
    let complete =
        is_plan(&execution.input) && summary_in(execution.output.as_ref(), &[]).is_some();
    let outputs = if complete {
        Vec::new()
    } else {
        executions
            .task_outputs(&execution_arn)
            .await
            .map_err(|e| TaskError::aws("GetExecutionHistory", e))?
    };
    let wanted = if status == "SUCCEEDED" {
        NotifyOn::Success
    } else {
        NotifyOn::Failure
    };
    let plan = plan_in(&execution.input, &outputs);
    if let Some(plan) = &plan {
        // Lineage goes out for every run of a catalog with [lineage], whether or not its alert does.
        send_lineage(sink, tokens, plan, &execution, &outputs, &status, now).await?;
        // Every run's cost counts in its month's spend, whether or not its alert goes out.
        let summary = summary_in(execution.output.as_ref(), &outputs).unwrap_or(Value::Null);
        let ended = EndedCost {
            plan,
            usd: summary["cost"]["usd"].as_f64(),
            ended: execution.stopped.unwrap_or(now),
        };
        budget::account(tokens, sink, &config.topic_arn, ended, now).await?;
        // …and in its job's ledger, which the expectations' look reads ("did not run" alerts).
        let error = execution
            .error
            .clone()
            .or(summary["error"].as_str().map(str::to_string));
        tokens
            .run_ended(
                &plan.job,
                &plan.run_name,
                &status,
                execution.stopped.unwrap_or(now),
                error.as_deref(),
            )
            .await
            .map_err(|e| TaskError::aws("UpdateItem", e))?;
        // …and in its run record, which `history` reads by job.
        let plan_value = serde_json::to_value(plan).unwrap_or_default();
        let record = RunRecord {
            job: plan.job.clone(),
            run_name: name.clone(),
            trigger: trigger_of(&execution.input, &plan_value),
            started: execution.started.unwrap_or(now),
            status: status.clone(),
            ended: Some(execution.stopped.unwrap_or(now)),
            summary: (!summary.is_null()).then(|| summary.clone()),
            reason: (status != "SUCCEEDED").then(|| {
                let error = error.as_deref().unwrap_or(status.as_str());
                match &execution.cause {
                    Some(cause) => format!("{error}: {cause}"),
                    None => error.to_string(),
                }
            }),
        };
        tokens
            .run_finished(&record)
            .await
            .map_err(|e| TaskError::aws("UpdateItem", e))?;
    }
    let skip = match plan {
        // A console input that never became a plan (a job that does not exist): the execution's own error says it.
        None => Err(format!("{name}: no run plan (it failed before one)")),
        Some(plan) if !plan.notify.contains(&wanted) => {
            Err(format!("{}: notify does not ask for {status}", plan.job))
        }
        Some(plan) => Ok(plan),
    };
    let plan = match skip {
        Ok(plan) => plan,
        Err(why) => {
            // Marked as looked at, by its event or by the catch-up, so that the catch-up does not describe it
            // (again): one PutItem here spares a DescribeExecution there, whose quota a burst of runs exhausts.
            tokens
                .claim(&claim, now + Duration::days(1))
                .await
                .map_err(|e| TaskError::aws("PutItem", e))?;
            return Ok(AlertReport {
                skipped: Some(why),
                ..AlertReport::default()
            });
        }
    };
    // Once per run and status, however often the event is delivered and whether the look or the event comes first.
    if !tokens
        .claim(&claim, now + Duration::days(1))
        .await
        .map_err(|e| TaskError::aws("PutItem", e))?
    {
        return Ok(AlertReport {
            skipped: Some(format!("{name}: alerted already")),
            ..AlertReport::default()
        });
    }
    let sent = send(
        config,
        logs,
        sink,
        &plan,
        &execution,
        &outputs,
        &execution_arn,
        &status,
        late,
        sleep,
    )
    .await;
    if let Err(error) = sent {
        // Not sent: give the claim back so that a retry (Lambda's, or the next look) sends it.
        if let Err(e) = tokens.unclaim(&claim).await {
            tracing::error!(run = %name, error = %e, "could not give back the alert's claim");
        }
        return Err(error);
    }
    Ok(AlertReport {
        sent: Some(format!("{name}: {status}")),
        ..AlertReport::default()
    })
}

/// The run's OpenLineage RunEvents (START, then COMPLETE, FAIL or ABORT) on the bus, once: claimed first, the claim
/// given back when they could not be sent (so that Lambda's retry, or the catch-up, sends them).
async fn send_lineage(
    sink: &impl AlertsApi,
    tokens: &impl TokenStore,
    plan: &RunPlan,
    execution: &crate::engine::ports::ExecutionView,
    outputs: &[Value],
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), TaskError> {
    let Some(namespace) = &plan.lineage_namespace else {
        return Ok(());
    };
    let claim = lineage_claim_key(&plan.run_name);
    if !tokens
        .claim(&claim, now + Duration::days(1))
        .await
        .map_err(|e| TaskError::aws("PutItem", e))?
    {
        return Ok(());
    }
    let summary = summary_in(execution.output.as_ref(), outputs).unwrap_or(Value::Null);
    let why = execution
        .cause
        .clone()
        .or(summary["cause"].as_str().map(str::to_string))
        .or(execution.error.clone())
        .unwrap_or_else(|| format!("the run ended {status}"));
    let ended = match status {
        "SUCCEEDED" => Ended::Succeeded,
        "ABORTED" => Ended::Aborted,
        _ => Ended::Failed(&why),
    };
    let stopped = execution.stopped.unwrap_or(now);
    let started = execution.started.unwrap_or(stopped);
    for event in run_events(plan, namespace, started, stopped, ended) {
        if let Err(e) = sink
            .put_event(EVENT_SOURCE, LINEAGE_DETAIL_TYPE, &event)
            .await
        {
            if let Err(e) = tokens.unclaim(&claim).await {
                tracing::error!(run = %plan.run_name, error = %e, "could not give back the lineage claim");
            }
            return Err(TaskError::aws("PutEvents", e));
        }
    }
    info!(run = %plan.run_name, status = %status, "lineage sent");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn send<S, F>(
    config: &AlertConfig,
    logs: &impl LogsApi,
    sink: &impl AlertsApi,
    plan: &RunPlan,
    execution: &crate::engine::ports::ExecutionView,
    outputs: &[Value],
    execution_arn: &str,
    status: &str,
    late: bool,
    sleep: &S,
) -> Result<(), TaskError>
where
    S: Fn(StdDuration) -> F,
    F: Future<Output = ()>,
{
    let summary = summary_in(execution.output.as_ref(), outputs).unwrap_or(Value::Null);
    let failure = &summary["failure"];
    let mut alert = Alert {
        job: plan.job.clone(),
        run_name: plan.run_name.clone(),
        engine: plan.engine,
        environment: plan.environment.clone(),
        status: status.to_string(),
        trigger: describe_trigger(&plan.trigger),
        error: execution
            .error
            .clone()
            .or(summary["error"].as_str().map(str::to_string)),
        failed_step: failure["step"].as_str().map(str::to_string),
        reason: execution
            .cause
            .clone()
            .or(summary["cause"].as_str().map(str::to_string)),
        log: failure["log"].as_str().map(str::to_string),
        console_url: console_url(&config.region, execution_arn),
        cost_usd: summary["cost"]["usd"].as_f64(),
        log_tail: Vec::new(),
        log_tail_note: None,
        log_tail_from: None,
        late,
        attempts: summary["attempt"]
            .as_u64()
            .filter(|n| *n > 1)
            .and_then(|n| u32::try_from(n).ok()),
        earlier_attempts: summary["attempts"]
            .as_array()
            .map(|attempts| attempts.iter().map(describe_attempt).collect())
            .unwrap_or_default(),
    };
    if status != "SUCCEEDED" {
        let wait = LogWait {
            at_most: config.log_wait,
            first_pause: config.first_pause,
        };
        match failure_tail(logs, plan, &summary, TAIL_LINES, wait, sleep).await? {
            Ok((lines, from)) => {
                alert.log_tail = lines;
                alert.log_tail_from = Some(from);
            }
            Err(note) => alert.log_tail_note = Some(note),
        }
    }
    sink.publish(&config.topic_arn, &alert.subject(), &alert.sns_message())
        .await
        .map_err(|e| TaskError::aws("Publish", e))?;
    let detail = serde_json::to_value(&alert).unwrap_or(json!({}));
    sink.put_event(EVENT_SOURCE, EVENT_DETAIL_TYPE, &detail)
        .await
        .map_err(|e| TaskError::aws("PutEvents", e))?;
    info!(job = %alert.job, run = %alert.run_name, status = %status, late, tail = alert.log_tail.len(), "alert sent");
    Ok(())
}
