//! [`EmrApi`] over aws-sdk-emr.

use aws_sdk_emr::types::{ClusterState, HadoopJarStepConfig, JobFlowInstancesConfig, StepConfig};
use aws_sdk_emr::Client;
use serde_json::{json, Value};

use super::{classify, json_body, missing, no_sdk_retries, str_field, to_chrono};
use crate::engine::ports::StepFailure;
use crate::engine::ports::{AwsError, ClusterSummary, ClusterView, EmrApi, StateChange, StepView};

#[derive(Debug, Clone)]
pub struct Emr {
    client: Client,
}

impl Emr {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Emr {
            client: Client::new(config),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Emr { client }
    }
}

impl EmrApi for Emr {
    async fn active_clusters(&self) -> Result<Vec<ClusterSummary>, AwsError> {
        let mut pages = self
            .client
            .list_clusters()
            .set_cluster_states(Some(vec![
                ClusterState::Starting,
                ClusterState::Bootstrapping,
                ClusterState::Running,
                ClusterState::Waiting,
            ]))
            .into_paginator()
            .send();
        let mut clusters = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            clusters.extend(page.clusters().iter().filter_map(|c| {
                Some(ClusterSummary {
                    id: c.id()?.to_string(),
                    name: c.name().unwrap_or_default().to_string(),
                    state: c
                        .status()
                        .and_then(|s| s.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                })
            }));
        }
        Ok(clusters)
    }

    async fn run_job_flow(&self, request: &Value) -> Result<String, AwsError> {
        // The typed fields only satisfy the builder; the body sent is the plan's request.
        let output = self
            .client
            .run_job_flow()
            .name(str_field(request, "Name"))
            .instances(JobFlowInstancesConfig::builder().build())
            .customize()
            .config_override(aws_sdk_emr::Config::builder().retry_config(no_sdk_retries()))
            .mutate_request(json_body(request))
            .send()
            .await
            .map_err(classify)?;
        output
            .job_flow_id()
            .map(str::to_string)
            .ok_or_else(|| missing("JobFlowId"))
    }

    async fn describe_cluster(&self, cluster_id: &str) -> Result<ClusterView, AwsError> {
        let output = self
            .client
            .describe_cluster()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(classify)?;
        let cluster = output.cluster();
        let status = cluster.and_then(|c| c.status());
        let timeline = status.and_then(|s| s.timeline());
        let reason = status.and_then(|s| s.state_change_reason());
        Ok(ClusterView {
            id: cluster_id.to_string(),
            name: cluster
                .and_then(|c| c.name())
                .unwrap_or_default()
                .to_string(),
            tags: cluster
                .map(|c| c.tags())
                .unwrap_or_default()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_string(), tag.value()?.to_string())))
                .collect(),
            state: status
                .and_then(|s| s.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state_change: state_change(
                reason.and_then(|r| r.code()).map(|c| c.as_str()),
                reason.and_then(|r| r.message()),
            ),
            error_codes: status
                .map(|s| s.error_details())
                .unwrap_or_default()
                .iter()
                .filter_map(|detail| detail.error_code().map(str::to_string))
                .collect(),
            created: timeline
                .and_then(|t| t.creation_date_time())
                .and_then(to_chrono),
            ready: timeline
                .and_then(|t| t.ready_date_time())
                .and_then(to_chrono),
            ended: timeline.and_then(|t| t.end_date_time()).and_then(to_chrono),
        })
    }

    async fn list_steps(&self, cluster_id: &str) -> Result<Vec<StepView>, AwsError> {
        let mut pages = self
            .client
            .list_steps()
            .cluster_id(cluster_id)
            .into_paginator()
            .send();
        let mut steps = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            for step in page.steps() {
                let status = step.status();
                let timeline = status.and_then(|s| s.timeline());
                let details = status.and_then(|s| s.failure_details());
                let reason = status.and_then(|s| s.state_change_reason());
                steps.push(StepView {
                    id: step.id().unwrap_or_default().to_string(),
                    name: step.name().unwrap_or_default().to_string(),
                    state: status
                        .and_then(|s| s.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    state_change: state_change(
                        reason.and_then(|r| r.code()).map(|c| c.as_str()),
                        reason.and_then(|r| r.message()),
                    ),
                    failure: StepFailure::from_details(
                        details.and_then(|d| d.reason()).map(str::to_string),
                        details.and_then(|d| d.message()).map(str::to_string),
                        details.and_then(|d| d.log_file()).map(str::to_string),
                    ),
                    created: timeline
                        .and_then(|t| t.creation_date_time())
                        .and_then(to_chrono),
                    started: timeline
                        .and_then(|t| t.start_date_time())
                        .and_then(to_chrono),
                    ended: timeline.and_then(|t| t.end_date_time()).and_then(to_chrono),
                });
            }
        }
        Ok(steps)
    }

    async fn add_job_flow_steps(
        &self,
        cluster_id: &str,
        steps: &[Value],
    ) -> Result<Vec<String>, AwsError> {
        let body = json!({ "JobFlowId": cluster_id, "Steps": steps });
        let placeholder = StepConfig::builder()
            .name("sparkplug")
            .hadoop_jar_step(
                HadoopJarStepConfig::builder()
                    .jar("command-runner.jar")
                    .build(),
            )
            .build();
        let output = self
            .client
            .add_job_flow_steps()
            .job_flow_id(cluster_id)
            .steps(placeholder)
            .customize()
            .config_override(aws_sdk_emr::Config::builder().retry_config(no_sdk_retries()))
            .mutate_request(json_body(&body))
            .send()
            .await
            .map_err(classify)?;
        Ok(output.step_ids().to_vec())
    }

    async fn terminate_job_flows(&self, cluster_ids: &[String]) -> Result<(), AwsError> {
        self.client
            .terminate_job_flows()
            .set_job_flow_ids(Some(cluster_ids.to_vec()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn cancel_steps(&self, cluster_id: &str, step_ids: &[String]) -> Result<(), AwsError> {
        // SEND_INTERRUPT (the default) lets a running spark-submit stop as on Ctrl-C.
        let output = self
            .client
            .cancel_steps()
            .cluster_id(cluster_id)
            .set_step_ids(Some(step_ids.to_vec()))
            .send()
            .await
            .map_err(classify)?;
        for info in output.cancel_steps_info_list() {
            if info.status().map(|s| s.as_str()) == Some("FAILED") {
                tracing::info!(cluster = %cluster_id, step = ?info.step_id(), reason = ?info.reason(),
                    "EMR did not cancel the step (it had ended)");
            }
        }
        Ok(())
    }
}

fn state_change(code: Option<&str>, message: Option<&str>) -> StateChange {
    StateChange {
        code: code.map(str::to_string),
        message: message.map(str::to_string),
    }
}
