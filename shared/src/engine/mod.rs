//! The engine side of a run: what the Lambda handlers do, over narrow ports to AWS.
//!
//! **Handlers** ([`handlers`], the folder `engine/handlers/`) — one per function (its `main.rs` only wires config
//! and clients); each takes and returns public types (its contract with the state machine or the event it hears),
//! reads only its input, and is safe to retry:
//! - [`trigger`](handlers::trigger) (trigger; also resolve's console input), [`emr`](handlers::emr) and
//!   [`pool`](handlers::pool) (emr-create-cluster, emr-add-steps, emr-terminate; a warm pool's leases),
//!   [`glue`](handlers::glue) (glue-start-run, glue-finish), [`serverless`](handlers::serverless)
//!   (emr-serverless-start, emr-serverless-finish);
//! - [`notify`](handlers::notify): the task tokens the starting tasks leave, answered on AWS's state-change events
//!   and by the reconciler for the events that never came;
//! - [`queue`](handlers::queue): per-job slots (`max_concurrent_runs`) and the runs waiting for one, first in first
//!   out;
//! - [`alert`](handlers::alert): one message per run that ended badly, with the failed step, the reason and the
//!   log's last lines;
//! - [`janitor`](handlers::janitor): ends what a run left running when its execution ended outside the state
//!   machine's own paths;
//! - [`doctor`](handlers::doctor), [`replay`](handlers::replay): the operator's consistency check, and the
//!   failed-events queue sent through again.
//!
//! The files beside `handlers/` are the helpers and contracts; handlers import them, never the other way.
//!
//! **Helpers** the handlers share:
//! - [`execution`]: a run's execution of the run state machine (its ARN);
//! - [`logs`]: where each engine writes a failed run's logs, and their last lines (what an alert tails);
//! - [`backstop`]: the periodic looks that reach what a lost event would have set off (chained runs, alerts);
//! - [`states`] → [`report`] → [`sense`], [`summary`] → [`recovery`]: AWS states mapped to running / succeeded /
//!   failed, the reports the sensors give, the run summary and its metric line, and a failed attempt's cause and
//!   next attempt; [`metrics`]: the other metric lines (pools).
//!
//! **Contracts with the outside**:
//! - [`ports`]: the traits the handlers need, in plain types — the AWS services (`ports/services.rs`) and the run
//!   table's stores (`ports/stores.rs`); one adapter over the SDK: `crate::aws` — and [`table_keys`]: every kind of
//!   item of the run table, by its key;
//! - [`input`]: a handler's JSON input decoded (bad input is `InvalidInput`) and its plan's version checked;
//! - [`errors`]: [`ErrorKind`](errors::ErrorKind), the error types the state machine's Retry/Catch match.

pub mod backstop;
pub mod errors;
pub mod execution;
pub mod handlers;
pub mod input;
pub mod logs;
pub mod metrics;
pub mod ports;
pub mod recovery;
pub mod report;
pub mod sense;
pub mod states;
pub mod summary;
pub mod table_keys;

pub use errors::{AwsError, ErrorKind, TaskError};
