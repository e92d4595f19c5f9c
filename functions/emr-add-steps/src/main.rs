//! The emr-add-steps Lambda: AddJobFlowSteps with the plan's steps that are not on the cluster yet, then the task
//! token into the token table (the state machine waits on it). Environment: `TOKEN_TABLE`.

use sparkplug::aws::{emr::Emr, lambda, run_table::RunTable};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let client = Emr::new(&sdk);
    let tokens = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    lambda::serve(|event| {
        engine::handlers::emr::emr_add_steps(&client, &tokens, event, chrono::Utc::now())
    })
    .await
}
