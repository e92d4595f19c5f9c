//! [`SfnApi`] over aws-sdk-sfn.

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::Client;

use chrono::{DateTime, Utc};

use super::{classify, to_chrono};
use crate::engine::ports::{
    AwsError, CallbackApi, ExecutionSummary, ExecutionView, ExecutionsApi, SfnApi, StartOutcome,
    TokenAnswer,
};

#[derive(Debug, Clone)]
pub struct Sfn {
    client: Client,
}

impl Sfn {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Sfn {
            client: Client::new(config),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Sfn { client }
    }
}

impl SfnApi for Sfn {
    async fn executions_since(
        &self,
        state_machine_arn: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ExecutionSummary>, AwsError> {
        // Newest first (Step Functions API Reference, ListExecutions: "sorted by time, with the most recent
        // execution first"): stop at the first page that reaches back past `since`.
        let mut pages = self
            .client
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .max_results(100)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let mut older = false;
            for item in page.map_err(classify)?.executions() {
                let Some(started) = to_chrono(item.start_date()) else {
                    continue;
                };
                if started < since {
                    older = true;
                    continue;
                }
                found.push(ExecutionSummary {
                    name: item.name().to_string(),
                    status: item.status().as_str().to_string(),
                    started,
                    stopped: item.stop_date().and_then(to_chrono),
                });
            }
            if older {
                break;
            }
        }
        Ok(found)
    }

    async fn execution_status(
        &self,
        state_machine_arn: &str,
        name: &str,
    ) -> Result<Option<String>, AwsError> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(crate::engine::execution::execution_arn(
                state_machine_arn,
                name,
            ))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(output.status().as_str().to_string())),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DescribeExecutionError::ExecutionDoesNotExist(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify(error)),
        }
    }

    async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<StartOutcome, AwsError> {
        let asked = Utc::now();
        let result = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            // A repeated StartExecution (same name, same input) of a running Standard execution "succeeds and return[s]
            // the same response as the original request" (Step Functions API Reference, StartExecution): its
            // startDate is the original's. One that started before this call was asked is a duplicate — no
            // DescribeExecution first, whose quota (15 a second) is twenty times lower than StartExecution's.
            Ok(output) if started_before(output.start_date(), asked) => {
                Ok(StartOutcome::AlreadyExists)
            }
            Ok(output) => Ok(StartOutcome::Started {
                execution_arn: output.execution_arn().to_string(),
            }),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(StartExecutionError::ExecutionAlreadyExists(_))
                ) =>
            {
                Ok(StartOutcome::AlreadyExists)
            }
            Err(error) => Err(classify(error)),
        }
    }
}

/// Whether an execution's startDate comes before `asked` (less a second for the clocks of Lambda and Step
/// Functions, both synchronized to Amazon's time service: a redelivery within that second counts as started).
fn started_before(start_date: &aws_smithy_types::DateTime, asked: DateTime<Utc>) -> bool {
    to_chrono(start_date).is_some_and(|started| started < asked - chrono::Duration::seconds(1))
}

/// The answers that mean "nobody waits on this token any more" (Step Functions API Reference, SendTaskSuccess).
const GONE: &[&str] = &["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"];

fn answered<O, E>(
    result: Result<
        O,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
) -> Result<TokenAnswer, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(TokenAnswer::Delivered),
        Err(error) => match error.as_service_error().and_then(|e| e.code()) {
            Some(code) if GONE.contains(&code) => Ok(TokenAnswer::Gone {
                code: code.to_string(),
            }),
            _ => Err(classify(error)),
        },
    }
}

impl CallbackApi for Sfn {
    async fn send_task_success(&self, token: &str, output: &str) -> Result<TokenAnswer, AwsError> {
        answered(
            self.client
                .send_task_success()
                .task_token(token)
                .output(output)
                .send()
                .await,
        )
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<TokenAnswer, AwsError> {
        answered(
            self.client
                .send_task_failure()
                .task_token(token)
                .error(error)
                .cause(cause)
                .send()
                .await,
        )
    }
}

impl ExecutionsApi for Sfn {
    async fn describe_execution(&self, execution_arn: &str) -> Result<ExecutionView, AwsError> {
        let output = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(classify)?;
        let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str(t).ok());
        Ok(ExecutionView {
            status: output.status().as_str().to_string(),
            input: parse(output.input()).unwrap_or(serde_json::Value::Null),
            output: parse(output.output()),
            error: output.error().map(str::to_string),
            cause: output.cause().map(str::to_string),
            stopped: output.stop_date().and_then(to_chrono),
            started: to_chrono(output.start_date()),
        })
    }

    async fn task_outputs(&self, execution_arn: &str) -> Result<Vec<serde_json::Value>, AwsError> {
        let mut pages = self
            .client
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .into_paginator()
            .send();
        let mut outputs = Vec::new();
        while let Some(page) = pages.next().await {
            for event in page.map_err(classify)?.events() {
                let output = event
                    .lambda_function_succeeded_event_details()
                    .and_then(|d| d.output())
                    .or_else(|| {
                        event
                            .task_succeeded_event_details()
                            .and_then(|d| d.output())
                    });
                if let Some(value) = output.and_then(|o| serde_json::from_str(o).ok()) {
                    outputs.push(value);
                }
            }
        }
        Ok(outputs)
    }
}
