//! Input sets, batches and the jobs' ledgers in the run table.
//!
//! - `set#<job>#<partition>`: `job`, `part` (the partition's id), `in_<i>` (S, the input's URI) and `at_<i>` (N, ms)
//!   for each input that arrived (the first arrival kept), `first_at`, `run_started` (S), `deadline_done` (S),
//!   `checked` (N) and `expires`.
//! - `batchseq#<job>#<rule>`: `next` (N), the last position given. `batch#<job>#<rule>#<n>`: `job`, `rule_no`,
//!   `batch_no`, `objects` (SS), `first_at`, `closed_by` (S) and `expires`: an object is added only while the batch
//!   is open, and closing it is conditional, so a batch is taken by one run with every object added before.
//! - `setsdue`: `due` (SS), the partitions watched for an expectation due a duration after their first arrival.
//! - `last#<job>`: `started_run`/`started_at`, `ended_run`/`ended_status`/`ended_at`/`ended_error`,
//!   `succeeded_run`/`succeeded_at`, `missed_at`/`missed_why`; each kept only when newer than what is there.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::{conditional, conditional_output, millis_of, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{
    due_entry, due_of_entry, BatchRecord, BatchStore, JobLedger, LedgerStore, SetMark, SetRecord,
    SetStore,
};
use crate::engine::table_keys::{
    batch_key, batch_position_key, batched_claim_key, ledger_key, set_key, SETS_DUE_KEY,
};

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn millis(time: DateTime<Utc>) -> AttributeValue {
    n(time.timestamp_millis())
}

fn set_of(item: &Item) -> SetRecord {
    let mut arrived = BTreeMap::new();
    for (name, value) in item {
        let Some(index) = name
            .strip_prefix("in_")
            .and_then(|i| i.parse::<usize>().ok())
        else {
            continue;
        };
        if let (Ok(uri), Some(at)) = (value.as_s(), millis_of(item, &format!("at_{index}"))) {
            arrived.insert(index, (uri.clone(), at));
        }
    }
    SetRecord {
        job: text(item, "job").unwrap_or_default(),
        partition: text(item, "part").unwrap_or_default(),
        arrived,
        first_at: millis_of(item, "first_at"),
        run: text(item, "run_started"),
        deadline: text(item, "deadline_done"),
        checked: millis_of(item, "checked"),
    }
}

fn batch_of(item: &Item) -> BatchRecord {
    let mut objects = item
        .get("objects")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    objects.sort();
    BatchRecord {
        job: text(item, "job").unwrap_or_default(),
        rule: number(item, "rule_no").unwrap_or_default() as usize,
        number: number(item, "batch_no").unwrap_or_default(),
        objects,
        first_at: millis_of(item, "first_at"),
        closed_by: text(item, "closed_by"),
    }
}

impl RunTable {
    /// An update kept only when `at` is newer than the item's `<field>_at`.
    async fn set_if_newer(
        &self,
        key: &str,
        field: &str,
        at: DateTime<Utc>,
        values: &[(&str, AttributeValue)],
    ) -> Result<(), AwsError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(key))
            .condition_expression(format!(
                "attribute_not_exists({field}_at) OR {field}_at <= :at"
            ))
            .expression_attribute_values(":at", millis(at));
        let mut sets = vec![format!("{field}_at = :at")];
        for (name, value) in values {
            sets.push(format!("{name} = :{name}"));
            update = update.expression_attribute_values(format!(":{name}"), value.clone());
        }
        let result = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
        .map(|_| ())
    }
}

