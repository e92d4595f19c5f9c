//! CloudWatch Embedded Metric Format lines other than a run's own (`summary::emf_line`): a log line CloudWatch turns
//! into metrics, no API call, in the same namespace. The dashboard's test (`tests/deploy_files.rs`) reads what each
//! line carries from the line itself.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Every metric line of sparkplug's is in this namespace.
pub const NAMESPACE: &str = "sparkplug";

/// A pool's size after the janitor's look, every minute: `PoolClusters` (clusters up) and `PoolLeases` (runs holding
/// a lease), by `pool` and `environment`.
pub fn pool_line(
    pool: &str,
    environment: &str,
    clusters: usize,
    leases: usize,
    now: DateTime<Utc>,
) -> String {
    counts_line(
        ("pool", pool),
        environment,
        &[("PoolClusters", clusters), ("PoolLeases", leases)],
        now,
    )
}

/// A job's queue after the queue's drain, every 5 minutes: `QueuedRuns` (runs waiting for a slot) and `RunningRuns`
/// (runs holding one), by `job` and `environment` — for every job with `max_concurrent_runs` the table knows of.
pub fn queue_line(
    job: &str,
    environment: &str,
    waiting: usize,
    running: usize,
    now: DateTime<Utc>,
) -> String {
    counts_line(
        ("job", job),
        environment,
        &[("QueuedRuns", waiting), ("RunningRuns", running)],
        now,
    )
}

/// Counts of one thing (`(dimension, value)`) in one environment, each a metric of unit Count.
fn counts_line(
    (dimension, value): (&str, &str),
    environment: &str,
    counts: &[(&str, usize)],
    now: DateTime<Utc>,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[dimension, "environment"]],
                "Metrics": counts
                    .iter()
                    .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    line.insert(dimension.into(), json!(value));
    line.insert("environment".into(), json!(environment));
    for (name, count) in counts {
        line.insert((*name).into(), json!(count));
    }
    Value::Object(line).to_string()
}
