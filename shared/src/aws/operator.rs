//! The operator's adapters (feature `operator`, for the CLI only): the failed-events queue over aws-sdk-sqs and
//! function invocation over aws-sdk-lambda.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::DateTime;
use serde_json::Value;

use super::classify;
use crate::engine::ports::{AwsError, FailedEventsApi, InvokeApi, QueueDepth, QueuedMessage};

/// The stack's failed-events queue.
#[derive(Debug, Clone)]
pub struct FailedEventsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl FailedEventsQueue {
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        FailedEventsQueue {
            client: aws_sdk_sqs::Client::new(config),
            url: url.into(),
        }
    }

    /// The queue of this name (GetQueueUrl).
    pub async fn named(config: &aws_config::SdkConfig, name: &str) -> Result<Self, AwsError> {
        let client = aws_sdk_sqs::Client::new(config);
        let url = client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(classify)?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        Ok(FailedEventsQueue { client, url })
    }
}

fn sent_time(message: &aws_sdk_sqs::types::Message) -> Option<chrono::DateTime<chrono::Utc>> {
    message
        .attributes()?
        .get(&MessageSystemAttributeName::SentTimestamp)?
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

impl FailedEventsApi for FailedEventsQueue {
    async fn depth(&self) -> Result<QueueDepth, AwsError> {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(classify)?;
        let count = |name: QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let messages = count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        // SQS tells no message's age: peek (hidden for no time) at up to ten for the oldest.
        let oldest = if messages > 0 {
            self.receive(10, 0)
                .await?
                .into_iter()
                .filter_map(|m| m.sent)
                .min()
        } else {
            None
        };
        Ok(QueueDepth { messages, oldest })
    }

    async fn receive(&self, max: i32, hide_seconds: i32) -> Result<Vec<QueuedMessage>, AwsError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .visibility_timeout(hide_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(classify)?;
        Ok(output
            .messages()
            .iter()
            .map(|m| QueuedMessage {
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                sent: sent_time(m),
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<(), AwsError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// Lambda Invoke (RequestResponse): a function's answer, or the error it answered with.
#[derive(Debug, Clone)]
pub struct Functions {
    client: aws_sdk_lambda::Client,
}

impl Functions {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Functions {
            client: aws_sdk_lambda::Client::new(config),
        }
    }
}

impl InvokeApi for Functions {
    async fn invoke(
        &self,
        function: &str,
        payload: &Value,
    ) -> Result<Result<Value, Value>, AwsError> {
        let output = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload.to_string().into_bytes()))
            .send()
            .await
            .map_err(classify)?;
        let answer: Value = output
            .payload()
            .and_then(|blob| serde_json::from_slice(blob.as_ref()).ok())
            .unwrap_or(Value::Null);
        Ok(match output.function_error() {
            Some(_) => Err(answer),
            None => Ok(answer),
        })
    }
}
