//! What an EMR job may be: its cluster (instance groups or fleets), its steps, its warm pool.

use super::*;

/// AutoTerminationPolicy's IdleTimeout: 60 to 604,800 seconds (EMR API Reference).
pub(super) const MAX_IDLE_TIMEOUT_SECONDS: u64 = 604_800;

/// Warm pools: their sharing settings, and their cluster settings as a job's `emr` (the clusters themselves are
/// checked as each pooled job's rendered plan).
pub(super) fn check_pools(c: &mut Checker<'_>) {
    for (name, pool) in &c.catalog.pools {
        let at = |field: &str| format!("pools.{name}.{field}");
        if check_job_name(name).is_err() {
            c.error(
                &format!("pools.{name}"),
                "pool names are letters, digits, `_` and `-` (they are part of cluster names)",
            );
        }
        if pool.idle_minutes == Some(0) {
            c.error(&at("idle_minutes"), "must be at least 1");
        }
        // EMR's idle auto-termination, the backstop, waits idle_minutes + POOL_BACKSTOP_MINUTES, and its IdleTimeout
        // is at most 604,800 s (EMR API Reference, AutoTerminationPolicy).
        let most = MAX_IDLE_TIMEOUT_SECONDS / 60 - u64::from(POOL_BACKSTOP_MINUTES);
        if pool.idle_minutes.is_some_and(|m| u64::from(m) > most) {
            c.error(
                &at("idle_minutes"),
                format!(
                    "over {most}: EMR's idle auto-termination, the backstop {POOL_BACKSTOP_MINUTES} minutes later, waits 604800 s (7 days) at most"
                ),
            );
        }
        // RunJobFlow StepConcurrencyLevel: 1 to 256.
        if let Some(level) = pool.max_concurrent_runs {
            if !(1..=256).contains(&level) {
                c.error(
                    &at("max_concurrent_runs"),
                    format!("{level}: EMR runs 1 to 256 steps at once (StepConcurrencyLevel)"),
                );
            }
        }
        if pool.max_runs_per_cluster == Some(0) {
            c.error(&at("max_runs_per_cluster"), "must be at least 1");
        }
        for (index, expression) in pool.warm.iter().enumerate() {
            if let Err(why) = check_expression(expression) {
                c.error(&at(&format!("warm[{index}]")), why);
            }
        }
        let settings = pool.emr.over(&c.catalog.defaults.emr);
        if let Some(fleets) = &settings.fleets {
            check_fleets(
                c,
                fleets,
                settings.master.is_some() || settings.core.is_some() || settings.task.is_some(),
            );
        }
        if let Some(log_uri) = &settings.log_uri {
            c.s3_uri(&at("log_uri"), log_uri, false);
        }
        // Steps side by side (StepConcurrencyLevel > 1) and CancelSteps of a RUNNING step, which a pooled run's end
        // needs, came with EMR 5.28.0 (EMR Management Guide, "Considerations for running multiple steps in
        // parallel"; EMR API Reference, CancelSteps).
        if let Some(release) = &settings.release_label {
            if emr_release(release).is_some_and(|version| version < (5, 28)) {
                c.error(
                    &at("release_label"),
                    format!(
                        "{release}: a pool needs EMR 5.28.0 or later (steps side by side, and CancelSteps of a running step when a run ends)"
                    ),
                );
            }
        }
        if pool.emr.idle_timeout_seconds.is_some() {
            c.error(
                &at("idle_timeout_seconds"),
                "a pool's clusters end after `idle_minutes` (EMR's idle auto-termination follows from it)",
            );
        }
        if pool
            .emr
            .action_on_failure
            .is_some_and(|a| a != ActionOnFailure::Continue)
        {
            c.error(
                &at("action_on_failure"),
                "a pool's steps use CONTINUE: one run's failure must not cancel another run's step",
            );
        }
        if !c
            .catalog
            .jobs
            .values()
            .any(|job| job.pool.as_deref() == Some(name))
        {
            if pool.warm.is_empty() {
                c.warn(&format!("pools.{name}"), "no job uses this pool");
            } else {
                c.error(
                    &at("warm"),
                    "no job uses this pool: a warm-up would start a cluster no run takes",
                );
            }
        }
    }
}

