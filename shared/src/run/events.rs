//! Trigger events: what the trigger function receives, turned into object arrivals and named runs.
//!
//! Shapes understood (fixtures under `tests/events/` are AWS's documented samples):
//! - an S3 event notification (`Records[]`, every record; keys are form-urlencoded);
//! - an EventBridge event: S3 "Object Created" (raw key in `detail.object.key`) or a "Scheduled Event" without
//!   constant input (the job is found from the rule's name);
//! - a named run `{"job": …, "args": {…}, "input": "s3://…", "time": "…", "run_name": "…"}`: an EventBridge schedule's
//!   constant input or a manual run;
//! - the one-minute schedule's tick `{"tick": true, "time": "…"}`: the scheduled jobs due at that minute run;
//! - a run's "Step Functions Execution Status Change": a succeeded run starts the jobs that run after its job.

use std::collections::BTreeMap;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3EventRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::execution::{ExecutionStatusChange, STATUS_CHANGE};
use crate::run::s3::{decode_notification_key, S3Location};

/// An object that arrived in S3.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectArrival {
    pub bucket: String,
    /// The decoded key, as it is in the bucket.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
}

/// How a named run names its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// `{"job": "name"}`.
    Name(String),
    /// An EventBridge Scheduled Event: the rule's name, which ends with the job's name.
    Rule(String),
}

/// A run of one job asked for by name: a schedule or a manual run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub job: JobRef,
    pub scheduled: bool,
    pub args: BTreeMap<String, String>,
    pub input: Option<S3Location>,
    /// The scheduled time, or the time the caller gives; `None` means "now".
    pub time: Option<DateTime<Utc>>,
    /// A run name chosen by the caller (to make a manual run idempotent).
    pub run_name: Option<String>,
}

/// A run that succeeded, as its execution's status change tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRun {
    pub job: String,
    /// Its execution (run) name.
    pub run: String,
    pub time: DateTime<Utc>,
    /// Its input object, if it had one.
    pub input: Option<S3Location>,
}

/// One item of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventItem {
    Arrival(ObjectArrival),
    Run(RunRequest),
    /// The one-minute schedule's tick: every scheduled job due at this minute runs.
    Tick(DateTime<Utc>),
    /// A run of the state machine succeeded: the jobs that run after its job start.
    Succeeded(UpstreamRun),
    /// Understood, and deliberately not a run (an object removal, S3's test event), with the reason.
    Ignored(String),
}

/// An event that is not one of the shapes sparkplug understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: {0}")]
    Unrecognised(String),
    #[error("record {index}: {reason}")]
    BadRecord { index: usize, reason: String },
}

/// Parses a trigger event. The outer error means the whole event is unusable; each item of the inner list is one
/// record (an S3 notification may carry several), so that one bad record does not hide the good ones.
pub fn parse_event(event: &Value) -> Result<Vec<Result<EventItem, EventError>>, EventError> {
    let Some(object) = event.as_object() else {
        return Err(EventError::Unrecognised(format!(
            "expected a JSON object, found {}",
            crate::catalog::shapes::kind(event)
        )));
    };
    if let Some(records) = object.get("Records") {
        let records = records
            .as_array()
            .ok_or_else(|| EventError::Unrecognised("`Records` is not an array".to_string()))?;
        return Ok(records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                notification_record(record)
                    .map_err(|reason| EventError::BadRecord { index, reason })
            })
            .collect());
    }
    if object.contains_key("detail-type") {
        return eventbridge(event).map(|item| vec![Ok(item)]);
    }
    if object.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(vec![Ok(EventItem::Ignored(
            "S3 test event (sent when a notification is configured)".to_string(),
        ))]);
    }
    if object.contains_key("job") {
        return named_run(event).map(|item| vec![Ok(item)]);
    }
    if object.contains_key("tick") {
        return tick(object).map(|item| vec![Ok(item)]);
    }
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    Err(EventError::Unrecognised(format!(
        "expected an S3 notification (`Records`), an EventBridge event (`detail-type`) or a named run \
         (`{{\"job\": …}}`); found the fields [{}]",
        keys.join(", ")
    )))
}

/// `{"tick": true, "time": "<aws.scheduler.scheduled-time>"}`: the minute schedule's constant input.
fn tick(object: &serde_json::Map<String, Value>) -> Result<EventItem, EventError> {
    if object.get("tick") != Some(&Value::Bool(true)) {
        return Err(EventError::Unrecognised("`tick` must be true".to_string()));
    }
    let time = object
        .get("time")
        .and_then(Value::as_str)
        .ok_or_else(|| EventError::Unrecognised("a tick needs its scheduled `time`".to_string()))?;
    let time = DateTime::parse_from_rfc3339(time).map_err(|e| {
        EventError::Unrecognised(format!("tick `time` `{time}` is not an RFC 3339 time: {e}"))
    })?;
    Ok(EventItem::Tick(time.with_timezone(&Utc)))
}

