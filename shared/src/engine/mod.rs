//! The engine side of a run: what the Lambda handlers do, over narrow ports to AWS.
//!
//! - [`ports`]: the traits the handlers need from EMR, Glue and Step Functions, in plain types.
//! - [`errors`]: [`ErrorKind`](errors::ErrorKind), the error types the state machine's Retry/Catch match.
//! - [`states`] → [`report`] → [`sense`], [`summary`]: AWS states mapped to running / succeeded / failed, the
//!   reports the sensors give, the run summary and its metric line.
//! - [`input`], [`trigger`], [`emr`], [`glue`]: the handlers. Each takes and returns public types (its contract
//!   with the state machine), reads only its input, and is safe to retry.
//! - [`callback`]: the task tokens the starting tasks leave, answered by `notify` on AWS's state-change events and
//!   by the reconciler for the events that never came.
//! - [`alert`]: one message per run that ended badly, with the failed step, the reason and the log's last lines.
//! - [`queue`]: per-job slots (`max_concurrent_runs`) and the runs waiting for one, first in first out.
//! - [`backstop`]: the periodic looks that reach what a lost event would have set off (chained runs, alerts).
//! - [`doctor`], [`replay`]: the operator's consistency check, and the failed-events queue sent through again.
//! - [`janitor`]: ends what a run left running when its execution ended outside the state machine's own paths.

pub mod alert;
pub mod backstop;
pub mod callback;
pub mod doctor;
pub mod emr;
pub mod errors;
pub mod execution;
pub mod glue;
pub mod input;
pub mod janitor;
pub mod pool;
pub mod ports;
pub mod queue;
pub mod replay;
pub mod report;
pub mod sense;
pub mod serverless;
pub mod states;
pub mod summary;
pub mod trigger;

pub use errors::{AwsError, ErrorKind, TaskError};
