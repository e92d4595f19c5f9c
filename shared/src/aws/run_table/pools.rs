//! Warm pool clusters and the runs leasing them, and the lock of a pool's cluster start.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{bad_item, conditional, millis_of, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{PoolCluster, PoolStore};
use crate::engine::table_keys::{
    pool_entry, pool_key, pool_of_entry, pool_start_key, POOLS_KEY, POOL_KIND,
};

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

/// Pool leases: the registry `pools` (its string set `clusters` names every record below as `<pool>#<cluster-id>`),
/// and one item per pool cluster, `pool#<pool>#<cluster-id>`, with `state` (`open` or `releasing`), the
/// string set `runs` of the runs holding a lease (absent when none: DynamoDB keeps no empty set), `runs_total`,
/// `idle_since` (epoch millis of the last lease given back), `idle_minutes`, `max_concurrent`, `max_runs`, `created` and
/// `started_by`.
impl RunTable {
    /// Adds (`ADD`) or removes (`DELETE`) a cluster's entry in the pools' registry.
    async fn register_pool_cluster(
        &self,
        operation: &str,
        pool: &str,
        cluster_id: &str,
    ) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", s(POOLS_KEY))
            // `clusters` is one of DynamoDB's reserved words: named through a placeholder.
            .update_expression(format!("{operation} #clusters :entry"))
            .expression_attribute_names("#clusters", "clusters")
            .expression_attribute_values(
                ":entry",
                AttributeValue::Ss(vec![pool_entry(pool, cluster_id)]),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

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

impl PoolStore for RunTable {
    /// The registry, then each of its clusters' records, all read consistently — a run stopped right after it took a
    /// lease must find that lease, which the `by-kind` index may not show yet. Calls: one plus one per open cluster,
    /// whatever else the table holds. An entry whose record is gone (a writer stopped between its two writes) is
    /// passed over.
    async fn pool_clusters(&self, pool: Option<&str>) -> Result<Vec<PoolCluster>, AwsError> {
        let registry = self.get_item(POOLS_KEY).await?;
        let entries = registry
            .as_ref()
            .and_then(|item| item.get("clusters"))
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        let mut clusters = Vec::new();
        for entry in &entries {
            let Some((of_pool, cluster_id)) = pool_of_entry(entry) else {
                return Err(bad_item(&format!(
                    "pools registry entry `{entry}` without `#`"
                )));
            };
            if pool.is_some_and(|pool| pool != of_pool) {
                continue;
            }
            if let Some(item) = self.get_item(&pool_key(of_pool, cluster_id)).await? {
                clusters.push(pool_cluster_of(&item)?);
            }
        }
        clusters.sort_by(|a, b| (a.created, &a.cluster_id).cmp(&(b.created, &b.cluster_id)));
        Ok(clusters)
    }

    async fn add_pool_cluster(&self, cluster: &PoolCluster) -> Result<bool, AwsError> {
        // Registered first: a record is never out of the registry's sight (an entry without a record is passed over).
        self.register_pool_cluster("ADD", &cluster.pool, &cluster.cluster_id)
            .await?;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&pool_key(&cluster.pool, &cluster.cluster_id)))
            .item("kind", s(POOL_KIND))
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
            .item("key", s(&pool_start_key(pool)))
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
            .key("key", s(&pool_start_key(pool)))
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
            .map_err(classify)?;
        self.register_pool_cluster("DELETE", pool, cluster_id).await
    }
}
