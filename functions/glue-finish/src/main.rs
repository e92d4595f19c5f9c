//! The glue-finish Lambda: the run's summary (with its cost estimate, priced in the function's region) and metric
//! line, on every Glue path; stops the Glue run when the run ended before it did (its limit, a failed task).

use sparkplug::aws::{glue::Glue, lambda};
use sparkplug::cost::Pricing;
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let pricing = Pricing::shipped(lambda::env("AWS_REGION")?)?;
    let client = Glue::new(&lambda::sdk_config().await);
    lambda::serve(|event| {
        engine::handlers::glue::glue_finish(&client, &pricing, event, chrono::Utc::now())
    })
    .await
}
