//! [`TokenStore`] over aws-sdk-dynamodb: one item per waiting task token.
//!
//! Item: `key` (S, the partition key: `emr#<cluster-id>` or `glue#<job>#<run-id>`), `token` (S), `run_name`,
//! `job` (S), `work` (S, the [`Work`] as JSON), `registered` (N, epoch seconds) and `expires` (N, epoch seconds: the
//! table's TTL attribute). A task token is up to 2,048 characters; an item holds up to 400 KB. A claim marker
//! (`key` and `expires` only) records something done once per run, such as its alert.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::classify;
use crate::engine::errors::{AwsError, ErrorKind};
use crate::engine::ports::{
    LookState, LookStore, PoolCluster, PoolStore, QueuedRun, SlotStore, TokenStore, Waiter, Work,
};

#[derive(Debug, Clone)]
pub struct TokenTable {
    client: Client,
    table: String,
}

impl TokenTable {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), table)
    }

    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        TokenTable {
            client,
            table: table.into(),
        }
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A conditional write's outcome: `true` when it was made, `false` when its condition did not hold.
fn conditional<O, E>(
    result: Result<
        O,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
    condition_failed: impl Fn(&E) -> bool,
) -> Result<bool, AwsError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.as_service_error().is_some_and(&condition_failed) => Ok(false),
        Err(error) => Err(classify(error)),
    }
}

fn item_of(waiter: &Waiter) -> Result<HashMap<String, AttributeValue>, AwsError> {
    let work = serde_json::to_string(&waiter.work).map_err(|e| bad_item(&e.to_string()))?;
    Ok(HashMap::from([
        ("key".to_string(), s(&waiter.work.key())),
        ("token".to_string(), s(&waiter.token)),
        ("run_name".to_string(), s(&waiter.run_name)),
        ("job".to_string(), s(&waiter.job)),
        ("work".to_string(), s(&work)),
        ("registered".to_string(), n(waiter.registered.timestamp())),
        ("expires".to_string(), n(waiter.expires.timestamp())),
    ]))
}

fn bad_item(why: &str) -> AwsError {
    AwsError {
        kind: ErrorKind::Failed,
        code: String::new(),
        message: format!("a token table item sparkplug cannot read: {why}"),
    }
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

impl TokenTable {
    /// Every item whose key starts with `prefix` (and that passes `also`, a further filter on the item), all pages.
    /// The token table is small (waiting runs, queued runs, pool clusters): a filtered Scan reads it whole.
    async fn items_with_prefix(
        &self,
        prefix: &str,
        also: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, AwsError> {
        let filter = match also {
            Some(also) => format!("begins_with(#key, :prefix) AND {also}"),
            None => "begins_with(#key, :prefix)".to_string(),
        };
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(filter)
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(classify)?.items().iter().cloned());
        }
        Ok(items)
    }
}

impl TokenStore for TokenTable {
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
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item().map(waiter_of).transpose()
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
        self.items_with_prefix(prefix, Some("attribute_exists(registered)"))
            .await?
            .iter()
            .map(waiter_of)
            .collect()
    }

    async fn waiters_before(&self, before: DateTime<Utc>) -> Result<Vec<Waiter>, AwsError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("registered < :before")
            .expression_attribute_values(":before", n(before.timestamp()))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut waiters = Vec::new();
        while let Some(page) = pages.next().await {
            // Claim markers (an alert's) carry no `registered`: the filter leaves them out.
            for item in page.map_err(classify)?.items() {
                waiters.push(waiter_of(item)?);
            }
        }
        Ok(waiters)
    }
}

fn slots_key(job: &str) -> String {
    format!("slots#{job}")
}

