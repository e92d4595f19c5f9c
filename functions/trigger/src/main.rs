//! The trigger Lambda: S3 arrivals (EventBridge "Object Created" and S3 notifications), schedules and manual
//! `{"job": …}` events → one Step Functions execution per run, named by its run key; the minute tick (with the
//! minutes a lost tick missed) and the chains' catch-up (`{"catch_up": true}`).
//!
//! Environment: `STATE_MACHINE_ARN`, `TOKEN_TABLE`; `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

// The trigger's future nests the look's calls and the starts: deeper than the default layout limit.
#![recursion_limit = "256"]

use sparkplug::aws::{lambda, run_table::RunTable, sfn::Sfn};
use sparkplug::catalog::Vars;
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
    };
    let sdk = lambda::sdk_config().await;
    let sfn = Sfn::new(&sdk);
    let looks = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    lambda::serve(|event| trigger::trigger(&config, &sfn, &looks, event, chrono::Utc::now())).await
}