pub(super) fn check_pool_use(c: &mut Checker<'_>, job: &Job, pool: &str) {
    if !c.catalog.pools.contains_key(pool) {
        c.error(
            "pool",
            format!(
                "no pool `{pool}` in [pools]; the catalog has: {}",
                names(c.catalog.pools.keys().map(String::as_str))
            ),
        );
    }
    if job.emr.is_some() {
        c.error(
            "emr",
            format!("a pooled job's cluster settings are its pool's: set them in [pools.{pool}]"),
        );
    }
    if job.job_flow_overrides.is_some() {
        c.error(
            "job_flow_overrides",
            format!("a pooled job's cluster is its pool's: set its settings in [pools.{pool}]"),
        );
    }
    if job.steps.len() > 1 {
        c.error(
            "steps",
            format!("a pooled job runs one step per run: {POOLED_ONE_STEP}"),
        );
    }
}

pub(super) fn check_emr(c: &mut Checker<'_>, job: &Job) {
    if let Some(pool) = &job.pool {
        check_pool_use(c, job, pool);
    }
    let settings = job.emr_settings(&c.catalog.defaults);
    match (&settings.subnet_ids, &settings.fleets) {
        (Some(subnets), Some(_)) if subnets.is_empty() => c.error(
            "emr.subnet_ids",
            "lists no subnet: name one or more, or leave it out for subnet_id",
        ),
        (Some(_), None) => c.error(
            "emr.subnet_ids",
            "instance groups launch in one subnet (subnet_id): other subnets go in emr.fallback",
        ),
        _ => {}
    }
    if job.glue.is_some() {
        c.error(
            "glue",
            "this job's engine is emr: Glue settings do not apply",
        );
    }
    if job.create_job.is_some() {
        c.error(
            "create_job",
            "this job's engine is emr: create_job is for Glue jobs",
        );
    }
    let shorthand = job.jar.is_some() || job.class.is_some() || !job.args.is_empty();
    let ways = [shorthand, !job.steps.is_empty(), job.spark_steps.is_some()];
    match ways.iter().filter(|w| **w).count() {
        0 => c.error(
            "steps",
            "nothing to run: give `jar` and `class`, a list of `steps`, or `spark_steps`",
        ),
        1 => {}
        _ => c.error(
            "steps",
            "give only one of `jar`/`class`, `steps` and `spark_steps`",
        ),
    }
    if shorthand {
        if job.jar.is_none() {
            c.error(
                "jar",
                "missing: the application jar, e.g. s3://bucket/jars/app.jar",
            );
        }
        if job.class.is_none() {
            c.error("class", "missing: the main class, e.g. com.example.Main");
        }
    }
    if let Some(jar) = &job.jar {
        c.emr_jar("jar", jar);
    }
    if let Some(class) = &job.class {
        check_class(c, "class", class);
    }
    let mut seen = BTreeSet::new();
    for (index, step) in job.steps.iter().enumerate() {
        let path = format!("steps[{index}]");
        if step.name.trim().is_empty() {
            c.error(&format!("{path}.name"), "missing: each step needs a name");
        } else if !seen.insert(step.name.as_str()) {
            c.error(
                &format!("{path}.name"),
                format!(
                    "`{}` is used by an earlier step: step names must be unique",
                    step.name
                ),
            );
        }
        c.emr_jar(&format!("{path}.jar"), &step.jar);
        check_class(c, &format!("{path}.class"), &step.class);
    }
    let settings = job.emr_settings(&c.catalog.defaults);
    if let Some(fleets) = &settings.fleets {
        check_fleets(
            c,
            fleets,
            settings.master.is_some() || settings.core.is_some() || settings.task.is_some(),
        );
    }
    if let Some(log_uri) = &settings.log_uri {
        c.s3_uri("emr.log_uri", log_uri, false);
    }
    if let Some(seconds) = settings.idle_timeout_seconds {
        if !(60..=604_800).contains(&seconds) {
            c.error(
                "emr.idle_timeout_seconds",
                "must be from 60 (1 minute) to 604800 (7 days)",
            );
        }
    }
    match &job.job_flow_overrides {
        Some(value @ Value::Object(_)) => {
            for (path, why) in shapes::check(value, &RUN_JOB_FLOW, "job_flow_overrides") {
                c.error(&path, why);
            }
        }
        Some(other) => c.error(
            "job_flow_overrides",
            format!(
                "expected a RunJobFlow object or a JSON file path, found {}",
                shapes::kind(other)
            ),
        ),
        None => {}
    }
    match &job.spark_steps {
        Some(Value::Array(steps)) => {
            if steps.is_empty() {
                c.error("spark_steps", "is empty: nothing to run");
            }
            for (index, step) in steps.iter().enumerate() {
                for (path, why) in
                    shapes::check(step, &STEP_CONFIG, &format!("spark_steps[{index}]"))
                {
                    c.error(&path, why);
                }
            }
        }
        Some(other) => c.error(
            "spark_steps",
            format!(
                "expected an array of StepConfig objects or a JSON file path, found {}",
                shapes::kind(other)
            ),
        ),
        None => {}
    }
}

