//! The glue-sense Lambda: GetJobRun → running / succeeded / failed.

use sparkplug::aws::{glue::Glue, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Glue::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::glue::glue_sense(&client, event, chrono::Utc::now())).await
}
