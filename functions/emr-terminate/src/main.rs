//! The emr-terminate Lambda: TerminateJobFlows for the run's cluster(s) on every path, then the run summary with its
//! cost estimate (priced in the function's region).

use sparkplug::aws::{emr::Emr, lambda};
use sparkplug::cost::Pricing;
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let pricing = Pricing::shipped(lambda::env("AWS_REGION")?)?;
    let client = Emr::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::emr::emr_terminate(&client, &pricing, event, chrono::Utc::now()))
        .await
}
