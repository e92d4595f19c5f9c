//! The glue-start-run Lambda: creates or updates the Glue job as planned, then StartJobRun (a retry reuses the run),
//! then the task token into the token table (the state machine waits on it). Environment: `TOKEN_TABLE`.

use sparkplug::aws::{glue::Glue, lambda, run_table::RunTable};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let client = Glue::new(&sdk);
    let tokens = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    lambda::serve(|event| {
        engine::handlers::glue::glue_start_run(&client, &tokens, event, chrono::Utc::now())
    })
    .await
}
