//! AWS errors → [`ErrorKind`]: the table of error codes, and the classification of an SDK error (throttling, 5xx
//! and transport failures are retryable).

use aws_sdk_emr::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::engine::errors::{AwsError, ErrorKind};

/// The kind of an AWS error code (and HTTP status, when the code says nothing).
pub fn kind_of_code(code: &str, status: Option<u16>) -> ErrorKind {
    match code {
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException" => ErrorKind::Throttled,
        "ConcurrentRunsExceededException"
        | "ConcurrentModificationException"
        | "InternalServerError"
        | "InternalServerException"
        | "InternalServiceException"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "OperationTimeoutException"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorKind::Retryable,
        "ValidationException"
        | "InvalidRequestException"
        | "InvalidInputException"
        | "InvalidParameterValue"
        | "InvalidParameterException"
        | "InvalidName"
        | "InvalidArn"
        | "InvalidExecutionInput"
        | "AccessDeniedException"
        | "ResourceNumberLimitExceededException" => ErrorKind::InvalidInput,
        "EntityNotFoundException"
        | "StateMachineDoesNotExist"
        | "ExecutionDoesNotExist"
        | "ResourceNotFoundException" => ErrorKind::NotFound,
        _ => match status {
            Some(429) => ErrorKind::Throttled,
            Some(s) if s >= 500 => ErrorKind::Retryable,
            _ => ErrorKind::Failed,
        },
    }
}

/// An error that this call's documentation calls transient although its code means "refused" elsewhere: retried.
/// Glue StartJobRun's `ResourceNumberLimitExceededException` is the account's concurrent-run or DPU limit, which frees
/// up as runs end (a backfill meets it; CreateJob's is a real limit on jobs and stays `InvalidInput`); EMR
/// Serverless's `ConflictException` on StartJobRun or UpdateApplication is the application racing its own auto-start
/// or auto-stop (EMR Serverless API Reference: UpdateApplication only in CREATED or STOPPED).
pub(crate) fn transient_for_this_call(mut error: AwsError, codes: &[&str]) -> AwsError {
    if codes.contains(&error.code.as_str()) {
        error.kind = ErrorKind::Retryable;
    }
    error
}

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
                kind: kind_of_code(&code, status),
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