/// A run's execution status change: a SUCCEEDED run of a job (its input names the job: a plan, or a `{"job": …}`
/// request) is an upstream run; any other status starts nothing.
fn upstream(detail: &Value) -> Result<EventItem, EventError> {
    let unrecognised =
        |why: &str| EventError::Unrecognised(format!("execution status change: {why}"));
    let change = ExecutionStatusChange::from_detail(detail).map_err(|why| unrecognised(&why))?;
    let (name, status) = (change.name.as_str(), change.status.as_str());
    if status != "SUCCEEDED" {
        return Ok(EventItem::Ignored(format!(
            "run {name} ended {status}: only a success starts the jobs after it"
        )));
    }
    let input: Value = change
        .input_json()
        .ok_or_else(|| unrecognised("`detail.input` is not the run's JSON input"))?;
    let job = input
        .get("job")
        .and_then(Value::as_str)
        .ok_or_else(|| unrecognised("the run's input names no `job`"))?
        .to_string();
    let object = match serde_json::from_value::<crate::run::RunPlan>(input.clone()) {
        Ok(plan) => plan.trigger.input(),
        Err(_) => input
            .get("input")
            .and_then(Value::as_str)
            .and_then(|uri| S3Location::parse(uri).ok()),
    };
    let time = change.stop_date.unwrap_or_default();
    Ok(EventItem::Succeeded(UpstreamRun {
        job,
        run: name.to_string(),
        time,
        input: object,
    }))
}

fn notification_record(record: &Value) -> Result<EventItem, String> {
    let record: S3EventRecord = serde_json::from_value(record.clone())
        .map_err(|e| format!("not an S3 event record: {e}"))?;
    let name = record.event_name.as_deref().unwrap_or("");
    if !name.starts_with("ObjectCreated:") {
        return Ok(EventItem::Ignored(format!(
            "S3 event `{name}` is not an object creation"
        )));
    }
    let bucket = record
        .s3
        .bucket
        .name
        .filter(|b| !b.is_empty())
        .ok_or("`s3.bucket.name` is missing")?;
    let raw_key = record
        .s3
        .object
        .key
        .filter(|k| !k.is_empty())
        .ok_or("`s3.object.key` is missing")?;
    let key = decode_notification_key(&raw_key)?;
    Ok(EventItem::Arrival(ObjectArrival {
        bucket,
        key,
        version_id: record.s3.object.version_id.filter(|v| !v.is_empty()),
        sequencer: record.s3.object.sequencer.filter(|v| !v.is_empty()),
        etag: record.s3.object.e_tag.filter(|v| !v.is_empty()),
        size: record.s3.object.size,
        time: Some(record.event_time),
    }))
}

/// `detail` of an EventBridge S3 "Object Created" event.
#[derive(Deserialize)]
struct ObjectCreatedDetail {
    bucket: BucketDetail,
    object: ObjectDetail,
}

#[derive(Deserialize)]
struct BucketDetail {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ObjectDetail {
    key: String,
    size: Option<i64>,
    etag: Option<String>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

fn eventbridge(event: &Value) -> Result<EventItem, EventError> {
    let unrecognised = |reason: String| EventError::Unrecognised(reason);
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(event.clone())
        .map_err(|e| unrecognised(format!("not an EventBridge event: {e}")))?;
    match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.s3", "Object Created") => {
            let detail: ObjectCreatedDetail = serde_json::from_value(envelope.detail)
                .map_err(|e| unrecognised(format!("S3 Object Created event: bad `detail`: {e}")))?;
            if detail.bucket.name.is_empty() || detail.object.key.is_empty() {
                return Err(unrecognised(
                    "S3 Object Created event without a bucket name or object key".to_string(),
                ));
            }
            Ok(EventItem::Arrival(ObjectArrival {
                bucket: detail.bucket.name,
                key: detail.object.key,
                version_id: detail.object.version_id.filter(|v| !v.is_empty()),
                sequencer: detail.object.sequencer.filter(|v| !v.is_empty()),
                etag: detail.object.etag.filter(|v| !v.is_empty()),
                size: detail.object.size,
                time: envelope.time,
            }))
        }
        ("aws.s3", other) => Ok(EventItem::Ignored(format!(
            "S3 event `{other}` is not an object creation"
        ))),
        ("aws.events", "Scheduled Event") => {
            let rule = envelope
                .resources
                .unwrap_or_default()
                .into_iter()
                .find_map(|arn| arn.rsplit_once("rule/").map(|(_, name)| name.to_string()))
                .ok_or_else(|| {
                    unrecognised(
                        "Scheduled Event without a rule ARN in `resources`: give the rule a constant input \
                         {\"job\": …}"
                            .to_string(),
                    )
                })?;
            Ok(EventItem::Run(RunRequest {
                job: JobRef::Rule(rule),
                scheduled: true,
                args: BTreeMap::new(),
                input: None,
                time: envelope.time,
                run_name: None,
            }))
        }
        ("aws.states", STATUS_CHANGE) => upstream(&envelope.detail),
        (source, detail_type) => Err(unrecognised(format!(
            "EventBridge event `{detail_type}` from `{source}` is not a trigger sparkplug handles \
             (S3 `Object Created`, a `Scheduled Event` or a run's `Step Functions Execution Status Change`)"
        ))),
    }
}

