//! The account's limits per engine (the catalog's `[limits]`): a run of a limited engine takes a slot of the engine's
//! group before it starts, after its job's own (`max_concurrent_runs`), in the same queue — so that a burst waits
//! its turn instead of being refused by AWS (Glue's `ConcurrentRunsExceededException`, EC2's vCPU limit, EMR
//! Serverless's concurrent job runs) once its retries are spent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Engine, Job};

/// The name of an engine's slot group starts with this; a job's own group is the job's name, which cannot hold `:`.
pub const ENGINE_GROUP_PREFIX: &str = "limit:";

/// A group of slots a run takes before it starts: its job's (`max_concurrent_runs`) or its engine's (`[limits]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotGroup {
    /// The job, or `limit:<engine>`.
    pub name: String,
    /// Runs holding a slot of the group at once, at most.
    pub max: u32,
}

/// The engine group a run of `job` takes a slot of, if the catalog limits its engine. A pooled EMR run starts no
/// cluster of its own (it shares its pool's): `emr_clusters` does not count it.
pub fn engine_group(catalog: &Catalog, job: &Job) -> Option<SlotGroup> {
    let limits = catalog.limits.as_ref()?;
    let max = match job.engine {
        Engine::Glue => limits.glue_concurrent_runs,
        Engine::Emr if job.pool.is_none() => limits.emr_clusters,
        Engine::Emr => None,
        Engine::EmrServerless => limits.emr_serverless_concurrent_runs,
    }?;
    Some(SlotGroup {
        name: format!("{ENGINE_GROUP_PREFIX}{}", job.engine.as_str()),
        max,
    })
}

/// Each limited job's engine group: what the queue frees when a run of the job ends.
pub fn engine_groups(catalog: &Catalog) -> BTreeMap<String, SlotGroup> {
    catalog
        .jobs
        .iter()
        .filter_map(|(name, job)| Some((name.clone(), engine_group(catalog, job)?)))
        .collect()
}

/// The groups a run takes a slot of, in order: its job's, then its engine's. Always in this order, so that a run
/// waiting for an engine slot holds only its job's, and no two runs wait for each other.
pub fn groups_of(
    job: &str,
    max_concurrent_runs: Option<u32>,
    engine: Option<&SlotGroup>,
) -> Vec<SlotGroup> {
    max_concurrent_runs
        .map(|max| SlotGroup {
            name: job.to_string(),
            max,
        })
        .into_iter()
        .chain(engine.cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(text: &str) -> Catalog {
        toml::from_str(text).unwrap()
    }

    const JOBS: &str = r#"
[jobs.g]
engine = "glue"
[jobs.e]
engine = "emr"
[jobs.p]
engine = "emr"
pool = "warm"
[jobs.s]
engine = "emr_serverless"
"#;

    #[test]
    fn each_engine_has_its_group_and_a_pooled_run_none() {
        let limits = "[limits]\nglue_concurrent_runs = 3\nemr_clusters = 2\nemr_serverless_concurrent_runs = 5\n";
        let groups = engine_groups(&catalog(&format!("{limits}{JOBS}")));
        let of = |job: &str| groups.get(job).map(|g| (g.name.as_str(), g.max));
        assert_eq!(of("g"), Some(("limit:glue", 3)));
        assert_eq!(of("e"), Some(("limit:emr", 2)));
        assert_eq!(of("s"), Some(("limit:emr_serverless", 5)));
        assert_eq!(of("p"), None);
    }

    #[test]
    fn no_limits_no_groups_and_an_unlimited_engine_none() {
        assert!(engine_groups(&catalog(JOBS)).is_empty());
        let groups = engine_groups(&catalog(&format!("[limits]\nemr_clusters = 2\n{JOBS}")));
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["e"]);
    }

    #[test]
    fn a_run_takes_its_jobs_slot_before_its_engines() {
        let engine = SlotGroup {
            name: "limit:glue".into(),
            max: 3,
        };
        let names = |groups: Vec<SlotGroup>| groups.into_iter().map(|g| g.name).collect::<Vec<_>>();
        assert_eq!(
            names(groups_of("g", Some(1), Some(&engine))),
            ["g", "limit:glue"]
        );
        assert_eq!(names(groups_of("g", None, Some(&engine))), ["limit:glue"]);
        assert_eq!(names(groups_of("g", Some(1), None)), ["g"]);
        assert!(groups_of("g", None, None).is_empty());
    }
}
