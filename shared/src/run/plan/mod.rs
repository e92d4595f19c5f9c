//! Run plans: everything one run needs, rendered from the catalog and what triggered the run. A plan is the run
//! state machine's input; the task functions read only the plan, never the catalog.
//!
//! The request parts keep the AWS API's own shapes (PascalCase): `emr.cluster` is a RunJobFlow request,
//! `emr.steps` the AddJobFlowSteps `Steps`, `glue.job` a CreateJob request and `glue.run` a StartJobRun request.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod attempts;
mod emr;
pub mod glue;
pub mod serverless;

pub use emr::{
    job_steps, pool_cluster_name, pooled_step_name, pooled_step_run, run_cluster_name,
    run_cluster_prefix, spark_submit_step, supports_auto_termination, POOLED_ONE_STEP,
    POOL_BACKSTOP_MINUTES,
};

use crate::catalog::placeholders::{self, Placeholder};
use crate::catalog::{Catalog, Engine, Job, NotifyOn, VarError, Vars};
use crate::run::events::ObjectArrival;
use crate::run::runkey;
use crate::run::s3::S3Location;

/// Bumped when the plan's shape changes incompatibly, so that a task function can refuse a plan it cannot read.
pub const PLAN_VERSION: u32 = 1;
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 240;
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u32 = 1800;
pub const DEFAULT_GLUE_VERSION: &str = "5.0";
/// The class of sparkplug's generic Glue jar runner script (`glue/SparkplugJarRunner.scala`).
pub const GLUE_RUNNER_CLASS: &str = "SparkplugJarRunner";
/// The StartJobRun argument that carries the run's name.
pub const GLUE_RUN_ARGUMENT: &str = "--sparkplug_run";
/// Tag keys sparkplug puts on what it creates.
pub const TAG_JOB: &str = "sparkplug:job";
pub const TAG_RUN: &str = "sparkplug:run";
pub const TAG_ENVIRONMENT: &str = "sparkplug:environment";
/// On a pool's cluster instead of `sparkplug:run` (the cluster outlives its runs).
pub const TAG_POOL: &str = "sparkplug:pool";
/// The tag without which EMR's v2 managed policies (`AmazonEMRServicePolicy_v2`, roles like `EMR_DefaultRole_V2`) let
/// EMR launch no EC2 instance: the cluster ends TERMINATED_WITH_ERRORS. Every cluster gets it; the subnet and
/// security groups must carry it too (docs/deploy.md).
pub const TAG_EMR_MANAGED_POLICIES: &str = "for-use-with-amazon-emr-managed-policies";
/// A plan's largest size: Step Functions' state holds the plan beside the tasks' results and fails the execution,
/// past every Catch, at 256 KiB (`States.DataLimitExceeded`). Half of it is for the plan.
pub const MAX_PLAN_BYTES: usize = 128 * 1024;
/// Glue refuses a job or run Timeout of 10080 minutes (7 days) or more.
pub const MAX_GLUE_TIMEOUT_MINUTES: u32 = 10_079;
/// An EMR run's longest limit: it must end before the run state machine's own backstop (TimeoutSeconds, 8 days), so
/// that the run's limit, not the backstop, ends it and terminates the cluster. (A run waits on a task token: its
/// history does not grow with its length.)
pub const MAX_EMR_TIMEOUT_MINUTES: u32 = 7 * 24 * 60 - 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub plan_version: u32,
    pub job: String,
    pub engine: Engine,
    /// The run key: the execution name, also the EMR cluster's name.
    pub run_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub trigger: Trigger,
    /// The job's run parameters as this run resolved them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    pub timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr: Option<EmrPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue: Option<GluePlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_serverless: Option<EmrServerlessPlan>,
    /// When the run's alert goes out (the job's `notify`).
    #[serde(default = "crate::catalog::default_notify")]
    pub notify: Vec<NotifyOn>,
    /// The job's `max_concurrent_runs`: the run waits for a slot first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u32>,
    /// The catalog's `[limits]` for the job's engine: the run waits for a slot of its engine too
    /// ([`crate::run::limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_limit: Option<crate::run::limits::SlotGroup>,
    /// A rerun: the run it reruns, and the steps it skips ([`crate::run::rerun`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun: Option<RerunOf>,
    /// With the catalog's `[lineage]`: the OpenLineage namespace of the run's job; the run's end sends its RunEvents
    /// ([`crate::run::lineage::run_events`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_namespace: Option<String>,
    /// The job's `retries` and `emr.fallback`, and the attempts so far ([`attempts`]; what they do:
    /// [`crate::run::recovery`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<attempts::Recovery>,
    /// The job's and all jobs' monthly budgets ([`crate::run::budget`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<crate::run::budget::Budgets>,
}

