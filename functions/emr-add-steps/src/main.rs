//! The emr-add-steps Lambda: AddJobFlowSteps with the plan's steps that are not on the cluster yet.

use sparkplug::aws::{emr::Emr, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Emr::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::emr::emr_add_steps(&client, event)).await
}
