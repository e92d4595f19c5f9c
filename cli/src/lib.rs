//! The parts of the `sparkplug` command that other crates share: the local stack's client, used by the CLI's
//! `--local` mode and demo and by the end-to-end tests.

pub mod local;
