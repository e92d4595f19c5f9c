//! Catalog validation: every problem a user can act on, each as `<job>.<field path>: <reason>`.
//!
//! Besides field-by-field checks, each job is rendered once with a sample trigger, so that what reaches AWS
//! (the RunJobFlow, StepConfig, CreateJob and StartJobRun requests) is checked too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::catalog::placeholders::{self as template, Placeholder};
use crate::catalog::schedule::check_expression;
use crate::catalog::shapes::enums::{
    EMR_ACTIONS_ON_FAILURE, EMR_INSTANCE_ROLES, EMR_MARKETS, EMR_SERVERLESS_ARCHITECTURES,
    EMR_SPOT_ALLOCATION_STRATEGIES, GLUE_WORKER_TYPES,
};
use crate::catalog::shapes::{self, CREATE_JOB, RUN_JOB_FLOW, STEP_CONFIG};
use crate::catalog::{ActionOnFailure, Catalog, Engine, Job, Vars};
use crate::run::plan::glue::SIZING;
use crate::run::plan::{
    self, PlanError, RunPlan, BUILTIN_PARAMS, MAX_EMR_TIMEOUT_MINUTES, MAX_GLUE_TIMEOUT_MINUTES,
    MAX_PLAN_BYTES, POOLED_ONE_STEP, POOL_BACKSTOP_MINUTES,
};
use crate::run::runkey::check_job_name;
use crate::run::s3::{check_bucket_name, S3Location};

/// One problem, located in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub job: Option<String>,
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(job: Option<&str>, path: &str, message: String) -> Self {
        Problem {
            job: job.map(str::to_string),
            path: path.to_string(),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = match (&self.job, self.path.as_str()) {
            (Some(job), "") => job.clone(),
            (Some(job), path) => format!("{job}.{path}"),
            (None, "") => "catalog".to_string(),
            (None, path) => path.to_string(),
        };
        write!(f, "{location}: {}", self.message)
    }
}

/// Problems one per line.
pub fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// Glue versions AWS no longer supports.
const END_OF_LIFE_GLUE: &[&str] = &["0.9", "1.0", "2.0"];

struct Checker<'a> {
    catalog: &'a Catalog,
    job: Option<&'a str>,
    report: Report,
    /// Each EMR Serverless application's planned request (but for its name and tags), as the first job naming it
    /// planned it.
    applications: BTreeMap<String, (String, Map<String, Value>)>,
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.report
            .errors
            .push(Problem::new(self.job, path, message.into()));
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.report
            .warnings
            .push(Problem::new(self.job, path, message.into()));
    }

    /// An EMR step's jar: on S3, or a path on the cluster's nodes (e.g. Spark's examples jar).
    fn emr_jar(&mut self, path: &str, jar: &str) {
        if !(jar.starts_with('/') || jar.starts_with("file:///")) {
            self.s3_uri(path, jar, true);
        }
    }

    /// Checks an S3 URI after filling `${vars}` with their catalog values; run placeholders are left alone.
    fn s3_uri(&mut self, path: &str, uri: &str, object: bool) {
        let vars = Vars::resolve(self.catalog, [], []).unwrap_or_default();
        let Ok(filled) = vars.fill(uri) else {
            return; // reported by the placeholder check
        };
        if template::placeholders(&filled).iter().any(|p| {
            // A run value may form the bucket or key; only the static shape can be checked.
            matches!(p, Placeholder::Param(_))
        }) {
            if !filled.starts_with("s3://") {
                self.error(path, format!("`{uri}` is not an S3 URI (s3://bucket/key)"));
            }
            return;
        }
        let parsed = if object {
            S3Location::parse(&filled)
        } else {
            S3Location::parse_prefix(&filled)
        };
        if let Err(why) = parsed {
            self.error(path, why);
        }
    }
}

