//! The job catalog (`jobs.toml`): every batch declared once, with its engine, what it runs, its sizing and its triggers.
//!
//! Loading reads the TOML, inlines the JSON files that Airflow-shaped fields may point to, and validates the result
//! (see [`crate::validate`]); every problem is reported, not only the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::{self, Problem, Report};

/// Where the catalog is read from when neither `--catalog` nor `SPARKPLUG_CATALOG` says otherwise.
pub const DEFAULT_PATH: &str = "jobs.toml";
/// Environment variable naming the catalog file.
pub const PATH_ENV: &str = "SPARKPLUG_CATALOG";

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Emr,
    Glue,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Emr => "emr",
            Engine::Glue => "glue",
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
    /// Airflow's JOB_FLOW_OVERRIDES: a RunJobFlow object, or the path of a JSON file holding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_flow_overrides: Option<Value>,
    /// Airflow's SPARK_STEPS: an array of StepConfig objects, or the path of a JSON file holding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_steps: Option<Value>,
    /// Glue CreateJob fields (boto3 `create_job` kwargs), or the path of a JSON file holding them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_job: Option<Value>,
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
    pub ec2_key_name: Option<String>,
    pub security_configuration: Option<String>,
    /// Applications to install; `["Spark"]` when unset.
    pub applications: Option<Vec<String>>,
    pub master: Option<InstanceGroupSpec>,
    pub core: Option<InstanceGroupSpec>,
    pub task: Option<InstanceGroupSpec>,
    /// Idle time after which EMR itself terminates the cluster: a backstop against leaked clusters.
    pub idle_timeout_seconds: Option<u32>,
    /// Step `ActionOnFailure` when a step does not set its own; `CANCEL_AND_WAIT` when unset.
    pub action_on_failure: Option<ActionOnFailure>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceGroupSpec {
    pub instance_type: String,
    pub count: Option<u32>,
    pub market: Option<Market>,
    pub bid_price: Option<String>,
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

macro_rules! merge_fields {
    ($own:expr, $defaults:expr; $($field:ident),+ $(,)?) => {
        Self { $($field: $own.$field.clone().or_else(|| $defaults.$field.clone())),+ }
    };
}

impl EmrSettings {
    /// These settings, with each unset field taken from `defaults`.
    pub fn over(&self, defaults: &EmrSettings) -> EmrSettings {
        merge_fields!(self, defaults; release_label, log_uri, service_role, instance_profile, subnet_id,
            ec2_key_name, security_configuration, applications, master, core, task, idle_timeout_seconds,
            action_on_failure)
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

impl Job {
    pub fn emr_settings(&self, defaults: &Defaults) -> EmrSettings {
        self.emr.clone().unwrap_or_default().over(&defaults.emr)
    }

    pub fn glue_settings(&self, defaults: &Defaults) -> GlueSettings {
        self.glue.clone().unwrap_or_default().over(&defaults.glue)
    }
}

/// A catalog that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the catalog {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the catalog has {} problem(s):\n{}", .0.len(), validate::lines(.0))]
    Invalid(Vec<Problem>),
}

/// A valid catalog and the warnings found while checking it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub catalog: Catalog,
    pub warnings: Vec<Problem>,
    /// The JSON files the catalog pulled in (Airflow-shaped fields given as paths).
    pub files: Vec<PathBuf>,
}

impl Catalog {
    /// Reads, resolves and validates the catalog at `path`. JSON files named by Airflow-shaped fields are read
    /// relative to the catalog's folder.
    pub fn load(path: &Path) -> Result<Loaded, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base)
    }

    /// Parses, resolves and validates catalog text; `base` is the folder its JSON file references are relative to.
    pub fn from_toml(text: &str, base: &Path) -> Result<Loaded, CatalogError> {
        let (catalog, mut errors, files) = parse(text, base);
        let Report {
            errors: invalid,
            warnings,
        } = validate::validate(&catalog);
        errors.extend(invalid);
        if errors.is_empty() {
            Ok(Loaded {
                catalog,
                warnings,
                files,
            })
        } else {
            Err(CatalogError::Invalid(errors))
        }
    }

    /// A catalog already resolved and validated, serialized as JSON (what the trigger function embeds).
    pub fn from_resolved_json(text: &str) -> Result<Loaded, CatalogError> {
        let catalog: Catalog = serde_json::from_str(text).map_err(|e| {
            CatalogError::Invalid(vec![Problem::new(
                None,
                "",
                format!("not a resolved catalog: {e}"),
            )])
        })?;
        let Report { errors, warnings } = validate::validate(&catalog);
        if errors.is_empty() {
            Ok(Loaded {
                catalog,
                warnings,
                files: Vec::new(),
            })
        } else {
            Err(CatalogError::Invalid(errors))
        }
    }

    /// The catalog a function's build script embedded ([`embed_for_build`]): it was validated then, so a cold start
    /// only deserializes it.
    pub fn from_embedded(text: &str) -> Result<Catalog, CatalogError> {
        serde_json::from_str(text).map_err(|e| {
            CatalogError::Invalid(vec![Problem::new(
                None,
                "",
                format!("not an embedded catalog: {e}"),
            )])
        })
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.get(name)
    }
}

