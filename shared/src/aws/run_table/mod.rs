//! The run table over aws-sdk-dynamodb: one table of small items, each kind under its own key prefix
//! ([`crate::engine::table_keys`] lists them), one module per store the engine sees — waiting task tokens
//! ([`TokenStore`], `tokens.rs`), job slots and queued runs ([`SlotStore`], `slots.rs`), the backstops' looks
//! ([`LookStore`], `looks.rs`), warm pool leases ([`PoolStore`], `pools.rs`), throttled starts ([`ParkStore`],
//! `parked.rs`) and the runs' records ([`RunStore`], `runs.rs`, read by job through the `by-job` index). Every item may carry `expires` (N, epoch seconds), the table's TTL attribute. The items of open
//! work — waiters, slots, queued runs, parked runs, pool clusters — also carry `kind`, the `by-kind` index's
//! partition key: all but the pool clusters are read by a Query of that index, not by scanning the table, whose other
//! items (arrivals, batches, claims, spend) grow with what sparkplug has done; pool clusters are read consistently
//! through their registry (`pools.rs`). Nothing scans the table.

mod looks;
mod parked;
mod pools;
mod runs;
mod sets;
mod slots;
mod spend;
mod tokens;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::classify;
use crate::engine::errors::{AwsError, ErrorKind};
#[cfg(doc)]
use crate::engine::ports::{LookStore, ParkStore, PoolStore, RunStore, SlotStore, TokenStore};
use crate::engine::table_keys::KIND_INDEX;

#[derive(Debug, Clone)]
pub struct RunTable {
    client: Client,
    table: String,
}

impl RunTable {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), table)
    }

    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        RunTable {
            client,
            table: table.into(),
        }
    }
}

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A conditional write's outcome: `true` when it was made, `false` when its condition did not hold.
pub(super) fn conditional<O, E>(
    result: Result<
        O,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
    condition_failed: impl Fn(&E) -> bool,
) -> Result<bool, AwsError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    Ok(conditional_output(result, condition_failed)?.is_some())
}

/// A conditional write's output when it was made, `None` when its condition did not hold.
pub(super) fn conditional_output<O, E>(
    result: Result<
        O,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
    condition_failed: impl Fn(&E) -> bool,
) -> Result<Option<O>, AwsError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) if error.as_service_error().is_some_and(&condition_failed) => Ok(None),
        Err(error) => Err(classify(error)),
    }
}

pub(super) fn bad_item(why: &str) -> AwsError {
    AwsError {
        kind: ErrorKind::Failed,
        code: String::new(),
        message: format!("a token table item sparkplug cannot read: {why}"),
    }
}

impl RunTable {
    /// One item by its key, read consistently.
    pub(super) async fn get_item(
        &self,
        key: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item().cloned())
    }

    /// Every item of `kind` whose key starts with `prefix` (and that passes `also`, a filter with its values), all
    /// pages: a Query of the `by-kind` index, which holds only the items that carry a `kind` — the open work (waiting
    /// runs, slots, queued runs, pool clusters) — so its cost grows with that work, never with the table. An index is
    /// eventually consistent (DynamoDB Developer Guide, "Global secondary indexes": propagated "within a fraction of
    /// a second"): what a write made that instant may be missing, and is seen at the next look.
    pub(super) async fn items_of_kind(
        &self,
        kind: &str,
        prefix: &str,
        also: Option<(&str, &[(&str, AttributeValue)])>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, AwsError> {
        self.query_kind(kind, prefix, also, usize::MAX).await
    }

    /// The first `max` items of `kind` under `prefix`, in key order: no more pages than those take.
    pub(super) async fn items_of_kind_up_to(
        &self,
        kind: &str,
        prefix: &str,
        max: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, AwsError> {
        self.query_kind(kind, prefix, None, max).await
    }

    async fn query_kind(
        &self,
        kind: &str,
        prefix: &str,
        also: Option<(&str, &[(&str, AttributeValue)])>,
        max: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, AwsError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(KIND_INDEX)
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":kind", s(kind));
        // A key condition's value may not be empty: no prefix, no condition on the key.
        query = if prefix.is_empty() {
            query.key_condition_expression("#kind = :kind")
        } else {
            query
                .key_condition_expression("#kind = :kind AND begins_with(#key, :prefix)")
                .expression_attribute_names("#key", "key")
                .expression_attribute_values(":prefix", s(prefix))
        };
        if let Some((filter, values)) = also {
            query = query.filter_expression(filter);
            for (name, value) in values {
                query = query.expression_attribute_values(*name, value.clone());
            }
        }
        if let Ok(limit) = i32::try_from(max) {
            query = query.limit(limit);
        }
        let mut pages = query.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(classify)?.items().iter().cloned());
            if items.len() >= max {
                items.truncate(max);
                break;
            }
        }
        Ok(items)
    }
}

/// An epoch-milliseconds attribute as a time.
pub(super) fn millis_of(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Option<DateTime<Utc>> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
}
