//! Per-job queues: a job with `max_concurrent_runs` runs that many at once; the others wait, first in first out,
//! instead of failing.
//!
//! A run of such a job first takes a slot (the state machine's `TakeSlot` task waits on a task token): free, the
//! token is answered at once; full, the run joins the job's queue. Every end of a run — success, failure, console
//! Stop, timeout, seen as the execution's status change — gives its slot back and answers the oldest waiting run's
//! token. A run queued at the very moment a slot frees looks again after it queued, so that it is never forgotten.
//! The status change is delivered best effort: a scheduled drain (every 5 minutes) gives back the slots of runs whose
//! execution is no longer RUNNING (one DescribeExecution per held slot) and answers the oldest waiting runs, so a lost
//! event delays a queued run by one drain period at most. A queued run that waits longer than its `timeout_minutes`
//! fails (its waiting task's timeout) and leaves the queue.
//!
//! The catalog's `[limits]` cap each engine's runs at once the same way: a run of a limited engine takes a slot of its
//! engine's group (`limit:<engine>`) after its job's own, and waits in that group's queue when it is full
//! ([`crate::run::limits`]). Every group is a queue like a job's: its end frees its slots, the drain looks at it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::engine::errors::TaskError;
use crate::engine::execution::{status_change_error, ExecutionStatusChange};
use crate::engine::metrics::queue_line;
use crate::engine::ports::{CallbackApi, QueuedRun, SfnApi, SlotStore, TokenAnswer};
use crate::run::limits::{groups_of, SlotGroup};
use crate::run::RunPlan;

/// The `TakeSlot` task's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TakeSlot {
    pub plan: RunPlan,
    /// `$$.Task.Token`.
    pub task_token: String,
}

/// What one invocation of the queue function did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Runs whose slot was answered, as `run`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started: Vec<String>,
    /// Runs that joined a queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<String>,
    /// Runs whose slot was given back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
    /// After a drain: each job's queue, `[waiting, running]` (also a metric line each: [`queue_line`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depths: BTreeMap<String, [usize; 2]>,
}

/// What the queue function needs besides its clients: the run state machine whose executions hold the slots.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub state_machine_arn: String,
    /// The stack's environment: the queue metrics' `environment` dimension.
    pub environment: String,
    /// Each job's engine group, for jobs whose engine the catalog's `[limits]` caps
    /// ([`crate::run::limits::engine_groups`]): a run's end frees its slot there too.
    pub engine_groups: BTreeMap<String, SlotGroup>,
}

/// The queue function: a `TakeSlot` task, a run's end (its execution's status change), or the drain schedule
/// (`{"drain": true}`).
pub async fn queue(
    config: &QueueConfig,
    slots: &impl SlotStore,
    sfn: &(impl CallbackApi + SfnApi),
    input: Value,
    now: DateTime<Utc>,
) -> Result<QueueReport, TaskError> {
    let mut report = QueueReport::default();
    if input.get("task_token").is_some() {
        let take: TakeSlot = crate::engine::input::decode("queue", input)?;
        take_slot(slots, sfn, take, now, &mut report).await?;
    } else if input.get("drain") == Some(&Value::Bool(true)) {
        let mut jobs = release_ended(config, slots, sfn, &mut report).await?;
        jobs.extend(
            slots
                .queued(None)
                .await
                .map_err(|e| TaskError::aws("Query", e))?
                .into_iter()
                .map(|q| q.job),
        );
        jobs.sort();
        jobs.dedup();
        for job in jobs {
            drain(config, slots, sfn, &job, now, &mut report).await?;
        }
        report.depths = depths(slots).await?;
        for (job, [waiting, running]) in &report.depths {
            println!(
                "{}",
                queue_line(job, &config.environment, *waiting, *running, now)
            );
        }
    } else {
        let Some(change) = ExecutionStatusChange::from_event(&input) else {
            return Err(TaskError::invalid(
                "queue: expected a TakeSlot task, a \"Step Functions Execution Status Change\" or {\"drain\": true}",
            ));
        };
        let ExecutionStatusChange {
            name,
            status,
            input,
            ..
        } = change.map_err(|why| status_change_error("queue", &why))?;
        let input = input
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .unwrap_or_default();
        let groups = match input.get("job").and_then(Value::as_str) {
            Some(job) => {
                let mut groups = vec![job.to_string()];
                groups.extend(config.engine_groups.get(job).map(|g| g.name.clone()));
                groups
            }
            // A rerun's input names only the run it reruns: its groups are those whose slot (or queue) it holds.
            None if input.get("rerun").is_some() => groups_holding(slots, &name).await?,
            None => Vec::new(),
        };
        for group in groups {
            // A run that timed out or was stopped while it waited leaves the queue.
            slots
                .dequeue(&group, &name)
                .await
                .map_err(|e| TaskError::aws("DeleteItem", e))?;
            let held = slots
                .release(&group, &name)
                .await
                .map_err(|e| TaskError::aws("UpdateItem", e))?;
            // Only a freed slot can start a waiting run; the end of a run that held none (a job with no queue) stops
            // here.
            if held {
                info!(group = %group, run = %name, status = %status, "run ended: its slot is free");
                if !report.released.contains(&name) {
                    report.released.push(name.clone());
                }
                drain(config, slots, sfn, &group, now, &mut report).await?;
            }
        }
    }
    Ok(report)
}

