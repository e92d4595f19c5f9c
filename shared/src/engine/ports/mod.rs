//! The narrow interfaces the task handlers need, in plain types: the AWS services they call ([`services`]) and the
//! run table's stores ([`stores`]). [`crate::aws`] implements them over the SDK; tests implement them over
//! request/response-level mocks.
//!
//! Requests that the plan carries in the API's own JSON shape (RunJobFlow, AddJobFlowSteps, CreateJob, UpdateJob,
//! StartJobRun) are passed as JSON and sent as written, so every field a user put in the catalog reaches AWS.

mod services;
mod stores;

pub use super::errors::AwsError;
pub use services::*;
pub use stores::*;
