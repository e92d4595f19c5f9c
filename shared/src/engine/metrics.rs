//! CloudWatch Embedded Metric Format lines other than a run's own (`summary::emf_line`): a log line CloudWatch turns
//! into metrics, no API call, in the same namespace. The dashboard's test (`tests/deploy_files.rs`) reads what each
//! line carries from the line itself.

use chrono::{DateTime, Utc};
use serde_json::json;

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
    json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["pool", "environment"]],
                "Metrics": [
                    {"Name": "PoolClusters", "Unit": "Count"},
                    {"Name": "PoolLeases", "Unit": "Count"},
                ],
            }],
        },
        "pool": pool,
        "environment": environment,
        "PoolClusters": clusters,
        "PoolLeases": leases,
    })
    .to_string()
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
    json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["job", "environment"]],
                "Metrics": [
                    {"Name": "QueuedRuns", "Unit": "Count"},
                    {"Name": "RunningRuns", "Unit": "Count"},
                ],
            }],
        },
        "job": job,
        "environment": environment,
        "QueuedRuns": waiting,
        "RunningRuns": running,
    })
    .to_string()
}