/// What EMR refuses of instance fleets (EMR Management Guide, "Configure instance fleets"): fleets beside instance
/// groups, a fleet without capacity or types, more than 30 types in a fleet (5 without an allocation strategy,
/// which sparkplug always sets), a primary fleet of other than one instance.
pub(super) fn check_fleets(
    c: &mut Checker<'_>,
    fleets: &crate::catalog::FleetsSpec,
    has_groups: bool,
) {
    if has_groups {
        c.error(
            "emr.fleets",
            "a cluster has instance groups (master/core/task) or fleets, not both: EMR refuses the mix",
        );
    }
    if fleets.master.is_none() {
        c.error(
            "emr.fleets.master",
            "missing: a cluster needs its primary fleet",
        );
    }
    for (kind, fleet) in [
        ("master", &fleets.master),
        ("core", &fleets.core),
        ("task", &fleets.task),
    ] {
        let Some(fleet) = fleet else { continue };
        let path = format!("emr.fleets.{kind}");
        if fleet.instance_types.is_empty() {
            c.error(
                &format!("{path}.instance_types"),
                "is empty: give at least one instance type",
            );
        }
        if fleet.instance_types.len() > 30 {
            c.error(
                &format!("{path}.instance_types"),
                "EMR takes at most 30 instance types per fleet",
            );
        }
        if fleet.on_demand + fleet.spot == 0 {
            c.error(&path, "has no capacity: set on_demand and/or spot");
        }
        if kind == "master" && fleet.on_demand + fleet.spot != 1 {
            c.error(
                &path,
                "the primary fleet is one instance: on_demand + spot must be 1",
            );
        }
        if fleet.instance_types.iter().any(|t| t.weight == Some(0)) {
            c.error(&format!("{path}.instance_types"), "a weight is at least 1");
        }
    }
    if let Some(strategy) = &fleets.allocation_strategy {
        if !EMR_SPOT_ALLOCATION_STRATEGIES.contains(&strategy.as_str()) {
            c.error(
                "emr.fleets.allocation_strategy",
                format!(
                    "`{strategy}` is not one of {}",
                    EMR_SPOT_ALLOCATION_STRATEGIES.join(", ")
                ),
            );
        }
    }
    if let Some(minutes) = fleets.spot_timeout_minutes {
        if !(5..=1440).contains(&minutes) {
            c.error(
                "emr.fleets.spot_timeout_minutes",
                "must be from 5 to 1440 (EMR's range)",
            );
        }
    }
}

