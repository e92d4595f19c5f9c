//! The resolve Lambda: the run state machine's first task when its input is `{"job": …}` (a console run) or
//! `{"rerun": …}` rather than a plan; returns the run's plan. A rerun reads the run it reruns from Step Functions.
//! Also the budget check of a job with a budget (`{"check_budget": <plan>, …}`), which reads the month's spend.
//! Environment: `TOKEN_TABLE`; `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

// The handler's future nests a rerun's reads and the budget check's: deeper than the default layout limit.
#![recursion_limit = "256"]

use sparkplug::aws::{lambda, run_table::RunTable, sfn::Sfn};
use sparkplug::catalog::Vars;
use sparkplug::engine;
use sparkplug::load;

const CATALOG: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let catalog = load::from_embedded(CATALOG)?;
    let vars = Vars::resolve(&catalog, std::env::vars(), [])?;
    let sdk = lambda::sdk_config().await;
    let (sfn, table) = (
        Sfn::new(&sdk),
        RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?),
    );
    lambda::serve(|event| {
        engine::handlers::trigger::resolve_task(
            &catalog,
            &vars,
            &sfn,
            &table,
            event,
            chrono::Utc::now(),
        )
    })
    .await
}
