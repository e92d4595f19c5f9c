//! `sparkplug replay-failed`: the events a function could not handle after Lambda's retries, sent to it again.
//!
//! An asynchronous invocation (every EventBridge rule and schedule invokes its function so) that fails past its
//! retries lands in the stack's failed-events queue as the record Lambda writes for an on-failure destination (Lambda
//! Developer Guide, "Capturing records of Lambda asynchronous invocations"): the function's ARN in
//! `requestContext.functionArn` and the event in `requestPayload`. Replaying is safe: run keys make a second start of
//! a run a no-op, a waiter answered twice is dropped, an alert is claimed once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::errors::TaskError;
use crate::engine::ports::{FailedEventsApi, InvokeApi};

/// One record of the failed-events queue, as Lambda writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedInvocation {
    /// The function's name (the record's ARN without its qualifier).
    pub function: String,
    pub function_arn: String,
    /// `RetriesExhausted`, `EventAgeExceeded`, …
    pub condition: String,
    pub attempts: u64,
    /// The event the function could not handle.
    pub payload: Value,
    /// What the function answered the last time, if anything.
    pub error: Option<String>,
}

/// Reads a queue message as Lambda's on-failure record; what is not one is named.
pub fn parse_record(body: &str) -> Result<FailedInvocation, String> {
    let record: Value = serde_json::from_str(body)
        .map_err(|e| format!("the message is not JSON ({e}): not a Lambda on-failure record"))?;
    let context = &record["requestContext"];
    let arn = context["functionArn"]
        .as_str()
        .ok_or("the message has no requestContext.functionArn: not a Lambda on-failure record")?;
    // arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
    let (base, name) = match arn.split(':').collect::<Vec<_>>().as_slice() {
        [_, _, "lambda", _, _, "function", name, ..] => (
            arn.split(':').take(7).collect::<Vec<_>>().join(":"),
            name.to_string(),
        ),
        _ => {
            return Err(format!(
                "requestContext.functionArn `{arn}` is not a Lambda function ARN"
            ))
        }
    };
    if !record
        .as_object()
        .is_some_and(|r| r.contains_key("requestPayload"))
    {
        return Err(format!("the record of {name} has no requestPayload"));
    }
    let error = record["responsePayload"]["errorMessage"]
        .as_str()
        .map(
            |message| match record["responsePayload"]["errorType"].as_str() {
                Some(kind) => format!("{kind}: {message}"),
                None => message.to_string(),
            },
        );
    Ok(FailedInvocation {
        function: name,
        function_arn: base,
        condition: context["condition"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        attempts: context["approximateInvokeCount"].as_u64().unwrap_or(0),
        payload: record["requestPayload"].clone(),
        error,
    })
}

/// What one replay did with each message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Replayed and handled: (function, its answer), and the message deleted.
    pub replayed: Vec<(String, Value)>,
    /// Replayed and failed again: (function, why); the message stays for a later replay.
    pub failed: Vec<(String, String)>,
    /// Messages that are not Lambda on-failure records (left in the queue), and why.
    pub unreadable: Vec<String>,
    /// What the runs started by replayed trigger events were named (the trigger's `started`).
    pub started: Vec<String>,
}

/// Receives every message of the queue, invokes its function with its event, and deletes it once handled.
/// `invoke_name` maps a record's function (its name and ARN) to what `invoker` calls. With `dry_run`, it only reads
/// (each message comes back to the queue when its hiding ends).
pub async fn replay(
    queue: &impl FailedEventsApi,
    invoker: &impl InvokeApi,
    invoke_name: impl Fn(&FailedInvocation) -> String,
    dry_run: bool,
) -> Result<ReplayReport, TaskError> {
    let mut report = ReplayReport::default();
    loop {
        // Hidden for 5 minutes: long enough to replay a batch, and a message that failed again comes back later. A dry
        // run hides nothing: it reads one batch and leaves the queue as it was.
        let batch = queue
            .receive(10, if dry_run { 0 } else { 300 })
            .await
            .map_err(|e| TaskError::aws("ReceiveMessage", e))?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            let failed = match parse_record(&message.body) {
                Ok(failed) => failed,
                Err(why) => {
                    report.unreadable.push(why);
                    continue;
                }
            };
            if dry_run {
                report.replayed.push((
                    failed.function.clone(),
                    serde_json::json!({"would_replay": failed.payload, "last_error": failed.error}),
                ));
                continue;
            }
            match invoker
                .invoke(&invoke_name(&failed), &failed.payload)
                .await
                .map_err(|e| TaskError::aws("Invoke", e))?
            {
                Ok(answer) => {
                    if let Some(started) = answer["started"].as_array() {
                        report
                            .started
                            .extend(started.iter().filter_map(Value::as_str).map(str::to_string));
                    }
                    queue
                        .delete(&message.receipt)
                        .await
                        .map_err(|e| TaskError::aws("DeleteMessage", e))?;
                    report.replayed.push((failed.function, answer));
                }
                Err(error) => {
                    let why = error["errorMessage"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| error.to_string());
                    report.failed.push((failed.function, why));
                }
            }
        }
        if dry_run {
            break;
        }
    }
    Ok(report)
}
