//! What an EMR Serverless job may be: its application, shared by every job that names it alike.

use super::*;

/// Jobs that name the same EMR Serverless application must agree on what the application is: each run brings a
/// stopped application back to its own job's CreateApplication request, so two jobs that differ would rewrite it in
/// turn, and a run would get the other job's workers. Compared as planned (defaults filled in, `${vars}` filled), but
/// for the tags; the job run's role and log URI are the run's, free to differ.
pub(super) fn check_shared_application(c: &mut Checker<'_>, name: &str, planned: &Value) {
    let Some(mut application) = planned.as_object().cloned() else {
        return;
    };
    application.remove("tags");
    let Some(Value::String(application_name)) = application.remove("name") else {
        return;
    };
    let Some((first, theirs)) = c.applications.get(&application_name) else {
        c.applications
            .insert(application_name, (name.to_string(), application));
        return;
    };
    let keys: BTreeSet<&String> = application.keys().chain(theirs.keys()).collect();
    let differing: Vec<&str> = keys
        .into_iter()
        .filter(|key| application.get(*key) != theirs.get(*key))
        .map(String::as_str)
        .collect();
    if !differing.is_empty() {
        let message = format!(
            "`{application_name}` is also `{first}`'s application, with other {}: jobs sharing an \
             application set it alike (in [defaults.emr_serverless], say), or each run would bring it back \
             to its own",
            differing.join(", ")
        );
        c.error("emr_serverless.application_name", message);
    }
}

pub(super) fn check_serverless(c: &mut Checker<'_>, job: &Job) {
    let name = job
        .emr_serverless
        .as_ref()
        .and_then(|s| s.application_name.as_ref())
        .or(c.catalog.defaults.emr_serverless.application_name.as_ref())
        .cloned();
    check_names_environment(c, "emr_serverless.application_name", name.as_ref());
    for (field, present) in [
        ("pool", job.pool.is_some()),
        ("emr", job.emr.is_some()),
        ("glue", job.glue.is_some()),
        ("job_flow_overrides", job.job_flow_overrides.is_some()),
        ("spark_steps", job.spark_steps.is_some()),
        ("steps", !job.steps.is_empty()),
        ("create_job", job.create_job.is_some()),
    ] {
        if present {
            c.error(
                field,
                "this job's engine is emr_serverless: it runs one jar (`jar`, `class`, `args`) with [jobs.NAME.emr_serverless] \
                 settings",
            );
        }
    }
    match (&job.jar, &job.class) {
        (Some(jar), Some(class)) => {
            c.s3_uri("jar", jar, true);
            check_class(c, "class", class);
        }
        (None, _) => c.error(
            "jar",
            "missing: the application jar (s3://…), spark-submit's entry point",
        ),
        (_, None) => c.error("class", "missing: the main class of the jar"),
    }
    let settings = job.emr_serverless_settings(&c.catalog.defaults);
    if settings.execution_role.is_none() {
        c.error(
            "emr_serverless.execution_role",
            "missing: the job run's execution role (its ARN), here or in [defaults.emr_serverless]",
        );
    }
    if let Some(architecture) = &settings.architecture {
        if !EMR_SERVERLESS_ARCHITECTURES.contains(&architecture.as_str()) {
            c.error(
                "emr_serverless.architecture",
                format!("`{architecture}`: EMR Serverless runs X86_64 or ARM64"),
            );
        }
    }
    if let Some(release) = &settings.release_label {
        if !release.starts_with("emr-") {
            c.error(
                "emr_serverless.release_label",
                format!("`{release}` is not an EMR release label (emr-7.5.0, …)"),
            );
        }
    }
    if let Some(log_uri) = &settings.log_uri {
        c.s3_uri("emr_serverless.log_uri", log_uri, false);
    } else {
        c.warn(
            "emr_serverless.log_uri",
            "unset: a failed run's alert carries no log tail (the driver's stderr is written under the log URI)",
        );
    }
    // CreateApplication autoStopConfiguration.idleTimeoutMinutes: 1 to 10080.
    if let Some(minutes) = settings.auto_stop_minutes {
        if !(1..=10_080).contains(&minutes) {
            c.error(
                "emr_serverless.auto_stop_minutes",
                format!("{minutes}: EMR Serverless takes 1 to 10080 minutes (7 days)"),
            );
        }
    }
    if settings.auto_start == Some(false) {
        c.warn(
            "emr_serverless.auto_start",
            "false: sparkplug does not start applications, so runs fail until someone starts it (StartApplication)",
        );
    }
    for (key, value) in &job.spark_conf {
        // sparkSubmitParameters is one string of spark-submit options, split at spaces.
        if value.contains(char::is_whitespace) {
            c.error(
                &format!("spark_conf.{key}"),
                "a value with spaces cannot travel in EMR Serverless' sparkSubmitParameters",
            );
        }
    }
    if let Some(initial) = &settings.initial_capacity {
        for (kind, workers) in [("driver", &initial.driver), ("executor", &initial.executor)] {
            if workers.as_ref().is_some_and(|w| w.workers == 0) {
                c.error(
                    &format!("emr_serverless.initial_capacity.{kind}.workers"),
                    "must be at least 1 (leave the kind out for none)",
                );
            }
        }
        if initial.driver.is_none() != initial.executor.is_none() {
            c.warn(
                "emr_serverless.initial_capacity",
                "a run starts on pre-initialized workers only when both a driver and executors are",
            );
        }
    }
}
