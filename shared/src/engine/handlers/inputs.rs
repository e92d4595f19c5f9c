//! The trigger's data-aware work, kept in the run table: input sets (a partition's run starts once, when its last
//! input arrives; its deadline alerts, runs with what arrived, or skips), batches (one run per `max_objects` arrivals
//! or per `window_seconds`, with a manifest), and expectations ("did not run" alerts).
//!
//! Every event is best effort, so each piece has a look that converges from state on the trigger's minute tick:
//! - a lost arrival of an input: every 15 minutes, the current partition of a set that has some inputs is looked for
//!   in S3 (HeadObject of the missing ones); at the deadline, every missing input is;
//! - a lost arrival of a batched object: every 15 minutes, each batched rule's prefix is listed, and an object written
//!   in the last half hour (but the last 2 minutes) that no batch holds is placed as its event would have placed it;
//! - a batch left open (its window passed, or a start lost after it was closed): each tick looks at the rule's last
//!   two batches (two GetItems), closes and starts what is due;
//! - deadlines and expectations are themselves looks: the tick evaluates their minutes since the last it evaluated
//!   (the `deadlines` look), so a lost tick makes them late, never missed; each acts once (a claim, a mark);
//! - an expectation a duration after a partition's first arrival: the arrival (or the look that found it) watches
//!   the partition in the run table, and each tick checks the watched partitions whose time came.

use chrono::{DateTime, Duration, Timelike, Utc};
use tracing::{info, warn};

use super::start::{start_plan, Ports, TriggerConfig, TriggerReport, TriggerTable};
use crate::catalog::{schedule, ExpectDue, Job, OnDeadline};
use crate::engine::errors::TaskError;
use crate::engine::ports::{
    AlertsApi, ExecutionsApi, LookState, ObjectsApi, SetMark, SetRecord, SfnApi, SnsMessage,
};
use crate::engine::table_keys::{batched_claim_key, missing_claim_key};
use crate::run::batch::{
    arrival_id, last_position, manifest, manifest_location, number_of, object_uri, window_passed,
};
use crate::run::expect::{
    missing, MissingKind, MissingReason, RunMissing, Seen, MISSING_DETAIL_TYPE,
};
use crate::run::inputs::{InputSet, Partition};
use crate::run::resolve::{matching_rules, BatchArrival, SetArrival};
use crate::run::runkey;
use crate::run::s3::S3Location;
use crate::run::{render, RunInput, Trigger};

/// The look that evaluates deadlines and expectations minute by minute.
pub const DEADLINES_LOOK: &str = "deadlines";
/// How long a partition's record is kept: past any deadline, for `sparkplug status --partition`.
const SET_KEPT_DAYS: i64 = 35;
/// How long a batch and an object's place in one are kept.
const BATCH_KEPT_DAYS: i64 = 7;
/// How often the backstops look in S3: a started partition's missing inputs, a batched prefix's unplaced objects.
const LOOK_EVERY_MINUTES: u32 = 15;
/// How long an object's own event has to come before the batches' look places the object (S3 delivers in seconds).
const EVENT_GRACE_MINUTES: i64 = 2;

fn table_error(action: &str) -> impl Fn(crate::engine::errors::AwsError) -> TaskError + '_ {
    move |e| TaskError::aws(action, e)
}

fn input_set(config: &TriggerConfig, job: &Job) -> Option<InputSet> {
    InputSet::of(job, &config.vars).ok().flatten()
}

// ------------------------------------------------------------------------------------------------------ input sets

/// Records each arrival of an input set's input, and starts the partition's run when it was the last one in.
pub async fn on_set_arrivals<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    arrivals: &[SetArrival],
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    for arrival in arrivals {
        let Some(job) = config.catalog.job(&arrival.job) else {
            continue;
        };
        let Some(set) = input_set(config, job) else {
            continue;
        };
        let uri = S3Location {
            bucket: arrival.arrival.bucket.clone(),
            key: arrival.arrival.key.clone(),
        }
        .to_string();
        let record = ports
            .table
            .record_input(
                &arrival.job,
                &arrival.partition.id(),
                arrival.index,
                &uri,
                arrival.arrival.time.unwrap_or(now),
                now + Duration::days(SET_KEPT_DAYS),
            )
            .await
            .map_err(table_error("UpdateItem"))?;
        watch_expectation(ports, &arrival.job, job, &arrival.partition, &record).await?;
        start_if_complete(
            config,
            ports,
            &arrival.job,
            &set,
            &arrival.partition,
            &record,
            now,
            report,
        )
        .await?;
    }
    Ok(())
}

