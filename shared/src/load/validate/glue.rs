//! What a Glue job may be: its version, its sizing, its CreateJob and StartJobRun requests.

use super::*;

/// Glue versions AWS no longer supports.
pub(super) const END_OF_LIFE_GLUE: &[&str] = &["0.9", "1.0", "2.0"];

pub(super) fn check_glue(c: &mut Checker<'_>, job: &Job) {
    let name = job
        .glue
        .as_ref()
        .and_then(|g| g.job_name.as_ref())
        .or(c.catalog.defaults.glue.job_name.as_ref())
        .cloned();
    check_names_environment(c, "glue.job_name", name.as_ref());
    if job.pool.is_some() {
        c.error(
            "pool",
            "pools are of EMR clusters: this job's engine is glue",
        );
    }
    if job.emr.is_some() {
        c.error(
            "emr",
            "this job's engine is glue: EMR settings do not apply",
        );
    }
    for (field, present) in [
        ("job_flow_overrides", job.job_flow_overrides.is_some()),
        ("spark_steps", job.spark_steps.is_some()),
        ("steps", !job.steps.is_empty()),
    ] {
        if present {
            c.error(
                field,
                "this job's engine is glue: a Glue job runs one jar (`jar`, `class`, `args`)",
            );
        }
    }
    let own_command = job
        .create_job
        .as_ref()
        .is_some_and(|create| create.get("Command").is_some());
    match (&job.jar, &job.class) {
        (Some(jar), Some(class)) => {
            c.s3_uri("jar", jar, true);
            check_class(c, "class", class);
        }
        (None, None) if own_command => {}
        (None, _) => c.error(
            "jar",
            "missing: the application jar that sparkplug's Glue runner starts (or a Command in create_job)",
        ),
        (_, None) => c.error("class", "missing: the main class of the jar"),
    }
    let settings = job.glue_settings(&c.catalog.defaults);
    if let Some(worker_type) = &settings.worker_type {
        if !GLUE_WORKER_TYPES.contains(&worker_type.as_str()) {
            c.error(
                "glue.worker_type",
                format!(
                    "`{worker_type}` is not a Glue WorkerType ({})",
                    GLUE_WORKER_TYPES.join(", ")
                ),
            );
        }
    }
    let own = job.glue.clone().unwrap_or_default();
    let sized_here =
        own.worker_type.is_some() || own.number_of_workers.is_some() || own.max_capacity.is_some();
    let sized_in_create_job = job
        .create_job
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|create| SIZING.iter().any(|key| create.contains_key(*key)));
    if sized_here && sized_in_create_job {
        c.error(
            "create_job",
            "the job is sized twice: in its [glue] settings and in create_job; keep one",
        );
    }
    if settings.max_capacity.is_some()
        && (settings.worker_type.is_some() || settings.number_of_workers.is_some())
    {
        c.error(
            "glue.max_capacity",
            "MaxCapacity cannot be used together with worker_type/number_of_workers: choose one way to size the job",
        );
    }
    if let Some(version) = &settings.glue_version {
        if END_OF_LIFE_GLUE.contains(&version.as_str()) {
            c.warn(
                "glue.glue_version",
                format!("Glue {version} is end of life: use 4.0 or 5.0"),
            );
        }
    }
    if let Some(script) = &settings.script_location {
        c.s3_uri("glue.script_location", script, true);
    }
    for (field, map) in [
        ("glue.arguments", &settings.arguments),
        ("glue.default_arguments", &settings.default_arguments),
    ] {
        for key in map.iter().flat_map(|m| m.keys()) {
            if !key.starts_with("--") {
                c.error(
                    &format!("{field}.{key}"),
                    "Glue argument names start with `--`",
                );
            }
        }
    }
    match &job.create_job {
        Some(value @ Value::Object(_)) => {
            for (path, why) in shapes::check(value, &CREATE_JOB, "create_job") {
                c.error(&path, why);
            }
        }
        Some(other) => c.error(
            "create_job",
            format!(
                "expected a CreateJob object or a JSON file path, found {}",
                shapes::kind(other)
            ),
        ),
        None => {}
    }
}

