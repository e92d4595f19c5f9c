//! The Glue part of a run plan: the CreateJob request (sparkplug's generic jar runner, sizing, then the job's
//! `create_job`) and the StartJobRun request that carries the run's name.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{
    EngineRun, GluePlan, PlanError, DEFAULT_GLUE_VERSION, GLUE_RUNNER_CLASS, GLUE_RUN_ARGUMENT,
    TAG_RUN,
};

/// The CreateJob fields that size a Glue job: one way or the other, never both.
pub const SIZING: &[&str] = &[
    "MaxCapacity",
    "AllocatedCapacity",
    "WorkerType",
    "NumberOfWorkers",
];

pub(super) fn plan(run: &EngineRun<'_>) -> Result<GluePlan, PlanError> {
    let EngineRun {
        catalog,
        job_name,
        run_name,
        job,
        environment,
        timeout_minutes,
        tags,
        fill,
    } = *run;
    let settings = job.glue_settings(&catalog.defaults);
    let glue_job_name = super::resource_name(settings.job_name.as_deref(), job_name, environment);
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
        if job.lineage {
            // OpenLineage's parent run differs from run to run: the chain goes with the run, whose Arguments
            // replace the job's DefaultArguments of the same key (Glue API, StartJobRun), so that the job's
            // definition stays the same for every run.
            run_arguments["--conf"] = json!(conf.join(" --conf "));
        } else {
            default_arguments.insert("--conf".into(), conf.join(" --conf "));
        }
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
        // Glue refuses runs past its own limit: with a queue (`max_concurrent_runs`), it lets through what the queue does.
        json!({ "MaxConcurrentRuns": settings.max_concurrent_runs.or(job.max_concurrent_runs).unwrap_or(10) }),
    );
    create.insert("DefaultArguments".into(), json!(default_arguments));
    // Like Airflow's GlueJobOperator `create_job_kwargs`: top-level fields replace sparkplug's, and nothing sparkplug
    // adds contradicts them: sizing given there replaces sparkplug's whole sizing (MaxCapacity beside a default
    // WorkerType is refused by Glue), and DefaultArguments given there are merged over sparkplug's, key by key.
    if let Some(Value::Object(overrides)) = &job.create_job {
        let mut overrides = overrides.clone();
        if SIZING.iter().any(|key| overrides.contains_key(*key)) {
            create.retain(|key, _| !SIZING.contains(&key.as_str()));
        }
        if let (Some(Value::Object(given)), Some(Value::Object(ours))) = (
            overrides.remove("DefaultArguments"),
            create.get_mut("DefaultArguments"),
        ) {
            ours.extend(given);
        }
        create.extend(overrides);
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