/// A partition of a job expected to succeed a duration after its first arrival, not yet run: watched until then
/// (the tick's look at [`SetStore::watched_due`]). Watching it again, as each of its inputs arrives, changes nothing.
async fn watch_expectation<S, T, O, A>(
    ports: &Ports<'_, S, T, O, A>,
    name: &str,
    job: &Job,
    partition: &Partition,
    record: &SetRecord,
) -> Result<(), TaskError>
where
    T: TriggerTable,
{
    let Some(ExpectDue::After(after)) = job.expect.as_ref().and_then(|e| e.due().ok()) else {
        return Ok(());
    };
    let (None, Some(first_at)) = (&record.run, record.first_at) else {
        return Ok(());
    };
    ports
        .table
        .watch_due(name, &partition.id(), first_at + after)
        .await
        .map_err(table_error("UpdateItem"))
}

/// Starts the partition's run when every input is in and no run has started; says why not otherwise.
#[allow(clippy::too_many_arguments)]
async fn start_if_complete<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    job: &str,
    set: &InputSet,
    partition: &Partition,
    record: &SetRecord,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<bool, TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
{
    if let Some(run) = &record.run {
        // A duplicate delivery, or a re-upload after the run: the partition has its run.
        report.ignored.push(format!(
            "{job} {partition}: its run {run} has started already"
        ));
        return Ok(false);
    }
    let missing = missing_inputs(set, partition, record);
    if !missing.is_empty() {
        report.ignored.push(format!(
            "{job} {partition}: {} of {} inputs in; waits for {}",
            set.inputs.len() - missing.len(),
            set.inputs.len(),
            missing.join(", ")
        ));
        return Ok(false);
    }
    start_set_run(config, ports, job, set, partition, record, now, report).await?;
    Ok(true)
}

/// The locations of the inputs of `partition` that have not arrived.
fn missing_inputs(set: &InputSet, partition: &Partition, record: &SetRecord) -> Vec<String> {
    set.inputs
        .iter()
        .enumerate()
        .filter(|(index, _)| !record.arrived.contains_key(index))
        .map(|(_, input)| {
            input
                .location(partition)
                .map_or(input.uri.clone(), |l| l.to_string())
        })
        .collect()
}

/// Renders and starts the partition's run (named after the job and partition: started once, whoever starts it) with
/// the inputs that arrived, and marks the partition.
#[allow(clippy::too_many_arguments)]
async fn start_set_run<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    job: &str,
    set: &InputSet,
    partition: &Partition,
    record: &SetRecord,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
{
    let trigger = Trigger::of_input_set(
        set,
        partition,
        |index| record.arrived.get(&index).map(|(_, at)| *at),
        record.first_at.unwrap_or(now),
    );
    let time = trigger.time().unwrap_or(now);
    let what = partition.to_string();
    let Some(run_name) =
        render_and_start(config, ports, job, &what, trigger, time, report, now).await?
    else {
        return Ok(());
    };
    let expires = now + Duration::days(SET_KEPT_DAYS);
    ports
        .table
        .mark_set(job, &partition.id(), SetMark::Run, &run_name, expires)
        .await
        .map_err(table_error("UpdateItem"))?;
    Ok(())
}

/// Renders a run of `job` for `trigger` and starts it: the run's name when it started (or had started), `None` when
/// its plan cannot be rendered (a failure in the report, nothing to retry), an error the event is retried for when
/// Step Functions did not take it. `what` names the partition or batch in messages.
#[allow(clippy::too_many_arguments)]
async fn render_and_start<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    job: &str,
    what: &str,
    trigger: Trigger,
    time: DateTime<Utc>,
    report: &mut TriggerReport,
    now: DateTime<Utc>,
) -> Result<Option<String>, TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
{
    let run = RunInput {
        trigger,
        args: Default::default(),
        time,
        run_name: None,
    };
    let plan = match render(&config.catalog, job, &run, &config.vars) {
        Ok(plan) => plan,
        Err(e) => {
            report.failed.push(format!("{job} {what}: {e}"));
            return Ok(None);
        }
    };
    if start_plan(config, ports.sfn, ports.table, &plan, report, now).await {
        return Err(TaskError {
            kind: crate::engine::errors::ErrorKind::Retryable,
            message: format!("{job} {what}: its run could not be started"),
        });
    }
    Ok(Some(plan.run_name))
}

