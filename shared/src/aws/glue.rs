//! [`GlueApi`] over aws-sdk-glue.

use aws_sdk_glue::operation::get_job::GetJobError;
use aws_sdk_glue::operation::get_job_runs::GetJobRunsError;
use aws_sdk_glue::types::{JobCommand, JobRun};
use aws_sdk_glue::Client;
use serde_json::{json, Map, Value};

use super::{
    classify, json_body, missing, no_sdk_retries, str_field, to_chrono, transient_for_this_call,
};
use crate::engine::ports::{AwsError, GlueApi, GlueRunView};
use crate::run::plan::GLUE_RUN_ARGUMENT;

#[derive(Debug, Clone)]
pub struct Glue {
    client: Client,
}

impl Glue {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Glue {
            client: Client::new(config),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Glue { client }
    }
}

impl GlueApi for Glue {
    async fn get_job(&self, name: &str) -> Result<Option<Value>, AwsError> {
        let output = match self.client.get_job().job_name(name).send().await {
            Ok(output) => output,
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(GetJobError::EntityNotFoundException(_))
                ) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(classify(error)),
        };
        let Some(job) = output.job() else {
            return Ok(None);
        };
        // The fields sparkplug sets, in CreateJob's JSON shape, to compare with the plan.
        let mut fields = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                fields.insert(key.to_string(), value);
            }
        };
        put("Description", job.description().map(|v| json!(v)));
        put("Role", job.role().map(|v| json!(v)));
        put(
            "Command",
            job.command().map(|c| {
                let mut command = json!({ "Name": c.name().unwrap_or_default() });
                if let Some(script) = c.script_location() {
                    command["ScriptLocation"] = json!(script);
                }
                command
            }),
        );
        put("GlueVersion", job.glue_version().map(|v| json!(v)));
        put("WorkerType", job.worker_type().map(|v| json!(v.as_str())));
        put("NumberOfWorkers", job.number_of_workers().map(|v| json!(v)));
        put("MaxCapacity", job.max_capacity().map(|v| json!(v)));
        put("Timeout", job.timeout().map(|v| json!(v)));
        put("MaxRetries", Some(json!(job.max_retries())));
        put(
            "DefaultArguments",
            job.default_arguments().map(|v| json!(v)),
        );
        put(
            "ExecutionProperty",
            job.execution_property()
                .map(|p| json!({ "MaxConcurrentRuns": p.max_concurrent_runs() })),
        );
        Ok(Some(Value::Object(fields)))
    }

    async fn create_job(&self, request: &Value) -> Result<(), AwsError> {
        self.client
            .create_job()
            .name(str_field(request, "Name"))
            .role(str_field(request, "Role"))
            .command(JobCommand::builder().build())
            .customize()
            .mutate_request(json_body(request))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn update_job(&self, name: &str, update: &Value) -> Result<(), AwsError> {
        let body = json!({ "JobName": name, "JobUpdate": update });
        self.client
            .update_job()
            .job_name(name)
            .job_update(aws_sdk_glue::types::JobUpdate::builder().build())
            .customize()
            .mutate_request(json_body(&body))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn job_runs(&self, job_name: &str) -> Result<Vec<GlueRunView>, AwsError> {
        let result = self
            .client
            .get_job_runs()
            .job_name(job_name)
            .max_results(200)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(GetJobRunsError::EntityNotFoundException(_))
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(error) => return Err(classify(error)),
        };
        Ok(output.job_runs().iter().map(run_view).collect())
    }

    async fn stop_job_runs(
        &self,
        job_name: &str,
        run_ids: &[String],
    ) -> Result<Vec<String>, AwsError> {
        let output = self
            .client
            .batch_stop_job_run()
            .job_name(job_name)
            .set_job_run_ids(Some(run_ids.to_vec()))
            .send()
            .await
            .map_err(classify)?;
        Ok(output
            .successful_submissions()
            .iter()
            .filter_map(|s| s.job_run_id().map(str::to_string))
            .collect())
    }

    async fn start_job_run(&self, request: &Value) -> Result<String, AwsError> {
        let output = self
            .client
            .start_job_run()
            .job_name(str_field(request, "JobName"))
            .customize()
            .config_override(aws_sdk_glue::Config::builder().retry_config(no_sdk_retries()))
            .mutate_request(json_body(request))
            .send()
            .await
            .map_err(|e| {
                transient_for_this_call(classify(e), &["ResourceNumberLimitExceededException"])
            })?;
        output
            .job_run_id()
            .map(str::to_string)
            .ok_or_else(|| missing("JobRunId"))
    }

    async fn get_job_run(&self, job_name: &str, run_id: &str) -> Result<GlueRunView, AwsError> {
        let output = self
            .client
            .get_job_run()
            .job_name(job_name)
            .run_id(run_id)
            .send()
            .await
            .map_err(classify)?;
        let run = output.job_run().ok_or_else(|| missing("JobRun"))?;
        Ok(GlueRunView {
            id: run_id.to_string(),
            ..run_view(run)
        })
    }
}

fn run_view(run: &JobRun) -> GlueRunView {
    GlueRunView {
        id: run.id().unwrap_or_default().to_string(),
        run_name: run
            .arguments()
            .and_then(|args| args.get(GLUE_RUN_ARGUMENT))
            .cloned(),
        state: run
            .job_run_state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        error_message: run.error_message().map(str::to_string),
        started: run.started_on().and_then(to_chrono),
        completed: run.completed_on().and_then(to_chrono),
        execution_seconds: Some(i64::from(run.execution_time())),
        log_group: run.log_group_name().map(str::to_string),
    }
}