/// Parses the TOML into a catalog, job by job, so that one job's mistake does not hide another's: the jobs that
/// parse are returned beside the problems of those that do not.
fn parse(text: &str, base: &Path) -> (Catalog, Vec<Problem>, Vec<PathBuf>) {
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let problem = Problem::new(None, "", format!("not valid TOML: {e}"));
            return (Catalog::default(), vec![problem], Vec::new());
        }
    };
    let mut problems = Vec::new();
    let mut files = Vec::new();
    let mut catalog = Catalog::default();
    if table
        .get("jobs")
        .and_then(toml::Value::as_table)
        .is_none_or(|jobs| jobs.is_empty())
    {
        problems.push(Problem::new(
            None,
            "jobs",
            "the catalog declares no job: add a [jobs.<name>] table".into(),
        ));
    }
    for (key, value) in table {
        match key.as_str() {
            "vars" => {
                catalog.vars = section(value, "vars", None, &mut problems).unwrap_or_default()
            }
            "defaults" => {
                catalog.defaults =
                    section(value, "defaults", None, &mut problems).unwrap_or_default()
            }
            "jobs" => {
                let toml::Value::Table(jobs) = value else {
                    problems.push(Problem::new(
                        None,
                        "jobs",
                        "expected a table of jobs".into(),
                    ));
                    continue;
                };
                for (name, job) in jobs {
                    if let Some(mut job) = section::<Job>(job, "", Some(&name), &mut problems) {
                        files.extend(inline_json_files(&mut job, &name, base, &mut problems));
                        catalog.jobs.insert(name, job);
                    }
                }
            }
            other => problems.push(Problem::new(
                None,
                other,
                "unknown section: expected `vars`, `defaults` or `jobs`".into(),
            )),
        }
    }
    (catalog, problems, files)
}

fn section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
    job: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            let inner = error.path().to_string();
            let path = match (prefix, inner.as_str()) {
                (p, ".") => p.to_string(),
                ("", i) => i.to_string(),
                (p, i) => format!("{p}.{i}"),
            };
            // The TOML deserializer appends "in `field`" lines: the path already says where.
            let message = error.into_inner().to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            problems.push(Problem::new(job, &path, message));
            None
        }
    }
}

/// Replaces the Airflow-shaped fields given as a file path by the JSON the file holds; returns the files read.
fn inline_json_files(
    job: &mut Job,
    name: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (field, slot) in [
        ("job_flow_overrides", &mut job.job_flow_overrides),
        ("spark_steps", &mut job.spark_steps),
        ("create_job", &mut job.create_job),
    ] {
        let Some(Value::String(file)) = slot.as_ref() else {
            continue;
        };
        let path = base.join(file);
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
            });
        match parsed {
            Ok(value) => *slot = Some(value),
            Err(reason) => problems.push(Problem::new(Some(name), field, reason)),
        }
        files.push(path);
    }
    files
}

/// The whole build script of a function that embeds the catalog (`functions/<name>/` two levels below the
/// workspace root): see [`embed_for_build`]. Exits the build script with the problems on failure.
pub fn build_script_main() {
    let dir = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let (Some(manifest), Some(out)) = (dir("CARGO_MANIFEST_DIR"), dir("OUT_DIR")) else {
        eprintln!(
            "run this from a cargo build script (CARGO_MANIFEST_DIR and OUT_DIR are not set)"
        );
        std::process::exit(1);
    };
    if let Err(problem) = embed_for_build(&manifest.join("../.."), &out) {
        eprintln!("{problem}");
        std::process::exit(1);
    }
}

/// For a function's build script: loads the catalog (`SPARKPLUG_CATALOG` at build time, else `jobs.toml` at the
/// workspace root), fails the build on any problem, and writes the resolved catalog as `catalog.json` into `out_dir`
/// for `include_str!`. A bad catalog therefore never deploys, and a cold start reads no file.
pub fn embed_for_build(workspace_root: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed={PATH_ENV}");
    let path = std::env::var_os(PATH_ENV)
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root.join(p)
            }
        })
        .unwrap_or_else(|| workspace_root.join(DEFAULT_PATH));
    println!("cargo:rerun-if-changed={}", path.display());
    let loaded = Catalog::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for file in &loaded.files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    for warning in &loaded.warnings {
        println!("cargo:warning=catalog: {warning}");
    }
    let json = serde_json::to_string(&loaded.catalog).map_err(|e| e.to_string())?;
    let out = out_dir.join("catalog.json");
    std::fs::write(&out, json).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}
