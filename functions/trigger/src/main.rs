//! The trigger Lambda: S3 arrivals (EventBridge "Object Created" and S3 notifications), schedules and manual
//! `{"job": …}` events → one Step Functions execution per run, named by its run key; the minute tick (with the
//! minutes a lost tick missed) and the chains' catch-up (`{"catch_up": true}`).
//!
//! Input sets, batches, deadlines and "did not run" alerts are kept in the run table (see
//! `sparkplug::engine::handlers::inputs`).
//!
//! Environment: `STATE_MACHINE_ARN`, `TOKEN_TABLE`, `ALERT_TOPIC_ARN` (optional: "did not run" alerts go to the
//! bus only without it); `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

// The trigger's future nests the look's calls and the starts: deeper than the default layout limit.
#![recursion_limit = "256"]

use sparkplug::aws::alerts::Alerts;
use sparkplug::aws::{lambda, objects::Objects, run_table::RunTable, sfn::Sfn};
use sparkplug::catalog::Vars;
use sparkplug::engine::handlers::trigger::Ports;
use sparkplug::engine::handlers::trigger::{self, TriggerConfig};
use sparkplug::load;

const CATALOG: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let catalog = load::from_embedded(CATALOG)?;
    let config = TriggerConfig {
        vars: Vars::resolve(&catalog, std::env::vars(), [])?,
        catalog,
        state_machine_arn: lambda::env("STATE_MACHINE_ARN")?,
        alert_topic_arn: std::env::var("ALERT_TOPIC_ARN")
            .ok()
            .filter(|t| !t.is_empty()),
        parked_budget: std::time::Duration::from_secs(
            sparkplug::engine::handlers::trigger::PARKED_SECONDS,
        ),
    };
    let sdk = lambda::sdk_config().await;
    let (sfn, objects, alerts) = (Sfn::new(&sdk), Objects::new(&sdk), Alerts::new(&sdk));
    let table = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    let ports = Ports {
        sfn: &sfn,
        table: &table,
        objects: &objects,
        alerts: &alerts,
    };
    lambda::serve(|event| trigger::trigger(&config, &ports, event, chrono::Utc::now())).await
}
