//! Waiting task tokens: one item per waiter, under its work's key (`emr#…`, `glue#…`, `emrs#…`): `token` (S),
//! `run_name`, `job` (S), `work` (S, the [`Work`] as JSON), `registered` and `expires` (N, epoch seconds). A task
//! token is up to 2,048 characters; an item holds up to 400 KB. A claim marker (`key` and `expires` only) records
//! something done once per run, such as its alert.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{bad_item, conditional, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{TokenStore, Waiter, Work};
use crate::engine::table_keys::WAITER_KIND;

fn item_of(waiter: &Waiter) -> Result<HashMap<String, AttributeValue>, AwsError> {
    let work = serde_json::to_string(&waiter.work).map_err(|e| bad_item(&e.to_string()))?;
    Ok(HashMap::from([
        ("key".to_string(), s(&waiter.work.key())),
        ("kind".to_string(), s(WAITER_KIND)),
        ("token".to_string(), s(&waiter.token)),
        ("run_name".to_string(), s(&waiter.run_name)),
        ("job".to_string(), s(&waiter.job)),
        ("work".to_string(), s(&work)),
        ("registered".to_string(), n(waiter.registered.timestamp())),
        ("expires".to_string(), n(waiter.expires.timestamp())),
    ]))
}

fn waiter_of(item: &HashMap<String, AttributeValue>) -> Result<Waiter, AwsError> {
    let text = |name: &str| -> Result<String, AwsError> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| bad_item(&format!("no `{name}`")))
    };
    let time = |name: &str| -> Result<DateTime<Utc>, AwsError> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| bad_item(&format!("no `{name}` time")))
    };
    let work: Work = serde_json::from_str(&text("work")?).map_err(|e| bad_item(&e.to_string()))?;
    Ok(Waiter {
        work,
        token: text("token")?,
        run_name: text("run_name")?,
        job: text("job")?,
        registered: time("registered")?,
        expires: time("expires")?,
    })
}

impl TokenStore for RunTable {
    async fn put_waiter(&self, waiter: &Waiter) -> Result<bool, AwsError> {
        // A retried task's new token replaces its run's old one; another run's waiter is never replaced.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(waiter)?))
            .condition_expression("attribute_not_exists(#key) OR run_name = :run")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":run", s(&waiter.run_name))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, PutItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn get_waiter(&self, key: &str) -> Result<Option<Waiter>, AwsError> {
        self.get_item(key)
            .await?
            .as_ref()
            .map(waiter_of)
            .transpose()
    }

    async fn delete_waiter(&self, key: &str, token: &str) -> Result<(), AwsError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(key))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match result {
            // Gone already, or a retried task's newer token: either way not this token's to delete.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            other => other.map(|_| ()).map_err(classify),
        }
    }

    async fn claim(&self, key: &str, expires: DateTime<Utc>) -> Result<bool, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(key))
            .item("expires", n(expires.timestamp()))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key")
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, PutItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn is_claimed(&self, key: &str) -> Result<bool, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .projection_expression("#key")
            .expression_attribute_names("#key", "key")
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item().is_some())
    }

    async fn unclaim(&self, key: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(key))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn waiters_with_prefix(&self, prefix: &str) -> Result<Vec<Waiter>, AwsError> {
        self.items_of_kind(WAITER_KIND, prefix, None)
            .await?
            .iter()
            .map(waiter_of)
            .collect()
    }

    async fn waiters_before(&self, before: DateTime<Utc>) -> Result<Vec<Waiter>, AwsError> {
        let values = [(":before", n(before.timestamp()))];
        self.items_of_kind(WAITER_KIND, "", Some(("registered < :before", &values)))
            .await?
            .iter()
            .map(waiter_of)
            .collect()
    }
}