/// Looks in S3 for the partition's missing inputs, and records those found (their events were lost).
async fn look_for_missing<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    job: &str,
    set: &InputSet,
    partition: &Partition,
    mut record: SetRecord,
    now: DateTime<Utc>,
) -> Result<SetRecord, TaskError>
where
    T: TriggerTable,
    O: ObjectsApi,
{
    for (index, input) in set.inputs.iter().enumerate() {
        if record.arrived.contains_key(&index) {
            continue;
        }
        let Some(location) = input.location(partition) else {
            continue;
        };
        // A bucket the trigger may not read (the template grants the data bucket): the look says nothing of it.
        let found = match ports
            .objects
            .last_modified(&location.bucket, &location.key)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                warn!(job, input = %location, error = %e, "cannot look for a missing input");
                None
            }
        };
        if let Some(at) = found {
            warn!(job, partition = %partition, input = %location, "an input whose arrival event was lost: recorded");
            record = ports
                .table
                .record_input(
                    job,
                    &partition.id(),
                    index,
                    &location.to_string(),
                    at,
                    now + Duration::days(SET_KEPT_DAYS),
                )
                .await
                .map_err(table_error("UpdateItem"))?;
            if let Some(expected) = config.catalog.job(job) {
                watch_expectation(ports, job, expected, partition, &record).await?;
            }
        }
    }
    Ok(record)
}

// --------------------------------------------------------------------------------------------------------- batches

/// Puts each batched arrival in its rule's open batch (once per object content: a redelivered event finds the batch
/// its object was placed in), and starts a batch that it fills.
pub async fn on_batch_arrivals<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    arrivals: &[BatchArrival],
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
{
    for arrival in arrivals {
        let Some(batch) = config
            .catalog
            .job(&arrival.job)
            .and_then(|job| job.trigger.s3.get(arrival.rule))
            .and_then(|rule| rule.batch)
        else {
            continue;
        };
        place(config, ports, arrival, batch.max_objects, now, report).await?;
    }
    Ok(())
}

async fn place<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    arrival: &BatchArrival,
    max_objects: u32,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
{
    let (job, rule) = (arrival.job.as_str(), arrival.rule);
    let object = object_uri(&arrival.arrival);
    let id = arrival_id(&arrival.arrival);
    let at = arrival.arrival.time.unwrap_or(now);
    let expires = now + Duration::days(BATCH_KEPT_DAYS);
    let (mut position, fresh) = ports
        .table
        .position_of(job, rule, &id, expires)
        .await
        .map_err(table_error("PutItem"))?;
    if !fresh {
        report
            .duplicates
            .push(format!("{job}: {object} has its place in a batch already"));
    }
    // Adding is idempotent (a set): a redelivery adds nothing, but finishes what its first delivery may not have
    // (a batch filled and not started). A batch closed by its window before the object was in it: the next one.
    for _ in 0..5 {
        let number = number_of(position, max_objects);
        let added = ports
            .table
            .add_to_batch(job, rule, number, &object, at, expires)
            .await
            .map_err(table_error("UpdateItem"))?;
        if let Some(batch) = added {
            if fresh {
                report.ignored.push(format!(
                    "{job}: {object} is object {} of batch {number}",
                    batch.objects.len()
                ));
            }
            // The add that fills the batch (DynamoDB's set is atomic: one add sees it full first) closes and starts
            // it; a redelivery to a full batch left open finishes the job.
            if batch.objects.len() >= max_objects as usize {
                close_and_start(config, ports, job, rule, number, now, report).await?;
            }
            return Ok(());
        }
        let closed = ports
            .table
            .batch(job, rule, number)
            .await
            .map_err(table_error("GetItem"))?;
        if closed.is_some_and(|b| b.objects.contains(&object)) {
            return Ok(());
        }
        position = ports
            .table
            .next_position(job, rule)
            .await
            .map_err(table_error("UpdateItem"))?;
        ports
            .table
            .move_object(job, &id, position)
            .await
            .map_err(table_error("UpdateItem"))?;
    }
    Err(TaskError {
        kind: crate::engine::errors::ErrorKind::Retryable,
        message: format!("{job}: {object}: no open batch took it"),
    })
}

