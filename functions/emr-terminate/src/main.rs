//! The emr-terminate Lambda: TerminateJobFlows for the run's cluster(s) on every path — or, for a pooled run, its
//! lease given back (the pool's cluster stays up for others) — then the run summary with its cost estimate (priced
//! in the function's region). Environment: `TOKEN_TABLE` (where the pools' leases are).
// The DynamoDB client's futures nest deeper than the default limit of 128.
#![recursion_limit = "256"]

use sparkplug::aws::{emr::Emr, lambda, run_table::RunTable};
use sparkplug::cost::Pricing;
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let pricing = Pricing::shipped(lambda::env("AWS_REGION")?)?;
    let sdk = lambda::sdk_config().await;
    let client = Emr::new(&sdk);
    let pools = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    lambda::serve(|event| {
        engine::handlers::emr::emr_terminate(&client, &pools, &pricing, event, chrono::Utc::now())
    })
    .await
}
