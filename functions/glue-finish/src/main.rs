//! The glue-finish Lambda: the run's summary and metric line, on every Glue path; stops the Glue run when the run
//! ended before it did (its limit, a failed task).

use sparkplug::aws::{glue::Glue, lambda};
use sparkplug::engine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let client = Glue::new(&lambda::sdk_config().await);
    lambda::serve(|event| engine::glue::glue_finish(&client, event, chrono::Utc::now())).await
}
