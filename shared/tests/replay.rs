//! `sparkplug replay-failed` over in-memory ports: Lambda's on-failure records are read (and what is not one is
//! named), each event goes to its function again, a handled message is deleted, one that fails again stays.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};
use sparkplug::engine::handlers::replay::{parse_record, replay};
use sparkplug::engine::ports::{AwsError, FailedEventsApi, InvokeApi, QueueDepth, QueuedMessage};

/// The record Lambda writes for an on-failure destination (Lambda Developer Guide, "Capturing records of Lambda
/// asynchronous invocations").
fn record(function: &str, payload: Value) -> String {
    json!({
        "version": "1.0", "timestamp": "2026-12-04T06:00:00.000Z",
        "requestContext": {"requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": format!("arn:aws:lambda:eu-west-1:123456789012:function:{function}:$LATEST"),
            "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "StartExecution: Rate exceeded", "errorType": "Retryable"}
    })
    .to_string()
}

#[derive(Default)]
struct Fake {
    messages: Mutex<Vec<QueuedMessage>>,
    deleted: Mutex<Vec<String>>,
    invoked: Mutex<Vec<(String, Value)>>,
    /// function → its answer (`Err`: it fails again)
    answers: BTreeMap<String, Result<Value, Value>>,
}

impl FailedEventsApi for Fake {
    async fn depth(&self) -> Result<QueueDepth, AwsError> {
        unreachable!()
    }
    async fn receive(&self, max: i32, _: i32) -> Result<Vec<QueuedMessage>, AwsError> {
        // Received messages are hidden: each comes once per replay.
        let mut messages = self.messages.lock().unwrap();
        let take = messages.len().min(max as usize);
        Ok(messages.drain(..take).collect())
    }
    async fn delete(&self, receipt: &str) -> Result<(), AwsError> {
        self.deleted.lock().unwrap().push(receipt.to_string());
        Ok(())
    }
}

impl InvokeApi for Fake {
    async fn invoke(
        &self,
        function: &str,
        payload: &Value,
    ) -> Result<Result<Value, Value>, AwsError> {
        self.invoked
            .lock()
            .unwrap()
            .push((function.to_string(), payload.clone()));
        Ok(self.answers.get(function).cloned().unwrap_or(Ok(json!({}))))
    }
}

fn message(id: usize, body: String) -> QueuedMessage {
    QueuedMessage {
        receipt: format!("r{id}"),
        body,
        sent: None,
    }
}

#[test]
fn an_on_failure_record_names_the_function_its_event_and_why() {
    let arrival = json!({"detail-type": "Object Created", "source": "aws.s3"});
    let failed = parse_record(&record("sparkplug-dev-trigger", arrival.clone())).unwrap();
    assert_eq!(failed.function, "sparkplug-dev-trigger");
    assert_eq!(
        failed.function_arn,
        "arn:aws:lambda:eu-west-1:123456789012:function:sparkplug-dev-trigger"
    );
    assert_eq!(failed.payload, arrival);
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.condition, "RetriesExhausted");
    assert_eq!(
        failed.error.as_deref(),
        Some("Retryable: StartExecution: Rate exceeded")
    );
    for (body, says) in [
        ("not json".to_string(), "not JSON"),
        (json!({"hello": 1}).to_string(), "no requestContext.functionArn"),
        (
            json!({"requestContext": {"functionArn": "arn:aws:sqs:eu-west-1:1:q"}, "requestPayload": {}})
                .to_string(),
            "not a Lambda function ARN",
        ),
        (
            json!({"requestContext": {"functionArn": "arn:aws:lambda:eu-west-1:1:function:f"}}).to_string(),
            "no requestPayload",
        ),
    ] {
        let err = parse_record(&body).unwrap_err();
        assert!(err.contains(says), "{err}");
    }
}

#[tokio::test]
async fn each_event_goes_to_its_function_again_and_a_handled_one_leaves_the_queue() {
    let arrival =
        json!({"detail-type": "Object Created", "detail": {"object": {"key": "in/a.csv"}}});
    let ended =
        json!({"detail-type": "Step Functions Execution Status Change", "detail": {"name": "r1"}});
    let fake = Fake {
        messages: Mutex::new(vec![
            message(1, record("trigger", arrival.clone())),
            message(2, record("queue", ended.clone())),
            message(3, "garbage".into()),
        ]),
        answers: BTreeMap::from([
            (
                "trigger".to_string(),
                Ok(json!({"started": ["sales_daily-abc"], "duplicates": []})),
            ),
            (
                "queue".to_string(),
                Err(json!({"errorType": "Retryable", "errorMessage": "throttled"})),
            ),
        ]),
        ..Fake::default()
    };
    let report = replay(&fake, &fake, |f| f.function.clone(), false)
        .await
        .unwrap();
    assert_eq!(report.started, vec!["sales_daily-abc"]);
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(
        report.failed,
        vec![("queue".to_string(), "throttled".to_string())]
    );
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(
        *fake.invoked.lock().unwrap(),
        vec![
            ("trigger".to_string(), arrival),
            ("queue".to_string(), ended)
        ]
    );
    // Only the handled message is deleted: the one that failed again, and the unreadable one, stay.
    assert_eq!(*fake.deleted.lock().unwrap(), vec!["r1"]);
}

#[tokio::test]
async fn a_dry_run_invokes_nothing_and_deletes_nothing() {
    let fake = Fake {
        messages: Mutex::new(vec![message(1, record("trigger", json!({"tick": true})))]),
        ..Fake::default()
    };
    let report = replay(&fake, &fake, |f| f.function.clone(), true)
        .await
        .unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert!(fake.invoked.lock().unwrap().is_empty());
    assert!(fake.deleted.lock().unwrap().is_empty());
}