/// Each job's runs waiting for a slot and holding one, for every job with a slot or a queue item.
async fn depths(slots: &impl SlotStore) -> Result<BTreeMap<String, [usize; 2]>, TaskError> {
    let mut depths: BTreeMap<String, [usize; 2]> = BTreeMap::new();
    for (job, runs) in slots
        .holders()
        .await
        .map_err(|e| TaskError::aws("Query", e))?
    {
        depths.entry(job).or_default()[1] = runs.len();
    }
    for queued in slots
        .queued(None)
        .await
        .map_err(|e| TaskError::aws("Query", e))?
    {
        depths.entry(queued.job).or_default()[0] += 1;
    }
    Ok(depths)
}

/// The groups one of whose slots `run` holds, or in whose queue it waits.
async fn groups_holding(slots: &impl SlotStore, run: &str) -> Result<Vec<String>, TaskError> {
    let mut groups: Vec<String> = slots
        .holders()
        .await
        .map_err(|e| TaskError::aws("Query", e))?
        .into_iter()
        .filter(|(_, runs)| runs.iter().any(|r| r == run))
        .map(|(group, _)| group)
        .collect();
    groups.extend(
        slots
            .queued(None)
            .await
            .map_err(|e| TaskError::aws("Query", e))?
            .into_iter()
            .filter(|queued| queued.run_name == run)
            .map(|queued| queued.job),
    );
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// The drain's backstop for a lost end: every slot held by a run whose execution is no longer RUNNING is given
/// back. A holder with no execution of its name (a plan pasted into the console under another name) is left to its
/// execution's own event. Returns the jobs whose slots were freed.
async fn release_ended(
    config: &QueueConfig,
    slots: &impl SlotStore,
    sfn: &impl SfnApi,
    report: &mut QueueReport,
) -> Result<Vec<String>, TaskError> {
    let mut freed = Vec::new();
    // A run holds a slot of its job and one of its engine: described once.
    let mut statuses: BTreeMap<String, Option<String>> = BTreeMap::new();
    let holders = slots
        .holders()
        .await
        .map_err(|e| TaskError::aws("Query", e))?;
    for (job, runs) in holders {
        for run in runs {
            let status = match statuses.get(&run) {
                Some(status) => status.clone(),
                None => {
                    let status = sfn
                        .execution_status(&config.state_machine_arn, &run)
                        .await
                        .map_err(|e| TaskError::aws("DescribeExecution", e))?;
                    statuses.insert(run.clone(), status.clone());
                    status
                }
            };
            let Some(status) = status.filter(|s| s != "RUNNING") else {
                continue;
            };
            if slots
                .release(&job, &run)
                .await
                .map_err(|e| TaskError::aws("UpdateItem", e))?
            {
                warn!(job = %job, run = %run, status = %status, "drain: gave back the slot of a run that has ended (its end's event was lost)");
                if !report.released.contains(&run) {
                    report.released.push(run);
                }
                freed.push(job.clone());
            }
        }
    }
    Ok(freed)
}

async fn answer(
    sfn: &impl CallbackApi,
    token: &str,
    waited: i64,
) -> Result<TokenAnswer, TaskError> {
    sfn.send_task_success(token, &json!({ "queued_seconds": waited }).to_string())
        .await
        .map_err(|e| TaskError::aws("SendTaskSuccess", e))
}

async fn take_slot(
    slots: &impl SlotStore,
    sfn: &impl CallbackApi,
    TakeSlot { plan, task_token }: TakeSlot,
    now: DateTime<Utc>,
    report: &mut QueueReport,
) -> Result<(), TaskError> {
    let groups = groups_of(
        &plan.job,
        plan.max_concurrent_runs,
        plan.engine_limit.as_ref(),
    );
    if groups.is_empty() {
        return Err(TaskError::invalid(format!(
            "run {} has no max_concurrent_runs and its engine no limit: it takes no slot",
            plan.run_name
        )));
    }
    let limit = Duration::seconds(i64::try_from(plan.timeout_seconds).unwrap_or(i64::MAX / 2));
    let waiting = Waiting {
        job: &plan.job,
        run: &plan.run_name,
        token: &task_token,
        since: now,
        expires: now + limit + Duration::days(1),
    };
    if let Taken::Answered(_) = take_in_turn(slots, sfn, &waiting, &groups, now).await? {
        report.started.push(plan.run_name.clone());
    } else {
        report.queued.push(plan.run_name.clone());
    }
    Ok(())
}

/// A run on its way through its groups' slots.
struct Waiting<'a> {
    job: &'a str,
    run: &'a str,
    token: &'a str,
    /// When it first waited.
    since: DateTime<Utc>,
    expires: DateTime<Utc>,
}

