//! How the trigger starts a run — one StartExecution, named after the run — and what it does when Step Functions
//! throttles it past the SDK's retries: the run is parked in the run table with its input, the event that brought it
//! is answered, and the next tick starts it ([`start_parked`]). An arrival is never lost to a quota, and a burst
//! of arrivals is admitted at StartExecution's refill rate rather than failed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::catalog::{Catalog, Vars};
use crate::engine::errors::TaskError;
use crate::engine::execution::job_and_trigger;
use crate::engine::ports::{
    BatchStore, LedgerStore, LookStore, ParkStore, ParkedRun, RunRecord, RunStore, SetStore,
    SfnApi, SlotStore, StartOutcome, TokenStore,
};
use crate::run::RunPlan;

/// Step Functions' limit on an execution's input.
pub const MAX_EXECUTION_INPUT_BYTES: usize = 256 * 1024;

/// A tick starts at most this many parked runs.
pub const PARKED_PER_TICK: usize = 500;
/// How long a tick keeps starting parked runs through throttles: most of the minute until the next tick (within the
/// trigger's 120 s timeout), so that a burst is admitted at StartExecution's refill rate, not one bucket a minute.
pub const PARKED_SECONDS: u64 = 45;
/// A throttled start that came back sooner than this did not back off (the SDK's retry quota is spent): trying
/// again at once would only hammer the bucket, so the look ends there.
const BACKED_OFF: std::time::Duration = std::time::Duration::from_millis(500);

/// What the trigger function needs besides its Step Functions client.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    pub catalog: Catalog,
    pub vars: Vars,
    pub state_machine_arn: String,
    /// Where "did not run" alerts go besides the bus (the stack's alerts topic).
    pub alert_topic_arn: Option<String>,
    /// How long a tick keeps starting parked runs through throttles ([`PARKED_SECONDS`]; zero: it stops at the
    /// first throttle).
    pub parked_budget: std::time::Duration,
}

/// What one trigger invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerReport {
    /// Run names of the executions started.
    pub started: Vec<String>,
    /// Run names that already had an execution: duplicate deliveries.
    pub duplicates: Vec<String>,
    pub ignored: Vec<String>,
    /// Records or runs that could not be started, and why.
    pub failed: Vec<String>,
    /// Run names whose start was throttled: kept in the run table, started by a coming tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parked: Vec<String>,
}

impl TriggerReport {
    pub(super) fn merge(&mut self, other: TriggerReport) {
        self.started.extend(other.started);
        self.duplicates.extend(other.duplicates);
        self.ignored.extend(other.ignored);
        self.failed.extend(other.failed);
        self.parked.extend(other.parked);
    }
}

/// The run table as the trigger uses it.
pub trait TriggerTable:
    LookStore + SetStore + BatchStore + LedgerStore + TokenStore + SlotStore + ParkStore + RunStore
{
}
impl<
        T: LookStore
            + SetStore
            + BatchStore
            + LedgerStore
            + TokenStore
            + SlotStore
            + ParkStore
            + RunStore,
    > TriggerTable for T
{
}

/// What a start writes besides the execution: the job's ledger and the run's record.
pub trait StartTable: ParkStore + LedgerStore + RunStore {}
impl<T: ParkStore + LedgerStore + RunStore> StartTable for T {}

/// What the trigger's work needs.
pub struct Ports<'a, S, T, O, A> {
    pub sfn: &'a S,
    pub table: &'a T,
    pub objects: &'a O,
    pub alerts: &'a A,
}

