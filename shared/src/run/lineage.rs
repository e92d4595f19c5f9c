//! OpenLineage for Spark: the settings that make the openlineage-spark listener send a run's lineage to the catalog's
//! `[lineage]` backend with the sparkplug run as its parent run, so that Spark's own events nest under it.
//!
//! The keys are the listener's (OpenLineage docs, "Spark configuration": `spark.extraListeners`, the HTTP transport's
//! `type`, `url` and `endpoint`, `spark.openlineage.namespace`, and the parent run facet's `parentJobNamespace`,
//! `parentJobName`, `parentRunId`, with `rootParentJobNamespace`, `rootParentJobName`, `rootParentRunId` since
//! 1.31). The listener's jar must be on the job's classpath (`--packages io.openlineage:openlineage-spark_2.12:…`, a
//! bootstrap action, or the Glue job's extra jars).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::catalog::Lineage;

/// The listener's class.
pub const LISTENER: &str = "io.openlineage.spark.agent.OpenLineageSparkListener";

/// The keys sparkplug sets for each run: a job's own `spark_conf` may not set them.
pub const PER_RUN_KEYS: [&str; 6] = [
    "spark.openlineage.parentJobNamespace",
    "spark.openlineage.parentJobName",
    "spark.openlineage.parentRunId",
    "spark.openlineage.rootParentJobNamespace",
    "spark.openlineage.rootParentJobName",
    "spark.openlineage.rootParentRunId",
];

