//! The emr-create-cluster Lambda: RunJobFlow from the run plan; a retry reuses the active cluster named after the run.

use sparkplug::aws::{emr::Emr, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Emr::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::emr::emr_create_cluster(&client, event)).await
}