/// Closes a batch (if still open), writes its manifest, and starts its run; a batch closed already whose run never
/// started is started (its manifest written again: the same objects).
async fn close_and_start<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    job: &str,
    rule: usize,
    number: u64,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
{
    let Some(trigger) = config.catalog.job(job).and_then(|j| j.trigger.s3.get(rule)) else {
        return Ok(());
    };
    let max_objects = trigger.batch.map_or(1, |b| b.max_objects);
    let run_name = runkey::for_batch(job, rule, number);
    let batch = match ports
        .table
        .close_batch(job, rule, number, &run_name)
        .await
        .map_err(table_error("UpdateItem"))?
    {
        Some(batch) => batch,
        None => match ports
            .table
            .batch(job, rule, number)
            .await
            .map_err(table_error("GetItem"))?
        {
            Some(batch) if batch.closed_by.as_deref() == Some(run_name.as_str()) => batch,
            _ => return Ok(()),
        },
    };
    // Its positions are used up: the next arrival goes to the next batch.
    ports
        .table
        .skip_to(job, rule, last_position(number, max_objects))
        .await
        .map_err(table_error("UpdateItem"))?;
    let bucket = config.vars.fill(&trigger.bucket).unwrap_or_default();
    let location = manifest_location(&bucket, job, &run_name);
    let body = manifest(job, &run_name, number, &batch.objects, batch.first_at);
    ports
        .objects
        .put_json(&location.bucket, &location.key, &body)
        .await
        .map_err(|e| TaskError::aws("PutObject", e))?;
    let time = batch.first_at.unwrap_or(now);
    let trigger = Trigger::Batch {
        rule,
        number,
        objects: batch.objects.len() as u64,
        manifest: location,
        time,
    };
    let what = format!("batch {number}");
    render_and_start(config, ports, job, &what, trigger, time, report, now).await?;
    Ok(())
}

// -------------------------------------------------------------------------------------------------------- the tick

/// The tick's data-aware looks: batches whose window passed, started partitions' missing inputs (every 15 minutes),
/// and the deadlines and expectations of every minute since the last evaluated.
pub async fn on_tick<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    minute: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    // The objects whose events were lost first: a batch one fills, or one whose window passed, is then started.
    if minute.minute() % LOOK_EVERY_MINUTES == 0 {
        sets_backstop(config, ports, now, report).await?;
        batches_backstop(config, ports, now, report).await?;
    }
    batches_due(config, ports, now, report).await?;
    let watches = config.catalog.jobs.values().any(|job| {
        job.expect.is_some() || (job.trigger.deadline.is_some() && !job.trigger.all_of.is_empty())
    });
    if !watches {
        return Ok(());
    }
    let last = ports
        .table
        .look_state(DEADLINES_LOOK)
        .await
        .map_err(table_error("GetItem"))?
        .and_then(|state| state.watermark);
    let minutes = super::trigger::minutes_to_evaluate(last, minute);
    for at in &minutes {
        for (name, job) in &config.catalog.jobs {
            if let (Some(deadline), false) = (&job.trigger.deadline, job.trigger.all_of.is_empty())
            {
                if schedule::is_due(deadline, *at).unwrap_or(false) {
                    on_deadline(config, ports, name, job, *at, now, report).await?;
                }
            }
            if let Some(since) = expectation_due(job, *at) {
                on_expectation(config, ports, name, job, since, *at, now, report).await?;
            }
        }
    }
    if !minutes.is_empty() {
        let state = LookState {
            watermark: Some(minute),
            watching: Vec::new(),
        };
        ports
            .table
            .save_look_state(DEADLINES_LOOK, &state)
            .await
            .map_err(table_error("PutItem"))?;
    }
    if config.catalog.jobs.values().any(expects_after_arrival) {
        partitions_due(config, ports, now, report).await?;
    }
    Ok(())
}

