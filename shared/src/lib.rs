//! sparkplug's domain library: the job catalog, run plans, trigger events and run keys. Everything here is plain
//! functions over plain types; nothing calls AWS.

#[cfg(feature = "aws")]
pub mod aws;
pub mod catalog;
pub mod events;
pub mod local;
pub mod plan;
pub mod ports;
pub mod resolve;
pub mod runkey;
pub mod s3;
pub mod schedule;
pub mod sense;
pub mod shapes;
pub mod tasks;
pub mod template;
pub mod validate;

pub use catalog::{Catalog, CatalogError, Engine, Job, Loaded};
pub use plan::{render, RunInput, RunPlan, Trigger, Vars};
pub use resolve::{resolve_event, Failure, Match, Resolution};
