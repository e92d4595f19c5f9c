//! The resolve Lambda: the run state machine's first task when its input is `{"job": …}` (a console run) or
//! `{"rerun": …}` rather than a plan; returns the run's plan. A rerun reads the run it reruns from Step Functions.
//! Environment: `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

use sparkplug::aws::{lambda, sfn::Sfn};
use sparkplug::catalog::Vars;
use sparkplug::engine;
use sparkplug::load;

const CATALOG: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let catalog = load::from_embedded(CATALOG)?;
    let vars = Vars::resolve(&catalog, std::env::vars(), [])?;
    let sfn = Sfn::new(&lambda::sdk_config().await);
    lambda::serve(|event| {
        engine::handlers::trigger::resolve_run(&catalog, &vars, &sfn, event, chrono::Utc::now())
    })
    .await
}