/// What a rerun's plan records of the run it reruns (`history` shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunOf {
    /// The run it reruns.
    pub run: String,
    /// The first run of the chain (a rerun of a rerun keeps it): its name is the reruns' names' stem and their
    /// `{run_name}`.
    pub root: String,
    /// The step it started from (EMR, `from_failed`); none when it runs every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_step: Option<String>,
    /// The steps it did not run again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmrPlan {
    /// The RunJobFlow request (for a pooled run: of a new cluster of the pool, when none has room).
    pub cluster: Value,
    /// The AddJobFlowSteps `Steps`, in order.
    pub steps: Vec<Value>,
    /// The warm pool whose cluster the run leases, for a pooled job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolPlan>,
}

/// How a pooled run shares its pool's clusters (the catalog's `[pools.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolPlan {
    pub name: String,
    pub idle_minutes: u32,
    pub max_concurrent_runs: u32,
    pub max_runs_per_cluster: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GluePlan {
    /// The CreateJob request (also what an UpdateJob must bring the job back to).
    pub job: Value,
    /// The StartJobRun request.
    pub run: Value,
}

/// The EMR Serverless requests of a run, in the API's own JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmrServerlessPlan {
    /// The CreateApplication request (also what an UpdateApplication must bring the application back to).
    pub application: Value,
    /// The StartJobRun request, but for the application's id (known once the application is).
    pub run: Value,
}

/// What started a run, as recorded in its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    S3(ObjectArrival),
    Schedule {
        time: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    Manual {
        time: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<S3Location>,
    },
    /// The inputs of a partition of the job's input set (`trigger.all_of`) arrived — or its deadline came with
    /// `on_deadline = "run"` ([`crate::run::inputs`]).
    InputSet {
        /// The partition's placeholders' values.
        partition: BTreeMap<String, String>,
        /// Every input of the set, by name, where it arrives; a missing one has no `arrived`.
        inputs: Vec<SetInput>,
        /// The time the partition stands for (else its first arrival's).
        time: DateTime<Utc>,
    },
    /// A batch of the objects that arrived under one of the job's S3 rules with `batch`, listed in its manifest
    /// ([`crate::run::batch`]).
    Batch {
        /// The rule's index in the job's `trigger.s3`, and the batch's number under it.
        rule: usize,
        number: u64,
        objects: u64,
        manifest: S3Location,
        /// Its first object's arrival.
        time: DateTime<Utc>,
    },
    /// A run of an upstream job (`trigger.after`) succeeded.
    Upstream {
        /// The upstream job and its run (execution) name.
        job: String,
        run: String,
        /// When the upstream run ended.
        time: DateTime<Utc>,
        /// The upstream run's input object, passed on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<S3Location>,
    },
}

/// One input of an input set's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetInput {
    /// Its name: `{input_<name>}`.
    pub name: String,
    pub location: S3Location,
    /// When it arrived; none when it had not by the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived: Option<DateTime<Utc>>,
}

impl Trigger {
    /// The S3 object this run is about, if any: an input set's first input that arrived, a batch's manifest.
    pub fn input(&self) -> Option<S3Location> {
        match self {
            Trigger::S3(arrival) => Some(S3Location {
                bucket: arrival.bucket.clone(),
                key: arrival.key.clone(),
            }),
            Trigger::Manual { input, .. } | Trigger::Upstream { input, .. } => input.clone(),
            Trigger::InputSet { inputs, .. } => inputs
                .iter()
                .find(|i| i.arrived.is_some())
                .map(|i| i.location.clone()),
            Trigger::Batch { manifest, .. } => Some(manifest.clone()),
            Trigger::Schedule { .. } => None,
        }
    }

