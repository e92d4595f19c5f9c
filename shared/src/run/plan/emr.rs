//! The EMR part of a run plan: the RunJobFlow request (catalog settings, then the job's `job_flow_overrides`, then
//! what sparkplug needs of every cluster) and the AddJobFlowSteps `Steps`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{
    set_tag, EmrPlan, PlanError, PoolPlan, DEFAULT_IDLE_TIMEOUT_SECONDS, TAG_EMR_MANAGED_POLICIES,
    TAG_ENVIRONMENT, TAG_POOL,
};
use crate::catalog::{
    ActionOnFailure, Catalog, EmrSettings, FleetsSpec, InstanceGroupSpec, Job, Market,
    SpotTimeoutAction, StepSpec,
};

/// Whether a release supports `AutoTerminationPolicy` (EMR 5.30.0+ and 6.1.0+).
pub fn supports_auto_termination(release_label: &str) -> bool {
    let Some(version) = release_label.strip_prefix("emr-") else {
        return false;
    };
    let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    match major {
        5 => minor >= 30,
        6 => minor >= 1,
        m => m >= 7,
    }
}

fn instance_group(role: &str, name: &str, spec: &InstanceGroupSpec, default_count: u32) -> Value {
    let mut group = json!({
        "Name": name,
        "InstanceRole": role,
        "Market": match spec.market.unwrap_or(Market::OnDemand) {
            Market::OnDemand => "ON_DEMAND",
            Market::Spot => "SPOT",
        },
        "InstanceType": spec.instance_type,
        "InstanceCount": spec.count.unwrap_or(default_count),
    });
    if let Some(bid) = &spec.bid_price {
        group["BidPrice"] = json!(bid);
    }
    group
}

/// The cluster settings as a RunJobFlow request, before the job's `job_flow_overrides`.
fn base_cluster(settings: &EmrSettings, run_name: &str) -> Map<String, Value> {
    let mut cluster = Map::new();
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            cluster.insert(key.to_string(), json!(value));
        }
    };
    put("ReleaseLabel", &settings.release_label);
    put("LogUri", &settings.log_uri);
    put("ServiceRole", &settings.service_role);
    put("JobFlowRole", &settings.instance_profile);
    put("SecurityConfiguration", &settings.security_configuration);
    cluster.insert("Name".into(), json!(run_name));
    let applications = settings
        .applications
        .clone()
        .unwrap_or_else(|| vec!["Spark".to_string()]);
    cluster.insert(
        "Applications".into(),
        applications
            .iter()
            .map(|name| json!({ "Name": name }))
            .collect(),
    );
    cluster.insert("VisibleToAllUsers".into(), json!(true));

    let groups: Vec<Value> = [
        ("MASTER", "Primary", &settings.master, 1),
        ("CORE", "Core", &settings.core, 2),
        ("TASK", "Task", &settings.task, 2),
    ]
    .into_iter()
    .filter_map(|(role, name, spec, count)| {
        spec.as_ref()
            .map(|spec| instance_group(role, name, spec, count))
    })
    .collect();
    let mut instances = Map::new();
    if !groups.is_empty() {
        instances.insert("InstanceGroups".into(), Value::Array(groups));
    }
    if let Some(fleets) = &settings.fleets {
        instances.insert("InstanceFleets".into(), instance_fleets(fleets));
    }
    // Fleets take a list of subnets, EMR choosing one where their instance types have capacity; groups take one.
    let fleet_subnets = settings
        .subnet_ids
        .clone()
        .or_else(|| settings.subnet_id.clone().map(|subnet| vec![subnet]));
    match (&settings.fleets, fleet_subnets, &settings.subnet_id) {
        (Some(_), Some(subnets), _) => {
            instances.insert("Ec2SubnetIds".into(), json!(subnets));
        }
        (None, _, Some(subnet)) => {
            instances.insert("Ec2SubnetId".into(), json!(subnet));
        }
        _ => {}
    }
    if let Some(key) = &settings.ec2_key_name {
        instances.insert("Ec2KeyName".into(), json!(key));
    }
    instances.insert("KeepJobFlowAliveWhenNoSteps".into(), json!(true));
    instances.insert("TerminationProtected".into(), json!(false));
    cluster.insert("Instances".into(), Value::Object(instances));
    if let Some(seconds) = settings.idle_timeout_seconds {
        cluster.insert(
            "AutoTerminationPolicy".into(),
            json!({ "IdleTimeout": seconds }),
        );
    }
    cluster
}

