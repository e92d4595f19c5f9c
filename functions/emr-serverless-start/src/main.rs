//! The emr-serverless-start Lambda: creates the run's EMR Serverless application if missing (updates it if it
//! differs and is stopped), starts the job run — its clientToken is the run's name, so a retry starts nothing more —
//! and leaves the task token in the token table (the state machine waits on it). Environment: `TOKEN_TABLE`.

// The DynamoDB client's futures nest deeper than the default limit of 128.
#![recursion_limit = "256"]

use sparkplug::aws::{lambda, run_table::RunTable, serverless::Serverless};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let client = Serverless::new(&sdk);
    let tokens = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    lambda::serve(|event| {
        engine::handlers::serverless::serverless_start(&client, &tokens, event, chrono::Utc::now())
    })
    .await
}
