//! The janitor Lambda: on "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED of the run state
//! machine) it terminates the run's clusters, stops its Glue runs, cancels its EMR Serverless job run (a pooled run:
//! cancels its steps, gives its lease back); on its schedules it sweeps for what an event missed, and releases warm
//! pool clusters idle for their `idle_minutes`. Environment: `STATE_MACHINE_ARN`, `TOKEN_TABLE`; `SPARKPLUG_VAR_<NAME>` for the catalog's vars.
// The DynamoDB client's futures nest deeper than the default limit of 128.
#![recursion_limit = "256"]

use sparkplug::aws::{
    emr::Emr, glue::Glue, lambda, run_table::RunTable, serverless::Serverless, sfn::Sfn,
};
use sparkplug::catalog::Vars;
use sparkplug::engine::handlers::janitor::{self, JanitorConfig};
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
    let pools = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    let serverless = Serverless::new(&sdk);
    lambda::serve(|event| {
        janitor::janitor(
            &config,
            &emr,
            &glue,
            &sfn,
            &pools,
            &serverless,
            event,
            chrono::Utc::now(),
        )
    })
    .await
}
