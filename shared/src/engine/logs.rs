//! Where each engine writes a failed run's logs — EMR's step and YARN container logs and EMR Serverless's driver logs
//! in S3, Glue's driver stream in CloudWatch Logs — and their last lines: what an alert and the run report tail.

use std::future::Future;
use std::io::Read;
use std::time::Duration as StdDuration;

use serde_json::Value;

use crate::catalog::Engine;
use crate::engine::errors::TaskError;
use crate::engine::ports::LogsApi;
use crate::run::RunPlan;

/// Glue's error log group: system, Spark and Glue-logger lines and the driver's standard error (Glue Developer Guide,
/// "Logging for AWS Glue jobs"); user standard output goes to `/aws-glue/jobs/output`.
pub const GLUE_ERROR_LOG_GROUP: &str = "/aws-glue/jobs/error";

/// Where a Glue run's driver writes its errors (Glue Developer Guide, "Logging for AWS Glue jobs"): Glue 5.0 names the
/// driver's stream `<JobRunId>-driver` (executors `<JobRunId>-<n>`), earlier versions `<JobRunId>`; with a security
/// configuration the group is `/aws-glue/jobs/<configuration>-role/<role name>/error`. (group, stream).
pub fn glue_driver_log(plan: &RunPlan, run_id: &str) -> (String, String) {
    let job = plan.glue.as_ref().map(|g| &g.job);
    let text = |key: &str| job.and_then(|j| j.get(key)).and_then(Value::as_str);
    let version = text("GlueVersion")
        .and_then(|v| v.split_once('.'))
        .and_then(|(major, _)| major.parse::<u32>().ok())
        .unwrap_or(5);
    let stream = if version >= 5 {
        format!("{run_id}-driver")
    } else {
        run_id.to_string()
    };
    let group = match (text("SecurityConfiguration"), text("Role")) {
        (Some(configuration), Some(role)) => {
            let role = role.rsplit('/').next().unwrap_or(role);
            format!("/aws-glue/jobs/{configuration}-role/{role}/error")
        }
        _ => GLUE_ERROR_LOG_GROUP.to_string(),
    };
    (group, stream)
}

/// Where the failed EMR step's stderr is: `<LogUri><cluster-id>/steps/<step-id>/stderr.gz` (EMR Management Guide,
/// "View log files archived to Amazon S3").
pub fn emr_step_stderr(plan: &RunPlan, summary: &Value) -> Option<(String, String)> {
    let log_uri = plan.emr.as_ref()?.cluster.get("LogUri")?.as_str()?;
    let cluster = summary["cluster_id"].as_str()?;
    let step_name = summary["failure"]["step"].as_str()?;
    let step_id = summary["timeline"]["steps"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == step_name)?["id"]
        .as_str()?;
    let rest = log_uri
        .strip_prefix("s3://")
        .or(log_uri.strip_prefix("s3n://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    Some((
        bucket.to_string(),
        format!("{prefix}{cluster}/steps/{step_id}/stderr.gz"),
    ))
}

/// Where EMR Serverless writes a failed job run's driver stderr (User Guide, "Storing logs", Amazon S3:
/// `<logUri>/applications/<application-id>/jobs/<job-run-id>/SPARK_DRIVER/stderr.gz`): the failure's log location
/// (the run's directory) and the driver's file.
pub fn serverless_driver_stderr(summary: &Value) -> Option<(String, String)> {
    let run_dir = summary["failure"]["log"].as_str()?;
    let location = crate::run::s3::S3Location::parse_prefix(run_dir).ok()?;
    let prefix = if location.key.is_empty() || location.key.ends_with('/') {
        location.key
    } else {
        format!("{}/", location.key)
    };
    Some((location.bucket, format!("{prefix}SPARK_DRIVER/stderr.gz")))
}

/// The last `lines` lines of a gzip-compressed log.
pub fn gzip_tail(bytes: &[u8], lines: usize) -> Result<Vec<String>, String> {
    gzip_text(bytes).map(|text| last_lines(&text, lines))
}

/// The application id in a `spark-submit --deploy-mode cluster` step's stderr: the YARN client's "Submitted
/// application application_…" and "Application report for application_…" lines name it (the last one named).
pub fn yarn_application(step_stderr: &str) -> Option<String> {
    step_stderr
        .match_indices("application_")
        .filter_map(|(at, _)| {
            let rest = &step_stderr[at + "application_".len()..];
            let (stamp, rest) = rest.split_once('_')?;
            let sequence: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (!stamp.is_empty() && stamp.chars().all(|c| c.is_ascii_digit()) && !sequence.is_empty())
                .then(|| format!("application_{stamp}_{sequence}"))
        })
        .last()
}

/// Where YARN aggregates a cluster-mode driver's stderr, beside the step's logs (EMR Management Guide, "View log files
/// archived to Amazon S3": `<LogUri><cluster-id>/containers/<application>/<container>/stderr.gz`): the application
/// master's first container, `container_<stamp>_<sequence>_01_000001`, which runs the driver in cluster mode.
pub fn driver_container_stderr(step_stderr_key: &str, application: &str) -> Option<String> {
    let (cluster_prefix, _) = step_stderr_key.split_once("/steps/")?;
    let container = application.replacen("application_", "container_", 1) + "_01_000001";
    Some(format!(
        "{cluster_prefix}/containers/{application}/{container}/stderr.gz"
    ))
}

