//! The job catalog (`jobs.toml`) as data: the model of jobs and their settings, and the vocabulary a catalog is
//! written in — `${var}` / `{param}` placeholders, deployment vars, the AWS request shapes that Airflow-style fields
//! are checked against, and EventBridge schedule expressions. Nothing here renders, validates or reads files.

mod model;
pub mod placeholders;
pub mod recovery;
pub mod schedule;
pub mod shapes;
pub mod vars;

pub use model::*;
pub use vars::{VarError, Vars};
