//! What every sparkplug Lambda does the same way: logs, SDK configuration, error types.

use std::future::Future;
use std::time::Duration;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use super::telemetry;
use crate::engine::input::handle;
use crate::engine::TaskError;

pub use lambda_runtime::Error;

/// Every SDK call's limit, its retries included: well below the functions' Timeout (template.yaml; the deploy-file
/// tests hold every function to at least three calls' worth), so that one slow answer fails that call as
/// `Retryable`, which the state machine retries, instead of timing the whole function out.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
/// One attempt's limit, so that a hung connection leaves time for the SDK's own retry of idempotent calls.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(7);

/// Runs the Lambda runtime loop with a typed handler: the event is decoded as `I` (bad input fails the invocation
/// as `InvalidInput`, naming the function and what is wrong) and the handler's `O` is the function's output.
pub async fn serve<I, O, F, Fut>(handler: F) -> Result<(), Error>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, TaskError>>,
{
    let handler = &handler;
    let traced = telemetry::wanted();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let function = &event.context.env_config.function_name;
        let span = traced.then(|| {
            telemetry::invocation_span(
                function,
                event.context.xray_trace_id.as_deref(),
                &event.payload,
            )
        });
        // Boxed: the handlers' futures nest deep already, and a span around them would pass the compiler's layout
        // depth in some functions.
        let invocation = Box::pin(handle(function, event.payload, handler));
        match span {
            Some(span) => invocation.instrument(span).await,
            None => invocation.await,
        }
    }))
    .await
}

/// A required environment variable, or a start-up error that names it.
pub fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("the environment variable {name} is not set").into())
}

/// JSON logs when Lambda's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), plain text otherwise. The level comes
/// from Lambda's `AWS_LAMBDA_LOG_LEVEL` (the function's ApplicationLogLevel), else `RUST_LOG` as a plain level,
/// else INFO. (A plain level rather than an env-filter: the filter's regex engine alone adds ~0.5 MB to each zip.)
/// With traces on (`SPARKPLUG_TRACING`, [`telemetry`]), each invocation's span and its AWS calls' also go to X-Ray,
/// whatever the log level.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::prelude::*;

    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find_map(|value| value.trim().parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time();
    // None when traces are off: a layer that is not there enables no span.
    let registry = tracing_subscriber::registry().with(telemetry::xray_layer());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        registry
            .with(
                logs.json()
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_filter(LevelFilter::from_level(level)),
            )
            .init();
    } else {
        registry
            .with(logs.with_filter(LevelFilter::from_level(level)))
            .init();
    }
}

/// The SDK configuration of a Lambda function, from the variables Lambda sets: region, credentials, and
/// `AWS_ENDPOINT_URL` for a local emulator. Only the environment is read: no profile files, instance metadata or
/// STS client, which a Lambda never needs — less code in the zip and less work at init (see BENCHMARKS.md).
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;

    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .map(aws_config::Region::new);
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ),
        );
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    // The function's name in every request's User-Agent (`app/<name>`): CloudTrail then says which function made a
    // call, and the local emulator checks each call against that function's policy.
    if let Some(name) = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .and_then(|name| aws_config::AppName::new(name).ok())
    {
        config = config.app_name(name);
    }
    config
        .retry_config(throttle_retries())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .build()
}

/// The functions' SDK retries: AWS's quotas are token buckets, and a burst meets them. Standard mode (AWS SDKs and
/// Tools Reference Guide, "Retry behavior") retries a throttled call with exponential backoff and jitter; five
/// attempts fit the operation's timeout. (Adaptive mode would add a client-side rate limiter, which lives as long
/// as the warm Lambda container, past the burst that taught it.) The calls that are not idempotent turn retries off
/// for themselves (`no_sdk_retries`).
pub fn throttle_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(5)
}

impl From<TaskError> for Diagnostic {
    fn from(error: TaskError) -> Diagnostic {
        Diagnostic {
            error_type: error.kind.as_str().to_string(),
            error_message: error.message,
        }
    }
}