/// Whether the job's expectation comes a duration after its input set's partitions' first arrivals.
fn expects_after_arrival(job: &Job) -> bool {
    !job.trigger.all_of.is_empty()
        && matches!(
            job.expect.as_ref().map(|e| e.due()),
            Some(Ok(ExpectDue::After(_)))
        )
}

/// When the job's expectation is due at minute `at` (a time of its cron, or a duration after a time of its
/// schedule): the start of the period a run should have succeeded in.
fn expectation_due(job: &Job, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match job.expect.as_ref()?.due().ok()? {
        ExpectDue::Cron(cron) => schedule::is_due(cron, at).unwrap_or(false).then(|| {
            schedule::previous(cron, at)
                .ok()
                .flatten()
                .unwrap_or(at - Duration::days(1))
        }),
        ExpectDue::After(after) if job.trigger.all_of.is_empty() => {
            let schedule = job.trigger.schedule.as_deref()?;
            let started = at - after;
            schedule::is_due(schedule, started)
                .unwrap_or(false)
                .then_some(started)
        }
        // An input set's partitions are watched from their first arrival (`partitions_due`).
        ExpectDue::After(_) => None,
    }
}

/// The watched partitions whose expectation came (a duration after their first arrival): each alerted on once if its
/// run has not succeeded, then no longer watched. One GetItem a tick, and a few calls a partition when it comes.
async fn partitions_due<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    let watched = ports
        .table
        .watched_due()
        .await
        .map_err(table_error("GetItem"))?;
    for (due, name, partition_id) in watched.into_iter().filter(|(due, ..)| *due <= now) {
        // A job since removed or changed is no longer watched for.
        let job = config
            .catalog
            .job(&name)
            .filter(|job| expects_after_arrival(job));
        if let Some(set) = job.and_then(|job| input_set(config, job)) {
            match Partition::parse(&partition_id, &set.keys()) {
                Ok(partition) => {
                    on_partition_expectation(
                        config, ports, &name, &set, &partition, due, now, report,
                    )
                    .await?
                }
                Err(why) => {
                    warn!(job = %name, partition = %partition_id, why, "a watched partition sparkplug cannot read")
                }
            }
        }
        ports
            .table
            .unwatch_due(&name, &partition_id, due)
            .await
            .map_err(table_error("UpdateItem"))?;
    }
    Ok(())
}

/// A partition's expectation at `due`, a duration after its first arrival: unless its run succeeded, one alert says
/// why — its inputs missing, its run queued, running or failed.
#[allow(clippy::too_many_arguments)]
async fn on_partition_expectation<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    name: &str,
    set: &InputSet,
    partition: &Partition,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    let record = ports
        .table
        .set_record(name, &partition.id())
        .await
        .map_err(table_error("GetItem"))?
        .unwrap_or_default();
    let since = record.first_at.unwrap_or(due);
    let reason = match &record.run {
        None => {
            let missing = missing_inputs(set, partition, &record);
            if missing.is_empty() {
                MissingReason::NeverTriggered
            } else {
                MissingReason::InputsMissing {
                    partition: partition.id(),
                    missing,
                }
            }
        }
        Some(run) => {
            let status = ports
                .sfn
                .execution_status(&config.state_machine_arn, run)
                .await
                .map_err(|e| TaskError::aws("DescribeExecution", e))?;
            if status.as_deref() == Some("SUCCEEDED") {
                return Ok(());
            }
            let ledger = ports
                .table
                .ledger(name)
                .await
                .map_err(table_error("GetItem"))?;
            match status.as_deref() {
                Some("RUNNING") => {
                    // Queued for its job's slot, or for its engine's ([limits]).
                    let mut queued = ports
                        .table
                        .queued(Some(name))
                        .await
                        .map_err(table_error("Query"))?;
                    if let Some(group) = config
                        .catalog
                        .jobs
                        .get(name)
                        .and_then(|job| crate::run::limits::engine_group(&config.catalog, job))
                    {
                        queued.extend(
                            ports
                                .table
                                .queued(Some(&group.name))
                                .await
                                .map_err(table_error("Query"))?,
                        );
                    }
                    if queued.iter().any(|q| &q.run_name == run) {
                        MissingReason::Queued { run: run.clone() }
                    } else {
                        let started = ledger
                            .started
                            .filter(|(started, _)| started == run)
                            .map_or(since, |(_, at)| at);
                        MissingReason::StillRunning {
                            run: run.clone(),
                            minutes: (due - started).num_minutes(),
                        }
                    }
                }
                Some(status) => MissingReason::Failed {
                    run: run.clone(),
                    status: status.to_string(),
                    error: ledger
                        .ended
                        .filter(|(ended, ..)| ended == run)
                        .and_then(|(.., error)| error),
                },
                // Marked started, yet Step Functions has no such execution.
                None => MissingReason::NeverTriggered,
            }
        }
    };
    let alert = RunMissing {
        job: name.to_string(),
        kind: MissingKind::Expectation,
        due,
        since: Some(since),
        partition: Some(partition.id()),
        why: reason.to_string(),
        reason,
        action: None,
        environment: config.vars.get("env").map(str::to_string),
    };
    let claim = missing_claim_key(
        name,
        &format!("{}#{}", due.format("%Y%m%dT%H%M%SZ"), partition.id()),
    );
    alert_missing_once(config, ports, &claim, &alert, now, report).await
}

