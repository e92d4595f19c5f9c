//! The emr-create-cluster Lambda: RunJobFlow from the run plan; a retry reuses the active cluster named after the run.
//! A pooled run leases room on a warm cluster of its pool instead, or starts one. Environment: `TOKEN_TABLE` (where
//! the pools' leases are).
// The DynamoDB client's futures nest deeper than the default limit of 128.
#![recursion_limit = "256"]

use sparkplug::aws::{emr::Emr, lambda, run_table::RunTable};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let client = Emr::new(&sdk);
    let pools = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    lambda::serve(|event| {
        engine::handlers::emr::emr_create_cluster(&client, &pools, event, chrono::Utc::now())
    })
    .await
}