fn queue_key(job: &str, run: &str) -> String {
    format!("queue#{job}#{run}")
}

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
/// `queue#<job>#<run>`, with the token and the time it queued.
impl SlotStore for TokenTable {
    async fn acquire(&self, job: &str, run: &str, max: u32) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&slots_key(job)))
            .update_expression("ADD holders :run")
            .condition_expression(
                "attribute_not_exists(holders) OR size(holders) < :max OR contains(holders, :one)",
            )
            .expression_attribute_values(":run", AttributeValue::Ss(vec![run.to_string()]))
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
        for item in self.items_with_prefix("slots#", None).await? {
            let Some(job) = item
                .get("key")
                .and_then(|v| v.as_s().ok())
                .and_then(|key| key.strip_prefix("slots#"))
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
        let prefix = match job {
            Some(job) => format!("queue#{job}#"),
            None => "queue#".to_string(),
        };
        let mut queued = self
            .items_with_prefix(&prefix, None)
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

/// The pool's start lock (not under `pool#`: it is no cluster's record).
fn look_key(name: &str) -> String {
    format!("look#{name}")
}

/// A periodic look's state: `look#<name>`, with `watermark` (N, epoch milliseconds) and `watching` (SS, absent when
/// empty: DynamoDB has no empty sets). A save never moves the watermark back.
impl LookStore for TokenTable {
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

fn start_key(pool: &str) -> String {
    format!("poolstart#{pool}")
}

fn pool_key(pool: &str, cluster_id: &str) -> String {
    format!("pool#{pool}#{cluster_id}")
}

fn millis_of(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
}

fn pool_cluster_of(item: &HashMap<String, AttributeValue>) -> Result<PoolCluster, AwsError> {
    let text = |name: &str| -> Result<String, AwsError> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| bad_item(&format!("pool cluster without `{name}`")))
    };
    let number = |name: &str| -> u32 {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut runs: Vec<String> = item
        .get("runs")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    runs.sort();
    Ok(PoolCluster {
        pool: text("pool")?,
        cluster_id: text("cluster_id")?,
        releasing: text("state")? == "releasing",
        runs,
        runs_total: number("runs_total"),
        idle_since: millis_of(item, "idle_since"),
        idle_minutes: number("idle_minutes"),
        max_concurrent: number("max_concurrent"),
        max_runs: number("max_runs"),
        created: millis_of(item, "created").unwrap_or_default(),
        started_by: text("started_by")?,
    })
}

/// Pool leases: one item per pool cluster, `pool#<pool>#<cluster-id>`, with `state` (`open` or `releasing`), the
/// string set `runs` of the runs holding a lease (absent when none: DynamoDB keeps no empty set), `runs_total`,
/// `idle_since` (epoch millis of the last lease given back), `idle_minutes`, `max_concurrent`, `max_runs`, `created` and
/// `started_by`.
impl TokenTable {
    /// `update` of an idle pool cluster's record, on condition that it is open, no run holds a lease and it has been
    /// idle since `idle_since` as read (none: never idle yet) — a run that came and went since makes it fail.
    fn update_idle_cluster(
        &self,
        pool: &str,
        cluster_id: &str,
        idle_since: Option<DateTime<Utc>>,
        update: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&pool_key(pool, cluster_id)))
            .update_expression(update)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":open", s("open"));
        match idle_since {
            Some(since) => request
                .condition_expression(
                    "#state = :open AND attribute_not_exists(runs) AND idle_since = :since",
                )
                .expression_attribute_values(":since", n(since.timestamp_millis())),
            None => request.condition_expression(
                "#state = :open AND attribute_not_exists(runs) AND attribute_not_exists(idle_since)",
            ),
        }
    }
}

impl PoolStore for TokenTable {
    async fn pool_clusters(&self, pool: Option<&str>) -> Result<Vec<PoolCluster>, AwsError> {
        let prefix = match pool {
            Some(pool) => format!("pool#{pool}#"),
            None => "pool#".to_string(),
        };
        let mut clusters = self
            .items_with_prefix(&prefix, None)
            .await?
            .iter()
            .map(pool_cluster_of)
            .collect::<Result<Vec<_>, _>>()?;
        clusters.sort_by(|a, b| (a.created, &a.cluster_id).cmp(&(b.created, &b.cluster_id)));
        Ok(clusters)
    }