/// Each batched rule's last two batches: one whose window passed is closed and started; one closed whose run never
/// started is started. Two or three GetItems a rule.
async fn batches_due<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
{
    for (name, job) in &config.catalog.jobs {
        for (rule, trigger) in job.trigger.s3.iter().enumerate() {
            let Some(batch) = trigger.batch else { continue };
            let position = ports
                .table
                .position(name, rule)
                .await
                .map_err(table_error("GetItem"))?;
            if position == 0 {
                continue;
            }
            let last = number_of(position, batch.max_objects);
            for number in [last.saturating_sub(1), last]
                .into_iter()
                .filter(|n| *n > 0)
            {
                let Some(record) = ports
                    .table
                    .batch(name, rule, number)
                    .await
                    .map_err(table_error("GetItem"))?
                else {
                    continue;
                };
                let due = match &record.closed_by {
                    None => window_passed(record.first_at, batch.window_seconds, now),
                    Some(run) => ports
                        .sfn
                        .execution_status(&config.state_machine_arn, run)
                        .await
                        .map_err(|e| TaskError::aws("DescribeExecution", e))?
                        .is_none(),
                };
                if due {
                    info!(job = %name, rule, batch = number, objects = record.objects.len(), "batch due");
                    close_and_start(config, ports, name, rule, number, now, report).await?;
                }
            }
        }
    }
    Ok(())
}

/// Every batched rule's objects written since two looks ago — but in the last [`EVENT_GRACE_MINUTES`], whose events
/// may be on their way — that no batch holds: their events were lost, and each is placed as its event would have
/// placed it. One ListObjectsV2 page per 1,000 objects under the rule's prefix, and one GetItem per recent object.
async fn batches_backstop<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
{
    let after = now - Duration::minutes(2 * i64::from(LOOK_EVERY_MINUTES) + EVENT_GRACE_MINUTES);
    let before = now - Duration::minutes(EVENT_GRACE_MINUTES);
    for (name, job) in &config.catalog.jobs {
        for (rule, trigger) in job.trigger.s3.iter().enumerate() {
            let Some(batch) = trigger.batch else {
                continue;
            };
            let (Ok(bucket), Ok(prefix)) = (
                config.vars.fill(&trigger.bucket),
                config.vars.fill(&trigger.prefix),
            ) else {
                continue;
            };
            // A bucket the trigger may not list (the template grants the data bucket): the look says nothing of it.
            let written = match ports.objects.written_after(&bucket, &prefix, after).await {
                Ok(written) => written,
                Err(e) => {
                    warn!(job = %name, bucket, prefix, error = %e, "cannot list a batched prefix");
                    continue;
                }
            };
            for object in written {
                if object.time.is_none_or(|time| time > before) {
                    continue;
                }
                // Only the objects this rule's events batch (the first batched rule of the job that matches).
                let batched_by = matching_rules(job, &config.vars, &object.bucket, &object.key)
                    .into_iter()
                    .find(|r| job.trigger.s3[*r].batch.is_some());
                if batched_by != Some(rule) {
                    continue;
                }
                let placed = ports
                    .table
                    .is_claimed(&batched_claim_key(name, &arrival_id(&object)))
                    .await
                    .map_err(table_error("GetItem"))?;
                if placed {
                    continue;
                }
                warn!(job = %name, object = %object_uri(&object), "a batched object whose arrival event was lost: placed");
                let arrival = BatchArrival {
                    job: name.clone(),
                    rule,
                    arrival: object,
                };
                place(config, ports, &arrival, batch.max_objects, now, report).await?;
            }
        }
    }
    Ok(())
}

