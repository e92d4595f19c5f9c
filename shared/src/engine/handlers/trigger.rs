//! The trigger and resolve handlers: an event (S3 arrival, schedule, console request) → the runs it starts.
//!
//! Their input is any event: [`crate::run::events`] is the contract that parses it, with an error per bad record.
//!
//! Two of the trigger's inputs are best effort, and each has a backstop here:
//! - **The minute tick** (`{"tick": true, "time": …}`): the trigger keeps the last minute it evaluated (the `tick`
//!   look in the token table) and evaluates every minute since then, at most [`MAX_CATCH_UP_MINUTES`], so a tick
//!   that was lost (or failed past its retries) starts its runs one minute late rather than never. Runs are named
//!   by job and minute: a minute evaluated twice starts nothing twice.
//! - **A run's success** ("Step Functions Execution Status Change", which starts the jobs of `trigger.after`): the
//!   `{"catch_up": true}` schedule looks at the executions that ended since its last look
//!   ([`crate::engine::backstop::ended_since_last_look`]) and hands each success to the same code as the event; the chained
//!   runs' names derive from the upstream run, so the event and the look never both start one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info, warn};

use super::budget;
use super::inputs;
use super::start::{start_parked, start_plan};
pub use super::start::{
    Ports, TriggerConfig, TriggerReport, TriggerTable, MAX_EXECUTION_INPUT_BYTES, PARKED_SECONDS,
};
use crate::catalog::{Catalog, Vars};
use crate::engine::backstop::{self, CHAINS_LOOK, TICK_LOOK};
use crate::engine::errors::{ErrorKind, TaskError};
use crate::engine::execution::{plan_in, summary_in, trigger_of, ExecutionStatusChange};
use crate::engine::ports::{
    AlertsApi, ExecutionSummary, ExecutionsApi, LookState, ObjectsApi, RunRecord, RunStore, SfnApi,
    SpendStore,
};
use crate::run::rerun::{self, EndedRun, RerunRequest};
use crate::run::{resolve_event, RunPlan};

/// A tick evaluates at most this many minutes: the ones since the last minute evaluated, so that a lost tick's runs
/// start a minute late. A gap longer than an hour (the schedule disabled, the function failing for an hour) starts
/// only the last hour's runs; older ones are left to `sparkplug backfill`.
pub const MAX_CATCH_UP_MINUTES: i64 = 60;

/// The trigger function: an event, a tick (with the minutes a lost tick missed), or the chains' catch-up
/// (`{"catch_up": true}`).
pub async fn trigger<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    event: Value,
    now: DateTime<Utc>,
) -> Result<TriggerReport, TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    if event.get("catch_up") == Some(&Value::Bool(true)) {
        return catch_up_chains(config, ports, &event, now).await;
    }
    if event.get("tick") == Some(&Value::Bool(true)) {
        if let Some(time) = event
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            return tick(config, ports, time.with_timezone(&Utc), now).await;
        }
    }
    start_runs(config, ports, event, now).await
}

/// The minutes a tick at `minute` evaluates, given the last minute evaluated: the ones after it, up to `minute`, at
/// most [`MAX_CATCH_UP_MINUTES`]; none when `minute` was evaluated already; `minute` alone the first time.
pub fn minutes_to_evaluate(
    last: Option<DateTime<Utc>>,
    minute: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let first = match last {
        None => minute,
        Some(last) if last >= minute => return Vec::new(),
        Some(last) => (last + chrono::Duration::minutes(1))
            .max(minute - chrono::Duration::minutes(MAX_CATCH_UP_MINUTES - 1)),
    };
    let mut minutes = Vec::new();
    let mut at = first;
    while at <= minute {
        minutes.push(at);
        at += chrono::Duration::minutes(1);
    }
    minutes
}

