//! The emr-serverless-finish Lambda: the run's summary (with its cost estimate from what EMR Serverless billed,
//! priced in the function's region) and metric line; cancels the job run when the run ended before it did (its
//! limit, a failed task).

use sparkplug::aws::{lambda, serverless::Serverless};
use sparkplug::cost::Pricing;
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let pricing = Pricing::shipped(lambda::env("AWS_REGION")?)?;
    let client = Serverless::new(&lambda::sdk_config().await);
    lambda::serve(|event| {
        engine::handlers::serverless::serverless_finish(
            &client,
            &pricing,
            event,
            chrono::Utc::now(),
        )
    })
    .await
}
