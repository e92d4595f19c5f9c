//! The catalog's model: every batch declared once, with its engine, what it runs, its sizing and its triggers.
//! Plain data; reading and checking a catalog file is [`crate::load`]'s work.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::recovery::{Alternative, Retries};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// `${name}` values with their defaults; each is overridden at run time by `SPARKPLUG_VAR_<NAME>`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Settings shared by every job, overridden field by field by the job's own.
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub jobs: BTreeMap<String, Job>,
    /// Warm EMR pools: clusters that pooled jobs (`pool = "NAME"`) share, kept up between runs for `idle_minutes`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<String, Pool>,
    /// OpenLineage: where the Spark runs of jobs with `lineage = true` send their lineage, under sparkplug's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// What all jobs together may cost a month (`run::budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// The account's limits per engine: runs past them wait in a queue instead of being refused (`run::limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// `[limits]`: how many runs of each engine this stack starts at once, at most — the account's quota (or this
/// stack's share of it). A run past one waits, first in first out, in the engine's queue (the same queue as
/// `max_concurrent_runs`), instead of starting and being refused by AWS once its retries are spent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Glue job runs at once (Service Quotas, AWS Glue: "Max concurrent job runs per account", 2,000 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_concurrent_runs: Option<u32>,
    /// Transient EMR clusters at once (one per run; pooled runs share their pool's clusters and take none). Size it
    /// from the EC2 vCPU quota ("Running On-Demand Standard instances") over a cluster's vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_clusters: Option<u32>,
    /// EMR Serverless job runs at once (Service Quotas, EMR Serverless: "Max concurrent job runs per account").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_serverless_concurrent_runs: Option<u32>,
}

/// A month's budget: `budget = { usd_per_month = 400 }` on a job, or `[budget]` for all jobs together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub usd_per_month: f64,
}

/// `[lineage]`: the OpenLineage backend (Marquez, DataZone, any OpenLineage HTTP endpoint) and the namespace of
/// sparkplug's jobs there. A job with `lineage = true` runs Spark with the openlineage-spark listener's settings and
/// this run as its parent, so that Spark's own lineage events nest under the sparkplug run that started them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// The namespace of sparkplug's jobs (the parent job's), e.g. `sparkplug-${env}`.
    pub namespace: String,
    /// The OpenLineage HTTP transport's base URL, e.g. `https://marquez.example.com`.
    pub url: String,
    /// The path after `url` (the transport's default: `/api/v1/lineage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A warm EMR pool: the cluster settings of its clusters (like a job's `emr`, over `[defaults.emr]`) and how they are
/// shared. A pooled run leases room on a live cluster of the pool, or starts one; an idle cluster is released.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PoolFields")]
pub struct Pool {
    /// How long a pool cluster stays up after its last run ended (sparkplug releases it then; EMR's own idle
    /// auto-termination, a little later, is the backstop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    /// Runs side by side on one cluster (its StepConcurrencyLevel); a run past it leases another cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u32>,
    /// Runs one cluster takes in its life: past it, the cluster is released once its runs end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs_per_cluster: Option<u32>,
    /// When a cluster should be up before runs come (EventBridge `cron(…)`/`rate(…)` expressions, UTC): at each, the
    /// janitor starts one if the pool has none live, or restarts an idle one's `idle_minutes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm: Vec<String>,
    /// The cluster settings, as in `[jobs.NAME.emr]` (release, nodes, fleets, roles, subnet, log URI, …).
    #[serde(flatten)]
    pub emr: EmrSettings,
}

/// A pool as written: its own fields beside the cluster settings. (serde's `flatten` would let a misspelt field
/// through unnoticed: the cluster settings are read from what is left, where an unknown field is refused.)
#[derive(Deserialize)]
struct PoolFields(serde_json::Map<String, Value>);

impl TryFrom<PoolFields> for Pool {
    type Error = String;