/// Glue job names the template's policies let the functions manage (`job/sparkplug-*`).
pub const GLUE_JOB_NAME_PREFIX: &str = "sparkplug-";

/// `4.0` → (4, 0).
pub(super) fn glue_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

pub(super) fn check_glue_requests(c: &mut Checker<'_>, create: &Value) {
    if let Some(name) = create.get("Name").and_then(Value::as_str) {
        if !name.starts_with(GLUE_JOB_NAME_PREFIX) {
            c.error(
                "glue.job_name",
                format!(
                    "`{name}` does not start with `{GLUE_JOB_NAME_PREFIX}`: the functions may manage only Glue jobs \
                     named so (template.yaml), and would be refused with AccessDenied"
                ),
            );
        }
    }
    if let Some(minutes) = create.get("Timeout").and_then(Value::as_u64) {
        if minutes > u64::from(MAX_GLUE_TIMEOUT_MINUTES) {
            c.error(
                "create_job.Timeout",
                format!(
                    "{minutes} minutes: Glue refuses a Timeout of 10080 minutes (7 days) or more"
                ),
            );
        }
    }
    if create.get("Role").is_none() {
        c.error(
            "glue.role",
            "missing: the Glue job's IAM role; set it here, in [defaults.glue], or as Role in create_job",
        );
    }
    if field(create, &["Command", "ScriptLocation"]).is_none() {
        c.error(
            "glue.script_location",
            "missing: where sparkplug's Glue jar runner script is (s3://…), here or in [defaults.glue]",
        );
    }
    let said_in_settings = c
        .report
        .errors
        .iter()
        .any(|p| p.job.as_deref() == c.job && p.path == "glue.max_capacity");
    if create.get("MaxCapacity").is_some()
        && (create.get("WorkerType").is_some() || create.get("NumberOfWorkers").is_some())
        && !said_in_settings
    {
        c.error(
            "create_job.MaxCapacity",
            "MaxCapacity cannot be used together with WorkerType/NumberOfWorkers",
        );
    }
    // A Glue retry is a new JobRun (its own id, `Attempt` and `PreviousRunId`; Glue Developer Guide, "Job runs"):
    // sparkplug waits on the first attempt's run, so the run would end at its failure and the janitor stop the retry.
    if create
        .get("MaxRetries")
        .and_then(Value::as_u64)
        .is_some_and(|retries| retries > 0)
    {
        c.error(
            "glue.max_retries",
            "must be 0: a Glue retry is a new job run, which sparkplug does not wait on (the run would fail at the \
             first attempt and its retry be stopped); transient failures are retried by the state machine",
        );
    }
    // "For Glue version 2.0+ jobs, you cannot specify a Maximum capacity. Instead, you should specify a Worker type
    // and the Number of workers." (Glue API Reference, CreateJob MaxCapacity); Python shell jobs still take it.
    let version = create.get("GlueVersion").and_then(Value::as_str);
    let python_shell =
        field(create, &["Command", "Name"]).and_then(Value::as_str) == Some("pythonshell");
    if create.get("MaxCapacity").is_some()
        && !python_shell
        && version.and_then(glue_version).is_some_and(|v| v >= (2, 0))
    {
        c.error(
            if said_in_settings { "glue.max_capacity" } else { "create_job.MaxCapacity" },
            format!(
                "Glue {} refuses MaxCapacity for Spark jobs (2.0 and later): size the job with worker_type and number_of_workers",
                version.unwrap_or_default()
            ),
        );
    }
    if let Some(version) = create.get("GlueVersion").and_then(Value::as_str) {
        let from_settings = c
            .report
            .warnings
            .iter()
            .any(|w| w.job.as_deref() == c.job && w.path == "glue.glue_version");
        if END_OF_LIFE_GLUE.contains(&version) && !from_settings {
            c.warn(
                "create_job.GlueVersion",
                format!("Glue {version} is end of life: use 4.0 or 5.0"),
            );
        }
    }
}
