//! Job slots (`max_concurrent_runs`) and the runs waiting for one.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;

use super::{bad_item, conditional, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{QueuedRun, SlotStore};
use crate::engine::table_keys::{
    queue_key, queue_prefix, slots_key, QUEUE_KIND, SLOTS_KIND, SLOTS_PREFIX,
};

fn queued_of(item: &HashMap<String, AttributeValue>) -> Result<QueuedRun, AwsError> {
    let text = |name: &str| -> Result<String, AwsError> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| bad_item(&format!("queued run without `{name}`")))
    };
    let number = |name: &str| -> Result<i64, AwsError> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad_item(&format!("queued run without `{name}`")))
    };
    let time = |millis: i64| DateTime::from_timestamp_millis(millis).unwrap_or_default();
    Ok(QueuedRun {
        job: text("job")?,
        run_name: text("run_name")?,
        token: text("token")?,
        max: u32::try_from(number("max")?).unwrap_or(1),
        enqueued: time(number("enqueued")?),
        expires: time(number("expires")? * 1000),
    })
}

/// Slots: one item per job, `slots#<job>`, whose string set `holders` names the runs holding one — taken with a
/// conditional ADD (room left, or held already), given back with DELETE (idempotent). Waiting runs: one item each,
/// `queue#<job>#<run>`, with the token and the time it queued. Both carry their `kind`: read by the index, not a Scan.
impl SlotStore for RunTable {
    async fn acquire(&self, job: &str, run: &str, max: u32) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&slots_key(job)))
            .update_expression("ADD holders :run SET kind = :kind")
            .condition_expression(
                "attribute_not_exists(holders) OR size(holders) < :max OR contains(holders, :one)",
            )
            .expression_attribute_values(":run", AttributeValue::Ss(vec![run.to_string()]))
            .expression_attribute_values(":kind", s(SLOTS_KIND))
            .expression_attribute_values(":max", n(i64::from(max)))
            .expression_attribute_values(":one", s(run))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn release(&self, job: &str, run: &str) -> Result<bool, AwsError> {
        // Conditional, so that the end of a run that held no slot (most jobs have no queue) writes nothing.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&slots_key(job)))
            .update_expression("DELETE holders :run")
            .condition_expression("contains(holders, :one)")
            .expression_attribute_values(":run", AttributeValue::Ss(vec![run.to_string()]))
            .expression_attribute_values(":one", s(run))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn enqueue(&self, queued: &QueuedRun) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&queue_key(&queued.job, &queued.run_name)))
            .item("kind", s(QUEUE_KIND))
            .item("job", s(&queued.job))
            .item("run_name", s(&queued.run_name))
            .item("token", s(&queued.token))
            .item("max", n(i64::from(queued.max)))
            .item("enqueued", n(queued.enqueued.timestamp_millis()))
            .item("expires", n(queued.expires.timestamp()))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn dequeue(&self, job: &str, run: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(&queue_key(job, run)))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn holders(&self) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
        let mut holders = BTreeMap::new();
        for item in self.items_of_kind(SLOTS_KIND, SLOTS_PREFIX, None).await? {
            let Some(job) = item
                .get("key")
                .and_then(|v| v.as_s().ok())
                .and_then(|key| key.strip_prefix(SLOTS_PREFIX))
            else {
                continue;
            };
            // A set with its last member deleted is no attribute at all: a job with every slot free.
            let mut runs = item
                .get("holders")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default();
            runs.sort();
            holders.insert(job.to_string(), runs);
        }
        Ok(holders)
    }

    async fn queued(&self, job: Option<&str>) -> Result<Vec<QueuedRun>, AwsError> {
        let prefix = queue_prefix(job);
        let mut queued = self
            .items_of_kind(QUEUE_KIND, &prefix, None)
            .await?
            .iter()
            .map(queued_of)
            .collect::<Result<Vec<_>, _>>()?;
        // First in, first out; the job keeps a job's runs together for the drain.
        queued.sort_by(|a, b| {
            (&a.job, a.enqueued, &a.run_name).cmp(&(&b.job, b.enqueued, &b.run_name))
        });
        Ok(queued)
    }
}
