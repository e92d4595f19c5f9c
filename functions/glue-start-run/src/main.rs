//! The glue-start-run Lambda: creates or updates the Glue job as planned, then StartJobRun (a retry reuses the run).

use sparkplug::aws::{glue::Glue, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Glue::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::glue::glue_start_run(&client, event)).await
}
