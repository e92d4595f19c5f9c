//! The parts of the `sparkplug` command that other crates share: the local stack's client (the CLI's `--local` mode,
//! the demo, the end-to-end tests), and the commands tested end to end on the local stack (the bucket notification
//! merge, the run history, backfills).

pub mod backfill;
pub mod bucket;
pub mod history;
pub mod local;
pub mod operator;
pub mod partition;
pub mod report;
pub mod rerun;
pub mod samconfig;
