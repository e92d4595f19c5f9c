//! One module per Lambda function's handler (see `engine/mod.rs` for what each does). A handler may call another's
//! public functions (the janitor ends what emr, glue, serverless and pool started); helpers and contracts live one
//! level up, in `engine/`.

pub mod alert;
pub mod budget;
pub mod doctor;
pub mod emr;
pub mod glue;
pub mod inputs;
pub mod janitor;
pub mod notify;
pub mod pool;
pub mod queue;
pub mod replay;
pub mod serverless;
pub mod start;
pub mod trigger;

/// The `source` of every event sparkplug puts on the default bus (run and budget alerts, lineage).
pub const EVENT_SOURCE: &str = "sparkplug";
