//! The backstops' periodic looks: where each looked up to.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{conditional, millis_of, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{LookState, LookStore};
use crate::engine::table_keys::look_key;

/// A periodic look's state: `look#<name>`, with `watermark` (N, epoch milliseconds) and `watching` (SS, absent when
/// empty: DynamoDB has no empty sets). A save never moves the watermark back.
impl LookStore for RunTable {
    async fn look_state(&self, name: &str) -> Result<Option<LookState>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(&look_key(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item().map(|item| {
            let mut watching = item
                .get("watching")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default();
            watching.sort();
            LookState {
                watermark: millis_of(item, "watermark"),
                watching,
            }
        }))
    }

    async fn save_look_state(&self, name: &str, state: &LookState) -> Result<bool, AwsError> {
        let watermark = state.watermark.map_or(0, |t| t.timestamp_millis());
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&look_key(name)))
            .item("watermark", n(watermark))
            .condition_expression("attribute_not_exists(#key) OR watermark <= :watermark")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":watermark", n(watermark));
        if !state.watching.is_empty() {
            put = put.item("watching", AttributeValue::Ss(state.watching.clone()));
        }
        conditional(put.send().await, |e| {
            matches!(e, PutItemError::ConditionalCheckFailedException(_))
        })
    }
}
