//! What every sparkplug Lambda does the same way: logs, SDK configuration, error types.

use lambda_runtime::Diagnostic;

use crate::tasks::TaskError;

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