/// Where a run's way through its groups ended.
enum Taken {
    /// It holds a slot of every group: its token was answered.
    Answered(TokenAnswer),
    /// A group was full: it waits in that group's queue (holding the slots of the groups before it).
    Queued,
}

/// Takes a slot of each of `groups` in turn for the run; at the first that is full, the run joins its queue, with
/// the group after it to take next.
async fn take_in_turn(
    slots: &impl SlotStore,
    sfn: &impl CallbackApi,
    waiting: &Waiting<'_>,
    groups: &[SlotGroup],
    now: DateTime<Utc>,
) -> Result<Taken, TaskError> {
    for (index, group) in groups.iter().enumerate() {
        let acquire = || async {
            slots
                .acquire(&group.name, waiting.run, group.max)
                .await
                .map_err(|e| TaskError::aws("UpdateItem", e))
        };
        if acquire().await? {
            continue;
        }
        slots
            .enqueue(&QueuedRun {
                job: group.name.clone(),
                run_name: waiting.run.to_string(),
                token: waiting.token.to_string(),
                max: group.max,
                enqueued: now,
                since: waiting.since,
                then: groups.get(index + 1).cloned(),
                expires: waiting.expires,
            })
            .await
            .map_err(|e| TaskError::aws("PutItem", e))?;
        info!(job = %waiting.job, group = %group.name, run = %waiting.run, max = group.max,
            "queued: the group runs {} at once", group.max);
        // A slot freed while it queued: the run that freed it may not have seen it in the queue. Look again.
        if !acquire().await? {
            return Ok(Taken::Queued);
        }
        slots
            .dequeue(&group.name, waiting.run)
            .await
            .map_err(|e| TaskError::aws("DeleteItem", e))?;
    }
    let waited = (now - waiting.since).num_seconds().max(0);
    Ok(Taken::Answered(answer(sfn, waiting.token, waited).await?))
}

/// Answers the oldest waiting runs of `group` while slots are free; a run that has a group to take next goes on to
/// it (and may queue there).
async fn drain(
    config: &QueueConfig,
    slots: &impl SlotStore,
    sfn: &(impl CallbackApi + SfnApi),
    group: &str,
    now: DateTime<Utc>,
    report: &mut QueueReport,
) -> Result<(), TaskError> {
    let waiting = slots
        .queued(Some(group))
        .await
        .map_err(|e| TaskError::aws("Query", e))?;
    for queued in waiting {
        let taken = slots
            .acquire(group, &queued.run_name, queued.max)
            .await
            .map_err(|e| TaskError::aws("UpdateItem", e))?;
        if !taken {
            break;
        }
        slots
            .dequeue(group, &queued.run_name)
            .await
            .map_err(|e| TaskError::aws("DeleteItem", e))?;
        let next: Vec<SlotGroup> = queued.then.iter().cloned().collect();
        let on = Waiting {
            job: group,
            run: &queued.run_name,
            token: &queued.token,
            since: queued.since,
            expires: queued.expires,
        };
        let waited = (now - queued.since).num_seconds().max(0);
        match take_in_turn(slots, sfn, &on, &next, now).await? {
            Taken::Queued => {
                info!(group, run = %queued.run_name, "slot taken: the run waits for its next group's");
            }
            Taken::Answered(TokenAnswer::Delivered) => {
                info!(group, run = %queued.run_name, waited, "slot free: the run goes on");
                report.started.push(queued.run_name);
            }
            // Nobody waits on the token: the run was stopped or timed out while it waited (its slots go to the next
            // ones) — or its own TakeSlot's second look answered it first, and it runs, holding the slots.
            Taken::Answered(TokenAnswer::Gone { code }) => {
                let status = sfn
                    .execution_status(&config.state_machine_arn, &queued.run_name)
                    .await
                    .map_err(|e| TaskError::aws("DescribeExecution", e))?;
                if status.as_deref() == Some("RUNNING") {
                    info!(group, run = %queued.run_name, "answered by its own look meanwhile: it runs, holding the slot");
                    continue;
                }
                info!(group, run = %queued.run_name, code = %code, "a queued run that nobody waits on any more");
                for held in std::iter::once(group).chain(next.iter().map(|g| g.name.as_str())) {
                    slots
                        .release(held, &queued.run_name)
                        .await
                        .map_err(|e| TaskError::aws("UpdateItem", e))?;
                }
            }
        }
    }
    Ok(())
}
