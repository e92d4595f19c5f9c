//! A run's execution of the run state machine: its ARN, and the "Step Functions Execution Status Change" event that
//! tells it ended — read here once for every function that hears it (trigger, queue, alert, janitor).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The event's `detail-type` (Step Functions Developer Guide, "Automating Step Functions event delivery with
/// EventBridge").
pub const STATUS_CHANGE: &str = "Step Functions Execution Status Change";

/// The ARN of the execution `name` of a state machine (Step Functions' ARN format: the state machine's, with
/// `:execution:` for `:stateMachine:` and the name after it).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    let base = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
    format!("{base}:{name}")
}

/// What an "Execution Status Change" event says of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionStatusChange {
    pub state_machine_arn: String,
    pub name: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED (or PENDING_REDRIVE).
    pub status: String,
    /// The execution's input, as a JSON string; absent when EventBridge could not carry it (`inputDetails`).
    pub input: Option<String>,
    /// A succeeded execution's output, as a JSON string; absent for any other status, or when EventBridge could not
    /// carry it (`outputDetails`).
    pub output: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub stop_date: Option<DateTime<Utc>>,
}

impl ExecutionStatusChange {
    /// Reads an EventBridge event: `None` when it is not an execution's status change (another source or
    /// detail-type); an error naming the missing field when it is one without what every such event carries.
    pub fn from_event(event: &Value) -> Option<Result<Self, String>> {
        let source = event.get("source").and_then(Value::as_str);
        let detail_type = event.get("detail-type").and_then(Value::as_str);
        if source != Some("aws.states") || detail_type != Some(STATUS_CHANGE) {
            return None;
        }
        Some(Self::from_detail(
            event.get("detail").unwrap_or(&Value::Null),
        ))
    }

    /// Reads the event's `detail`.
    pub fn from_detail(detail: &Value) -> Result<Self, String> {
        let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_string);
        let field = |key: &str| text(key).ok_or_else(|| format!("no `detail.{key}`"));
        // A payload EventBridge could not carry whole says so (`included: false`): absent, not truncated.
        let carried = |key: &str, details: &str| {
            text(key).filter(|_| detail[details]["included"].as_bool() != Some(false))
        };
        let date = |key: &str| {
            detail
                .get(key)
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis)
        };
        Ok(ExecutionStatusChange {
            state_machine_arn: field("stateMachineArn")?,
            name: field("name")?,
            status: field("status")?,
            input: carried("input", "inputDetails"),
            output: carried("output", "outputDetails"),
            start_date: date("startDate"),
            stop_date: date("stopDate"),
        })
    }

    /// The execution's input, as JSON (`None` when absent or not JSON).
    pub fn input_json(&self) -> Option<Value> {
        serde_json::from_str(self.input.as_deref()?).ok()
    }

    /// A succeeded execution's output, as JSON (`None` when absent or not JSON).
    pub fn output_json(&self) -> Option<Value> {
        serde_json::from_str(self.output.as_deref()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_status_change_is_read_once_for_every_function_and_other_events_are_not_one() {
        let event = json!({"source": "aws.states", "detail-type": STATUS_CHANGE, "detail": {
            "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev",
            "name": "hello-1", "status": "FAILED", "input": "{\"job\": \"hello_world\"}",
            "stopDate": 1_795_933_800_000_i64}});
        let change = ExecutionStatusChange::from_event(&event).unwrap().unwrap();
        assert_eq!(
            (change.name.as_str(), change.status.as_str()),
            ("hello-1", "FAILED")
        );
        assert_eq!(change.input_json(), Some(json!({"job": "hello_world"})));
        assert_eq!(change.stop_date.map(|t| t.timestamp()), Some(1_795_933_800));
        assert_eq!(
            execution_arn(&change.state_machine_arn, &change.name),
            "arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:hello-1"
        );
        // One without a field every such event carries: the error names it.
        let mut bare = event.clone();
        bare["detail"].as_object_mut().unwrap().remove("name");
        let err = ExecutionStatusChange::from_event(&bare)
            .unwrap()
            .unwrap_err();
        assert_eq!(err, "no `detail.name`");
        // Another kind of event is not one.
        let scheduled =
            json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
        assert!(ExecutionStatusChange::from_event(&scheduled).is_none());
    }
}