    fn try_from(PoolFields(mut fields): PoolFields) -> Result<Self, Self::Error> {
        let mut number = |key: &str| -> Result<Option<u32>, String> {
            fields
                .remove(key)
                .map(|value| serde_json::from_value(value).map_err(|e| format!("{key}: {e}")))
                .transpose()
        };
        let (idle_minutes, max_concurrent_runs, max_runs_per_cluster) = (
            number("idle_minutes")?,
            number("max_concurrent_runs")?,
            number("max_runs_per_cluster")?,
        );
        let warm = fields
            .remove("warm")
            .map(|value| {
                serde_json::from_value(value).map_err(|e| {
                    format!("warm: {e} (a list of schedule expressions: [\"cron(50 6 ? * MON-FRI *)\"])")
                })
            })
            .transpose()?
            .unwrap_or_default();
        let emr = serde_json::from_value(Value::Object(fields)).map_err(|e| {
            format!(
                "{e} (or a pool's own `idle_minutes`, `max_concurrent_runs`, `max_runs_per_cluster`, `warm`)"
            )
        })?;
        Ok(Pool {
            idle_minutes,
            max_concurrent_runs,
            max_runs_per_cluster,
            warm,
            emr,
        })
    }
}

impl Pool {
    pub const DEFAULT_IDLE_MINUTES: u32 = 15;
    pub const DEFAULT_MAX_CONCURRENT_RUNS: u32 = 4;
    pub const DEFAULT_MAX_RUNS_PER_CLUSTER: u32 = 100;

    pub fn idle_minutes(&self) -> u32 {
        self.idle_minutes.unwrap_or(Self::DEFAULT_IDLE_MINUTES)
    }

    pub fn max_concurrent_runs(&self) -> u32 {
        self.max_concurrent_runs
            .unwrap_or(Self::DEFAULT_MAX_CONCURRENT_RUNS)
    }

    pub fn max_runs_per_cluster(&self) -> u32 {
        self.max_runs_per_cluster
            .unwrap_or(Self::DEFAULT_MAX_RUNS_PER_CLUSTER)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub timeout_minutes: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub emr: EmrSettings,
    #[serde(default)]
    pub glue: GlueSettings,
    #[serde(default)]
    pub emr_serverless: EmrServerlessSettings,
    /// Every job's `retries`, unless it sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
}

/// When a run's alert is sent (a job's `notify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    /// The run failed, was stopped or timed out.
    Failure,
    /// The run succeeded.
    Success,
}

/// Alerts by default: on failure only.
pub fn default_notify() -> Vec<NotifyOn> {
    vec![NotifyOn::Failure]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Emr,
    Glue,
    /// EMR Serverless: a job run on an application (no cluster to start or end).
    #[serde(rename = "emr_serverless")]
    EmrServerless,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Emr => "emr",
            Engine::Glue => "glue",
            Engine::EmrServerless => "emr_serverless",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub engine: Engine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Single-step shorthand: the application jar (`s3://…`), its main class and arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// EMR: several steps, run in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    /// `--conf` pairs for spark-submit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The whole run's time limit (cluster start included for EMR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<u32>,
    /// Run parameters this job accepts as `{name}`, with their default values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr: Option<EmrSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue: Option<GlueSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_serverless: Option<EmrServerlessSettings>,
    /// Airflow's JOB_FLOW_OVERRIDES: a RunJobFlow object, or the path of a JSON file holding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_flow_overrides: Option<Value>,
    /// Airflow's SPARK_STEPS: an array of StepConfig objects, or the path of a JSON file holding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_steps: Option<Value>,
    /// Glue CreateJob fields (boto3 `create_job` kwargs), or the path of a JSON file holding them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_job: Option<Value>,
    /// When the run's alert goes out: `["failure"]` (the default), `["failure", "success"]`, or `[]` for never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<NotifyOn>>,
    /// Runs of this job at once, at most: the others wait, first in first out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u32>,
    /// EMR: run on a cluster of this warm pool (`[pools.NAME]`) instead of a cluster of the run's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Run Spark with the OpenLineage settings of the catalog's `[lineage]`, this run as the parent run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lineage: bool,
    /// New attempts of a run that failed for a transient cause (`run::recovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// What this job's runs may cost a month (`run::budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// When a run of this job must have succeeded by (`run::expect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: String,
    pub jar: String,
    pub class: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_on_failure: Option<ActionOnFailure>,
    /// Extra spark-submit options placed before the jar, e.g. `["--packages", "…"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spark_submit: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionOnFailure {
    TerminateCluster,
    CancelAndWait,
    Continue,
}

