//! The one adapter over the AWS SDK: each port of [`crate::engine::ports`] implemented with its service's client, plus the
//! Lambda glue the functions share. `AWS_ENDPOINT_URL` points every client at a local emulator.

pub mod alerts;
pub mod emr;
pub mod errors;
pub mod glue;
pub mod lambda;
pub mod objects;
#[cfg(feature = "operator")]
pub mod operator;
pub mod run_table;
pub mod serverless;
pub mod sfn;
pub mod telemetry;

use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::engine::errors::{AwsError, ErrorKind};
pub(crate) use errors::{classify, transient_for_this_call};

/// Replaces a request's JSON body with `body`, before it is signed: EMR, Glue and Step Functions speak JSON with
/// the API's own field names, so a plan's request goes out exactly as the user wrote it, every field included.
pub(crate) fn json_body(body: &Value) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    let bytes = body.to_string().into_bytes();
    move |request: &mut HttpRequest| {
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes.clone());
    }
}

/// For calls that are not idempotent (RunJobFlow, AddJobFlowSteps, StartJobRun carry no idempotency token): no SDK
/// retry, whose first attempt may have taken effect with its answer lost. The state machine's Retry runs the task
/// again instead, and the task finds what the lost attempt made before it makes anything (the SDK's
/// retry would re-send a request that may have taken effect: "Retry behavior", AWS SDKs and Tools Reference Guide).
pub(crate) fn no_sdk_retries() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::disabled()
}

/// AWS timestamps travel as fractional epoch seconds; millisecond precision is all they carry.
pub(crate) fn to_chrono(time: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    let millis = time.secs().checked_mul(1000)? + i64::from(time.subsec_nanos() / 1_000_000);
    DateTime::from_timestamp_millis(millis)
}

/// An answer that lacks a field the API always sends.
pub(crate) fn missing(what: &str) -> AwsError {
    AwsError {
        kind: ErrorKind::Failed,
        code: String::new(),
        message: format!("the answer carries no {what}"),
    }
}

pub(crate) fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}
