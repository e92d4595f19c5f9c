//! From a trigger event to the runs it starts: parse, match against the catalog, render a plan per match.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Catalog, Job, Vars};
use crate::run::events::{
    parse_event, EventError, EventItem, JobRef, ObjectArrival, RunRequest, UpstreamRun,
};
use crate::run::inputs::{InputSet, Partition};
use crate::run::plan::{render, PlanError, RunInput, RunPlan, Trigger};

/// One run an event starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub job: String,
    pub run_name: String,
    pub plan: RunPlan,
}

/// Part of an event that starts nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The record's index in an S3 notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(record) = self.record {
            write!(f, "record {record}: ")?;
        }
        if let Some(job) = &self.job {
            write!(f, "job {job}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// An object that is an input of a job's input set: the trigger records it, and starts the partition's run once
/// all its inputs are in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetArrival {
    pub job: String,
    /// The input's index in the set.
    pub index: usize,
    pub partition: Partition,
    pub arrival: ObjectArrival,
}

/// An object under a job's S3 rule with `batch`: the trigger adds it to the rule's open batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchArrival {
    pub job: String,
    /// The rule's index in the job's `trigger.s3`.
    pub rule: usize,
    pub arrival: ObjectArrival,
}

/// Everything an event resolves to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resolution {
    pub matches: Vec<Match>,
    /// Arrivals of input sets' inputs, and of batched rules' objects: the trigger's, with the run table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set_arrivals: Vec<SetArrival>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub batch_arrivals: Vec<BatchArrival>,
    /// Records understood and deliberately not run (no job matches, an object removal…).
    pub ignored: Vec<String>,
    /// Records or jobs that could not be run: bad records, unknown jobs, plans that failed to render.
    pub failures: Vec<Failure>,
}

/// Resolves a trigger event against the catalog. Only an event of no known shape is an error; a bad record or an
/// unknown job is a [`Failure`] beside the runs the other records start.
pub fn resolve_event(
    catalog: &Catalog,
    event: &Value,
    vars: &Vars,
    now: DateTime<Utc>,
) -> Result<Resolution, EventError> {
    let mut resolution = Resolution::default();
    let items = parse_event(event)?;
    let several = items.len() > 1;
    for (index, item) in items.into_iter().enumerate() {
        let record = several.then_some(index);
        match item {
            Err(EventError::BadRecord { index, reason }) => resolution.failures.push(Failure {
                record: Some(index),
                job: None,
                reason,
            }),
            Err(other) => resolution.failures.push(Failure {
                record,
                job: None,
                reason: other.to_string(),
            }),
            Ok(EventItem::Ignored(why)) => resolution.ignored.push(why),
            Ok(EventItem::Arrival(arrival)) => {
                resolve_arrival(catalog, &arrival, vars, now, record, &mut resolution)
            }
            Ok(EventItem::Run(request)) => {
                resolve_request(catalog, &request, vars, now, record, &mut resolution)
            }
            Ok(EventItem::Tick(time)) => resolve_tick(catalog, time, vars, now, &mut resolution),
            Ok(EventItem::Succeeded(upstream)) => {
                resolve_upstream(catalog, &upstream, vars, now, record, &mut resolution)
            }
        }
    }
    // The same arrival twice in one batch is one run.
    let mut seen = BTreeSet::new();
    resolution
        .matches
        .retain(|m| seen.insert(m.run_name.clone()));
    Ok(resolution)
}

