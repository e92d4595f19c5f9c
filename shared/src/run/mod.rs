//! From what happened to what to run: trigger events (S3 arrivals, schedules, console requests), S3 locations, run
//! keys (deterministic execution names), run plans rendered from the catalog, resolving an event to its runs, and a
//! run's timeline.

pub mod batch;
pub mod budget;
pub mod events;
pub mod execution;
pub mod expect;
pub mod inputs;
pub mod limits;
pub mod lineage;
pub mod plan;
pub mod recovery;
pub mod rerun;
pub mod resolve;
pub mod runkey;
pub mod s3;
pub mod timeline;

pub use plan::{render, RunInput, RunPlan, Trigger};
pub use resolve::{resolve_event, Failure, Match, Resolution};