/// A run's OpenLineage run id: a UUID (the spec's `runId` format) made from its namespace and name, so that the same
/// run always has the same id (a name-based UUID, version 5's layout over SHA-256).
pub fn run_id(namespace: &str, run_name: &str) -> String {
    let digest = Sha256::digest(format!("{namespace}/{run_name}").as_bytes());
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The job's Spark settings with OpenLineage's: the listener added to `spark.extraListeners` (beside any the job
/// has), the HTTP transport, the namespace, and this run as parent and root (a rerun's root is its chain's first run).
pub fn spark_conf(
    lineage: &Lineage,
    job_conf: &BTreeMap<String, String>,
    job: &str,
    run_name: &str,
    root_run: &str,
) -> BTreeMap<String, String> {
    let mut conf = job_conf.clone();
    let listeners = match conf.get("spark.extraListeners") {
        Some(own) if own.split(',').any(|l| l.trim() == LISTENER) => own.clone(),
        Some(own) if !own.trim().is_empty() => format!("{own},{LISTENER}"),
        _ => LISTENER.to_string(),
    };
    conf.insert("spark.extraListeners".into(), listeners);
    let mut set_default = |key: &str, value: &str| {
        conf.entry(key.to_string())
            .or_insert_with(|| value.to_string());
    };
    set_default("spark.openlineage.transport.type", "http");
    set_default("spark.openlineage.transport.url", &lineage.url);
    if let Some(endpoint) = &lineage.endpoint {
        set_default("spark.openlineage.transport.endpoint", endpoint);
    }
    set_default("spark.openlineage.namespace", &lineage.namespace);
    let parent = run_id(&lineage.namespace, run_name);
    let root = run_id(&lineage.namespace, root_run);
    for (key, value) in PER_RUN_KEYS.iter().zip([
        lineage.namespace.as_str(),
        job,
        parent.as_str(),
        lineage.namespace.as_str(),
        job,
        root.as_str(),
    ]) {
        conf.insert((*key).to_string(), value.to_string());
    }
    conf
}

/// Who made sparkplug's RunEvents (the spec's `producer` and a facet's `_producer`: a URI).
pub const PRODUCER: &str = concat!("urn:sparkplug:", env!("CARGO_PKG_VERSION"));
/// The RunEvent's schema, as the spec names it (OpenLineage 2-0-2).
pub const RUN_EVENT_SCHEMA: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// The error message run facet's schema.
pub const ERROR_FACET_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";

/// How a run ended, for its RunEvents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended<'a> {
    Succeeded,
    /// Failed or timed out, with why.
    Failed(&'a str),
    /// Stopped.
    Aborted,
}

/// A run's OpenLineage RunEvents once it has ended: START at its start, then COMPLETE, FAIL (with the error message
/// facet) or ABORT at its end. The job is `namespace`/the catalog's job name; the run id is [`run_id`], the id Spark's
/// own events name as their parent; the inputs are the object that triggered it (`s3://bucket` / key, the naming
/// OpenLineage gives S3 datasets).
pub fn run_events(
    plan: &crate::run::RunPlan,
    namespace: &str,
    started: chrono::DateTime<chrono::Utc>,
    stopped: chrono::DateTime<chrono::Utc>,
    ended: Ended<'_>,
) -> Vec<serde_json::Value> {
    use serde_json::json;
    let inputs: Vec<serde_json::Value> = plan
        .trigger
        .input()
        .map(|object| json!({"namespace": format!("s3://{}", object.bucket), "name": object.key}))
        .into_iter()
        .collect();
    let event =
        |event_type: &str, time: chrono::DateTime<chrono::Utc>, facets: serde_json::Value| {
            json!({
                "eventType": event_type,
                "eventTime": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "producer": PRODUCER,
                "schemaURL": RUN_EVENT_SCHEMA,
                "run": {"runId": run_id(namespace, &plan.run_name), "facets": facets},
                "job": {"namespace": namespace, "name": plan.job},
                "inputs": inputs,
                "outputs": [],
            })
        };
    let end = match ended {
        Ended::Succeeded => event("COMPLETE", stopped, json!({})),
        Ended::Aborted => event("ABORT", stopped, json!({})),
        Ended::Failed(message) => event(
            "FAIL",
            stopped,
            json!({"errorMessage": {
                "_producer": PRODUCER,
                "_schemaURL": ERROR_FACET_SCHEMA,
                "message": message,
                // The batches sparkplug runs are Spark jars: Scala or Java on the JVM.
                "programmingLanguage": "JAVA",
            }}),
        ),
    };
    vec![event("START", started, json!({})), end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lineage() -> Lineage {
        Lineage {
            namespace: "sparkplug-dev".into(),
            url: "https://marquez.example.com".into(),
            endpoint: None,
        }
    }

    #[test]
    fn a_runs_id_is_a_version_5_uuid_of_its_name_and_namespace() {
        let id = run_id("sparkplug-dev", "sales_daily-1");
        assert_eq!(id, run_id("sparkplug-dev", "sales_daily-1"));
        assert_ne!(id, run_id("sparkplug-prod", "sales_daily-1"));
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('5'));
        assert!("89ab".contains(&parts[3][..1]));
    }

    #[test]
    fn the_listener_joins_the_jobs_own_and_the_parent_is_the_run() {
        let own = BTreeMap::from([
            (
                "spark.extraListeners".to_string(),
                "com.acme.Metrics".to_string(),
            ),
            (
                "spark.openlineage.transport.url".to_string(),
                "http://own:5000".to_string(),
            ),
        ]);
        let conf = spark_conf(&lineage(), &own, "sales_daily", "s-1-rerun-1", "s-1");
        assert_eq!(
            conf["spark.extraListeners"],
            format!("com.acme.Metrics,{LISTENER}")
        );
        // The job's own transport wins; what sparkplug alone knows is the run.
        assert_eq!(conf["spark.openlineage.transport.url"], "http://own:5000");
        assert_eq!(conf["spark.openlineage.parentJobName"], "sales_daily");
        assert_eq!(
            conf["spark.openlineage.parentRunId"],
            run_id("sparkplug-dev", "s-1-rerun-1")
        );
        assert_eq!(
            conf["spark.openlineage.rootParentRunId"],
            run_id("sparkplug-dev", "s-1")
        );
        let again = spark_conf(&lineage(), &conf, "sales_daily", "s-1-rerun-1", "s-1");
        assert_eq!(again["spark.extraListeners"], conf["spark.extraListeners"]);
    }
}