/// A succeeded run: a run of every job with its job in `trigger.after`, named after the upstream run (so that its
/// success delivered twice starts each once), with the upstream's input object passed on.
fn resolve_upstream(
    catalog: &Catalog,
    upstream: &UpstreamRun,
    vars: &Vars,
    now: DateTime<Utc>,
    record: Option<usize>,
    resolution: &mut Resolution,
) {
    let downstream: Vec<&String> = catalog
        .jobs
        .iter()
        .filter(|(_, job)| job.trigger.after.contains(&upstream.job))
        .map(|(name, _)| name)
        .collect();
    if downstream.is_empty() {
        resolution.ignored.push(format!(
            "no job runs after {} (run {})",
            upstream.job, upstream.run
        ));
        return;
    }
    let time = if upstream.time.timestamp() == 0 {
        now
    } else {
        upstream.time
    };
    let input = RunInput {
        trigger: Trigger::Upstream {
            job: upstream.job.clone(),
            run: upstream.run.clone(),
            time,
            input: upstream.input.clone(),
        },
        args: Default::default(),
        time,
        run_name: None,
    };
    for job in downstream {
        push_render(catalog, job, &input, vars, record, resolution);
    }
}

/// The minute schedule's tick: a scheduled run of every job whose schedule is due at that minute (named by the
/// minute, so that a tick delivered twice starts each run once).
fn resolve_tick(
    catalog: &Catalog,
    time: DateTime<Utc>,
    vars: &Vars,
    now: DateTime<Utc>,
    resolution: &mut Resolution,
) {
    let minute = time.duration_trunc(TimeDelta::minutes(1)).unwrap_or(time);
    let mut due = 0;
    for (name, job) in &catalog.jobs {
        let Some(expression) = &job.trigger.schedule else {
            continue;
        };
        match crate::catalog::schedule::is_due(expression, minute) {
            Ok(true) => {
                due += 1;
                let request = RunRequest {
                    job: JobRef::Name(name.clone()),
                    scheduled: true,
                    args: Default::default(),
                    input: None,
                    time: Some(minute),
                    run_name: None,
                };
                resolve_request(catalog, &request, vars, now, None, resolution);
            }
            Ok(false) => {}
            Err(reason) => resolution.failures.push(Failure {
                record: None,
                job: Some(name.clone()),
                reason,
            }),
        }
    }
    if due == 0 {
        resolution.ignored.push(format!(
            "no scheduled job is due at {}",
            minute.format("%Y-%m-%dT%H:%MZ")
        ));
    }
}

/// The indexes of `job`'s S3 rules this object matches.
pub fn matching_rules(job: &Job, vars: &Vars, bucket: &str, key: &str) -> Vec<usize> {
    job.trigger
        .s3
        .iter()
        .enumerate()
        .filter(|(_, trigger)| {
            let filled = |text: &str| vars.fill(text).ok();
            let Some(trigger_bucket) = filled(&trigger.bucket) else {
                return false;
            };
            let prefix = filled(&trigger.prefix).unwrap_or_default();
            let suffix = trigger
                .suffix
                .as_deref()
                .and_then(filled)
                .unwrap_or_default();
            trigger_bucket == bucket && key.starts_with(&prefix) && key.ends_with(&suffix)
        })
        .map(|(index, _)| index)
        .collect()
}

fn resolve_arrival(
    catalog: &Catalog,
    arrival: &ObjectArrival,
    vars: &Vars,
    now: DateTime<Utc>,
    record: Option<usize>,
    resolution: &mut Resolution,
) {
    let mut jobs: Vec<&String> = Vec::new();
    let mut fed = 0;
    for (name, job) in &catalog.jobs {
        let rules = matching_rules(job, vars, &arrival.bucket, &arrival.key);
        // A batched rule's object joins a batch; any other rule that matches runs the job for the object.
        let (batched, each): (Vec<usize>, Vec<usize>) = rules
            .into_iter()
            .partition(|rule| job.trigger.s3[*rule].batch.is_some());
        if let Some(rule) = batched.first() {
            fed += 1;
            resolution.batch_arrivals.push(BatchArrival {
                job: name.clone(),
                rule: *rule,
                arrival: arrival.clone(),
            });
        }
        if !each.is_empty() {
            jobs.push(name);
        }
        match InputSet::of(job, vars) {
            Ok(Some(set)) => {
                if let Some((index, partition)) = set.matching(&arrival.bucket, &arrival.key) {
                    fed += 1;
                    resolution.set_arrivals.push(SetArrival {
                        job: name.clone(),
                        index,
                        partition,
                        arrival: arrival.clone(),
                    });
                }
            }
            Ok(None) => {}
            Err(reason) => resolution.failures.push(Failure {
                record,
                job: Some(name.clone()),
                reason,
            }),
        }
    }
    if jobs.is_empty() && fed == 0 {
        resolution.ignored.push(format!(
            "s3://{}/{} matches no job's S3 trigger",
            arrival.bucket, arrival.key
        ));
        return;
    }
    let input = RunInput {
        trigger: Trigger::S3(arrival.clone()),
        args: Default::default(),
        time: arrival.time.unwrap_or(now),
        run_name: None,
    };
    for job in jobs {
        push_render(catalog, job, &input, vars, record, resolution);
    }
}

