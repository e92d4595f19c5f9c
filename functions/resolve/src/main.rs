//! The resolve Lambda: the run state machine's first task when its input is `{"job": …}` (a console run) rather
//! than a plan; returns the run's plan. Environment: `SPARKPLUG_VAR_<NAME>` for the catalog's vars.

use sparkplug::aws::lambda;
use sparkplug::catalog::Vars;
use sparkplug::engine;
use sparkplug::load;

const CATALOG: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let catalog = load::from_embedded(CATALOG)?;
    let vars = Vars::resolve(&catalog, std::env::vars(), [])?;
    lambda::serve(|event| async {
        engine::handlers::trigger::resolve_plan(&catalog, &vars, event, chrono::Utc::now())
    })
    .await
}
