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
use crate::run::limits::SlotGroup;

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
    let enqueued = time(number("enqueued")?);
    // The next group is optional: a run of a job whose engine is not limited waits in one queue only.
    let then = match (text("then"), number("then_max")) {
        (Ok(name), Ok(max)) => Some(SlotGroup {
            name,
            max: u32::try_from(max).unwrap_or(1),
        }),
        _ => None,
    };
    Ok(QueuedRun {
        job: text("job")?,
        run_name: text("run_name")?,
        token: text("token")?,
        max: u32::try_from(number("max")?).unwrap_or(1),
        enqueued,
        // Queued before a run could wait in two groups: its only queue.
        since: number("since").map(time).unwrap_or(enqueued),
        then,
        expires: time(number("expires")? * 1000),
    })
}

/// Slots: one item per group (a job, or an engine's `limit:<engine>`), `slots#<group>`, whose string set `holders`
/// names the runs holding one — taken with a conditional ADD (room left, or held already), given back with DELETE
/// (idempotent). Waiting runs: one item each, `queue#<group>#<run>`, with the token, the time it queued and the
/// group it takes next. Both carry their `kind`: read by the index, not a Scan.
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
        let mut item = HashMap::from([
            (
                "key".to_string(),
                s(&queue_key(&queued.job, &queued.run_name)),
            ),
            ("kind".to_string(), s(QUEUE_KIND)),
            ("job".to_string(), s(&queued.job)),
            ("run_name".to_string(), s(&queued.run_name)),
            ("token".to_string(), s(&queued.token)),
            ("max".to_string(), n(i64::from(queued.max))),
            (
                "enqueued".to_string(),
                n(queued.enqueued.timestamp_millis()),
            ),
            ("since".to_string(), n(queued.since.timestamp_millis())),
            ("expires".to_string(), n(queued.expires.timestamp())),
        ]);
        if let Some(then) = &queued.then {
            item.insert("then".to_string(), s(&then.name));
            item.insert("then_max".to_string(), n(i64::from(then.max)));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
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
