//! End to end, on this machine: the local stack (moto + local/emulator/, the real Lambda binaries under
//! `cargo lambda watch`, the real state machine deployed from template.yaml). Every test asserts on the emulator's
//! state — executions, clusters, steps, Glue runs — never on log text, and polls with deadlines.
//!
//! One test binary and one stack; `harness` holds what the topics share.

mod harness;

mod alerts;
mod arrivals;
mod budgets;
mod completion;
mod faults;
mod inputs;
mod operator;
mod pools;
mod queues;
mod quotas;
mod recovery;
mod report;
mod reruns;
mod runs;
mod serverless;
mod stops;
mod traces;
mod witness;