    /// An input set's run of `partition`: each input where it arrives (`arrived` tells when each did, by its index),
    /// at the partition's own time (else `otherwise`).
    pub fn of_input_set(
        set: &crate::run::inputs::InputSet,
        partition: &crate::run::inputs::Partition,
        arrived: impl Fn(usize) -> Option<DateTime<Utc>>,
        otherwise: DateTime<Utc>,
    ) -> Trigger {
        let inputs = set
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| SetInput {
                name: input.name.clone(),
                location: input.location(partition).unwrap_or(S3Location {
                    bucket: input.bucket.clone(),
                    key: String::new(),
                }),
                arrived: arrived(index),
            })
            .collect();
        Trigger::InputSet {
            partition: partition.0.clone(),
            inputs,
            time: partition.time().unwrap_or(otherwise),
        }
    }

    /// When the run's trigger happened: its logical time (`{date}`…) unless the run says otherwise.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Trigger::S3(arrival) => arrival.time,
            Trigger::Schedule { time, .. }
            | Trigger::Manual { time, .. }
            | Trigger::Upstream { time, .. }
            | Trigger::InputSet { time, .. }
            | Trigger::Batch { time, .. } => Some(*time),
        }
    }
}

/// What a run is asked with, besides the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInput {
    pub trigger: Trigger,
    /// Values for the job's declared `params`.
    pub args: BTreeMap<String, String>,
    /// The run's logical time: `{date}` and friends.
    pub time: DateTime<Utc>,
    /// A caller-chosen run name, for manual runs.
    pub run_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("unknown job `{job}`; the catalog has: {}", known.join(", "))]
    UnknownJob { job: String, known: Vec<String> },
    #[error("{job}: unknown argument `{arg}`; the job's params are: {}",
        if accepted.is_empty() { "(none)".to_string() } else { accepted.join(", ") })]
    UnknownArg {
        job: String,
        arg: String,
        accepted: Vec<String>,
    },
    #[error(transparent)]
    Var(#[from] VarError),
    #[error("{job}.{path}: {placeholder} has no value{hint}")]
    Unfilled {
        job: String,
        path: String,
        placeholder: String,
        hint: String,
    },
    #[error("{0}")]
    BadRunName(String),
    #[error("{job}: {reason}")]
    Invalid { job: String, reason: String },
}

/// Names of the run placeholders sparkplug fills itself.
pub const BUILTIN_PARAMS: &[&str] = &[
    "job",
    "run_name",
    "date",
    "datetime",
    "year",
    "month",
    "day",
    "hour",
    "input",
    "input_bucket",
    "input_key",
    "input_prefix",
    "input_name",
    "upstream_job",
    "upstream_run",
    "manifest",
    "batch_size",
    "missing_inputs",
];

/// A run of `job` as its trigger would start it, at a fixed time, about a sample object: what validation renders to
/// check a job's requests, and what a sweep renders to learn a job's Glue job name. Every valid job renders with it.
pub fn sample_input(job: &Job, vars: &Vars) -> RunInput {
    let time = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default(); // 2026-01-01T00:00:00Z
    let input_set = crate::run::inputs::InputSet::of(job, vars).ok().flatten();
    let trigger = match (job.trigger.s3.first(), input_set) {
        (Some(s3), _) if s3.batch.is_some() => Trigger::Batch {
            rule: 0,
            number: 1,
            objects: 2,
            manifest: S3Location {
                bucket: vars.fill(&s3.bucket).unwrap_or_default(),
                key: "_sparkplug/manifests/sample.json".into(),
            },
            time,
        },
        (None, Some(set)) => {
            let mut partition = set.partition_at(time).unwrap_or_default();
            for key in set.keys() {
                partition.0.entry(key).or_insert_with(|| "sample".into());
            }
            Trigger::of_input_set(&set, &partition, |_| Some(time), time)
        }
        (Some(s3), _) => Trigger::S3(ObjectArrival {
            bucket: vars.fill(&s3.bucket).unwrap_or_default(),
            key: format!("{}sample{}", s3.prefix, s3.suffix.as_deref().unwrap_or("")),
            version_id: None,
            sequencer: Some("0".into()),
            etag: None,
            size: None,
            time: Some(time),
        }),
        (None, None) if job.trigger.schedule.is_some() => Trigger::Schedule { time, rule: None },
        (None, None) if !job.trigger.after.is_empty() => Trigger::Upstream {
            job: job.trigger.after[0].clone(),
            run: format!("{}-sample", job.trigger.after[0]),
            time,
            input: Some(S3Location {
                bucket: "sample-bucket".into(),
                key: "sample/key".into(),
            }),
        },
        (None, None) => Trigger::Manual {
            time,
            // A manual-only job may take its input from the run request.
            input: Some(S3Location {
                bucket: "sample-bucket".into(),
                key: "sample/key".into(),
            }),
        },
    };
    RunInput {
        trigger,
        args: Default::default(),
        time,
        run_name: None,
    }
}

