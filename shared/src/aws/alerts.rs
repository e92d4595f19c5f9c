//! The alert function's adapters: [`LogsApi`] over S3 and CloudWatch Logs, [`AlertsApi`] over SNS and EventBridge.

use aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use serde_json::Value;

use super::classify;
use crate::engine::errors::{AwsError, ErrorKind};
use crate::engine::ports::{AlertsApi, LogsApi, SnsMessage};

#[derive(Debug, Clone)]
pub struct Logs {
    s3: aws_sdk_s3::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl Logs {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        // Path-style addressing: bucket names with dots, and the local emulator's single endpoint.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build();
        Logs {
            s3: aws_sdk_s3::Client::from_conf(s3),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
        }
    }
}

impl LogsApi for Logs {
    async fn s3_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        let result = self.s3.get_object().bucket(bucket).key(key).send().await;
        let object = match result {
            Ok(object) => object,
            Err(error)
                if matches!(error.as_service_error(), Some(GetObjectError::NoSuchKey(_))) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(classify(error)),
        };
        let bytes = object.body.collect().await.map_err(|e| AwsError {
            kind: ErrorKind::Retryable,
            code: String::new(),
            message: format!("reading s3://{bucket}/{key}: {e}"),
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn log_events(
        &self,
        group: &str,
        stream: &str,
        lines: usize,
    ) -> Result<Option<Vec<String>>, AwsError> {
        let result = self
            .logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(i32::try_from(lines).unwrap_or(i32::MAX))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(
                output
                    .events()
                    .iter()
                    .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
                    .collect(),
            )),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(GetLogEventsError::ResourceNotFoundException(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify(error)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Alerts {
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
}

impl Alerts {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Alerts {
            sns: aws_sdk_sns::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
        }
    }
}

impl AlertsApi for Alerts {
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &SnsMessage,
    ) -> Result<(), AwsError> {
        // "The Message parameter is always a string": with MessageStructure=json, a JSON object whose values are the
        // strings each protocol gets, `default` required (SNS API Reference, Publish).
        let structured = serde_json::json!({"default": message.default, "email": message.email});
        self.sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message_structure("json")
            .message(structured.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn put_event(
        &self,
        source: &str,
        detail_type: &str,
        detail: &Value,
    ) -> Result<(), AwsError> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(source)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let output = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(classify)?;
        // PutEvents answers 200 with per-entry failures.
        match output.entries().first().and_then(|e| e.error_code()) {
            Some(code) => Err(AwsError {
                kind: super::errors::kind_of_code(code, None),
                code: code.to_string(),
                message: output.entries()[0]
                    .error_message()
                    .unwrap_or_default()
                    .to_string(),
            }),
            None => Ok(()),
        }
    }
}