fn resolve_request(
    catalog: &Catalog,
    request: &RunRequest,
    vars: &Vars,
    now: DateTime<Utc>,
    record: Option<usize>,
    resolution: &mut Resolution,
) {
    let job = match &request.job {
        JobRef::Name(name) => name.clone(),
        JobRef::Rule(rule) => match job_for_rule(catalog, rule) {
            Some(job) => job,
            None => {
                resolution.failures.push(Failure {
                    record,
                    job: None,
                    reason: format!(
                        "the schedule rule `{rule}` names no scheduled job: its name must end with the job's \
                         name, or give the rule a constant input {{\"job\": …}}"
                    ),
                });
                return;
            }
        },
    };
    let time = request.time.unwrap_or(now);
    let (trigger, time) = if request.scheduled || matches!(request.job, JobRef::Rule(_)) {
        // Schedules fire at minute granularity: a redelivery seconds later is the same scheduled run.
        let minute = time.duration_trunc(TimeDelta::minutes(1)).unwrap_or(time);
        let rule = match &request.job {
            JobRef::Rule(rule) => Some(rule.clone()),
            JobRef::Name(_) => None,
        };
        (Trigger::Schedule { time: minute, rule }, minute)
    } else {
        let second = time.duration_trunc(TimeDelta::seconds(1)).unwrap_or(time);
        (
            Trigger::Manual {
                time: second,
                input: request.input.clone(),
            },
            second,
        )
    };
    if request.scheduled && request.input.is_some() {
        resolution.failures.push(Failure {
            record,
            job: Some(job),
            reason: "a scheduled run takes no `input` object".into(),
        });
        return;
    }
    let input = RunInput {
        trigger,
        args: request.args.clone(),
        time,
        run_name: request.run_name.clone(),
    };
    push_render(catalog, &job, &input, vars, record, resolution);
}

/// The scheduled job whose name the rule's name is, or ends with after a `-`/`_`; the longest such name wins.
fn job_for_rule(catalog: &Catalog, rule: &str) -> Option<String> {
    catalog
        .jobs
        .iter()
        .filter(|(_, job)| job.trigger.schedule.is_some())
        .map(|(name, _)| name)
        .filter(|name| {
            rule == name.as_str()
                || rule
                    .strip_suffix(name.as_str())
                    .is_some_and(|head| head.ends_with(['-', '_']))
        })
        .max_by_key(|name| name.len())
        .cloned()
}

fn push_render(
    catalog: &Catalog,
    job: &str,
    input: &RunInput,
    vars: &Vars,
    record: Option<usize>,
    resolution: &mut Resolution,
) {
    match render(catalog, job, input, vars) {
        Ok(plan) => resolution.matches.push(Match {
            job: job.to_string(),
            run_name: plan.run_name.clone(),
            plan,
        }),
        Err(error @ PlanError::UnknownJob { .. }) => resolution.failures.push(Failure {
            record,
            job: None,
            reason: error.to_string(),
        }),
        Err(error) => resolution.failures.push(Failure {
            record,
            job: Some(job.to_string()),
            reason: strip_job(job, &error.to_string()),
        }),
    }
}

fn strip_job(job: &str, message: &str) -> String {
    message
        .strip_prefix(&format!("{job}: "))
        .or_else(|| message.strip_prefix(&format!("{job}.")))
        .unwrap_or(message)
        .to_string()
}