/// Chooses the run's name: the caller's, or the run key of its trigger.
pub fn run_name_for(job: &str, input: &RunInput) -> Result<String, PlanError> {
    if let Some(name) = &input.run_name {
        runkey::check_execution_name(name).map_err(PlanError::BadRunName)?;
        return Ok(name.clone());
    }
    Ok(match &input.trigger {
        Trigger::S3(arrival) => runkey::for_arrival(job, arrival),
        Trigger::Schedule { time, .. } => runkey::for_schedule(job, *time),
        Trigger::Upstream { run, .. } => runkey::for_upstream(job, run),
        Trigger::InputSet { partition, .. } => {
            runkey::for_input_set(job, &crate::run::inputs::Partition(partition.clone()).id())
        }
        Trigger::Batch { rule, number, .. } => runkey::for_batch(job, *rule, *number),
        Trigger::Manual {
            time,
            input: object,
        } => {
            let mut identity: Vec<String> =
                input.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            identity.extend(object.iter().map(ToString::to_string));
            let identity: Vec<&str> = identity.iter().map(String::as_str).collect();
            runkey::for_manual(job, *time, &identity)
        }
    })
}

/// What the Glue and EMR Serverless parts of a run's plan are made from.
#[derive(Clone, Copy)]
struct EngineRun<'a> {
    catalog: &'a Catalog,
    job_name: &'a str,
    run_name: &'a str,
    job: &'a Job,
    environment: Option<&'a str>,
    timeout_minutes: u32,
    tags: &'a [(String, String)],
    fill: &'a dyn Fn(Value, &str) -> Result<Value, PlanError>,
}

/// The name of what a job keeps between runs (its Glue job, its EMR Serverless application): the catalog's, else
/// `sparkplug-<job>-<env>` (`sparkplug-<job>` without an `env` var).
fn resource_name(named: Option<&str>, job_name: &str, environment: Option<&str>) -> String {
    match (named, environment) {
        (Some(name), _) => name.to_string(),
        (None, Some(env)) => format!("sparkplug-{job_name}-{env}"),
        (None, None) => format!("sparkplug-{job_name}"),
    }
}

/// The RunJobFlow request of a new cluster of `pool_name` that no run starts (a warm-up, named after `starter`), and
/// the pool's plan: the cluster a run of the pool's first job would start, at `time`.
pub fn pool_cluster(
    catalog: &Catalog,
    pool_name: &str,
    starter: &str,
    time: DateTime<Utc>,
    vars: &Vars,
) -> Result<(Value, PoolPlan), PlanError> {
    let Some((job_name, job)) = catalog
        .jobs
        .iter()
        .find(|(_, job)| job.pool.as_deref() == Some(pool_name))
    else {
        return Err(PlanError::Invalid {
            job: format!("pools.{pool_name}"),
            reason: "no job runs on this pool: nothing to warm up for".into(),
        });
    };
    let mut input = sample_input(job, vars);
    input.run_name = Some(starter.to_string());
    input.time = time;
    let plan = render(catalog, job_name, &input, vars)?;
    match plan.emr {
        Some(EmrPlan {
            cluster,
            pool: Some(pool),
            ..
        }) => Ok((cluster, pool)),
        _ => Err(PlanError::Invalid {
            job: job_name.clone(),
            reason: format!("a job of pool `{pool_name}` did not plan a pool cluster"),
        }),
    }
}

/// Renders the plan of one run of `job_name`. Pure: the same catalog, input and vars give the same plan.
pub fn render(
    catalog: &Catalog,
    job_name: &str,
    input: &RunInput,
    vars: &Vars,
) -> Result<RunPlan, PlanError> {
    render_as(catalog, job_name, input, vars, None)
}

