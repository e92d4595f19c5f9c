//! [`ServerlessApi`] over aws-sdk-emrserverless. The plan's CreateApplication and StartJobRun requests go out as
//! written (the API's own JSON body); the application's id travels in the URI.

use aws_sdk_emrserverless::types::{JobRunState, ResourceUtilization};
use aws_sdk_emrserverless::Client;
use serde_json::{json, Map, Value};

use super::{classify, json_body, missing, str_field, to_chrono, transient_for_this_call};
use crate::engine::ports::{ApplicationView, AwsError, ServerlessApi, ServerlessRunView};
use crate::run::timeline::ServerlessUsage;

#[derive(Debug, Clone)]
pub struct Serverless {
    client: Client,
}

impl Serverless {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Serverless {
            client: Client::new(config),
        }
    }
}

/// CreateApplication and UpdateApplication require a `clientToken` (an idempotency token the SDK would fill in, had
/// the body not been replaced): one per call, so that the SDK's own retries of that call are idempotent.
fn with_client_token(request: &Value) -> Value {
    let mut request = request.clone();
    if let Some(fields) = request.as_object_mut() {
        fields.entry("clientToken").or_insert_with(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            json!(format!("sparkplug-{nanos}"))
        });
    }
    request
}

/// The application's settings sparkplug manages, as CreateApplication JSON.
fn settings_of(app: &aws_sdk_emrserverless::types::Application) -> Value {
    let mut settings = Map::new();
    settings.insert("releaseLabel".into(), json!(app.release_label()));
    settings.insert("type".into(), json!(app.r#type().to_uppercase()));
    if let Some(architecture) = app.architecture() {
        settings.insert("architecture".into(), json!(architecture.as_str()));
    }
    if let Some(initial) = app.initial_capacity() {
        let capacity: Map<String, Value> = initial
            .iter()
            .map(|(kind, config)| {
                let mut workers = json!({"workerCount": config.worker_count()});
                if let Some(resources) = config.worker_configuration() {
                    let mut configuration =
                        json!({"cpu": resources.cpu(), "memory": resources.memory()});
                    if let Some(disk) = resources.disk() {
                        configuration["disk"] = json!(disk);
                    }
                    workers["workerConfiguration"] = configuration;
                }
                (kind.clone(), workers)
            })
            .collect();
        settings.insert("initialCapacity".into(), Value::Object(capacity));
    }
    if let Some(maximum) = app.maximum_capacity() {
        let mut capacity = json!({"cpu": maximum.cpu(), "memory": maximum.memory()});
        if let Some(disk) = maximum.disk() {
            capacity["disk"] = json!(disk);
        }
        settings.insert("maximumCapacity".into(), capacity);
    }
    if let Some(start) = app.auto_start_configuration() {
        settings.insert(
            "autoStartConfiguration".into(),
            json!({"enabled": start.enabled().unwrap_or(true)}),
        );
    }
    if let Some(stop) = app.auto_stop_configuration() {
        let mut config = json!({"enabled": stop.enabled().unwrap_or(true)});
        if let Some(minutes) = stop.idle_timeout_minutes() {
            config["idleTimeoutMinutes"] = json!(minutes);
        }
        settings.insert("autoStopConfiguration".into(), config);
    }
    Value::Object(settings)
}

fn usage(billed: &ResourceUtilization) -> ServerlessUsage {
    ServerlessUsage {
        vcpu_hours: billed.v_cpu_hour().unwrap_or_default(),
        memory_gb_hours: billed.memory_gb_hour().unwrap_or_default(),
        storage_gb_hours: billed.storage_gb_hour().unwrap_or_default(),
    }
}

impl ServerlessApi for Serverless {
    async fn find_application(&self, name: &str) -> Result<Option<ApplicationView>, AwsError> {
        let mut pages = self.client.list_applications().into_paginator().send();
        let mut found = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            if let Some(app) = page
                .applications()
                .iter()
                .find(|a| a.name() == Some(name) && a.state().as_str() != "TERMINATED")
            {
                found = Some(app.id().to_string());
                break;
            }
        }
        let Some(id) = found else {
            return Ok(None);
        };
        let output = self
            .client
            .get_application()
            .application_id(&id)
            .send()
            .await
            .map_err(classify)?;
        let app = output.application().ok_or_else(|| missing("application"))?;
        Ok(Some(ApplicationView {
            id,
            name: name.to_string(),
            state: app.state().as_str().to_string(),
            settings: settings_of(app),
        }))
    }

    async fn create_application(&self, request: &Value) -> Result<String, AwsError> {
        let output = self
            .client
            .create_application()
            .name(str_field(request, "name"))
            .release_label(str_field(request, "releaseLabel"))
            .r#type(str_field(request, "type"))
            .customize()
            .mutate_request(json_body(&with_client_token(request)))
            .send()
            .await
            .map_err(classify)?;
        Ok(output.application_id().to_string())
    }

    async fn update_application(
        &self,
        application_id: &str,
        update: &Value,
    ) -> Result<(), AwsError> {
        self.client
            .update_application()
            .application_id(application_id)
            .customize()
            .mutate_request(json_body(&with_client_token(update)))
            .send()
            .await
            .map_err(|e| transient_for_this_call(classify(e), &["ConflictException"]))?;
        Ok(())
    }

    async fn start_job_run(
        &self,
        application_id: &str,
        request: &Value,
    ) -> Result<String, AwsError> {
        // The request's clientToken (the run's name) makes a repeated start return the first run: the SDK's retries
        // and the state machine's are both safe.
        let output = self
            .client
            .start_job_run()
            .application_id(application_id)
            .execution_role_arn(str_field(request, "executionRoleArn"))
            .customize()
            .mutate_request(json_body(request))
            .send()
            .await
            .map_err(|e| transient_for_this_call(classify(e), &["ConflictException"]))?;
        Ok(output.job_run_id().to_string())
    }

    async fn get_job_run(
        &self,
        application_id: &str,
        job_run_id: &str,
    ) -> Result<ServerlessRunView, AwsError> {
        let output = self
            .client
            .get_job_run()
            .application_id(application_id)
            .job_run_id(job_run_id)
            .send()
            .await
            .map_err(classify)?;
        let run = output.job_run().ok_or_else(|| missing("jobRun"))?;
        let state_details = Some(run.state_details().to_string()).filter(|d| !d.is_empty());
        let log_uri = run
            .configuration_overrides()
            .and_then(|o| o.monitoring_configuration())
            .and_then(|m| m.s3_monitoring_configuration())
            .and_then(|s| s.log_uri())
            .map(str::to_string);
        Ok(ServerlessRunView {
            application_id: application_id.to_string(),
            id: run.job_run_id().to_string(),
            name: run.name().map(str::to_string),
            state: run.state().as_str().to_string(),
            state_details,
            created: to_chrono(run.created_at()),
            started: run.started_at().and_then(to_chrono),
            ended: run.ended_at().and_then(to_chrono),
            execution_seconds: run.total_execution_duration_seconds().map(i64::from),
            billed: run.billed_resource_utilization().map(usage),
            log_uri,
        })
    }

    async fn active_job_runs(
        &self,
        application_id: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut pages = self
            .client
            .list_job_runs()
            .application_id(application_id)
            .set_states(Some(vec![
                JobRunState::Submitted,
                JobRunState::Pending,
                JobRunState::Scheduled,
                JobRunState::Running,
                JobRunState::Queued,
            ]))
            .into_paginator()
            .send();
        let mut runs = Vec::new();
        while let Some(page) = pages.next().await {
            for run in page.map_err(classify)?.job_runs() {
                runs.push((
                    run.id().to_string(),
                    run.name().unwrap_or_default().to_string(),
                ));
            }
        }
        Ok(runs)
    }

    async fn cancel_job_run(&self, application_id: &str, job_run_id: &str) -> Result<(), AwsError> {
        self.client
            .cancel_job_run()
            .application_id(application_id)
            .job_run_id(job_run_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
