//! sparkplug's domain library: what a Spark batch is (the catalog), what one run of it is (events, run keys, plans),
//! and what the Lambdas do to run it on EMR or Glue (the engine), over one adapter to the AWS SDK.
//!
//! # Layout
//!
//! Imports run one way, top to bottom:
//!
//! - [`catalog`]: the catalog's model (jobs, settings), placeholders and vars, AWS request shapes, schedules.
//! - [`run`]: trigger events, S3 locations, run keys, run plans per engine, resolving an event to its runs, and a
//!   run's timeline.
//! - [`load`]: validating a catalog (it renders a trial plan of each job) and loading one from a file.
//! - [`cost`]: a run's cost estimate from the price table `cost/prices.toml`.
//! - [`engine`]: the handlers (`engine/handlers/`, a module per function), the helpers they share (sensing,
//!   summaries, logs, the backstops' looks) and their contracts (ports to AWS and to the run table, inputs, error
//!   types); `engine/mod.rs` groups them.
//! - [`aws`] (feature `aws`): the one adapter over the AWS SDK, the AWS error-code table, and the Lambda glue.
//!
//! Everything but [`aws`] is plain functions over plain types: nothing there calls AWS or starts a process.

#[cfg(feature = "aws")]
pub mod aws;
pub mod catalog;
pub mod cost;
pub mod engine;
pub mod load;
pub mod run;

pub use catalog::{Catalog, Engine, Job, Vars};
pub use load::{CatalogError, Loaded};
pub use run::{render, resolve_event, RunInput, RunPlan, Trigger};
