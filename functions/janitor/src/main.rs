//! The janitor Lambda: on "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED of the run state
//! machine) it terminates the run's clusters and stops its Glue runs; on its schedule it sweeps for what an event
//! missed. Environment: `STATE_MACHINE_ARN`; `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

use sparkplug::aws::{emr::Emr, glue::Glue, lambda, sfn::Sfn};
use sparkplug::catalog::Vars;
use sparkplug::engine::janitor::{self, JanitorConfig};
use sparkplug::load;

const CATALOG: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let catalog = load::from_embedded(CATALOG)?;
    let config = JanitorConfig {
        vars: Vars::resolve(&catalog, std::env::vars(), [])?,
        catalog,
        state_machine_arn: lambda::env("STATE_MACHINE_ARN")?,
    };
    let sdk = lambda::sdk_config().await;
    let (emr, glue, sfn) = (Emr::new(&sdk), Glue::new(&sdk), Sfn::new(&sdk));
    lambda::serve(|event| janitor::janitor(&config, &emr, &glue, &sfn, event, chrono::Utc::now()))
        .await
}
