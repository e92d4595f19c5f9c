//! The trigger Lambda: S3 arrivals (EventBridge "Object Created" and S3 notifications), schedules and manual
//! `{"job": …}` events → one Step Functions execution per run, named by its run key.
//!
//! Environment: `STATE_MACHINE_ARN`; `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

use sparkplug::aws::{lambda, sfn::Sfn};
use sparkplug::catalog::Vars;
use sparkplug::engine::trigger::{self, TriggerConfig};
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
    let sfn = Sfn::new(&lambda::sdk_config().await);
    lambda::serve(|event| trigger::trigger(&config, &sfn, event, chrono::Utc::now())).await
}
