//! The parts of the `sparkplug` command that other crates share: the local stack's client (the CLI's `--local` mode,
//! the demo, the end-to-end tests) and the bucket notification merge (tested end to end on the local stack).

pub mod bucket;
pub mod local;
