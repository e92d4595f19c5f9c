//! Run plans: everything one run needs, rendered from the catalog and what triggered the run. A plan is the run
//! state machine's input; the task functions read only the plan, never the catalog.
//!
//! The request parts keep the AWS API's own shapes (PascalCase): `emr.cluster` is a RunJobFlow request,
//! `emr.steps` the AddJobFlowSteps `Steps`, `glue.job` a CreateJob request and `glue.run` a StartJobRun request.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::catalog::{ActionOnFailure, Catalog, Engine, InstanceGroupSpec, Job, Market, StepSpec};
use crate::events::ObjectArrival;
use crate::runkey;
use crate::s3::S3Location;
use crate::template::{self, Placeholder};

/// Bumped when the plan's shape changes incompatibly, so that a task function can refuse a plan it cannot read.
pub const PLAN_VERSION: u32 = 1;
/// Environment variables that override catalog `[vars]`: `SPARKPLUG_VAR_DATA_BUCKET` sets `${data_bucket}`.
pub const VAR_ENV_PREFIX: &str = "SPARKPLUG_VAR_";
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmrPlan {
    /// The RunJobFlow request.
    pub cluster: Value,
    /// The AddJobFlowSteps `Steps`, in order.
    pub steps: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GluePlan {
    /// The CreateJob request (also what an UpdateJob must bring the job back to).
    pub job: Value,
    /// The StartJobRun request.
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
}

impl Trigger {
    /// The S3 object this run is about, if any.
    pub fn input(&self) -> Option<S3Location> {
        match self {
            Trigger::S3(arrival) => Some(S3Location {
                bucket: arrival.bucket.clone(),
                key: arrival.key.clone(),
            }),
            Trigger::Manual { input, .. } => input.clone(),
            Trigger::Schedule { .. } => None,
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

/// Values of the catalog's `${vars}` for this deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The catalog's defaults, overridden by `SPARKPLUG_VAR_<NAME>` variables among `env`, then by `overrides`.
    pub fn resolve<E, O>(catalog: &Catalog, env: E, overrides: O) -> Result<Vars, PlanError>
    where
        E: IntoIterator<Item = (String, String)>,
        O: IntoIterator<Item = (String, String)>,
    {
        let mut values = catalog.vars.clone();
        let from_env = env.into_iter().filter_map(|(key, value)| {
            key.strip_prefix(VAR_ENV_PREFIX)
                .map(|name| (name.to_ascii_lowercase(), value, key.clone()))
        });
        let overrides = overrides
            .into_iter()
            .map(|(name, value)| (name.clone(), value, name));
        for (name, value, source) in from_env.chain(overrides) {
            match values.get_mut(&name) {
                Some(slot) => *slot = value,
                None => {
                    return Err(PlanError::UnknownVar {
                        setting: source,
                        known: catalog.vars.keys().cloned().collect(),
                    })
                }
            }
        }
        Ok(Vars(values))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Fills `${vars}` only; run placeholders are left for [`render`].
    pub fn fill(&self, text: &str) -> Result<String, String> {
        template::fill(text, &|hole| match hole {
            Placeholder::Var(name) => self.get(name).map(str::to_string),
            Placeholder::Param(name) => Some(format!("{{{name}}}")),
        })
        .map_err(|hole| format!("{hole} is not a catalog var"))
    }
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
    #[error("`{setting}` sets no catalog var; the catalog's vars are: {}", known.join(", "))]
    UnknownVar { setting: String, known: Vec<String> },
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
];

/// Chooses the run's name: the caller's, or the run key of its trigger.
pub fn run_name_for(job: &str, input: &RunInput) -> Result<String, PlanError> {
    if let Some(name) = &input.run_name {
        runkey::check_execution_name(name).map_err(PlanError::BadRunName)?;
        return Ok(name.clone());
    }
    Ok(match &input.trigger {
        Trigger::S3(arrival) => runkey::for_arrival(job, arrival),
        Trigger::Schedule { time, .. } => runkey::for_schedule(job, *time),
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

/// Renders the plan of one run of `job_name`. Pure: the same catalog, input and vars give the same plan.
pub fn render(
    catalog: &Catalog,
    job_name: &str,
    input: &RunInput,
    vars: &Vars,
) -> Result<RunPlan, PlanError> {
    let job = catalog.job(job_name).ok_or_else(|| PlanError::UnknownJob {
        job: job_name.to_string(),
        known: catalog.jobs.keys().cloned().collect(),
    })?;
    let run_name = run_name_for(job_name, input)?;
    let mut values = builtin_values(job_name, &run_name, input);

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
                let filled = template::fill(default, &|hole| lookup(vars, &values, hole));
                filled.map_err(|hole| unfilled(job_name, &format!("params.{name}"), hole, input))?
            }
        };
        params.insert(name.clone(), value);
    }
    values.extend(params.clone());

    let fill = |doc: Value, path: &str| -> Result<Value, PlanError> {
        template::fill_value(&doc, &|hole| lookup(vars, &values, hole)).map_err(|missing| {
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
    let (emr, glue) = match job.engine {
        Engine::Emr => (
            Some(emr_plan(catalog, job_name, job, &run_name, &tags, &fill)?),
            None,
        ),
        Engine::Glue => (
            None,
            Some(glue_plan(
                catalog,
                job_name,
                &run_name,
                job,
                environment.as_deref(),
                timeout_minutes,
                &tags,
                &fill,
            )?),
        ),
    };
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

fn set_tag(tags: &mut Vec<(String, String)>, key: &str, value: &str) {
    match tags.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => tags.push((key.to_string(), value.to_string())),
    }
}

/// Whether a release supports `AutoTerminationPolicy` (EMR 5.30.0+ and 6.1.0+).
pub fn supports_auto_termination(release_label: &str) -> bool {
    let Some(version) = release_label.strip_prefix("emr-") else {
        return false;
    };
    let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    match major {
        5 => minor >= 30,
        6 => minor >= 1,
        m => m >= 7,
    }
}

fn instance_group(role: &str, name: &str, spec: &InstanceGroupSpec, default_count: u32) -> Value {
    let mut group = json!({
        "Name": name,
        "InstanceRole": role,
        "Market": match spec.market.unwrap_or(Market::OnDemand) {
            Market::OnDemand => "ON_DEMAND",
            Market::Spot => "SPOT",
        },
        "InstanceType": spec.instance_type,
        "InstanceCount": spec.count.unwrap_or(default_count),
    });
    if let Some(bid) = &spec.bid_price {
        group["BidPrice"] = json!(bid);
    }
    group
}

/// The cluster settings as a RunJobFlow request, before the job's `job_flow_overrides`.
fn base_cluster(catalog: &Catalog, job: &Job, run_name: &str) -> Map<String, Value> {
    let settings = job.emr_settings(&catalog.defaults);
    let mut cluster = Map::new();
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            cluster.insert(key.to_string(), json!(value));
        }
    };
    put("ReleaseLabel", &settings.release_label);
    put("LogUri", &settings.log_uri);
    put("ServiceRole", &settings.service_role);
    put("JobFlowRole", &settings.instance_profile);
    put("SecurityConfiguration", &settings.security_configuration);
    cluster.insert("Name".into(), json!(run_name));
    let applications = settings
        .applications
        .clone()
        .unwrap_or_else(|| vec!["Spark".to_string()]);
    cluster.insert(
        "Applications".into(),
        applications
            .iter()
            .map(|name| json!({ "Name": name }))
            .collect(),
    );
    cluster.insert("VisibleToAllUsers".into(), json!(true));

    let groups: Vec<Value> = [
        ("MASTER", "Primary", &settings.master, 1),
        ("CORE", "Core", &settings.core, 2),
        ("TASK", "Task", &settings.task, 2),
    ]
    .into_iter()
    .filter_map(|(role, name, spec, count)| {
        spec.as_ref()
            .map(|spec| instance_group(role, name, spec, count))
    })
    .collect();
    let mut instances = Map::new();
    if !groups.is_empty() {
        instances.insert("InstanceGroups".into(), Value::Array(groups));
    }
    if let Some(subnet) = &settings.subnet_id {
        instances.insert("Ec2SubnetId".into(), json!(subnet));
    }
    if let Some(key) = &settings.ec2_key_name {
        instances.insert("Ec2KeyName".into(), json!(key));
    }
    instances.insert("KeepJobFlowAliveWhenNoSteps".into(), json!(true));
    instances.insert("TerminationProtected".into(), json!(false));
    cluster.insert("Instances".into(), Value::Object(instances));
    if let Some(seconds) = settings.idle_timeout_seconds {
        cluster.insert(
            "AutoTerminationPolicy".into(),
            json!({ "IdleTimeout": seconds }),
        );
    }
    cluster
}

/// One spark-submit step on EMR through command-runner.jar.
pub fn spark_submit_step(
    step: &StepSpec,
    spark_conf: &BTreeMap<String, String>,
    default_action: ActionOnFailure,
) -> Value {
    let mut args: Vec<String> = vec![
        "spark-submit".into(),
        "--deploy-mode".into(),
        "cluster".into(),
        "--class".into(),
        step.class.clone(),
    ];
    for (key, value) in spark_conf {
        args.push("--conf".into());
        args.push(format!("{key}={value}"));
    }
    args.extend(step.spark_submit.iter().cloned());
    args.push(step.jar.clone());
    args.extend(step.args.iter().cloned());
    json!({
        "Name": step.name,
        "ActionOnFailure": step.action_on_failure.unwrap_or(default_action).as_str(),
        "HadoopJarStep": { "Jar": "command-runner.jar", "Args": args },
    })
}

/// The job's steps as catalog `StepSpec`s: `steps`, or the single-step shorthand named after the job.
pub fn job_steps(job_name: &str, job: &Job) -> Vec<StepSpec> {
    if !job.steps.is_empty() {
        return job.steps.clone();
    }
    match (&job.jar, &job.class) {
        (Some(jar), Some(class)) => vec![StepSpec {
            name: job_name.to_string(),
            jar: jar.clone(),
            class: class.clone(),
            args: job.args.clone(),
            action_on_failure: None,
            spark_submit: Vec::new(),
        }],
        _ => Vec::new(),
    }
}

fn emr_plan(
    catalog: &Catalog,
    job_name: &str,
    job: &Job,
    run_name: &str,
    tags: &[(String, String)],
    fill: &dyn Fn(Value, &str) -> Result<Value, PlanError>,
) -> Result<EmrPlan, PlanError> {
    let mut cluster = base_cluster(catalog, job, run_name);
    // Like Airflow's EmrCreateJobFlowOperator: the overrides replace whole top-level fields.
    if let Some(Value::Object(overrides)) = &job.job_flow_overrides {
        cluster.extend(overrides.clone());
    }
    let Value::Object(mut cluster) = fill(Value::Object(cluster), "job_flow_overrides")? else {
        unreachable!("filling placeholders keeps an object an object")
    };

    // What sparkplug needs of every cluster, whatever the overrides said.
    cluster.insert("Name".into(), json!(run_name));
    match cluster.get_mut("Instances") {
        Some(Value::Object(instances)) => {
            instances.insert("KeepJobFlowAliveWhenNoSteps".into(), json!(true));
        }
        _ => {
            return Err(PlanError::Invalid {
                job: job_name.to_string(),
                reason:
                    "the cluster has no `Instances`: set emr.master/core (or [defaults.emr]) or \
                         Instances in job_flow_overrides"
                        .into(),
            })
        }
    }
    let mut all_tags: Vec<(String, String)> = cluster
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tag| {
            Some((
                tag.get("Key")?.as_str()?.to_string(),
                tag.get("Value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        })
        .collect();
    for (key, value) in tags {
        set_tag(&mut all_tags, key, value);
    }
    cluster.insert(
        "Tags".into(),
        all_tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    );
    let release = cluster
        .get("ReleaseLabel")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !cluster.contains_key("AutoTerminationPolicy") && supports_auto_termination(release) {
        cluster.insert(
            "AutoTerminationPolicy".into(),
            json!({ "IdleTimeout": DEFAULT_IDLE_TIMEOUT_SECONDS }),
        );
    }

    let steps = match &job.spark_steps {
        Some(verbatim) => fill(verbatim.clone(), "spark_steps")?,
        None => {
            let settings = job.emr_settings(&catalog.defaults);
            let action = settings
                .action_on_failure
                .unwrap_or(ActionOnFailure::CancelAndWait);
            let steps: Vec<Value> = job_steps(job_name, job)
                .iter()
                .map(|step| spark_submit_step(step, &job.spark_conf, action))
                .collect();
            fill(Value::Array(steps), "steps")?
        }
    };
    let Value::Array(steps) = steps else {
        return Err(PlanError::Invalid {
            job: job_name.to_string(),
            reason: "spark_steps must be an array of StepConfig objects".into(),
        });
    };
    Ok(EmrPlan {
        cluster: Value::Object(cluster),
        steps,
    })
}

#[allow(clippy::too_many_arguments)]
fn glue_plan(
    catalog: &Catalog,
    job_name: &str,
    run_name: &str,
    job: &Job,
    environment: Option<&str>,
    timeout_minutes: u32,
    tags: &[(String, String)],
    fill: &dyn Fn(Value, &str) -> Result<Value, PlanError>,
) -> Result<GluePlan, PlanError> {
    let settings = job.glue_settings(&catalog.defaults);
    let glue_job_name = match (&settings.job_name, environment) {
        (Some(name), _) => name.clone(),
        (None, Some(env)) => format!("sparkplug-{job_name}-{env}"),
        (None, None) => format!("sparkplug-{job_name}"),
    };
    let mut default_arguments: BTreeMap<String, String> = BTreeMap::new();
    let mut run_arguments = fill(
        json!(settings.arguments.clone().unwrap_or_default()),
        "glue.arguments",
    )?;
    if let (Some(jar), Some(class)) = (&job.jar, &job.class) {
        let mut jars = vec![jar.clone()];
        jars.extend(settings.extra_jars.clone().unwrap_or_default());
        default_arguments.insert("--job-language".into(), "scala".into());
        default_arguments.insert("--class".into(), GLUE_RUNNER_CLASS.into());
        default_arguments.insert("--extra-jars".into(), jars.join(","));
        default_arguments.insert("--sparkplug_main_class".into(), class.clone());
        // The runner reads the arguments as one JSON array, so arguments with spaces or commas survive.
        let args = fill(json!(job.args), "args")?;
        run_arguments["--sparkplug_args"] = json!(args.to_string());
    }
    if !job.spark_conf.is_empty() {
        // Glue takes extra Spark settings as one `--conf` value chained with further ` --conf ` pairs.
        let conf: Vec<String> = job
            .spark_conf
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        default_arguments.insert("--conf".into(), conf.join(" --conf "));
    }
    default_arguments.extend(settings.default_arguments.clone().unwrap_or_default());

    let mut create = Map::new();
    create.insert("Name".into(), json!(glue_job_name));
    if let Some(description) = &job.description {
        create.insert("Description".into(), json!(description));
    }
    if let Some(role) = &settings.role {
        create.insert("Role".into(), json!(role));
    }
    let mut command = json!({ "Name": "glueetl" });
    if let Some(script) = &settings.script_location {
        command["ScriptLocation"] = json!(script);
    }
    create.insert("Command".into(), command);
    create.insert(
        "GlueVersion".into(),
        json!(settings
            .glue_version
            .as_deref()
            .unwrap_or(DEFAULT_GLUE_VERSION)),
    );
    match (settings.max_capacity, &settings.worker_type) {
        (Some(capacity), None) => {
            create.insert("MaxCapacity".into(), json!(capacity));
        }
        (_, worker_type) => {
            create.insert(
                "WorkerType".into(),
                json!(worker_type.as_deref().unwrap_or("G.1X")),
            );
            create.insert(
                "NumberOfWorkers".into(),
                json!(settings.number_of_workers.unwrap_or(2)),
            );
        }
    }
    create.insert("Timeout".into(), json!(timeout_minutes));
    create.insert(
        "MaxRetries".into(),
        json!(settings.max_retries.unwrap_or(0)),
    );
    create.insert(
        "ExecutionProperty".into(),
        json!({ "MaxConcurrentRuns": settings.max_concurrent_runs.unwrap_or(10) }),
    );
    create.insert("DefaultArguments".into(), json!(default_arguments));
    // Like Airflow's GlueJobOperator `create_job_kwargs`: top-level fields replace sparkplug's.
    if let Some(Value::Object(overrides)) = &job.create_job {
        create.extend(overrides.clone());
    }
    let Value::Object(mut create) = fill(Value::Object(create), "create_job")? else {
        unreachable!("filling placeholders keeps an object an object")
    };
    // The job definition outlives one run: it carries the job's tags, not the run's.
    let mut job_tags = match create.remove("Tags") {
        Some(Value::Object(given)) => given,
        _ => Map::new(),
    };
    for (key, value) in tags.iter().filter(|(k, _)| k != TAG_RUN) {
        job_tags.insert(key.clone(), json!(value));
    }
    create.insert("Tags".into(), Value::Object(job_tags));

    // Tags the run with its name, so that a retried start finds the run it already started.
    run_arguments[GLUE_RUN_ARGUMENT] = json!(run_name);
    let mut run = Map::new();
    run.insert(
        "JobName".into(),
        create.get("Name").cloned().unwrap_or(json!(glue_job_name)),
    );
    run.insert("Arguments".into(), run_arguments);
    run.insert("Timeout".into(), json!(timeout_minutes));
    for key in ["WorkerType", "NumberOfWorkers", "MaxCapacity"] {
        if let Some(value) = create.get(key) {
            run.insert(key.into(), value.clone());
        }
    }
    let (create, run) = (Value::Object(create), Value::Object(run));
    Ok(GluePlan { job: create, run })
}