impl SetStore for RunTable {
    async fn record_input(
        &self,
        job: &str,
        partition: &str,
        index: usize,
        uri: &str,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<SetRecord, AwsError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&set_key(job, partition)))
            .update_expression(format!(
                "SET job = :job, part = :part, in_{index} = if_not_exists(in_{index}, :uri), \
                 at_{index} = if_not_exists(at_{index}, :at), first_at = if_not_exists(first_at, :at), \
                 expires = :expires"
            ))
            .expression_attribute_values(":job", s(job))
            .expression_attribute_values(":part", s(partition))
            .expression_attribute_values(":uri", s(uri))
            .expression_attribute_values(":at", millis(at))
            .expression_attribute_values(":expires", n(expires.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.attributes().map(set_of).unwrap_or_default())
    }

    async fn set_record(&self, job: &str, partition: &str) -> Result<Option<SetRecord>, AwsError> {
        Ok(self
            .get_item(&set_key(job, partition))
            .await?
            .as_ref()
            .map(set_of))
    }

    async fn mark_set(
        &self,
        job: &str,
        partition: &str,
        mark: SetMark,
        value: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let field = match mark {
            SetMark::Run => "run_started",
            SetMark::Deadline => "deadline_done",
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&set_key(job, partition)))
            .update_expression(format!(
                "SET {field} = :value, job = :job, part = :part, expires = if_not_exists(expires, :expires)"
            ))
            .condition_expression(format!("attribute_not_exists({field})"))
            .expression_attribute_values(":value", s(value))
            .expression_attribute_values(":job", s(job))
            .expression_attribute_values(":part", s(partition))
            .expression_attribute_values(":expires", n(expires.timestamp()))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn set_checked(
        &self,
        job: &str,
        partition: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&set_key(job, partition)))
            .update_expression("SET checked = :at")
            .condition_expression("attribute_exists(#key)")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":at", millis(at))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn watch_due(
        &self,
        job: &str,
        partition: &str,
        due: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.change_due("ADD", due_entry(job, partition, due)).await
    }

    async fn unwatch_due(
        &self,
        job: &str,
        partition: &str,
        due: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.change_due("DELETE", due_entry(job, partition, due))
            .await
    }

    async fn watched_due(&self) -> Result<Vec<(DateTime<Utc>, String, String)>, AwsError> {
        let item = self.get_item(SETS_DUE_KEY).await?;
        let mut watched: Vec<_> = item
            .as_ref()
            .and_then(|item| item.get("due"))
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
            .filter_map(|entry| due_of_entry(entry))
            .collect();
        watched.sort();
        Ok(watched)
    }
}