impl ActionOnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOnFailure::TerminateCluster => "TERMINATE_CLUSTER",
            ActionOnFailure::CancelAndWait => "CANCEL_AND_WAIT",
            ActionOnFailure::Continue => "CONTINUE",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Objects arriving under these locations start the job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub s3: Vec<S3Trigger>,
    /// An EventBridge `cron(…)` or `rate(…)` expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Jobs whose succeeded runs start a run of this one (`{upstream_run}`, `{upstream_job}`; `{input}` passed on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// An input set: `s3://` locations with the partition's placeholders (`{date}`…); the run starts once, when the
    /// partition's last input has arrived (`run::inputs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_of: Vec<String>,
    /// When an incomplete input set's partition is due: an EventBridge `cron(…)` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// What happens at the deadline to an incomplete set: `alert` (the default), `run` with what arrived, or `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deadline: Option<OnDeadline>,
}

/// What an input set's deadline does to a partition whose inputs have not all arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDeadline {
    /// Alert, naming the inputs that are missing; no run.
    #[default]
    Alert,
    /// Run with the inputs that arrived (the missing ones' placeholders are empty).
    Run,
    /// Nothing: the partition is left.
    Skip,
}

impl OnDeadline {
    pub fn as_str(self) -> &'static str {
        match self {
            OnDeadline::Alert => "alert",
            OnDeadline::Run => "run",
            OnDeadline::Skip => "skip",
        }
    }
}

/// An S3 trigger's batching: one run per batch of arrivals, with a manifest of its objects (`run::batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// A batch runs once it holds this many objects…
    pub max_objects: u32,
    /// …or once this long has passed since its first object arrived.
    pub window_seconds: u32,
}

/// A job's expectation: when a period passes with no succeeded run, an alert says the run is missing and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// An EventBridge `cron(…)` (UTC): by each of its times, a run of the job has succeeded since the time before.
    /// Or a duration (`90m`, `2h`, `1h 30m`): a run has succeeded that long after each first arrival of the job's
    /// input set's partitions, or, for a job without an input set, after each of its schedule's times.
    pub succeeded_by: String,
}

/// When an expectation is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectDue<'a> {
    /// At each time of this `cron(…)`.
    Cron(&'a str),
    /// This long after what starts the job's runs.
    After(chrono::Duration),
}