async fn tick<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TriggerReport, TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    use chrono::DurationRound;
    let minute = time
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(time);
    let last = ports
        .table
        .look_state(TICK_LOOK)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?
        .and_then(|state| state.watermark);
    let minutes = minutes_to_evaluate(last, minute);
    let mut report = TriggerReport::default();
    // The runs a throttle kept from starting first, at every tick (one evaluated already too: `doctor --fix`'s):
    // they came before this minute's.
    start_parked(config, ports.sfn, ports.table, &mut report, now).await?;
    if minutes.is_empty() {
        report.ignored.push(format!(
            "minute {} was evaluated already",
            minute.format("%Y-%m-%dT%H:%MZ")
        ));
    }
    if minutes.len() > 1 {
        warn!(from = %minutes[0], to = %minute, "tick: evaluating the minutes since the last tick (a tick was lost or failed)");
    }
    for at in &minutes {
        let event = serde_json::json!({"tick": true, "time": at.to_rfc3339()});
        // A start that failed in a way worth retrying fails the tick before its minute is recorded: the next tick
        // (or Lambda's retry of this one) evaluates it again.
        let part = start_runs(config, ports, event, now).await?;
        report.merge(part);
    }
    if !minutes.is_empty() {
        ports
            .table
            .save_look_state(
                TICK_LOOK,
                &LookState {
                    watermark: Some(minute),
                    watching: Vec::new(),
                },
            )
            .await
            .map_err(|e| TaskError::aws("PutItem", e))?;
    }
    // Batches, input sets' backstop, deadlines and expectations: their own looks.
    inputs::on_tick(config, ports, minute, now, &mut report).await?;
    Ok(report)
}

/// The chains' backstop: each success since the last look, handed to the same code as its event.
async fn catch_up_chains<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    event: &Value,
    now: DateTime<Utc>,
) -> Result<TriggerReport, TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    let (sfn, looks) = (ports.sfn, ports.table);
    let mut report = TriggerReport::default();
    if !config
        .catalog
        .jobs
        .values()
        .any(|job| !job.trigger.after.is_empty())
    {
        report
            .ignored
            .push("no job of the catalog runs after another".to_string());
        return Ok(report);
    }
    let grace = backstop::grace_of(event);
    let look = backstop::ended_since_last_look(
        sfn,
        looks,
        CHAINS_LOOK,
        &config.state_machine_arn,
        now,
        grace,
    )
    .await?;
    // The jobs others run after: a success of any other job starts nothing.
    let upstreams: std::collections::BTreeSet<&str> = config
        .catalog
        .jobs
        .values()
        .flat_map(|job| job.trigger.after.iter().map(String::as_str))
        .collect();
    for execution in look.ended.iter().filter(|e| e.status == "SUCCEEDED") {
        // Its record names its job (one GetItem): a run of a job nothing runs after is not described — a burst of
        // successes would exhaust DescribeExecution's quota. A run without a record is described.
        let recorded = ports
            .table
            .run_record(&execution.name)
            .await
            .map_err(|e| TaskError::aws("GetItem", e))?;
        if recorded.is_some_and(|record| !upstreams.contains(record.job.as_str())) {
            continue;
        }
        let arn =
            crate::engine::execution::execution_arn(&config.state_machine_arn, &execution.name);
        let described = sfn
            .describe_execution(&arn)
            .await
            .map_err(|e| TaskError::aws("DescribeExecution", e))?;
        // The stop time as Step Functions has it (a watched execution's summary only knows it has ended): a chained
        // run's `{date}` comes from it.
        let execution = ExecutionSummary {
            stopped: described.stopped.or(execution.stopped),
            ..execution.clone()
        };
        let event = backstop::status_change_event(
            &config.state_machine_arn,
            &execution,
            Some(&described.input),
        );
        match start_runs(config, ports, event, now).await {
            Ok(part) => {
                for run in &part.started {
                    warn!(run = %run, upstream = %execution.name, "catch-up: started a chained run whose upstream's success event was lost");
                }
                report.merge(part);
            }
            // The upstream's input names no job of this catalog, or it resolves to nothing: nothing to chain.
            Err(e) if !e.kind.is_transient() => {
                report
                    .ignored
                    .push(format!("{}: {}", execution.name, e.message));
            }
            Err(e) => return Err(e),
        }
    }
    backstop::save(looks, CHAINS_LOOK, &look).await?;
    info!(
        looked_at = look.ended.len(),
        described = look.described,
        started = report.started.len(),
        "chains catch-up done"
    );
    Ok(report)
}