/// Starts the execution of a plan under its run name, and says so in `report`: started, a duplicate (the execution
/// exists), parked (throttled: kept for a tick), or failed. `true` when it failed in a way worth retrying — a
/// transient failure that could not even be parked.
pub(super) async fn start_plan(
    config: &TriggerConfig,
    sfn: &impl SfnApi,
    table: &impl StartTable,
    plan: &RunPlan,
    report: &mut TriggerReport,
    now: DateTime<Utc>,
) -> bool {
    let input = match serde_json::to_string(plan) {
        Ok(input) => input,
        Err(e) => {
            report.failed.push(format!("{}: {e}", plan.run_name));
            return false;
        }
    };
    if input.len() > MAX_EXECUTION_INPUT_BYTES {
        let why = format!(
            "{}: the plan is {} bytes, over Step Functions' 256 KiB input limit",
            plan.run_name,
            input.len()
        );
        error!(job = %plan.job, run = %plan.run_name, reason = %why, "cannot start");
        report.failed.push(why);
        return false;
    }
    let started = sfn
        .start_execution(&config.state_machine_arn, &plan.run_name, &input)
        .await;
    match started {
        Ok(outcome) => {
            if note_outcome(&plan.job, &plan.run_name, outcome, report) {
                note_started(table, &input, &plan.run_name, now).await;
            }
            false
        }
        Err(e) if e.kind.is_transient() => {
            let parked = ParkedRun {
                job: plan.job.clone(),
                run_name: plan.run_name.clone(),
                input,
                parked: now,
            };
            match table.park(&parked).await {
                Ok(()) => {
                    warn!(job = %plan.job, run = %plan.run_name, error = %e, "StartExecution failed: parked for the next tick");
                    report.parked.push(plan.run_name.clone());
                    false
                }
                Err(park_error) => {
                    error!(job = %plan.job, run = %plan.run_name, error = %e, park_error = %park_error, "StartExecution failed and the run could not be parked");
                    report.failed.push(format!("{}: {e}", plan.run_name));
                    true
                }
            }
        }
        Err(e) => {
            error!(job = %plan.job, run = %plan.run_name, error = %e, "StartExecution failed");
            report.failed.push(format!("{}: {e}", plan.run_name));
            false
        }
    }
}

/// Says what became of a start in `report`: `true` when it started the execution.
fn note_outcome(job: &str, run: &str, outcome: StartOutcome, report: &mut TriggerReport) -> bool {
    match outcome {
        StartOutcome::Started { execution_arn } => {
            info!(job, run, execution = %execution_arn, "started");
            report.started.push(run.to_string());
            true
        }
        StartOutcome::AlreadyExists => {
            info!(job, run, "duplicate: this arrival already has its run");
            report.duplicates.push(run.to_string());
            false
        }
    }
}

/// The tick's look at the parked runs: starts up to [`PARKED_PER_TICK`] of them in name order, and forgets each that
/// started (or exists already, or can never start: its failure is reported). A start throttled again — after the
/// SDK's own backoff and retries — is tried again while the tick's budget lasts (`parked_budget`), so that the tick
/// keeps Step Functions' bucket busy until the next one comes; past the budget the rest wait for it.
pub(super) async fn start_parked(
    config: &TriggerConfig,
    sfn: &impl SfnApi,
    table: &impl StartTable,
    report: &mut TriggerReport,
    now: DateTime<Utc>,
) -> Result<(), TaskError> {
    let parked = table
        .parked(PARKED_PER_TICK)
        .await
        .map_err(|e| TaskError::aws("Query", e))?;
    let looking = std::time::Instant::now();
    let mut waiting = parked.into_iter().peekable();
    while let Some(run) = waiting.peek() {
        let asked = std::time::Instant::now();
        match sfn
            .start_execution(&config.state_machine_arn, &run.run_name, &run.input)
            .await
        {
            Ok(outcome) => {
                if note_outcome(&run.job, &run.run_name, outcome, report) {
                    note_started(table, &run.input, &run.run_name, now).await;
                }
            }
            Err(e) if e.kind.is_transient() => {
                if asked.elapsed() >= BACKED_OFF && looking.elapsed() < config.parked_budget {
                    continue;
                }
                warn!(job = %run.job, run = %run.run_name, error = %e, "parked runs still throttled: the next tick starts them");
                report.parked.extend(waiting.map(|run| run.run_name));
                break;
            }
            Err(e) => {
                error!(job = %run.job, run = %run.run_name, error = %e, "a parked run cannot start");
                report.failed.push(format!("{}: {e}", run.run_name));
            }
        }
        table
            .unpark(&run.run_name)
            .await
            .map_err(|e| TaskError::aws("DeleteItem", e))?;
        waiting.next();
    }
    Ok(())
}

/// Notes a run the trigger started (`input`: its execution's input, the plan) in its job's ledger — what an
/// expectation's look reads: a run still going — and in its run record, what `history` reads. Best effort: the run
/// has started whether or not this is noted (its end is recorded in any case, by the alert).
async fn note_started(table: &impl StartTable, input: &str, run: &str, now: DateTime<Utc>) {
    let plan: serde_json::Value = serde_json::from_str(input).unwrap_or_default();
    let (job, trigger) = job_and_trigger(&plan);
    if let Err(e) = table.run_started(&job, run, now).await {
        warn!(job, run, error = %e, "could not note the run in its job's ledger");
    }
    let record = RunRecord::running(job.clone(), run.to_string(), trigger, now);
    if let Err(e) = table.run_began(&record).await {
        warn!(job, run, error = %e, "could not record the run");
    }
}
