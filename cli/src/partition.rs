//! `sparkplug status JOB --partition P`: what a partition of an input set waits for — which inputs arrived and when,
//! which are missing, its deadline and what it did, and its run — from the run table (what the trigger recorded) and
//! Step Functions.

use std::fmt;

use chrono::{DateTime, Utc};
use sparkplug::catalog::{schedule, Catalog, Vars};
use sparkplug::engine::ports::{SetStore, SfnApi};
use sparkplug::run::inputs::{InputSet, Partition};
use sparkplug::run::runkey;

/// A partition, as `status --partition` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    pub job: String,
    pub partition: String,
    /// Each input: its name, location, and when it arrived.
    pub inputs: Vec<(String, String, Option<DateTime<Utc>>)>,
    /// The deadline for this partition, and what it did once it came.
    pub deadline: Option<(DateTime<Utc>, String, Option<String>)>,
    /// Its run, and the run's status.
    pub run: Option<(String, String)>,
}

/// Reads a partition of `job`'s input set: `partition` is its id (`date=2026-12-03`) or, for a set of one key, its
/// value (`2026-12-03`).
pub async fn partition_status(
    catalog: &Catalog,
    vars: &Vars,
    table: &impl SetStore,
    sfn: &impl SfnApi,
    state_machine_arn: &str,
    job: &str,
    partition: &str,
) -> Result<PartitionStatus, String> {
    let spec = catalog
        .job(job)
        .ok_or_else(|| format!("no job `{job}` in the catalog"))?;
    let set = InputSet::of(spec, vars)?
        .ok_or_else(|| format!("`{job}` waits for no input set (its trigger has no all_of)"))?;
    let partition = Partition::parse(partition, &set.keys())?;
    let record = table
        .set_record(job, &partition.id())
        .await
        .map_err(|e| format!("reading {job} {partition}: {e}"))?
        .unwrap_or_default();
    let inputs = set
        .inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let location = input
                .location(&partition)
                .map_or(input.uri.clone(), |l| l.to_string());
            (
                input.name.clone(),
                location,
                record.arrived.get(&index).map(|(_, at)| *at),
            )
        })
        .collect();
    let deadline = match (&spec.trigger.deadline, partition.time()) {
        (Some(expression), Some(start)) => schedule::next(expression, start)?.map(|at| {
            (
                at,
                spec.trigger
                    .on_deadline
                    .unwrap_or_default()
                    .as_str()
                    .to_string(),
                record.deadline.clone(),
            )
        }),
        _ => None,
    };
    let run_name = record
        .run
        .clone()
        .unwrap_or_else(|| runkey::for_input_set(job, &partition.id()));
    let run = sfn
        .execution_status(state_machine_arn, &run_name)
        .await
        .map_err(|e| format!("DescribeExecution {run_name}: {e}"))?
        .map(|status| (run_name, status));
    Ok(PartitionStatus {
        job: job.to_string(),
        partition: partition.id(),
        inputs,
        deadline,
        run,
    })
}

impl fmt::Display for PartitionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.job, self.partition)?;
        let arrived = self.inputs.iter().filter(|(.., at)| at.is_some()).count();
        writeln!(f, "inputs: {arrived} of {} arrived", self.inputs.len())?;
        for (name, location, at) in &self.inputs {
            match at {
                Some(at) => writeln!(
                    f,
                    "  {name:<12} arrived {}  {location}",
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                )?,
                None => writeln!(f, "  {name:<12} missing             {location}")?,
            }
        }
        match &self.deadline {
            Some((at, action, Some(done))) => writeln!(
                f,
                "deadline: {} (on_deadline {action}): came, {done}",
                at.format("%Y-%m-%d %H:%M UTC")
            )?,
            Some((at, action, None)) => writeln!(
                f,
                "deadline: {} (on_deadline {action})",
                at.format("%Y-%m-%d %H:%M UTC")
            )?,
            None => writeln!(f, "deadline: none")?,
        }
        match &self.run {
            Some((run, status)) => write!(f, "run: {run} {status}"),
            None => write!(f, "run: none yet"),
        }
    }
}