/// [`render`], with `{run_name}` standing for `args_run_name` rather than the run's own name: a rerun's steps read
/// and write where the run it reruns did ([`crate::run::rerun`]).
pub fn render_as(
    catalog: &Catalog,
    job_name: &str,
    input: &RunInput,
    vars: &Vars,
    args_run_name: Option<&str>,
) -> Result<RunPlan, PlanError> {
    let job = catalog.job(job_name).ok_or_else(|| PlanError::UnknownJob {
        job: job_name.to_string(),
        known: catalog.jobs.keys().cloned().collect(),
    })?;
    let run_name = run_name_for(job_name, input)?;
    let mut values = builtin_values(job_name, args_run_name.unwrap_or(&run_name), input);
    // OpenLineage: the catalog's backend, its fields' placeholders filled; a job that asks runs Spark with the
    // listener's settings, this run as their parent.
    let filled = |text: &str, field: &str| {
        placeholders::fill(text, &|hole| lookup(vars, &values, hole))
            .map_err(|hole| unfilled(job_name, &format!("lineage.{field}"), hole, input))
    };
    let lineage = match &catalog.lineage {
        Some(lineage) => Some(crate::catalog::Lineage {
            namespace: filled(&lineage.namespace, "namespace")?,
            url: filled(&lineage.url, "url")?,
            endpoint: lineage
                .endpoint
                .as_deref()
                .map(|e| filled(e, "endpoint"))
                .transpose()?,
        }),
        None => None,
    };
    let with_lineage;
    let job = match (&lineage, job.lineage) {
        (Some(lineage), true) => {
            let mut own = job.clone();
            own.spark_conf = crate::run::lineage::spark_conf(
                lineage,
                &job.spark_conf,
                job_name,
                &run_name,
                args_run_name.unwrap_or(&run_name),
            );
            with_lineage = own;
            &with_lineage
        }
        (None, true) => return Err(PlanError::Invalid {
            job: job_name.to_string(),
            reason:
                "lineage = true, but the catalog has no [lineage] section (its namespace and url)"
                    .into(),
        }),
        _ => job,
    };

    // Declared params: defaults (which may use vars and builtins), overridden by the run's args.
    for arg in input.args.keys() {
        if !job.params.contains_key(arg) {
            return Err(PlanError::UnknownArg {
                job: job_name.to_string(),
                arg: arg.clone(),
                accepted: job.params.keys().cloned().collect(),
            });
        }
    }
    let mut params = BTreeMap::new();
    for (name, default) in &job.params {
        let value = match input.args.get(name) {
            Some(given) => given.clone(),
            None => {
                let filled = placeholders::fill(default, &|hole| lookup(vars, &values, hole));
                filled.map_err(|hole| unfilled(job_name, &format!("params.{name}"), hole, input))?
            }
        };
        params.insert(name.clone(), value);
    }
    values.extend(params.clone());

    let fill = |doc: Value, path: &str| -> Result<Value, PlanError> {
        placeholders::fill_value(&doc, &|hole| lookup(vars, &values, hole)).map_err(|missing| {
            let at = match missing.path.as_str() {
                "" => path.to_string(),
                inner if inner.starts_with('[') => format!("{path}{inner}"),
                inner => format!("{path}.{inner}"),
            };
            PlanError::Unfilled {
                job: job_name.to_string(),
                hint: hint_for(&missing.placeholder, input),
                path: at,
                placeholder: missing.placeholder,
            }
        })
    };
    let environment = vars.get("env").map(str::to_string);
    let mut tags: Vec<(String, String)> = Vec::new();
    for (key, value) in catalog.defaults.tags.iter().chain(&job.tags) {
        let value = fill(Value::String(value.clone()), &format!("tags.{key}"))?;
        set_tag(&mut tags, key, value.as_str().unwrap_or_default());
    }
    set_tag(&mut tags, TAG_JOB, job_name);
    set_tag(&mut tags, TAG_RUN, &run_name);
    if let Some(env) = &environment {
        set_tag(&mut tags, TAG_ENVIRONMENT, env);
    }

    let timeout_minutes = job
        .timeout_minutes
        .or(catalog.defaults.timeout_minutes)
        .unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    let engine_run = EngineRun {
        catalog,
        job_name,
        run_name: &run_name,
        job,
        environment: environment.as_deref(),
        timeout_minutes,
        tags: &tags,
        fill: &fill,
    };
    let (mut emr, mut glue, mut emr_serverless) = (None, None, None);
    match job.engine {
        Engine::Emr => {
            emr = Some(emr::plan(
                catalog,
                job_name,
                job,
                &run_name,
                environment.as_deref(),
                &tags,
                &fill,
            )?)
        }
        Engine::EmrServerless => emr_serverless = Some(serverless::plan(&engine_run)?),
        Engine::Glue => glue = Some(glue::plan(&engine_run)?),
    }
    let recovery = attempts::Recovery::first(
        job.retries(&catalog.defaults),
        match job.engine {
            Engine::Emr => job
                .emr_settings(&catalog.defaults)
                .fallback
                .unwrap_or_default(),
            _ => Vec::new(),
        },
        emr.as_ref().map(|e| &e.cluster),
    );
    Ok(RunPlan {
        plan_version: PLAN_VERSION,
        job: job_name.to_string(),
        engine: job.engine,
        run_name,
        environment,
        trigger: input.trigger.clone(),
        params,
        timeout_seconds: u64::from(timeout_minutes) * 60,
        emr,
        glue,
        emr_serverless,
        notify: job
            .notify
            .clone()
            .unwrap_or_else(crate::catalog::default_notify),
        max_concurrent_runs: job.max_concurrent_runs,
        engine_limit: crate::run::limits::engine_group(catalog, job),
        rerun: None,
        lineage_namespace: lineage.map(|l| l.namespace),
        recovery,
        budgets: crate::run::budget::Budgets::of(catalog, job),
    })
}