/// An upstream run's success whose input is a rerun (`{"rerun": …}`, which names neither job nor input object): the
/// event with the rerun's plan as its input instead — its Resolve task's output — so that its chained jobs start as
/// after any run of their upstream. Any other event is returned as it is.
async fn with_reruns_plan(sfn: &impl ExecutionsApi, mut event: Value) -> Result<Value, TaskError> {
    let Some(Ok(change)) = ExecutionStatusChange::from_event(&event) else {
        return Ok(event);
    };
    let Some(input) = change
        .input_json()
        .filter(|i| RerunRequest::from_input(i).is_some())
    else {
        return Ok(event);
    };
    let arn = crate::engine::execution::execution_arn(&change.state_machine_arn, &change.name);
    let outputs = sfn
        .task_outputs(&arn)
        .await
        .map_err(|e| TaskError::aws("GetExecutionHistory", e))?;
    if let Some(plan) = plan_in(&input, &outputs) {
        let plan = serde_json::to_string(&plan).map_err(|e| TaskError::invalid(e.to_string()))?;
        event["detail"]["input"] = Value::String(plan);
    }
    Ok(event)
}

/// Starts one execution per run the event resolves to. Duplicates (the execution exists) are counted, not errors.
/// Returns an error only when nothing could be done about the event (so that a caller sees why), or when a start
/// failed in a way worth retrying (so that Lambda retries the event; the runs already started are duplicates then).
async fn start_runs<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    event: Value,
    now: DateTime<Utc>,
) -> Result<TriggerReport, TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    let sfn = ports.sfn;
    let event = with_reruns_plan(sfn, event).await?;
    let resolution = resolve_event(&config.catalog, &event, &config.vars, now)
        .map_err(|e| TaskError::invalid(e.to_string()))?;
    let mut report = TriggerReport {
        ignored: resolution.ignored,
        failed: resolution
            .failures
            .iter()
            .map(ToString::to_string)
            .collect(),
        ..TriggerReport::default()
    };
    for why in &report.ignored {
        info!(reason = %why, "ignored");
    }
    for failure in &report.failed {
        error!(reason = %failure, "cannot start");
    }
    let mut retryable = false;
    for run in &resolution.matches {
        retryable |= start_plan(config, sfn, ports.table, &run.plan, &mut report, now).await;
    }
    // Input sets' inputs and batched objects: recorded in the run table, their runs started when due.
    inputs::on_set_arrivals(config, ports, &resolution.set_arrivals, now, &mut report).await?;
    inputs::on_batch_arrivals(config, ports, &resolution.batch_arrivals, now, &mut report).await?;
    info!(
        started = report.started.len(),
        duplicates = report.duplicates.len(),
        ignored = report.ignored.len(),
        failed = report.failed.len(),
        "trigger done"
    );
    let nothing_done = report.started.is_empty() && report.duplicates.is_empty();
    if retryable {
        return Err(TaskError {
            kind: ErrorKind::Retryable,
            message: format!(
                "some runs could not be started: {}",
                report.failed.join("; ")
            ),
        });
    }
    if nothing_done && !report.failed.is_empty() {
        return Err(TaskError::invalid(report.failed.join("; ")));
    }
    Ok(report)
}

/// resolve's input: the execution's input (when it is not a plan) and the execution's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolveInput {
    /// `{"job": …, "args": …, "input": …, "time": …, "run_name": …}`.
    pub request: Value,
    /// The execution's name (`$$.Execution.Name`): the run's name unless the request gives one, so that the
    /// execution, the cluster and the Glue run share it (the janitor finds what a stopped run left by it).
    #[serde(default)]
    pub execution_name: Option<String>,
    /// The execution's ARN (`$$.Execution.Id`): a rerun reads the run it reruns from the same state machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
}

/// The resolve function's two tasks: the budget check (`{"check_budget": <plan>, …}`, see [`budget::check_budget`])
/// and a console input's plan ([`resolve_run`]).
pub async fn resolve_task(
    catalog: &Catalog,
    vars: &Vars,
    executions: &impl ExecutionsApi,
    table: &(impl SpendStore + RunStore),
    input: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let output = if input.get("check_budget").is_some() {
        let input = crate::engine::input::decode("resolve (budget check)", input)?;
        serde_json::to_value(budget::check_budget(table, input, now).await?)
    } else {
        let input: ResolveInput = crate::engine::input::decode("resolve", input)?;
        let request = input.request.clone();
        let plan = resolve_run(catalog, vars, executions, input, now).await?;
        record_console_start(table, &request, &plan, now).await;
        serde_json::to_value(plan)
    };
    output.map_err(|e| TaskError::invalid(format!("resolve: cannot write its output: {e}")))
}