impl RunTable {
    /// Adds `entry` to (`ADD`) or deletes it from (`DELETE`) the watched partitions' string set.
    async fn change_due(&self, action: &str, entry: String) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", s(SETS_DUE_KEY))
            .update_expression(format!("{action} due :entry"))
            .expression_attribute_values(":entry", AttributeValue::Ss(vec![entry]))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl BatchStore for RunTable {
    async fn next_position(&self, job: &str, rule: usize) -> Result<u64, AwsError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&batch_position_key(job, rule)))
            .update_expression("ADD next_position :one")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        Ok(output
            .attributes()
            .and_then(|item| number(item, "next_position"))
            .unwrap_or(1))
    }

    async fn position_of(
        &self,
        job: &str,
        rule: usize,
        object: &str,
        expires: DateTime<Utc>,
    ) -> Result<(u64, bool), AwsError> {
        let key = batched_claim_key(job, object);
        let given = |item: Option<Item>| item.and_then(|i| number(&i, "position"));
        if let Some(position) = given(self.get_item(&key).await?) {
            return Ok((position, false));
        }
        let position = self.next_position(job, rule).await?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&key))
            .item("position", n(position as i64))
            .item("expires", n(expires.timestamp()))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key")
            .send()
            .await;
        if conditional(result, |e| {
            matches!(e, PutItemError::ConditionalCheckFailedException(_))
        })? {
            return Ok((position, true));
        }
        // The same object's other delivery placed it meanwhile (this position stays unused).
        Ok((given(self.get_item(&key).await?).unwrap_or(position), false))
    }

    async fn move_object(&self, job: &str, object: &str, position: u64) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&batched_claim_key(job, object)))
            .update_expression("SET #position = :position")
            .expression_attribute_names("#position", "position")
            .expression_attribute_values(":position", n(position as i64))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn add_to_batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
        object: &str,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<Option<BatchRecord>, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&batch_key(job, rule, number)))
            .update_expression(
                "ADD objects :object SET job = :job, rule_no = :rule, batch_no = :number, \
                 first_at = if_not_exists(first_at, :at), expires = :expires",
            )
            .condition_expression("attribute_not_exists(closed_by)")
            .expression_attribute_values(":object", AttributeValue::Ss(vec![object.to_string()]))
            .expression_attribute_values(":job", s(job))
            .expression_attribute_values(":rule", n(rule as i64))
            .expression_attribute_values(":number", n(number as i64))
            .expression_attribute_values(":at", millis(at))
            .expression_attribute_values(":expires", n(expires.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let output = conditional_output(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })?;
        Ok(output.and_then(|output| output.attributes().map(batch_of)))
    }

    async fn close_batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
        run: &str,
    ) -> Result<Option<BatchRecord>, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&batch_key(job, rule, number)))
            .update_expression("SET closed_by = :run")
            .condition_expression("attribute_exists(#key) AND attribute_not_exists(closed_by)")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":run", s(run))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let output = conditional_output(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })?;
        Ok(output.and_then(|output| output.attributes().map(batch_of)))
    }

    async fn skip_to(&self, job: &str, rule: usize, position: u64) -> Result<(), AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&batch_position_key(job, rule)))
            .update_expression("SET next_position = :position")
            .condition_expression(
                "attribute_not_exists(next_position) OR next_position < :position",
            )
            .expression_attribute_values(":position", n(position as i64))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
        .map(|_| ())
    }

    async fn position(&self, job: &str, rule: usize) -> Result<u64, AwsError> {
        Ok(self
            .get_item(&batch_position_key(job, rule))
            .await?
            .and_then(|item| number(&item, "next_position"))
            .unwrap_or(0))
    }

    async fn batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
    ) -> Result<Option<BatchRecord>, AwsError> {
        Ok(self
            .get_item(&batch_key(job, rule, number))
            .await?
            .as_ref()
            .map(batch_of))
    }
}

impl LedgerStore for RunTable {
    async fn run_started(&self, job: &str, run: &str, at: DateTime<Utc>) -> Result<(), AwsError> {
        self.set_if_newer(&ledger_key(job), "started", at, &[("started_run", s(run))])
            .await
    }

    async fn run_ended(
        &self,
        job: &str,
        run: &str,
        status: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), AwsError> {
        let key = ledger_key(job);
        let mut values = vec![("ended_run", s(run)), ("ended_status", s(status))];
        if let Some(error) = error {
            values.push(("ended_error", s(error)));
        }
        self.set_if_newer(&key, "ended", at, &values).await?;
        if status == "SUCCEEDED" {
            self.set_if_newer(&key, "succeeded", at, &[("succeeded_run", s(run))])
                .await?;
        }
        Ok(())
    }

    async fn run_missed(&self, job: &str, due: DateTime<Utc>, why: &str) -> Result<(), AwsError> {
        self.set_if_newer(&ledger_key(job), "missed", due, &[("missed_why", s(why))])
            .await
    }

    async fn ledger(&self, job: &str) -> Result<JobLedger, AwsError> {
        let Some(item) = self.get_item(&ledger_key(job)).await? else {
            return Ok(JobLedger::default());
        };
        let pair = |name: &str, at: &str| Some((text(&item, name)?, millis_of(&item, at)?));
        Ok(JobLedger {
            started: pair("started_run", "started_at"),
            ended: pair("ended_run", "ended_at").map(|(run, at)| {
                (
                    run,
                    text(&item, "ended_status").unwrap_or_default(),
                    at,
                    text(&item, "ended_error"),
                )
            }),
            succeeded: pair("succeeded_run", "succeeded_at"),
            missed: millis_of(&item, "missed_at")
                .map(|at| (at, text(&item, "missed_why").unwrap_or_default())),
        })
    }
}
