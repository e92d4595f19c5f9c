//! The one adapter over the AWS SDK: each port of [`crate::ports`] implemented with its service's client, plus the
//! Lambda glue the functions share. `AWS_ENDPOINT_URL` points every client at a local emulator.

pub mod emr;
pub mod glue;
pub mod lambda;
pub mod sfn;

use aws_sdk_emr::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ports::{AwsError, ErrorKind};

/// Classifies an SDK error for the state machine: throttling, 5xx and transport failures are retryable.
pub(crate) fn classify<E, R>(error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = error.raw_response().map(HasStatus::status);
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or_default().to_string();
            AwsError {
                kind: ErrorKind::of_aws_code(&code, status),
                message: inner
                    .message()
                    .map_or_else(|| inner.to_string(), str::to_string),
                code,
            }
        }
        SdkError::ConstructionFailure(_) => AwsError {
            kind: ErrorKind::InvalidInput,
            code: String::new(),
            message: format!(
                "cannot build the request: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&error)
            ),
        },
        _ => AwsError {
            kind: ErrorKind::Retryable,
            code: String::new(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
        },
    }
}

/// The HTTP status of a raw response, for classifying errors without a code.
pub(crate) trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

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