/// The current partition of every time-keyed input set that has some inputs but no run: its missing inputs looked
/// for in S3 (a lost arrival event), and its run started if they are all there now.
async fn sets_backstop<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    for (name, job) in &config.catalog.jobs {
        let Some(set) = input_set(config, job) else {
            continue;
        };
        let Some(partition) = set.partition_at(now) else {
            continue;
        };
        let Some(record) = ports
            .table
            .set_record(name, &partition.id())
            .await
            .map_err(table_error("GetItem"))?
        else {
            continue;
        };
        if record.run.is_some() || record.deadline.is_some() {
            continue;
        }
        let record = look_for_missing(config, ports, name, &set, &partition, record, now).await?;
        ports
            .table
            .set_checked(name, &partition.id(), now)
            .await
            .map_err(table_error("UpdateItem"))?;
        start_if_complete(config, ports, name, &set, &partition, &record, now, report).await?;
    }
    Ok(())
}

/// A set's deadline at `at`: the partition of that moment, if it has no run — its missing inputs looked for once
/// more — is run if complete, else alerted on, run with what arrived, or skipped (`on_deadline`), once.
async fn on_deadline<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    name: &str,
    job: &Job,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    let Some(set) = input_set(config, job) else {
        return Ok(());
    };
    let Some(partition) = set.partition_at(at) else {
        return Ok(());
    };
    let record = ports
        .table
        .set_record(name, &partition.id())
        .await
        .map_err(table_error("GetItem"))?
        .unwrap_or_default();
    if record.run.is_some() || record.deadline.is_some() {
        return Ok(());
    }
    let record = look_for_missing(config, ports, name, &set, &partition, record, now).await?;
    if start_if_complete(config, ports, name, &set, &partition, &record, now, report).await? {
        return Ok(());
    }
    // Done, then marked: a tick retried before the mark may do it again (the run is the same run), never not at all.
    let action = job.trigger.on_deadline.unwrap_or_default();
    let missing = missing_inputs(&set, &partition, &record);
    warn!(job = %name, partition = %partition, missing = ?missing, action = action.as_str(), "deadline: inputs missing");
    match action {
        OnDeadline::Alert => {
            let reason = MissingReason::InputsMissing {
                partition: partition.id(),
                missing,
            };
            let alert = RunMissing {
                job: name.to_string(),
                kind: MissingKind::Deadline,
                due: at,
                since: None,
                partition: Some(partition.id()),
                why: reason.to_string(),
                reason,
                action: Some(action.as_str().to_string()),
                environment: config.vars.get("env").map(str::to_string),
            };
            send_missing(config, ports, &alert).await?;
            report.ignored.push(format!(
                "{name} {partition}: deadline, inputs missing: alerted"
            ));
        }
        OnDeadline::Run => {
            start_set_run(config, ports, name, &set, &partition, &record, now, report).await?;
        }
        OnDeadline::Skip => report.ignored.push(format!(
            "{name} {partition}: deadline, inputs missing: skipped"
        )),
    }
    ports
        .table
        .mark_set(
            name,
            &partition.id(),
            SetMark::Deadline,
            action.as_str(),
            now + Duration::days(SET_KEPT_DAYS),
        )
        .await
        .map_err(table_error("UpdateItem"))?;
    Ok(())
}