pub(super) fn check_cluster(c: &mut Checker<'_>, cluster: &Value) {
    for (key, setting) in [
        ("ServiceRole", "emr.service_role"),
        ("JobFlowRole", "emr.instance_profile"),
    ] {
        if cluster.get(key).is_none() {
            c.error(
                setting,
                format!(
                    "missing: set it here, in [defaults.emr], or as {key} in job_flow_overrides"
                ),
            );
        }
    }
    if cluster.get("ReleaseLabel").is_none() && cluster.get("AmiVersion").is_none() {
        c.error(
            "emr.release_label",
            "missing: set it here, in [defaults.emr], or as ReleaseLabel in job_flow_overrides",
        );
    }
    let instances = cluster.get("Instances");
    let has_nodes = ["InstanceGroups", "InstanceFleets", "MasterInstanceType"]
        .iter()
        .any(|key| instances.and_then(|i| i.get(key)).is_some());
    if !has_nodes {
        c.error(
            "emr.master",
            "the cluster has no nodes: set emr.master (and core/task), or Instances in job_flow_overrides",
        );
    }
    if field(cluster, &["Instances", "TerminationProtected"]) == Some(&Value::Bool(true)) {
        c.error(
            "job_flow_overrides.Instances.TerminationProtected",
            "true would stop sparkplug from terminating the cluster when the run ends",
        );
    }
    if let Some(overrides) = c
        .catalog
        .jobs
        .get(c.job.unwrap_or_default())
        .and_then(|job| job.job_flow_overrides.as_ref())
    {
        if field(overrides, &["Instances", "KeepJobFlowAliveWhenNoSteps"])
            == Some(&Value::Bool(false))
        {
            c.warn(
                "job_flow_overrides.Instances.KeepJobFlowAliveWhenNoSteps",
                "false is replaced by true: sparkplug adds the steps after the cluster starts, and terminates it itself",
            );
        }
        if overrides
            .get("Steps")
            .and_then(Value::as_array)
            .is_some_and(|steps| !steps.is_empty())
        {
            c.warn(
                "job_flow_overrides.Steps",
                "steps given here run at cluster start, outside sparkplug's sensing: prefer spark_steps",
            );
        }
    }
    for (index, group) in cluster
        .pointer("/Instances/InstanceGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("job_flow_overrides.Instances.InstanceGroups[{index}]");
        if let Some(market) = group.get("Market").and_then(Value::as_str) {
            if !EMR_MARKETS.contains(&market) {
                c.error(
                    &format!("{path}.Market"),
                    format!("`{market}` is not ON_DEMAND or SPOT"),
                );
            }
        }
        match group.get("InstanceRole").and_then(Value::as_str) {
            Some(role) if EMR_INSTANCE_ROLES.contains(&role) => {}
            other => c.error(
                &format!("{path}.InstanceRole"),
                format!(
                    "{} is not MASTER, CORE or TASK",
                    other.map_or("missing".to_string(), |r| format!("`{r}`"))
                ),
            ),
        }
    }
}

pub(super) fn check_steps(c: &mut Checker<'_>, steps: &[Value], concurrency: u64) {
    let mut seen = BTreeSet::new();
    for (index, step) in steps.iter().enumerate() {
        let path = format!("spark_steps[{index}]");
        match step.get("Name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => {
                if !seen.insert(name.to_string()) {
                    c.error(
                        &format!("{path}.Name"),
                        format!("`{name}` names an earlier step too: sparkplug tells steps apart by name"),
                    );
                }
            }
            _ => c.error(&format!("{path}.Name"), "missing: every step needs a name"),
        }
        match step.get("ActionOnFailure").and_then(Value::as_str) {
            None => {}
            Some(action) if !EMR_ACTIONS_ON_FAILURE.contains(&action) => c.error(
                &format!("{path}.ActionOnFailure"),
                format!("`{action}` is not one of {}", EMR_ACTIONS_ON_FAILURE.join(", ")),
            ),
            // AddJobFlowSteps: with StepConcurrencyLevel > 1, only CONTINUE is accepted.
            Some(action) if concurrency > 1 && action != "CONTINUE" => c.error(
                &format!("{path}.ActionOnFailure"),
                format!(
                    "`{action}` is refused by EMR when StepConcurrencyLevel is {concurrency} (> 1): use CONTINUE"
                ),
            ),
            Some(_) => {}
        }
        if field(step, &["HadoopJarStep", "Jar"])
            .and_then(Value::as_str)
            .is_none()
        {
            c.error(
                &format!("{path}.HadoopJarStep.Jar"),
                "missing: the step's jar",
            );
        }
    }
}

/// `emr-5.28.0` → (5, 28).
pub(super) fn emr_release(label: &str) -> Option<(u32, u32)> {
    let mut parts = label.strip_prefix("emr-")?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
