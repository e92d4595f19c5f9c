//! The emr-terminate Lambda: TerminateJobFlows for the run's cluster(s) on every path, then the run summary.

use sparkplug::aws::{emr::Emr, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Emr::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::emr::emr_terminate(&client, event, chrono::Utc::now())).await
}
