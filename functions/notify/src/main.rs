//! The notify Lambda: on "EMR Step Status Change", "EMR Cluster State Change", "Glue Job State Change" and "EMR
//! Serverless Job Run State Change" it answers
//! the task token of the run whose work ended; on its schedule (`{"reconcile": true}`) it answers those whose event
//! never came. Environment: `TOKEN_TABLE`.

// notify's future nests the reconciler, the sensors and four clients: deeper than the default layout limit.
#![recursion_limit = "256"]

use sparkplug::aws::{
    emr::Emr, glue::Glue, lambda, run_table::RunTable, serverless::Serverless, sfn::Sfn,
};
use sparkplug::engine::handlers::notify;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let sdk = lambda::sdk_config().await;
    let tokens = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    let (emr, glue, sfn) = (Emr::new(&sdk), Glue::new(&sdk), Sfn::new(&sdk));
    let serverless = Serverless::new(&sdk);
    lambda::serve(|event| {
        notify::notify(
            &emr,
            &glue,
            &serverless,
            &sfn,
            &tokens,
            event,
            chrono::Utc::now(),
        )
    })
    .await
}