/// Checks a whole catalog.
pub fn validate(catalog: &Catalog) -> Report {
    let mut checker = Checker {
        catalog,
        job: None,
        report: Report::default(),
        applications: BTreeMap::new(),
    };
    for name in catalog.vars.keys() {
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || !name.starts_with(|c: char| c.is_ascii_lowercase())
        {
            checker.error(
                &format!("vars.{name}"),
                "var names are lowercase letters, digits and `_`, starting with a letter \
                 (each is set by SPARKPLUG_VAR_<NAME>)",
            );
        }
    }
    check_strings_in(
        &mut checker,
        "defaults",
        &serde_json::to_value(&catalog.defaults).unwrap_or(Value::Null),
        &BTreeSet::new(),
    );
    check_strings_in(
        &mut checker,
        "pools",
        &serde_json::to_value(&catalog.pools).unwrap_or(Value::Null),
        &BTreeSet::new(),
    );
    check_pools(&mut checker);
    for (name, job) in &catalog.jobs {
        checker.job = Some(name);
        check_job(&mut checker, name, job);
    }
    checker.job = None;
    check_chains(&mut checker);
    checker.report
}

/// Jobs that name the same EMR Serverless application must agree on what the application is: each run brings a
/// stopped application back to its own job's CreateApplication request, so two jobs that differ would rewrite it in
/// turn, and a run would get the other job's workers. Compared as planned (defaults filled in, `${vars}` filled), but
/// for the tags; the job run's role and log URI are the run's, free to differ.
fn check_shared_application(c: &mut Checker<'_>, name: &str, planned: &Value) {
    let Some(mut application) = planned.as_object().cloned() else {
        return;
    };
    application.remove("tags");
    let Some(Value::String(application_name)) = application.remove("name") else {
        return;
    };
    let Some((first, theirs)) = c.applications.get(&application_name) else {
        c.applications
            .insert(application_name, (name.to_string(), application));
        return;
    };
    let keys: BTreeSet<&String> = application.keys().chain(theirs.keys()).collect();
    let differing: Vec<&str> = keys
        .into_iter()
        .filter(|key| application.get(*key) != theirs.get(*key))
        .map(String::as_str)
        .collect();
    if !differing.is_empty() {
        let message = format!(
            "`{application_name}` is also `{first}`'s application, with other {}: jobs sharing an \
             application set it alike (in [defaults.emr_serverless], say), or each run would bring it back \
             to its own",
            differing.join(", ")
        );
        c.error("emr_serverless.application_name", message);
    }
}