/// Records a run started from the console (or the CLI, or a rerun): the trigger records the runs it starts, and
/// these reach the state machine without it. Best effort: its end is recorded in any case, by the alert.
async fn record_console_start(
    table: &impl RunStore,
    request: &Value,
    plan: &RunPlan,
    now: DateTime<Utc>,
) {
    let plan_value = serde_json::to_value(plan).unwrap_or_default();
    let record = RunRecord::running(
        plan.job.clone(),
        plan.run_name.clone(),
        trigger_of(request, &plan_value),
        now,
    );
    if let Err(e) = table.run_began(&record).await {
        warn!(run = %plan.run_name, error = %e, "could not record the run");
    }
}

/// The resolve function: a rerun (`{"rerun": "<run>", "from_failed": true}`) is made from the run it reruns, which
/// Step Functions keeps; anything else is a console request ([`resolve_plan`]).
pub async fn resolve_run(
    catalog: &Catalog,
    vars: &Vars,
    executions: &impl ExecutionsApi,
    input: ResolveInput,
    now: DateTime<Utc>,
) -> Result<RunPlan, TaskError> {
    let Some(request) = RerunRequest::from_input(&input.request) else {
        return resolve_plan(catalog, vars, input, now);
    };
    let request = request.map_err(TaskError::invalid)?;
    let Some(execution_arn) = &input.execution_arn else {
        return Err(TaskError::invalid(
            "a rerun needs the execution's ARN ($$.Execution.Id) to find the run it reruns",
        ));
    };
    // arn:…:execution:<state machine>:<name> → arn:…:stateMachine:<state machine>
    let state_machine_arn = execution_arn
        .rsplit_once(':')
        .map(|(machine, _)| machine.replacen(":execution:", ":stateMachine:", 1))
        .unwrap_or_default();
    let original = &request.rerun;
    let arn = crate::engine::execution::execution_arn(&state_machine_arn, original);
    let execution = match executions.describe_execution(&arn).await {
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(TaskError::invalid(format!(
                "no run `{original}` to rerun: the state machine has no execution of that name"
            )))
        }
        described => described.map_err(|e| TaskError::aws("DescribeExecution", e))?,
    };
    let outputs = executions
        .task_outputs(&arn)
        .await
        .map_err(|e| TaskError::aws("GetExecutionHistory", e))?;
    let Some(plan) = plan_in(&execution.input, &outputs) else {
        return Err(TaskError::invalid(format!(
            "`{original}` has no run plan (it failed before one was made): start its job again instead"
        )));
    };
    let ended = EndedRun {
        plan,
        status: execution.status.clone(),
        summary: summary_in(execution.output.as_ref(), &outputs),
    };
    let run_name = request
        .run_name
        .clone()
        .or(input.execution_name)
        .ok_or_else(|| TaskError::invalid("a rerun needs a name: give run_name"))?;
    rerun::plan(catalog, vars, &ended, &request, &run_name, now).map_err(TaskError::invalid)
}

/// The console path: `{"job": …, "args": …}` (the state machine's input when it is not a plan) → the run's plan.
pub fn resolve_plan(
    catalog: &Catalog,
    vars: &Vars,
    ResolveInput {
        mut request,
        execution_name,
        ..
    }: ResolveInput,
    now: DateTime<Utc>,
) -> Result<RunPlan, TaskError> {
    if !request.get("job").is_some_and(Value::is_string) {
        return Err(TaskError::invalid(
            "a run's input is a plan (from `sparkplug plan`) or {\"job\": \"<name>\"} with optional \"args\", \
             \"input\", \"time\"",
        ));
    }
    if let (Some(fields), Some(name)) = (request.as_object_mut(), execution_name) {
        fields.entry("run_name").or_insert(Value::String(name));
    }
    let mut resolution = resolve_event(catalog, &request, vars, now)
        .map_err(|e| TaskError::invalid(e.to_string()))?;
    match (resolution.matches.len(), resolution.failures.first()) {
        (1, _) => Ok(resolution.matches.swap_remove(0).plan),
        (_, Some(failure)) => Err(TaskError::invalid(failure.to_string())),
        (n, None) => Err(TaskError::invalid(format!(
            "the input resolves to {n} runs, expected one"
        ))),
    }
}
