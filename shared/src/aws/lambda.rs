//! What every sparkplug Lambda does the same way: logs, SDK configuration, error types.

use std::future::Future;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use crate::tasks::TaskError;

pub use lambda_runtime::Error;

/// Runs the Lambda runtime loop with a handler from event payload to output.
pub async fn serve<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, TaskError>>,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handler(event.payload)
    }))
    .await
}

/// A required environment variable, or a start-up error that names it.
pub fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("the environment variable {name} is not set").into())
}

/// JSON logs when Lambda's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), plain text otherwise; `RUST_LOG` filters.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        builder.json().with_current_span(false).init();
    } else {
        builder.init();
    }
}

/// The SDK configuration from the environment: region, credentials, and `AWS_ENDPOINT_URL` for a local emulator.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

impl From<TaskError> for Diagnostic {
    fn from(error: TaskError) -> Diagnostic {
        Diagnostic {
            error_type: error.kind.as_str().to_string(),
            error_message: error.message,
        }
    }
}