/// `trigger.after`: every upstream job exists, and no job follows itself, however far round.
fn check_chains(c: &mut Checker<'_>) {
    let catalog = c.catalog;
    for (name, job) in &catalog.jobs {
        c.job = Some(name);
        for (index, upstream) in job.trigger.after.iter().enumerate() {
            if !catalog.jobs.contains_key(upstream) {
                let known: Vec<&str> = catalog.jobs.keys().map(String::as_str).collect();
                c.error(
                    &format!("trigger.after[{index}]"),
                    format!(
                        "`{upstream}` is not a job of the catalog; it has: {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    // A cycle, reported once from its alphabetically first job: the path that comes back to it.
    let mut reported = BTreeSet::new();
    for start in catalog.jobs.keys() {
        if let Some(cycle) = cycle_from(catalog, start) {
            let first = cycle.iter().min().cloned().unwrap_or_default();
            if reported.insert(first.clone()) {
                c.job = catalog.jobs.get_key_value(&first).map(|(k, _)| k.as_str());
                c.error(
                    "trigger.after",
                    format!(
                        "the jobs follow each other in a circle: {} — each run would start the next for ever",
                        cycle.join(" → ")
                    ),
                );
            }
        }
    }
    c.job = None;
}

/// A path `start → … → start` along "runs after" edges (downstream to upstream), if there is one.
fn cycle_from(catalog: &Catalog, start: &str) -> Option<Vec<String>> {
    fn walk(
        catalog: &Catalog,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let Some(job) = catalog.jobs.get(at) else {
            return false;
        };
        for upstream in &job.trigger.after {
            if upstream == start {
                path.push(upstream.clone());
                return true;
            }
            if seen.insert(upstream.clone()) {
                path.push(upstream.clone());
                if walk(catalog, start, upstream, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(catalog, start, start, &mut path, &mut seen).then_some(path)
}

fn check_job(c: &mut Checker<'_>, name: &str, job: &Job) {
    if let Err(why) = check_job_name(name) {
        c.error("", why);
    }
    let params: BTreeSet<&str> = job.params.keys().map(String::as_str).collect();
    for param in &params {
        if BUILTIN_PARAMS.contains(param) {
            c.error(
                &format!("params.{param}"),
                format!("`{{{param}}}` is filled by sparkplug and cannot be a job param"),
            );
        }
    }
    check_strings_in(
        c,
        "",
        &serde_json::to_value(job).unwrap_or(Value::Null),
        &params,
    );
    let timeout = job.timeout_minutes.or(c.catalog.defaults.timeout_minutes);
    let (limit, why) = match job.engine {
        Engine::Emr => (
            MAX_EMR_TIMEOUT_MINUTES,
            "a run must end before the run state machine's 8-day backstop",
        ),
        Engine::Glue => (
            MAX_GLUE_TIMEOUT_MINUTES,
            "Glue refuses a Timeout of 7 days (10080 minutes) or more",
        ),
        Engine::EmrServerless => (
            MAX_EMR_TIMEOUT_MINUTES,
            "a run must end before the run state machine's 8-day backstop",
        ),
    };
    match timeout {
        Some(0) => c.error("timeout_minutes", "must be at least 1"),
        Some(minutes) if minutes > limit => c.error(
            "timeout_minutes",
            format!(
                "{minutes} is over the {} limit of {limit} minutes: {why}",
                job.engine.as_str()
            ),
        ),
        _ => {}
    }
    check_triggers(c, job);
    check_queue(c, job);
    match job.engine {
        Engine::Emr => check_emr(c, job),
        Engine::Glue => check_glue(c, job),
        Engine::EmrServerless => check_serverless(c, job),
    }
    if job.engine != Engine::EmrServerless && job.emr_serverless.is_some() {
        c.error(
            "emr_serverless",
            format!(
                "this job's engine is {}: EMR Serverless settings do not apply",
                job.engine.as_str()
            ),
        );
    }
    // The requests are checked even when the fields had problems, so that one pass says everything.
    check_rendered(c, name, job);
}

/// Every `${var}` must be declared in `[vars]`, every `{param}` a builtin or one of the job's params.
fn check_strings_in(c: &mut Checker<'_>, prefix: &str, doc: &Value, params: &BTreeSet<&str>) {
    let mut found = Vec::new();
    template::for_each_string(doc, &mut |path, text| {
        for hole in template::placeholders(text) {
            let known = match hole {
                Placeholder::Var(name) => c.catalog.vars.contains_key(name),
                Placeholder::Param(name) => BUILTIN_PARAMS.contains(&name) || params.contains(name),
            };
            if !known {
                found.push((
                    path.to_string(),
                    hole.to_string(),
                    matches!(hole, Placeholder::Var(_)),
                ));
            }
        }
    });
    for (path, hole, is_var) in found {
        let path = match (prefix, path.as_str()) {
            ("", p) => p.to_string(),
            (pre, "") => pre.to_string(),
            (pre, p) => format!("{pre}.{p}"),
        };
        let why = if is_var {
            format!(
                "unknown placeholder {hole}: declare it in [vars] (known: {})",
                names(c.catalog.vars.keys().map(String::as_str))
            )
        } else if prefix == "defaults" {
            format!(
                "unknown placeholder {hole}: defaults may use only builtin run values ({})",
                BUILTIN_PARAMS.join(", ")
            )
        } else {
            format!(
                "unknown placeholder {hole}: declare it in the job's params, or use a builtin ({})",
                BUILTIN_PARAMS.join(", ")
            )
        };
        c.error(&path, why);
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = items.collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

fn check_queue(c: &mut Checker<'_>, job: &Job) {
    match job.max_concurrent_runs {
        Some(0) => c.error(
            "max_concurrent_runs",
            "must be at least 1 (leave it out for no limit)",
        ),
        Some(queue) => {
            let glue = job.glue.as_ref().and_then(|g| g.max_concurrent_runs);
            if let Some(glue) = glue.filter(|g| *g < queue) {
                c.error(
                    "glue.max_concurrent_runs",
                    format!(
                        "{glue} is below the job's max_concurrent_runs ({queue}): Glue would refuse runs the queue lets \
                         through"
                    ),
                );
            }
        }
        None => {}
    }
}

fn check_triggers(c: &mut Checker<'_>, job: &Job) {
    if let Some(expression) = &job.trigger.schedule {
        if let Err(why) = check_expression(expression) {
            c.error("trigger.schedule", why);
        }
    }
    let vars = Vars::resolve(c.catalog, [], []).unwrap_or_default();
    for (index, trigger) in job.trigger.s3.iter().enumerate() {
        let path = format!("trigger.s3[{index}]");
        for (field, text) in [
            ("bucket", Some(trigger.bucket.as_str())),
            ("prefix", Some(trigger.prefix.as_str())),
            ("suffix", trigger.suffix.as_deref()),
        ] {
            if text.is_some_and(|t| {
                template::placeholders(t)
                    .iter()
                    .any(|p| matches!(p, Placeholder::Param(_)))
            }) {
                c.error(
                    &format!("{path}.{field}"),
                    "a trigger can use only ${vars}: run values are not known before the run",
                );
            }
        }
        // A bucket with an unknown ${var} is reported by the placeholder check.
        if let Ok(bucket) = vars.fill(&trigger.bucket) {
            if let Err(why) = check_bucket_name(&bucket) {
                c.error(&format!("{path}.bucket"), why);
            }
        }
        if trigger.prefix.starts_with('/') {
            c.error(
                &format!("{path}.prefix"),
                "S3 keys do not start with `/`: write `data/in/`, not `/data/in/`",
            );
        }
        if trigger.prefix.starts_with("s3://") {
            c.error(
                &format!("{path}.prefix"),
                "give the key prefix only; the bucket goes in `bucket`",
            );
        }
    }
}

/// Warm pools: their sharing settings, and their cluster settings as a job's `emr` (the clusters themselves are
/// checked as each pooled job's rendered plan).
/// AutoTerminationPolicy's IdleTimeout: 60 to 604,800 seconds (EMR API Reference).
const MAX_IDLE_TIMEOUT_SECONDS: u64 = 604_800;

fn check_pools(c: &mut Checker<'_>) {
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

fn check_pool_use(c: &mut Checker<'_>, job: &Job, pool: &str) {
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

fn check_emr(c: &mut Checker<'_>, job: &Job) {
    if let Some(pool) = &job.pool {
        check_pool_use(c, job, pool);
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
fn check_fleets(c: &mut Checker<'_>, fleets: &crate::catalog::FleetsSpec, has_groups: bool) {
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

fn check_class(c: &mut Checker<'_>, path: &str, class: &str) {
    let valid = !class.is_empty()
        && class.split('.').all(|part| {
            part.starts_with(|ch: char| ch.is_alphabetic() || ch == '_' || ch == '$')
                && part
                    .chars()
                    .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$')
        });
    if !valid {
        c.error(
            path,
            format!("`{class}` is not a JVM class name (e.g. com.example.Main)"),
        );
    }
}

/// EMR Serverless: one jar run by spark-submit on an application (EMR Serverless API, CreateApplication and
/// StartJobRun).
/// A name of the job's own for a Glue job or an EMR Serverless application must name the environment (`${env}`) when
/// the catalog has one: dev and prod in one account would otherwise share one Glue job (each deploy's UpdateJob
/// rewriting the other's) or one application — the functions' grants scope them by the `sparkplug-` prefix only.
fn check_names_environment(c: &mut Checker<'_>, field: &str, name: Option<&String>) {
    if !c.catalog.vars.contains_key("env") {
        return;
    }
    if let Some(name) = name.filter(|n| !n.contains("${env}")) {
        c.error(
            field,
            format!(
                "`{name}` names no environment: put `${{env}}` in it, or dev and prod in one account share it (and \
                 rewrite each other's settings)"
            ),
        );
    }
}

fn check_serverless(c: &mut Checker<'_>, job: &Job) {
    let name = job
        .emr_serverless
        .as_ref()
        .and_then(|s| s.application_name.as_ref())
        .or(c.catalog.defaults.emr_serverless.application_name.as_ref())
        .cloned();
    check_names_environment(c, "emr_serverless.application_name", name.as_ref());
    for (field, present) in [
        ("pool", job.pool.is_some()),
        ("emr", job.emr.is_some()),
        ("glue", job.glue.is_some()),
        ("job_flow_overrides", job.job_flow_overrides.is_some()),
        ("spark_steps", job.spark_steps.is_some()),
        ("steps", !job.steps.is_empty()),
        ("create_job", job.create_job.is_some()),
    ] {
        if present {
            c.error(
                field,
                "this job's engine is emr_serverless: it runs one jar (`jar`, `class`, `args`) with [jobs.NAME.emr_serverless] \
                 settings",
            );
        }
    }
    match (&job.jar, &job.class) {
        (Some(jar), Some(class)) => {
            c.s3_uri("jar", jar, true);
            check_class(c, "class", class);
        }
        (None, _) => c.error(
            "jar",
            "missing: the application jar (s3://…), spark-submit's entry point",
        ),
        (_, None) => c.error("class", "missing: the main class of the jar"),
    }
    let settings = job.emr_serverless_settings(&c.catalog.defaults);
    if settings.execution_role.is_none() {
        c.error(
            "emr_serverless.execution_role",
            "missing: the job run's execution role (its ARN), here or in [defaults.emr_serverless]",
        );
    }
    if let Some(architecture) = &settings.architecture {
        if !EMR_SERVERLESS_ARCHITECTURES.contains(&architecture.as_str()) {
            c.error(
                "emr_serverless.architecture",
                format!("`{architecture}`: EMR Serverless runs X86_64 or ARM64"),
            );
        }
    }
    if let Some(release) = &settings.release_label {
        if !release.starts_with("emr-") {
            c.error(
                "emr_serverless.release_label",
                format!("`{release}` is not an EMR release label (emr-7.5.0, …)"),
            );
        }
    }
    if let Some(log_uri) = &settings.log_uri {
        c.s3_uri("emr_serverless.log_uri", log_uri, false);
    } else {
        c.warn(
            "emr_serverless.log_uri",
            "unset: a failed run's alert carries no log tail (the driver's stderr is written under the log URI)",
        );
    }
    // CreateApplication autoStopConfiguration.idleTimeoutMinutes: 1 to 10080.
    if let Some(minutes) = settings.auto_stop_minutes {
        if !(1..=10_080).contains(&minutes) {
            c.error(
                "emr_serverless.auto_stop_minutes",
                format!("{minutes}: EMR Serverless takes 1 to 10080 minutes (7 days)"),
            );
        }
    }
    if settings.auto_start == Some(false) {
        c.warn(
            "emr_serverless.auto_start",
            "false: sparkplug does not start applications, so runs fail until someone starts it (StartApplication)",
        );
    }
    for (key, value) in &job.spark_conf {
        // sparkSubmitParameters is one string of spark-submit options, split at spaces.
        if value.contains(char::is_whitespace) {
            c.error(
                &format!("spark_conf.{key}"),
                "a value with spaces cannot travel in EMR Serverless' sparkSubmitParameters",
            );
        }
    }
    if let Some(initial) = &settings.initial_capacity {
        for (kind, workers) in [("driver", &initial.driver), ("executor", &initial.executor)] {
            if workers.as_ref().is_some_and(|w| w.workers == 0) {
                c.error(
                    &format!("emr_serverless.initial_capacity.{kind}.workers"),
                    "must be at least 1 (leave the kind out for none)",
                );
            }
        }
        if initial.driver.is_none() != initial.executor.is_none() {
            c.warn(
                "emr_serverless.initial_capacity",
                "a run starts on pre-initialized workers only when both a driver and executors are",
            );
        }
    }
}

fn check_glue(c: &mut Checker<'_>, job: &Job) {
    let name = job
        .glue
        .as_ref()
        .and_then(|g| g.job_name.as_ref())
        .or(c.catalog.defaults.glue.job_name.as_ref())
        .cloned();
    check_names_environment(c, "glue.job_name", name.as_ref());
    if job.pool.is_some() {
        c.error(
            "pool",
            "pools are of EMR clusters: this job's engine is glue",
        );
    }
    if job.emr.is_some() {
        c.error(
            "emr",
            "this job's engine is glue: EMR settings do not apply",
        );
    }
    for (field, present) in [
        ("job_flow_overrides", job.job_flow_overrides.is_some()),
        ("spark_steps", job.spark_steps.is_some()),
        ("steps", !job.steps.is_empty()),
    ] {
        if present {
            c.error(
                field,
                "this job's engine is glue: a Glue job runs one jar (`jar`, `class`, `args`)",
            );
        }
    }
    let own_command = job
        .create_job
        .as_ref()
        .is_some_and(|create| create.get("Command").is_some());
    match (&job.jar, &job.class) {
        (Some(jar), Some(class)) => {
            c.s3_uri("jar", jar, true);
            check_class(c, "class", class);
        }
        (None, None) if own_command => {}
        (None, _) => c.error(
            "jar",
            "missing: the application jar that sparkplug's Glue runner starts (or a Command in create_job)",
        ),
        (_, None) => c.error("class", "missing: the main class of the jar"),
    }
    let settings = job.glue_settings(&c.catalog.defaults);
    if let Some(worker_type) = &settings.worker_type {
        if !GLUE_WORKER_TYPES.contains(&worker_type.as_str()) {
            c.error(
                "glue.worker_type",
                format!(
                    "`{worker_type}` is not a Glue WorkerType ({})",
                    GLUE_WORKER_TYPES.join(", ")
                ),
            );
        }
    }
    let own = job.glue.clone().unwrap_or_default();
    let sized_here =
        own.worker_type.is_some() || own.number_of_workers.is_some() || own.max_capacity.is_some();
    let sized_in_create_job = job
        .create_job
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|create| SIZING.iter().any(|key| create.contains_key(*key)));
    if sized_here && sized_in_create_job {
        c.error(
            "create_job",
            "the job is sized twice: in its [glue] settings and in create_job; keep one",
        );
    }
    if settings.max_capacity.is_some()
        && (settings.worker_type.is_some() || settings.number_of_workers.is_some())
    {
        c.error(
            "glue.max_capacity",
            "MaxCapacity cannot be used together with worker_type/number_of_workers: choose one way to size the job",
        );
    }
    if let Some(version) = &settings.glue_version {
        if END_OF_LIFE_GLUE.contains(&version.as_str()) {
            c.warn(
                "glue.glue_version",
                format!("Glue {version} is end of life: use 4.0 or 5.0"),
            );
        }
    }
    if let Some(script) = &settings.script_location {
        c.s3_uri("glue.script_location", script, true);
    }
    for (field, map) in [
        ("glue.arguments", &settings.arguments),
        ("glue.default_arguments", &settings.default_arguments),
    ] {
        for key in map.iter().flat_map(|m| m.keys()) {
            if !key.starts_with("--") {
                c.error(
                    &format!("{field}.{key}"),
                    "Glue argument names start with `--`",
                );
            }
        }
    }
    match &job.create_job {
        Some(value @ Value::Object(_)) => {
            for (path, why) in shapes::check(value, &CREATE_JOB, "create_job") {
                c.error(&path, why);
            }
        }
        Some(other) => c.error(
            "create_job",
            format!(
                "expected a CreateJob object or a JSON file path, found {}",
                shapes::kind(other)
            ),
        ),
        None => {}
    }
}

/// Renders the job once, with a sample trigger and the catalog's var values, and checks the AWS requests.
fn check_rendered(c: &mut Checker<'_>, name: &str, job: &Job) {
    let vars = Vars::resolve(c.catalog, [], []).unwrap_or_default();
    let input = plan::sample_input(job, &vars);
    let already_wrong = c
        .report
        .errors
        .iter()
        .any(|p| p.job.as_deref() == Some(name));
    let plan = match plan::render(c.catalog, name, &input, &vars) {
        Ok(plan) => plan,
        // A job with field problems may not render; its problems are already said.
        Err(_) if already_wrong => return,
        Err(PlanError::Unfilled {
            path,
            placeholder,
            hint,
            ..
        }) => {
            c.error(
                &path,
                format!("{placeholder} has no value for a run of this job{hint}"),
            );
            return;
        }
        Err(other) => {
            let message = other.to_string();
            let message = message
                .strip_prefix(&format!("{name}: "))
                .unwrap_or(&message)
                .to_string();
            c.error("", message);
            return;
        }
    };
    if let Some(emr) = &plan.emr {
        check_cluster(c, &emr.cluster);
        let concurrency = emr
            .cluster
            .get("StepConcurrencyLevel")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        check_steps(c, &emr.steps, concurrency);
    }
    if let Some(glue) = &plan.glue {
        check_glue_requests(c, &glue.job);
    }
    if let Some(serverless) = &plan.emr_serverless {
        check_shared_application(c, name, &serverless.application);
    }
    check_plan_size(c, &plan);
}

/// The plan travels in the execution's state beside the tasks' results: it must leave room under 256 KiB.
fn check_plan_size(c: &mut Checker<'_>, plan: &RunPlan) {
    let bytes = serde_json::to_string(plan).map_or(0, |text| text.len());
    if bytes > MAX_PLAN_BYTES {
        c.error(
            "",
            format!(
                "a run plan of this job is {bytes} bytes, over sparkplug's {MAX_PLAN_BYTES}: Step Functions fails an \
                 execution whose state passes 256 KiB, past every Catch"
            ),
        );
    }
}

fn field<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn check_cluster(c: &mut Checker<'_>, cluster: &Value) {
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

fn check_steps(c: &mut Checker<'_>, steps: &[Value], concurrency: u64) {
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

/// Glue job names the template's policies let the functions manage (`job/sparkplug-*`).
pub const GLUE_JOB_NAME_PREFIX: &str = "sparkplug-";

/// `emr-5.28.0` → (5, 28).
fn emr_release(label: &str) -> Option<(u32, u32)> {
    let mut parts = label.strip_prefix("emr-")?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `4.0` → (4, 0).
fn glue_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn check_glue_requests(c: &mut Checker<'_>, create: &Value) {
    if let Some(name) = create.get("Name").and_then(Value::as_str) {
        if !name.starts_with(GLUE_JOB_NAME_PREFIX) {
            c.error(
                "glue.job_name",
                format!(
                    "`{name}` does not start with `{GLUE_JOB_NAME_PREFIX}`: the functions may manage only Glue jobs \
                     named so (template.yaml), and would be refused with AccessDenied"
                ),
            );
        }
    }
    if let Some(minutes) = create.get("Timeout").and_then(Value::as_u64) {
        if minutes > u64::from(MAX_GLUE_TIMEOUT_MINUTES) {
            c.error(
                "create_job.Timeout",
                format!(
                    "{minutes} minutes: Glue refuses a Timeout of 10080 minutes (7 days) or more"
                ),
            );
        }
    }
    if create.get("Role").is_none() {
        c.error(
            "glue.role",
            "missing: the Glue job's IAM role; set it here, in [defaults.glue], or as Role in create_job",
        );
    }
    if field(create, &["Command", "ScriptLocation"]).is_none() {
        c.error(
            "glue.script_location",
            "missing: where sparkplug's Glue jar runner script is (s3://…), here or in [defaults.glue]",
        );
    }
    let said_in_settings = c
        .report
        .errors
        .iter()
        .any(|p| p.job.as_deref() == c.job && p.path == "glue.max_capacity");
    if create.get("MaxCapacity").is_some()
        && (create.get("WorkerType").is_some() || create.get("NumberOfWorkers").is_some())
        && !said_in_settings
    {
        c.error(
            "create_job.MaxCapacity",
            "MaxCapacity cannot be used together with WorkerType/NumberOfWorkers",
        );
    }
    // A Glue retry is a new JobRun (its own id, `Attempt` and `PreviousRunId`; Glue Developer Guide, "Job runs"):
    // sparkplug waits on the first attempt's run, so the run would end at its failure and the janitor stop the retry.
    if create
        .get("MaxRetries")
        .and_then(Value::as_u64)
        .is_some_and(|retries| retries > 0)
    {
        c.error(
            "glue.max_retries",
            "must be 0: a Glue retry is a new job run, which sparkplug does not wait on (the run would fail at the \
             first attempt and its retry be stopped); transient failures are retried by the state machine",
        );
    }
    // "For Glue version 2.0+ jobs, you cannot specify a Maximum capacity. Instead, you should specify a Worker type
    // and the Number of workers." (Glue API Reference, CreateJob MaxCapacity); Python shell jobs still take it.
    let version = create.get("GlueVersion").and_then(Value::as_str);
    let python_shell =
        field(create, &["Command", "Name"]).and_then(Value::as_str) == Some("pythonshell");
    if create.get("MaxCapacity").is_some()
        && !python_shell
        && version.and_then(glue_version).is_some_and(|v| v >= (2, 0))
    {
        c.error(
            if said_in_settings { "glue.max_capacity" } else { "create_job.MaxCapacity" },
            format!(
                "Glue {} refuses MaxCapacity for Spark jobs (2.0 and later): size the job with worker_type and number_of_workers",
                version.unwrap_or_default()
            ),
        );
    }
    if let Some(version) = create.get("GlueVersion").and_then(Value::as_str) {
        let from_settings = c
            .report
            .warnings
            .iter()
            .any(|w| w.job.as_deref() == c.job && w.path == "glue.glue_version");
        if END_OF_LIFE_GLUE.contains(&version) && !from_settings {
            c.warn(
                "create_job.GlueVersion",
                format!("Glue {version} is end of life: use 4.0 or 5.0"),
            );
        }
    }
}
