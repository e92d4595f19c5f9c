//! The emr-sense Lambda: DescribeCluster + ListSteps → running (with the next wait), succeeded or failed.

use sparkplug::aws::{emr::Emr, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Emr::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::emr::emr_sense(&client, event, chrono::Utc::now())).await
}