fn builtin_values(job: &str, run_name: &str, input: &RunInput) -> BTreeMap<String, String> {
    let time = input.time;
    let mut values: BTreeMap<String, String> = [
        ("job", job.to_string()),
        ("run_name", run_name.to_string()),
        ("date", time.format("%Y-%m-%d").to_string()),
        ("datetime", time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ("year", time.format("%Y").to_string()),
        ("month", time.format("%m").to_string()),
        ("day", time.format("%d").to_string()),
        ("hour", time.format("%H").to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Trigger::Upstream { job, run, .. } = &input.trigger {
        values.insert("upstream_job".into(), job.clone());
        values.insert("upstream_run".into(), run.clone());
    }
    match &input.trigger {
        Trigger::InputSet {
            partition, inputs, ..
        } => {
            // The partition's own values (`{date}`, a key of the set's own), every input by name (empty when it did
            // not arrive), and the missing ones' names.
            values.extend(partition.clone());
            for set_input in inputs {
                let location = set_input
                    .arrived
                    .map(|_| set_input.location.to_string())
                    .unwrap_or_default();
                values.insert(format!("input_{}", set_input.name), location);
            }
            let missing: Vec<&str> = inputs
                .iter()
                .filter(|i| i.arrived.is_none())
                .map(|i| i.name.as_str())
                .collect();
            values.insert("missing_inputs".into(), missing.join(","));
        }
        Trigger::Batch {
            manifest, objects, ..
        } => {
            values.insert("manifest".into(), manifest.to_string());
            values.insert("batch_size".into(), objects.to_string());
        }
        // A batched job run by hand takes a manifest as its input (its size unknown).
        Trigger::Manual {
            input: Some(object),
            ..
        } => {
            values.insert("manifest".into(), object.to_string());
            values.insert("batch_size".into(), String::new());
        }
        _ => {}
    }
    if let Some(object) = input.trigger.input() {
        let (prefix, name) = match object.key.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name.to_string()),
            None => (String::new(), object.key.clone()),
        };
        values.insert("input".into(), object.to_string());
        values.insert("input_bucket".into(), object.bucket);
        values.insert("input_key".into(), object.key);
        values.insert("input_prefix".into(), prefix);
        values.insert("input_name".into(), name);
    }
    values
}

fn lookup(vars: &Vars, values: &BTreeMap<String, String>, hole: Placeholder<'_>) -> Option<String> {
    match hole {
        Placeholder::Var(name) => vars.get(name).map(str::to_string),
        Placeholder::Param(name) => values.get(name).cloned(),
    }
}

fn hint_for(placeholder: &str, input: &RunInput) -> String {
    if placeholder.starts_with("{input") && input.trigger.input().is_none() {
        " (this run has no input object: it needs an S3 arrival, or `input` in the run request)"
            .to_string()
    } else if placeholder.starts_with("{upstream") {
        " (only a run started by an upstream job's success, `trigger.after`, has one; `sparkplug plan --after RUN` \
         previews it)"
            .to_string()
    } else {
        String::new()
    }
}

fn unfilled(job: &str, path: &str, hole: Placeholder<'_>, input: &RunInput) -> PlanError {
    let placeholder = hole.to_string();
    PlanError::Unfilled {
        job: job.to_string(),
        path: path.to_string(),
        hint: hint_for(&placeholder, input),
        placeholder,
    }
}

pub(crate) fn set_tag(tags: &mut Vec<(String, String)>, key: &str, value: &str) {
    match tags.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => tags.push((key.to_string(), value.to_string())),
    }
}