    async fn add_pool_cluster(&self, cluster: &PoolCluster) -> Result<bool, AwsError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&pool_key(&cluster.pool, &cluster.cluster_id)))
            .item("pool", s(&cluster.pool))
            .item("cluster_id", s(&cluster.cluster_id))
            .item("state", s("open"))
            .item("runs_total", n(i64::from(cluster.runs_total)))
            .item("idle_minutes", n(i64::from(cluster.idle_minutes)))
            .item("max_concurrent", n(i64::from(cluster.max_concurrent)))
            .item("max_runs", n(i64::from(cluster.max_runs)))
            .item("created", n(cluster.created.timestamp_millis()))
            .item("started_by", s(&cluster.started_by));
        if !cluster.runs.is_empty() {
            request = request.item("runs", AttributeValue::Ss(cluster.runs.clone()));
        }
        if let Some(since) = cluster.idle_since {
            request = request.item("idle_since", n(since.timestamp_millis()));
        }
        // Never over a record that exists: a run may have leased the cluster since a repeated attempt looked.
        let request = request
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key");
        conditional(request.send().await, |e| {
            matches!(e, PutItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn lease(
        &self,
        pool: &str,
        cluster_id: &str,
        run: &str,
        max_concurrent: u32,
        max_total: u32,
    ) -> Result<bool, AwsError> {
        // `#state = :open` also fails on a forgotten cluster: an update never brings its record back.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&pool_key(pool, cluster_id)))
            .update_expression("ADD runs :run, runs_total :one")
            .condition_expression(
                "(#state = :open AND (attribute_not_exists(runs) OR size(runs) < :max) AND runs_total < :total) \
                 OR contains(runs, :name)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":run", AttributeValue::Ss(vec![run.to_string()]))
            .expression_attribute_values(":name", s(run))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":max", n(i64::from(max_concurrent)))
            .expression_attribute_values(":total", n(i64::from(max_total)))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn give_back(
        &self,
        pool: &str,
        cluster_id: &str,
        run: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PoolCluster>, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&pool_key(pool, cluster_id)))
            .update_expression("DELETE runs :run SET idle_since = :now")
            .condition_expression("attribute_exists(#key)")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":run", AttributeValue::Ss(vec![run.to_string()]))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => output.attributes().map(pool_cluster_of).transpose(),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify(error)),
        }
    }

    async fn mark_releasing(
        &self,
        pool: &str,
        cluster_id: &str,
        idle_since: Option<DateTime<Utc>>,
    ) -> Result<bool, AwsError> {
        let request = self
            .update_idle_cluster(pool, cluster_id, idle_since, "SET #state = :releasing")
            .expression_attribute_values(":releasing", s("releasing"));
        conditional(request.send().await, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn restart_idle(
        &self,
        pool: &str,
        cluster_id: &str,
        idle_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let request = self
            .update_idle_cluster(pool, cluster_id, idle_since, "SET idle_since = :now")
            .expression_attribute_values(":now", n(now.timestamp_millis()));
        conditional(request.send().await, |e| {
            matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn claim_start(
        &self,
        pool: &str,
        run: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&start_key(pool)))
            .item("run_name", s(run))
            .item("until", n(until.timestamp_millis()))
            .item("expires", n(until.timestamp() + 3600))
            .condition_expression("attribute_not_exists(#key) OR #until < :now OR run_name = :run")
            .expression_attribute_names("#key", "key")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":run", s(run))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, PutItemError::ConditionalCheckFailedException(_))
        })
    }

    async fn end_start(&self, pool: &str, run: &str) -> Result<(), AwsError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(&start_key(pool)))
            .condition_expression("run_name = :run")
            .expression_attribute_values(":run", s(run))
            .send()
            .await;
        conditional(result, |e| {
            matches!(e, DeleteItemError::ConditionalCheckFailedException(_))
        })
        .map(|_| ())
    }

    async fn forget_pool_cluster(&self, pool: &str, cluster_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(&pool_key(pool, cluster_id)))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}
