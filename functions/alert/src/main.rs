//! The alert Lambda: on "Step Functions Execution Status Change" of the run state machine it sends one alert per run
//! (SNS topic + EventBridge event) with the failed step, the reason, the log location, the cost estimate and the
//! log's last lines; on `{"catch_up": true}` (a schedule) it alerts, late, the runs whose end event was lost.
//! Environment: `ALERT_TOPIC_ARN`, `TOKEN_TABLE`, `STATE_MACHINE_ARN`, `AWS_REGION`;
//! `SPARKPLUG_ALERT_LOG_WAIT_SECONDS` (how long to wait for a log that has not arrived yet; default 600).

// The alert's future nests the log look-ups and five clients: deeper than the default layout limit.
#![recursion_limit = "256"]

use std::time::Duration;

use sparkplug::aws::alerts::{Alerts, Logs};
use sparkplug::aws::{lambda, run_table::RunTable, sfn::Sfn};
use sparkplug::engine::handlers::alert::{alert, AlertConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let log_wait = match std::env::var("SPARKPLUG_ALERT_LOG_WAIT_SECONDS") {
        Ok(text) => text.trim().parse().map_err(|_| {
            format!("SPARKPLUG_ALERT_LOG_WAIT_SECONDS: `{text}` is not a number of seconds")
        })?,
        Err(_) => 600,
    };
    let config = AlertConfig {
        topic_arn: lambda::env("ALERT_TOPIC_ARN")?,
        region: lambda::env("AWS_REGION")?,
        log_wait: Duration::from_secs(log_wait),
        first_pause: Duration::from_secs(5).min(Duration::from_secs(log_wait.max(1))),
        state_machine_arn: lambda::env("STATE_MACHINE_ARN")?,
    };
    let sdk = lambda::sdk_config().await;
    let tokens = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    let (sfn, logs, alerts) = (Sfn::new(&sdk), Logs::new(&sdk), Alerts::new(&sdk));
    lambda::serve(|event: serde_json::Value| {
        alert(
            &config,
            &sfn,
            &logs,
            &alerts,
            &tokens,
            event,
            chrono::Utc::now(),
            tokio::time::sleep,
        )
    })
    .await
}