/// The fleets as RunJobFlow `Instances.InstanceFleets`.
fn instance_fleets(fleets: &FleetsSpec) -> Value {
    let spot = json!({
        "AllocationStrategy": fleets.allocation_strategy.as_deref().unwrap_or("price-capacity-optimized"),
        "TimeoutDurationMinutes": fleets.spot_timeout_minutes.unwrap_or(10),
        "TimeoutAction": match fleets.on_spot_timeout.unwrap_or(SpotTimeoutAction::SwitchToOnDemand) {
            SpotTimeoutAction::SwitchToOnDemand => "SWITCH_TO_ON_DEMAND",
            SpotTimeoutAction::Terminate => "TERMINATE_CLUSTER",
        },
    });
    [("MASTER", "Primary", &fleets.master), ("CORE", "Core", &fleets.core), ("TASK", "Task", &fleets.task)]
        .into_iter()
        .filter_map(|(kind, name, fleet)| {
            let fleet = fleet.as_ref()?;
            let types: Vec<Value> = fleet
                .instance_types
                .iter()
                .map(|t| {
                    let mut config = json!({"InstanceType": t.instance_type, "WeightedCapacity": t.weight.unwrap_or(1)});
                    if let Some(bid) = &t.bid_price {
                        config["BidPrice"] = json!(bid);
                    }
                    config
                })
                .collect();
            let mut value = json!({
                "Name": name,
                "InstanceFleetType": kind,
                "TargetOnDemandCapacity": fleet.on_demand,
                "TargetSpotCapacity": fleet.spot,
                "InstanceTypeConfigs": types,
            });
            if fleet.spot > 0 {
                value["LaunchSpecifications"] = json!({"SpotSpecification": spot});
            }
            Some(value)
        })
        .collect()
}

/// One spark-submit step on EMR through command-runner.jar.
pub fn spark_submit_step(
    step: &StepSpec,
    spark_conf: &BTreeMap<String, String>,
    default_action: ActionOnFailure,
) -> Value {
    let mut args: Vec<String> = vec![
        "spark-submit".into(),
        "--deploy-mode".into(),
        "cluster".into(),
        "--class".into(),
        step.class.clone(),
    ];
    for (key, value) in spark_conf {
        args.push("--conf".into());
        args.push(format!("{key}={value}"));
    }
    args.extend(step.spark_submit.iter().cloned());
    args.push(step.jar.clone());
    args.extend(step.args.iter().cloned());
    json!({
        "Name": step.name,
        "ActionOnFailure": step.action_on_failure.unwrap_or(default_action).as_str(),
        "HadoopJarStep": { "Jar": "command-runner.jar", "Args": args },
    })
}

/// The job's steps as catalog `StepSpec`s: `steps`, or the single-step shorthand named after the job.
pub fn job_steps(job_name: &str, job: &Job) -> Vec<StepSpec> {
    if !job.steps.is_empty() {
        return job.steps.clone();
    }
    match (&job.jar, &job.class) {
        (Some(jar), Some(class)) => vec![StepSpec {
            name: job_name.to_string(),
            jar: jar.clone(),
            class: class.clone(),
            args: job.args.clone(),
            action_on_failure: None,
            spark_submit: Vec::new(),
        }],
        _ => Vec::new(),
    }
}

