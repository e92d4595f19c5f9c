//! The EMR Serverless part of a run plan: the CreateApplication request (what the application must be, created or
//! brought back to it by the start task, like a Glue job definition) and the StartJobRun request (the jar as the
//! `sparkSubmit` entry point, the run's name as its `clientToken`, so that a retried start cannot start a second run).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{EmrServerlessPlan, EngineRun, PlanError, TAG_RUN};
use crate::catalog::ServerlessWorkers;

/// EMR Serverless' release when neither the job nor the defaults say.
pub const DEFAULT_SERVERLESS_RELEASE: &str = "emr-7.5.0";
/// The application's idle minutes before it stops, when unset (EMR Serverless' own default).
pub const DEFAULT_AUTO_STOP_MINUTES: u32 = 15;
/// StartJobRun `clientToken`: 1 to 64 characters of `[A-Za-z0-9._-]`.
const MAX_CLIENT_TOKEN: usize = 64;

/// The StartJobRun idempotency token of a run: its name; or, when the name is longer than 64 characters or has
/// characters the token may not (a console run's own name may), its first characters made safe and a hash of the
/// whole name (distinct names, distinct tokens).
pub fn client_token(run_name: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if run_name.len() <= MAX_CLIENT_TOKEN && !run_name.is_empty() && run_name.chars().all(allowed) {
        return run_name.to_string();
    }
    let digest = Sha256::digest(run_name.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let start: String = run_name
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(MAX_CLIENT_TOKEN - hash.len() - 1)
        .collect();
    format!("{start}-{hash}")
}

fn workers(spec: &ServerlessWorkers) -> Value {
    let mut configuration = json!({"cpu": spec.cpu, "memory": spec.memory});
    if let Some(disk) = &spec.disk {
        configuration["disk"] = json!(disk);
    }
    json!({"workerCount": spec.workers, "workerConfiguration": configuration})
}

pub(super) fn plan(run: &EngineRun<'_>) -> Result<EmrServerlessPlan, PlanError> {
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
    let settings = job.emr_serverless_settings(&catalog.defaults);
    let invalid = |reason: &str| PlanError::Invalid {
        job: job_name.to_string(),
        reason: reason.to_string(),
    };
    let application_name =
        super::resource_name(settings.application_name.as_deref(), job_name, environment);
    let mut application = Map::new();
    application.insert("name".into(), json!(application_name));
    application.insert(
        "releaseLabel".into(),
        json!(settings
            .release_label
            .as_deref()
            .unwrap_or(DEFAULT_SERVERLESS_RELEASE)),
    );
    application.insert("type".into(), json!("SPARK"));
    application.insert(
        "architecture".into(),
        json!(settings.architecture.as_deref().unwrap_or("X86_64")),
    );
    if let Some(initial) = &settings.initial_capacity {
        let mut capacity = Map::new();
        if let Some(driver) = &initial.driver {
            capacity.insert("DRIVER".into(), workers(driver));
        }
        if let Some(executor) = &initial.executor {
            capacity.insert("EXECUTOR".into(), workers(executor));
        }
        application.insert("initialCapacity".into(), Value::Object(capacity));
    }
    if let Some(maximum) = &settings.maximum_capacity {
        let mut capacity = json!({"cpu": maximum.cpu, "memory": maximum.memory});
        if let Some(disk) = &maximum.disk {
            capacity["disk"] = json!(disk);
        }
        application.insert("maximumCapacity".into(), capacity);
    }
    application.insert(
        "autoStartConfiguration".into(),
        json!({"enabled": settings.auto_start.unwrap_or(true)}),
    );
    application.insert(
        "autoStopConfiguration".into(),
        json!({"enabled": true, "idleTimeoutMinutes":
            settings.auto_stop_minutes.unwrap_or(DEFAULT_AUTO_STOP_MINUTES)}),
    );
    // The application outlives one run: the job's tags, not the run's.
    let application_tags: Map<String, Value> = tags
        .iter()
        .filter(|(k, _)| k != TAG_RUN)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    application.insert("tags".into(), Value::Object(application_tags));
    let application = fill(Value::Object(application), "emr_serverless")?;

    let (Some(jar), Some(class)) = (&job.jar, &job.class) else {
        return Err(invalid(
            "an emr_serverless job runs `jar` with its main `class`",
        ));
    };
    let mut submit = format!("--class {class}");
    for (key, value) in &job.spark_conf {
        submit.push_str(&format!(" --conf {key}={value}"));
    }
    let mut run = Map::new();
    run.insert("clientToken".into(), json!(client_token(run_name)));
    run.insert("name".into(), json!(run_name));
    if let Some(role) = &settings.execution_role {
        run.insert("executionRoleArn".into(), json!(role));
    }
    run.insert(
        "jobDriver".into(),
        json!({"sparkSubmit": {"entryPoint": jar, "entryPointArguments": job.args,
            "sparkSubmitParameters": submit}}),
    );
    if let Some(log_uri) = &settings.log_uri {
        run.insert(
            "configurationOverrides".into(),
            json!({"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri}}}),
        );
    }
    run.insert("executionTimeoutMinutes".into(), json!(timeout_minutes));
    run.insert(
        "tags".into(),
        tags.iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<String, Value>>()
            .into(),
    );
    let run = fill(Value::Object(run), "emr_serverless")?;
    Ok(EmrServerlessPlan { application, run })
}