/// An expectation due at `due`: when no run of the job succeeded since `since`, one alert says why.
#[allow(clippy::too_many_arguments)]
async fn on_expectation<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    name: &str,
    job: &Job,
    since: DateTime<Utc>,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    S: SfnApi + ExecutionsApi,
    T: TriggerTable,
    O: ObjectsApi,
    A: AlertsApi,
{
    let ledger = ports
        .table
        .ledger(name)
        .await
        .map_err(table_error("GetItem"))?;
    let mut seen = Seen {
        started: ledger.started,
        ended: ledger.ended,
        succeeded_at: ledger.succeeded.map(|(_, at)| at),
        ..Seen::default()
    };
    if seen.succeeded_at.is_some_and(|at| at > since) {
        return Ok(());
    }
    seen.queued = ports
        .table
        .queued(Some(name))
        .await
        .map_err(table_error("Query"))?
        .first()
        .map(|q| q.run_name.clone());
    if let Some(set) = input_set(config, job) {
        if let Some(partition) = set.partition_at(due) {
            let record = ports
                .table
                .set_record(name, &partition.id())
                .await
                .map_err(table_error("GetItem"))?
                .unwrap_or_default();
            let missing = missing_inputs(&set, &partition, &record);
            if record.run.is_none() && !missing.is_empty() {
                seen.inputs_missing = Some((partition.id(), missing));
            }
        }
    }
    for upstream in &job.trigger.after {
        let theirs = ports
            .table
            .ledger(upstream)
            .await
            .map_err(table_error("GetItem"))?;
        if theirs.succeeded.as_ref().is_none_or(|(_, at)| *at <= since) {
            let (run, status) = theirs
                .ended
                .map(|(run, status, ..)| (Some(run), Some(status)))
                .unwrap_or_default();
            seen.upstreams_behind.push((upstream.clone(), run, status));
        }
    }
    let Some(reason) = missing(&seen, since, due) else {
        return Ok(());
    };
    let alert = RunMissing {
        job: name.to_string(),
        kind: MissingKind::Expectation,
        due,
        since: Some(since),
        partition: None,
        why: reason.to_string(),
        reason,
        action: None,
        environment: config.vars.get("env").map(str::to_string),
    };
    let claim = missing_claim_key(name, &due.format("%Y%m%dT%H%MZ").to_string());
    alert_missing_once(config, ports, &claim, &alert, now, report).await
}

/// A "did not run" alert sent once (`claim`), and noted in the job's ledger.
async fn alert_missing_once<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    claim: &str,
    alert: &RunMissing,
    now: DateTime<Utc>,
    report: &mut TriggerReport,
) -> Result<(), TaskError>
where
    T: TriggerTable,
    A: AlertsApi,
{
    // Once: looked up first, claimed once sent — a tick retried before it finished may send it again, never none.
    if ports
        .table
        .is_claimed(claim)
        .await
        .map_err(table_error("GetItem"))?
    {
        return Ok(());
    }
    send_missing(config, ports, alert).await?;
    ports
        .table
        .claim(claim, now + Duration::days(SET_KEPT_DAYS))
        .await
        .map_err(table_error("PutItem"))?;
    ports
        .table
        .run_missed(&alert.job, alert.due, &alert.why)
        .await
        .map_err(table_error("UpdateItem"))?;
    report.ignored.push(format!(
        "{}: did not run by {}: {}",
        alert.job, alert.due, alert.why
    ));
    Ok(())
}

/// The alert on the topic (text for email, the chat notification for the rest) and the event on the bus.
async fn send_missing<S, T, O, A>(
    config: &TriggerConfig,
    ports: &Ports<'_, S, T, O, A>,
    alert: &RunMissing,
) -> Result<(), TaskError>
where
    A: AlertsApi,
{
    if let Some(topic) = &config.alert_topic_arn {
        let message = SnsMessage {
            default: alert.chat_notification().to_string(),
            email: alert.text(),
        };
        ports
            .alerts
            .publish(topic, &alert.subject(), &message)
            .await
            .map_err(|e| TaskError::aws("Publish", e))?;
    }
    let detail = serde_json::to_value(alert).unwrap_or_default();
    ports
        .alerts
        .put_event(super::EVENT_SOURCE, MISSING_DETAIL_TYPE, &detail)
        .await
        .map_err(|e| TaskError::aws("PutEvents", e))?;
    info!(job = %alert.job, due = %alert.due, why = %alert.why, "missing run alerted");
    Ok(())
}