/// A named run as it is written in an EventBridge schedule's constant input or a manual invocation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedRun {
    job: String,
    #[serde(default)]
    args: BTreeMap<String, Value>,
    input: Option<String>,
    time: Option<DateTime<Utc>>,
    run_name: Option<String>,
    /// Set by sparkplug's own schedules; a run without it is manual.
    #[serde(default)]
    scheduled: bool,
    /// Start it even past its job's budget: read by the state machine's budget check, from the execution's input.
    #[serde(default, rename = "over_budget")]
    _over_budget: bool,
}

fn named_run(event: &Value) -> Result<EventItem, EventError> {
    let bad =
        |reason: String| EventError::Unrecognised(format!("named run {{\"job\": …}}: {reason}"));
    let run: NamedRun = serde_json::from_value(event.clone()).map_err(|e| bad(e.to_string()))?;
    let mut args = BTreeMap::new();
    for (name, value) in run.args {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(bad(format!(
                    "args.{name} must be a string, number or boolean, found {}",
                    crate::catalog::shapes::kind(&other)
                )))
            }
        };
        args.insert(name, text);
    }
    let input = run
        .input
        .map(|uri| S3Location::parse(&uri).map_err(|e| bad(format!("input: {e}"))))
        .transpose()?;
    Ok(EventItem::Run(RunRequest {
        job: JobRef::Name(run.job),
        scheduled: run.scheduled,
        args,
        input,
        time: run.time,
        run_name: run.run_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(key: &str, name: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2026-11-27T06:00:00.000Z", "eventName": name,
            "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": "data", "ownerIdentity": {"principalId": "P"}, "arn": "arn:aws:s3:::data"},
                   "object": {"key": key, "size": 3, "eTag": "e", "sequencer": "0A1B"}}
        })
    }

    #[test]
    fn every_record_of_a_notification_is_an_item_and_a_bad_one_stays_alone() {
        let event = json!({"Records": [
            record("in/a+b%3Dc.csv", "ObjectCreated:Put"),
            {"eventName": "ObjectCreated:Put"},
            record("in/gone.csv", "ObjectRemoved:Delete"),
        ]});
        let items = parse_event(&event).unwrap();
        assert_eq!(items.len(), 3);
        match &items[0] {
            Ok(EventItem::Arrival(a)) => {
                assert_eq!(
                    (a.bucket.as_str(), a.key.as_str()),
                    ("data", "in/a b=c.csv")
                );
                assert_eq!(a.sequencer.as_deref(), Some("0A1B"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&items[1], Err(EventError::BadRecord { index: 1, reason }) if reason.contains("not an S3 event record"))
        );
        assert!(
            matches!(&items[2], Ok(EventItem::Ignored(why)) if why.contains("ObjectRemoved:Delete"))
        );
    }

    #[test]
    fn unknown_shapes_name_what_was_found() {
        let err = parse_event(&json!({"hello": 1})).unwrap_err();
        assert!(
            err.to_string().contains("found the fields [hello]"),
            "{err}"
        );
        let err = parse_event(&json!([1])).unwrap_err();
        assert!(err.to_string().contains("found an array"), "{err}");
        let err = parse_event(&json!({"Records": {}})).unwrap_err();
        assert!(err.to_string().contains("not an array"), "{err}");
        let err = parse_event(&json!({"job": "x", "argz": {}})).unwrap_err();
        assert!(err.to_string().contains("argz"), "{err}");
        let err = parse_event(&json!({"job": "x", "args": {"a": [1]}})).unwrap_err();
        assert!(err.to_string().contains("args.a must be a string"), "{err}");
        let err = parse_event(&json!({"job": "x", "input": "http://x/y"})).unwrap_err();
        assert!(err.to_string().contains("input:"), "{err}");
    }

    #[test]
    fn named_runs_carry_args_input_and_time() {
        let items = parse_event(
            &json!({"job": "daily", "args": {"date": "2026-01-02", "n": 3},
            "input": "s3://bkt/k.csv", "time": "2026-11-27T06:00:00Z"}),
        )
        .unwrap();
        let Ok(EventItem::Run(run)) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(run.job, JobRef::Name("daily".into()));
        assert_eq!(run.args.get("n").map(String::as_str), Some("3"));
        assert_eq!(run.input.as_ref().map(|i| i.key.as_str()), Some("k.csv"));
        assert!(!run.scheduled);
        assert!(run.time.is_some());
    }
}
