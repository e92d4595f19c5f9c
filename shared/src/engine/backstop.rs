//! Backstops: what a lost event would have set off, reached again by a periodic look that converges from state.
//!
//! EventBridge delivers "Step Functions Execution Status Change" best effort, and an asynchronously invoked function
//! that fails past its retries drops the event into the on-failure queue. Whatever such an event drives (a chained
//! run, an alert) is therefore also reached by a look on a schedule, which reads a bounded window of the run state
//! machine's executions — never every execution of the account — and acts idempotently, so that a late event or a
//! second look does nothing twice.
//!
//! [`ended_since_last_look`] is that window: each look lists only the executions that *started* since the previous
//! look (ListExecutions is newest first: the call count grows with the runs since then), and looks again by name at
//! those it saw running. Its state (a watermark and the names it watches) is kept in the token table under the
//! look's name and saved by the caller only once what it found was handled, so a look that fails is simply made again.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::errors::TaskError;
use super::ports::{ExecutionSummary, LookStore, SfnApi};

// The looks' names: each one's state is the token table's `look#<name>` item.
/// The tick's look: the last minute it evaluated.
pub const TICK_LOOK: &str = "tick";
/// The chains' catch-up: the chained runs whose upstream's success event was lost.
pub const CHAINS_LOOK: &str = "chains";
/// The alerts' catch-up: the runs whose end event was lost, alerted late.
pub const ALERTS_LOOK: &str = "alerts";

/// How far back a look that has no state yet (its first ever) lists executions.
pub const FIRST_LOOKBACK: Duration = Duration::hours(1);
/// ListExecutions is eventually consistent: each look lists again from this far before its watermark, so that an
/// execution that became visible late is still seen (handling it twice is harmless).
pub const LIST_MARGIN: Duration = Duration::seconds(60);
/// An execution that ended this recently is left to its own event for one more period: the backstop acts on what
/// the event path should have done by now, and says so ("late").
pub const DEFAULT_GRACE: Duration = Duration::seconds(60);

/// What one look found, and the state to save once that is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// Executions that ended (past the grace) and have not been handed to this look before.
    pub ended: Vec<ExecutionSummary>,
    pub next: super::ports::LookState,
    /// API calls the look made: ListExecutions pages are not counted (one a look while the window is short),
    /// DescribeExecution of the watched executions are.
    pub described: usize,
}

/// The executions of `state_machine_arn` that ended since the last look named `look_name`.
pub async fn ended_since_last_look(
    sfn: &impl SfnApi,
    looks: &impl LookStore,
    look_name: &str,
    state_machine_arn: &str,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Look, TaskError> {
    let state = looks
        .look_state(look_name)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?
        .unwrap_or_default();
    let since = state.watermark.unwrap_or(now - FIRST_LOOKBACK) - LIST_MARGIN;
    let listed = sfn
        .executions_since(state_machine_arn, since)
        .await
        .map_err(|e| TaskError::aws("ListExecutions", e))?;
    let mut watermark = state.watermark;
    let mut ended = Vec::new();
    let mut watching = Vec::new();
    let settled = |execution: &ExecutionSummary| {
        execution.status != "RUNNING"
            && execution.status != "PENDING_REDRIVE"
            && execution
                .stopped
                .is_none_or(|stopped| stopped <= now - grace)
    };
    for execution in &listed {
        watermark = Some(watermark.map_or(execution.started, |w| w.max(execution.started)));
        if settled(execution) {
            ended.push(execution.clone());
        } else {
            watching.push(execution.name.clone());
        }
    }
    let mut described = 0;
    for name in &state.watching {
        if listed.iter().any(|e| &e.name == name) {
            continue;
        }
        described += 1;
        let status = sfn
            .execution_status(state_machine_arn, name)
            .await
            .map_err(|e| TaskError::aws("DescribeExecution", e))?;
        let Some(status) = status else {
            continue; // gone (past Step Functions' 90 days): nothing to do for it
        };
        // The stop time is not in DescribeExecution's status alone: a watched execution that ended is past the
        // grace by the time a later look finds it (it was running, or within the grace, one period ago).
        let summary = ExecutionSummary {
            name: name.clone(),
            status,
            started: now,
            stopped: Some(now - grace),
        };
        if settled(&summary) {
            ended.push(summary);
        } else {
            watching.push(name.clone());
        }
    }
    watching.sort();
    watching.dedup();
    Ok(Look {
        ended,
        next: super::ports::LookState {
            watermark: watermark.or(Some(now - FIRST_LOOKBACK)),
            watching,
        },
        described,
    })
}

/// `grace_seconds` of a backstop's input (tests run the looks at once), else [`DEFAULT_GRACE`].
pub fn grace_of(input: &Value) -> Duration {
    input
        .get("grace_seconds")
        .and_then(Value::as_i64)
        .map_or(DEFAULT_GRACE, Duration::seconds)
}

/// Saves a look's state once what it found was handled.
pub async fn save(looks: &impl LookStore, look_name: &str, look: &Look) -> Result<(), TaskError> {
    looks
        .save_look_state(look_name, &look.next)
        .await
        .map_err(|e| TaskError::aws("PutItem", e))?;
    Ok(())
}

/// The "Step Functions Execution Status Change" event that an ended execution's would have been (Step Functions
/// Developer Guide, "Step Functions events": `detail` with executionArn, stateMachineArn, name, status, startDate,
/// stopDate in epoch milliseconds, input as a string), so that a backstop hands it to the same code as the event.
pub fn status_change_event(
    state_machine_arn: &str,
    execution: &ExecutionSummary,
    input: Option<&Value>,
) -> Value {
    let execution_arn = super::execution::execution_arn(state_machine_arn, &execution.name);
    json!({
        "version": "0",
        "id": format!("backstop-{}", execution.name),
        "detail-type": super::execution::STATUS_CHANGE,
        "source": "aws.states",
        "resources": [execution_arn.clone()],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": state_machine_arn,
            "name": execution.name,
            "status": execution.status,
            "startDate": execution.started.timestamp_millis(),
            "stopDate": execution.stopped.map(|t| t.timestamp_millis()),
            "input": input.map(Value::to_string),
        },
        "sparkplug-backstop": true,
    })
}