/// The whole text of a gzip-compressed log.
pub fn gzip_text(bytes: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| format!("the log is not gzip text: {e}"))?;
    Ok(text)
}

/// The last `lines` lines of a text.
pub fn last_lines(text: &str, lines: usize) -> Vec<String> {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// A log's last lines and where they were read.
pub type Tail = (Vec<String>, String);

/// How long to keep looking for a log that has not arrived yet (EMR writes a step's logs minutes late).
#[derive(Debug, Clone, Copy)]
pub struct LogWait {
    /// The longest wait in all; zero looks once.
    pub at_most: StdDuration,
    /// The first pause between looks; each next one doubles.
    pub first_pause: StdDuration,
}

/// The last `lines` lines of the log that says why a run failed, and the file they were read from, or why there are
/// none: what an alert and the run report show. Looks again with doubling pauses while the log has not arrived, up
/// to `wait.at_most`. For an EMR step run in cluster mode, the tail is the driver's container
/// stderr (the step's own stderr then holds only the YARN client's polling); a step that names no YARN application
/// (client mode, a command that is not Spark) is tailed itself.
pub async fn failure_tail<S, F>(
    logs: &impl LogsApi,
    plan: &RunPlan,
    summary: &Value,
    lines: usize,
    wait: LogWait,
    sleep: &S,
) -> Result<Result<Tail, String>, TaskError>
where
    S: Fn(StdDuration) -> F,
    F: Future<Output = ()>,
{
    let started = std::time::Instant::now();
    let mut waited = StdDuration::ZERO;
    let mut pause = wait.first_pause;
    // The step's own tail, once read: what goes out if the driver's container log never arrives.
    let mut step_tail: Option<Tail> = None;
    loop {
        let s3_tail = |bucket: &str, key: &str, bytes: &[u8]| {
            gzip_tail(bytes, lines).map(|lines| (lines, format!("s3://{bucket}/{key}")))
        };
        let found: Option<Result<Tail, String>> = match plan.engine {
            Engine::Emr => {
                let Some((bucket, key)) = emr_step_stderr(plan, summary) else {
                    return Ok(Err("no step failed".into()));
                };
                match logs
                    .s3_object(&bucket, &key)
                    .await
                    .map_err(|e| TaskError::aws("GetObject", e))?
                {
                    None => None,
                    Some(bytes) => match gzip_text(&bytes) {
                        Err(why) => Some(Err(why)),
                        Ok(text) => {
                            let own = (last_lines(&text, lines), format!("s3://{bucket}/{key}"));
                            match yarn_application(&text)
                                .and_then(|app| driver_container_stderr(&key, &app))
                            {
                                None => Some(Ok(own)),
                                Some(container) => {
                                    step_tail = Some(own);
                                    logs.s3_object(&bucket, &container)
                                        .await
                                        .map_err(|e| TaskError::aws("GetObject", e))?
                                        .map(|bytes| s3_tail(&bucket, &container, &bytes))
                                }
                            }
                        }
                    },
                }
            }
            Engine::EmrServerless => {
                let Some((bucket, key)) = serverless_driver_stderr(summary) else {
                    return Ok(Err(
                        if plan.emr_serverless.as_ref().is_some_and(|s| {
                            s.run
                                .pointer("/configurationOverrides/monitoringConfiguration")
                                .is_some()
                        }) {
                            "no job run failed on its own (stopped, timed out or never started): no driver log".into()
                        } else {
                            "no log location: the job run has no logUri".into()
                        },
                    ));
                };
                logs.s3_object(&bucket, &key)
                    .await
                    .map_err(|e| TaskError::aws("GetObject", e))?
                    .map(|bytes| s3_tail(&bucket, &key, &bytes))
            }
            Engine::Glue => {
                let Some(run_id) = summary["glue_run_id"].as_str() else {
                    return Ok(Err("no Glue run".into()));
                };
                let (group, stream) = glue_driver_log(plan, run_id);
                logs.log_events(&group, &stream, lines)
                    .await
                    .map_err(|e| TaskError::aws("GetLogEvents", e))?
                    .map(|lines| Ok((lines, format!("cloudwatch:{group}:{stream}"))))
            }
        };
        match found {
            Some(Ok((lines, from))) if !lines.is_empty() => return Ok(Ok((lines, from))),
            Some(Ok(_)) => return Ok(Err("the log is empty".into())),
            Some(Err(why)) => return Ok(Err(why)),
            None if waited + pause > wait.at_most => {
                if let Some(own) = step_tail {
                    return Ok(Ok(own));
                }
                return Ok(Err(format!(
                    "the log had not arrived after {} s (EMR and Glue write logs minutes late)",
                    started.elapsed().as_secs().max(waited.as_secs())
                )));
            }
            None => {
                sleep(pause).await;
                waited += pause;
                pause *= 2;
            }
        }
    }
}