impl Expect {
    /// `succeeded_by` read: a `cron(…)` (checked where it is evaluated), or a duration.
    pub fn due(&self) -> Result<ExpectDue<'_>, String> {
        let text = self.succeeded_by.trim();
        if text.starts_with("cron(") {
            return Ok(ExpectDue::Cron(text));
        }
        let duration = humantime::parse_duration(text).map_err(|e| {
            format!(
                "`{text}` is neither a cron(…) expression nor a duration such as \"2h\" or \"90m\" ({e})"
            )
        })?;
        let duration = chrono::Duration::from_std(duration)
            .ok()
            .filter(|d| *d >= chrono::Duration::minutes(1) && *d <= chrono::Duration::days(7))
            .ok_or_else(|| format!("`{text}`: a duration from 1 minute to 7 days"))?;
        Ok(ExpectDue::After(duration))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Trigger {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    /// Only keys ending with this start the job, e.g. `_SUCCESS` written by a finished writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// One run per batch of arrivals instead of one per object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
}

/// EMR cluster settings; every field may come from `[defaults.emr]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmrSettings {
    pub release_label: Option<String>,
    pub log_uri: Option<String>,
    /// RunJobFlow `ServiceRole`.
    pub service_role: Option<String>,
    /// RunJobFlow `JobFlowRole`: the EC2 instance profile.
    pub instance_profile: Option<String>,
    pub subnet_id: Option<String>,
    /// Instance fleets: the subnets EMR may choose from (it launches where the fleets' instance types have
    /// capacity); `subnet_id` is then the first.
    pub subnet_ids: Option<Vec<String>>,
    pub ec2_key_name: Option<String>,
    pub security_configuration: Option<String>,
    /// Applications to install; `["Spark"]` when unset.
    pub applications: Option<Vec<String>>,
    pub master: Option<InstanceGroupSpec>,
    pub core: Option<InstanceGroupSpec>,
    pub task: Option<InstanceGroupSpec>,
    /// Instance fleets instead of groups: several instance types per node kind, on-demand and spot capacity.
    pub fleets: Option<FleetsSpec>,
    /// Idle time after which EMR itself terminates the cluster: a backstop against leaked clusters.
    pub idle_timeout_seconds: Option<u32>,
    /// Step `ActionOnFailure` when a step does not set its own; `CANCEL_AND_WAIT` when unset.
    pub action_on_failure: Option<ActionOnFailure>,
    /// Other instance types or subnets to start the cluster on, in order, when EC2 has no capacity for these
    /// before any step ran (`run::recovery`).
    pub fallback: Option<Vec<Alternative>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceGroupSpec {
    pub instance_type: String,
    pub count: Option<u32>,
    pub market: Option<Market>,
    pub bid_price: Option<String>,
}

/// EMR instance fleets (RunJobFlow `Instances.InstanceFleets`): one per node kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetsSpec {
    pub master: Option<FleetSpec>,
    pub core: Option<FleetSpec>,
    pub task: Option<FleetSpec>,
    /// How spot capacity is chosen: `price-capacity-optimized` (default), `capacity-optimized`, …
    pub allocation_strategy: Option<String>,
    /// How long to wait for spot capacity before `on_spot_timeout`.
    pub spot_timeout_minutes: Option<u32>,
    pub on_spot_timeout: Option<SpotTimeoutAction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    pub instance_types: Vec<FleetInstanceType>,
    /// Target on-demand capacity, in units of the types' weights.
    #[serde(default)]
    pub on_demand: u32,
    /// Target spot capacity, in units of the types' weights.
    #[serde(default)]
    pub spot: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetInstanceType {
    #[serde(rename = "type")]
    pub instance_type: String,
    /// Capacity units one instance counts for (1 when unset).
    pub weight: Option<u32>,
    pub bid_price: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpotTimeoutAction {
    SwitchToOnDemand,
    Terminate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Market {
    OnDemand,
    Spot,
}

/// Glue job settings; every field may come from `[defaults.glue]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlueSettings {
    /// The Glue job's name; `sparkplug-<job>` (`sparkplug-<job>-${env}` when `env` is a var) when unset.
    pub job_name: Option<String>,
    pub role: Option<String>,
    /// S3 location of sparkplug's generic jar runner script.
    pub script_location: Option<String>,
    pub glue_version: Option<String>,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<u32>,
    pub max_capacity: Option<f64>,
    pub max_concurrent_runs: Option<u32>,
    pub max_retries: Option<u32>,
    /// More jars for the class path, besides the job's own.
    pub extra_jars: Option<Vec<String>>,
    /// The job definition's DefaultArguments.
    pub default_arguments: Option<BTreeMap<String, String>>,
    /// StartJobRun `Arguments`: they override DefaultArguments for each run.
    pub arguments: Option<BTreeMap<String, String>>,
}

/// EMR Serverless application and job run settings; every field may come from `[defaults.emr_serverless]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmrServerlessSettings {
    /// The application's name; `sparkplug-<job>` (`sparkplug-<job>-${env}` when `env` is a var) when unset. Jobs that
    /// name the same application share it (and its pre-initialized workers).
    pub application_name: Option<String>,
    pub release_label: Option<String>,
    /// `X86_64` (default) or `ARM64` (Graviton: about 20 % cheaper).
    pub architecture: Option<String>,
    /// The job run's execution role (its ARN).
    pub execution_role: Option<String>,
    /// Where the job run's logs go (`s3://…/`): the alert reads the driver's stderr there.
    pub log_uri: Option<String>,
    /// Pre-initialized workers, kept warm while the application is started: runs start in seconds, and they are
    /// billed while the application is up.
    pub initial_capacity: Option<ServerlessInitialCapacity>,
    /// The most the application may use at once, over all its runs.
    pub maximum_capacity: Option<ServerlessCapacity>,
    /// The application starts when a run is submitted (default true).
    pub auto_start: Option<bool>,
    /// Minutes without a run after which the application stops (default 15; its pre-initialized workers go too).
    pub auto_stop_minutes: Option<u32>,
}

/// Pre-initialized workers: a driver and executors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerlessInitialCapacity {
    pub driver: Option<ServerlessWorkers>,
    pub executor: Option<ServerlessWorkers>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerlessWorkers {
    pub workers: u32,
    /// e.g. `"4 vCPU"`.
    pub cpu: String,
    /// e.g. `"16 GB"`.
    pub memory: String,
    /// e.g. `"20 GB"` (the default).
    pub disk: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerlessCapacity {
    pub cpu: String,
    pub memory: String,
    pub disk: Option<String>,
}

macro_rules! merge_fields {
    ($own:expr, $defaults:expr; $($field:ident),+ $(,)?) => {
        Self { $($field: $own.$field.clone().or_else(|| $defaults.$field.clone())),+ }
    };
}

impl EmrSettings {
    /// These settings, with each unset field taken from `defaults` — but nodes come whole from one level: fleets
    /// set here replace the defaults' instance groups, and groups set here replace the defaults' fleets.
    pub fn over(&self, defaults: &EmrSettings) -> EmrSettings {
        let mut merged = merge_fields!(self, defaults; release_label, log_uri, service_role, instance_profile,
            subnet_id, subnet_ids, ec2_key_name, security_configuration, applications, master, core, task, fleets,
            idle_timeout_seconds, action_on_failure, fallback);
        let own_groups = self.master.is_some() || self.core.is_some() || self.task.is_some();
        if self.fleets.is_some() && !own_groups {
            (merged.master, merged.core, merged.task) = (None, None, None);
        }
        if own_groups && self.fleets.is_none() {
            merged.fleets = None;
        }
        merged
    }
}

impl GlueSettings {
    /// These settings, with each unset field taken from `defaults`.
    pub fn over(&self, defaults: &GlueSettings) -> GlueSettings {
        merge_fields!(self, defaults; job_name, role, script_location, glue_version, worker_type,
            number_of_workers, max_capacity, max_concurrent_runs, max_retries, extra_jars, default_arguments,
            arguments)
    }
}

impl EmrServerlessSettings {
    /// These settings, with each unset field taken from `defaults`.
    pub fn over(&self, defaults: &EmrServerlessSettings) -> EmrServerlessSettings {
        merge_fields!(self, defaults; application_name, release_label, architecture, execution_role, log_uri,
            initial_capacity, maximum_capacity, auto_start, auto_stop_minutes)
    }
}

impl Job {
    pub fn emr_serverless_settings(&self, defaults: &Defaults) -> EmrServerlessSettings {
        self.emr_serverless
            .clone()
            .unwrap_or_default()
            .over(&defaults.emr_serverless)
    }

    pub fn emr_settings(&self, defaults: &Defaults) -> EmrSettings {
        self.emr.clone().unwrap_or_default().over(&defaults.emr)
    }

    /// The job's `retries`, else the defaults'.
    pub fn retries(&self, defaults: &Defaults) -> Option<Retries> {
        self.retries.clone().or_else(|| defaults.retries.clone())
    }

    pub fn glue_settings(&self, defaults: &Defaults) -> GlueSettings {
        self.glue.clone().unwrap_or_default().over(&defaults.glue)
    }
}

impl Catalog {
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.get(name)
    }
}
