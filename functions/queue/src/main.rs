//! The queue Lambda: the state machine's TakeSlot task (a run of a job with `max_concurrent_runs` takes a slot or
//! waits for one, first in first out), every run's end (its execution's status change gives the slot back and starts
//! the oldest waiting run), and a drain every 5 minutes (`{"drain": true}`: slots of ended runs given back, waiting
//! runs started; each job's queue depth as a metric line). The catalog's `[limits]` queue each engine's runs the same
//! way. Environment: `TOKEN_TABLE`, `STATE_MACHINE_ARN`, `ENVIRONMENT`.

// The queue's future nests the slot store's calls and the answer: deeper than the default layout limit.
#![recursion_limit = "256"]

use sparkplug::aws::{lambda, run_table::RunTable, sfn::Sfn};
use sparkplug::engine::handlers::queue::{self, QueueConfig};
use sparkplug::load;
use sparkplug::run::limits;

/// The catalog, validated at build time (build.rs): which engine each job's runs are limited by.
const CATALOG: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let catalog = load::from_embedded(CATALOG)?;
    let sdk = lambda::sdk_config().await;
    let config = QueueConfig {
        state_machine_arn: lambda::env("STATE_MACHINE_ARN")?,
        environment: lambda::env("ENVIRONMENT")?,
        engine_groups: limits::engine_groups(&catalog),
    };
    let slots = RunTable::new(&sdk, lambda::env("TOKEN_TABLE")?);
    let sfn = Sfn::new(&sdk);
    lambda::serve(|event: serde_json::Value| {
        queue::queue(&config, &slots, &sfn, event, chrono::Utc::now())
    })
    .await
}