pub(super) fn plan(
    catalog: &Catalog,
    job_name: &str,
    job: &Job,
    run_name: &str,
    environment: Option<&str>,
    tags: &[(String, String)],
    fill: &dyn Fn(Value, &str) -> Result<Value, PlanError>,
) -> Result<EmrPlan, PlanError> {
    if let Some(pool) = &job.pool {
        return pooled_plan(catalog, job_name, job, pool, run_name, tags, fill);
    }
    let cluster_name = run_cluster_name(environment, run_name);
    let mut cluster = base_cluster(&job.emr_settings(&catalog.defaults), &cluster_name);
    // Like Airflow's EmrCreateJobFlowOperator: the overrides replace whole top-level fields.
    if let Some(Value::Object(overrides)) = &job.job_flow_overrides {
        cluster.extend(overrides.clone());
    }
    let Value::Object(mut cluster) = fill(Value::Object(cluster), "job_flow_overrides")? else {
        unreachable!("filling placeholders keeps an object an object")
    };

    // What sparkplug needs of every cluster, whatever the overrides said.
    cluster.insert("Name".into(), json!(cluster_name));
    match cluster.get_mut("Instances") {
        Some(Value::Object(instances)) => {
            instances.insert("KeepJobFlowAliveWhenNoSteps".into(), json!(true));
        }
        _ => {
            return Err(PlanError::Invalid {
                job: job_name.to_string(),
                reason:
                    "the cluster has no `Instances`: set emr.master/core (or [defaults.emr]) or \
                         Instances in job_flow_overrides"
                        .into(),
            })
        }
    }
    let mut all_tags: Vec<(String, String)> = cluster
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tag| {
            Some((
                tag.get("Key")?.as_str()?.to_string(),
                tag.get("Value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        })
        .collect();
    for (key, value) in tags {
        set_tag(&mut all_tags, key, value);
    }
    set_tag(&mut all_tags, TAG_EMR_MANAGED_POLICIES, "true");
    cluster.insert(
        "Tags".into(),
        all_tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    );
    let release = cluster
        .get("ReleaseLabel")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !cluster.contains_key("AutoTerminationPolicy") && supports_auto_termination(release) {
        cluster.insert(
            "AutoTerminationPolicy".into(),
            json!({ "IdleTimeout": DEFAULT_IDLE_TIMEOUT_SECONDS }),
        );
    }

    let steps = match &job.spark_steps {
        Some(verbatim) => fill(verbatim.clone(), "spark_steps")?,
        None => {
            let settings = job.emr_settings(&catalog.defaults);
            // With steps side by side, EMR accepts only CONTINUE (AddJobFlowSteps rejects the others).
            let action = match settings.action_on_failure {
                Some(action) => action,
                None if step_concurrency(&cluster) > 1 => ActionOnFailure::Continue,
                None => ActionOnFailure::CancelAndWait,
            };
            let steps: Vec<Value> = job_steps(job_name, job)
                .iter()
                .map(|step| spark_submit_step(step, &job.spark_conf, action))
                .collect();
            fill(Value::Array(steps), "steps")?
        }
    };
    let Value::Array(steps) = steps else {
        return Err(PlanError::Invalid {
            job: job_name.to_string(),
            reason: "spark_steps must be an array of StepConfig objects".into(),
        });
    };
    Ok(EmrPlan {
        cluster: Value::Object(cluster),
        steps,
        pool: None,
    })
}

/// Why a pooled job has one step.
pub const POOLED_ONE_STEP: &str =
    "steps of runs side by side on a pool cluster would not run in order (chain \
     jobs with trigger.after instead)";

/// Margin of EMR's idle auto-termination over the pool's `idle_minutes`: sparkplug releases an idle cluster first;
/// EMR's policy ends it only if sparkplug could not (a backstop against a leaked pool cluster).
pub const POOL_BACKSTOP_MINUTES: u32 = 15;

/// The name of a run's own cluster: `sparkplug-<env>-<run>` (`sparkplug-<run>` without an `env` var). ListClusters
/// names every active cluster of the account: the prefix lets the janitor's sweep describe only this environment's
/// (EMR's DescribeCluster is throttled per account), and an operator tell sparkplug's clusters in the EMR console.
pub fn run_cluster_name(environment: Option<&str>, run_name: &str) -> String {
    format!("{}{run_name}", run_cluster_prefix(environment))
}

/// What the name of every run's own cluster of `environment` starts with (see [`run_cluster_name`]).
pub fn run_cluster_prefix(environment: Option<&str>) -> String {
    match environment {
        Some(env) => format!("sparkplug-{env}-"),
        None => "sparkplug-".to_string(),
    }
}

/// The name of a pool cluster started by `run_name`: a retried create finds its cluster by it.
pub fn pool_cluster_name(pool: &str, run_name: &str) -> String {
    format!("sparkplug-pool-{pool}-{run_name}")
}

/// A pooled job's plan: a cluster of its pool (the pool's settings, tagged with the pool, not the run: it outlives
/// the run), and its one step named `<run>: <step>` (a pool cluster's steps must say whose they are) with CONTINUE,
/// so that a failure never cancels another run's step.
fn pooled_plan(
    catalog: &Catalog,
    job_name: &str,
    job: &Job,
    pool_name: &str,
    run_name: &str,
    tags: &[(String, String)],
    fill: &dyn Fn(Value, &str) -> Result<Value, PlanError>,
) -> Result<EmrPlan, PlanError> {
    let invalid = |reason: String| PlanError::Invalid {
        job: job_name.to_string(),
        reason,
    };
    let pool = catalog
        .pools
        .get(pool_name)
        .ok_or_else(|| invalid(format!("pool `{pool_name}` is not in [pools]")))?;
    let settings = pool.emr.over(&catalog.defaults.emr);
    let mut cluster = base_cluster(&settings, &pool_cluster_name(pool_name, run_name));
    cluster.insert(
        "StepConcurrencyLevel".into(),
        json!(pool.max_concurrent_runs()),
    );
    let release = settings.release_label.clone().unwrap_or_default();
    if supports_auto_termination(&release) {
        let minutes = pool.idle_minutes() + POOL_BACKSTOP_MINUTES;
        cluster.insert(
            "AutoTerminationPolicy".into(),
            json!({ "IdleTimeout": minutes * 60 }),
        );
    }
    // The cluster outlives the run and serves other jobs: the defaults' tags and the environment, not the job's.
    let mut cluster_tags: Vec<(String, String)> = tags
        .iter()
        .filter(|(key, _)| key == TAG_ENVIRONMENT || catalog.defaults.tags.contains_key(key))
        .cloned()
        .collect();
    set_tag(&mut cluster_tags, TAG_POOL, pool_name);
    set_tag(&mut cluster_tags, TAG_EMR_MANAGED_POLICIES, "true");
    cluster.insert(
        "Tags".into(),
        cluster_tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    );
    let Value::Object(cluster) = fill(Value::Object(cluster), &format!("pools.{pool_name}"))?
    else {
        unreachable!("filling placeholders keeps an object an object")
    };
    let steps = match &job.spark_steps {
        Some(verbatim) => fill(verbatim.clone(), "spark_steps")?,
        None => {
            let steps: Vec<Value> = job_steps(job_name, job)
                .iter()
                .map(|step| spark_submit_step(step, &job.spark_conf, ActionOnFailure::Continue))
                .collect();
            fill(Value::Array(steps), "steps")?
        }
    };
    let Value::Array(mut steps) = steps else {
        return Err(invalid(
            "spark_steps must be an array of StepConfig objects".into(),
        ));
    };
    if steps.len() != 1 {
        return Err(invalid(format!(
            "a pooled job runs one step per run, this one has {}: {POOLED_ONE_STEP}",
            steps.len()
        )));
    }
    for step in &mut steps {
        let name = step.get("Name").and_then(Value::as_str).unwrap_or(job_name);
        step["Name"] = json!(pooled_step_name(run_name, name));
        step["ActionOnFailure"] = json!(ActionOnFailure::Continue.as_str());
    }
    Ok(EmrPlan {
        cluster: Value::Object(cluster),
        steps,
        pool: Some(PoolPlan {
            name: pool_name.to_string(),
            idle_minutes: pool.idle_minutes(),
            max_concurrent_runs: pool.max_concurrent_runs(),
            max_runs_per_cluster: pool.max_runs_per_cluster(),
        }),
    })
}

/// A pooled run's step name: `<run>: <step>` (run names have no `:`), so that a pool cluster's steps say whose
/// they are.
pub fn pooled_step_name(run_name: &str, step: &str) -> String {
    format!("{run_name}: {step}")
}

/// The run a step named by [`pooled_step_name`] belongs to (run names have no `:`); `None` for another step.
pub fn pooled_step_run(step_name: &str) -> Option<&str> {
    step_name
        .split_once(": ")
        .map(|(run, _)| run)
        .filter(|run| !run.is_empty() && !run.contains(':'))
}

/// The cluster's `StepConcurrencyLevel` (1 when unset): how many steps run side by side.
fn step_concurrency(cluster: &Map<String, Value>) -> u64 {
    cluster
        .get("StepConcurrencyLevel")
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::{pooled_step_name, pooled_step_run};

    #[test]
    fn a_pooled_steps_name_gives_back_its_run_and_no_other_step_has_one() {
        let name = pooled_step_name("clicks_hourly-20261204T0600", "spark: pi");
        assert_eq!(name, "clicks_hourly-20261204T0600: spark: pi");
        assert_eq!(pooled_step_run(&name), Some("clicks_hourly-20261204T0600"));
        // Another run's step, a step of a cluster of its own, a name no run could have.
        assert_eq!(pooled_step_run("other-run: ingest"), Some("other-run"));
        assert_eq!(pooled_step_run("ingest"), None);
        assert_eq!(pooled_step_run(": ingest"), None);
        assert_eq!(pooled_step_run("a:b: ingest"), None);
    }
}
