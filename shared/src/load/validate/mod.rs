//! Catalog validation: every problem a user can act on, each as `<job>.<field path>: <reason>`.
//!
//! Besides field-by-field checks, each job is rendered once with a sample trigger, so that what reaches AWS
//! (the RunJobFlow, StepConfig, CreateJob and StartJobRun requests) is checked too. What is one engine's alone is in
//! its module: `emr.rs` (clusters, fleets, steps, warm pools), `glue.rs`, `serverless.rs`.

mod emr;
mod glue;
mod serverless;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::catalog::placeholders::{self as template, Placeholder};
use crate::catalog::recovery::{Cause, MAX_BACKOFF_SECONDS, MAX_RETRIES};
use crate::catalog::schedule::check_expression;
use crate::catalog::shapes::enums::{
    EMR_ACTIONS_ON_FAILURE, EMR_INSTANCE_ROLES, EMR_MARKETS, EMR_SERVERLESS_ARCHITECTURES,
    EMR_SPOT_ALLOCATION_STRATEGIES, GLUE_WORKER_TYPES,
};
use crate::catalog::shapes::{self, CREATE_JOB, RUN_JOB_FLOW, STEP_CONFIG};
use crate::catalog::{ActionOnFailure, Budget, Catalog, Engine, Job, Limits, Vars};
use crate::run::inputs::{InputSet, TIME_KEYS};
use crate::run::plan::glue::SIZING;
use crate::run::plan::{
    self, PlanError, RunPlan, BUILTIN_PARAMS, MAX_EMR_TIMEOUT_MINUTES, MAX_GLUE_TIMEOUT_MINUTES,
    MAX_PLAN_BYTES, POOLED_ONE_STEP, POOL_BACKSTOP_MINUTES,
};
use crate::run::runkey::check_job_name;
use crate::run::s3::{check_bucket_name, S3Location};

use emr::{check_cluster, check_emr, check_pools, check_steps};
pub use glue::GLUE_JOB_NAME_PREFIX;
use glue::{check_glue, check_glue_requests};
use serverless::{check_serverless, check_shared_application};

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
    if let Some(lineage) = &catalog.lineage {
        check_strings_in(
            &mut checker,
            "lineage",
            &serde_json::to_value(lineage).unwrap_or(Value::Null),
            &BTreeSet::new(),
        );
        if lineage.namespace.trim().is_empty() {
            checker.error(
                "lineage.namespace",
                "must name the namespace of sparkplug's jobs",
            );
        }
        if !(lineage.url.starts_with("https://") || lineage.url.starts_with("http://")) {
            checker.error(
                "lineage.url",
                format!(
                    "`{}` is not an http(s) URL: the OpenLineage HTTP transport's base URL, e.g. \
                     https://marquez.example.com",
                    lineage.url
                ),
            );
        }
    }
    check_budget(&mut checker, "budget", catalog.budget.as_ref());
    check_limits(&mut checker, catalog.limits.as_ref());
    for (name, job) in &catalog.jobs {
        checker.job = Some(name);
        check_job(&mut checker, name, job);
    }
    checker.job = None;
    check_chains(&mut checker);
    checker.report
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
    // An input set's run also has its partition's keys and each input by name.
    let vars = Vars::resolve(c.catalog, [], []).unwrap_or_default();
    let set_values: Vec<String> = match InputSet::of(job, &vars) {
        Ok(Some(set)) => set
            .inputs
            .iter()
            .flat_map(|i| i.keys.clone())
            .chain(set.inputs.iter().map(|i| format!("input_{}", i.name)))
            .collect(),
        _ => Vec::new(),
    };
    let mut known = params.clone();
    known.extend(set_values.iter().map(String::as_str));
    check_strings_in(
        c,
        "",
        &serde_json::to_value(job).unwrap_or(Value::Null),
        &known,
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
    check_lineage(c, job);
    check_recovery(c, job);
    check_budget(c, "budget", job.budget.as_ref());
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

/// `lineage = true` needs the catalog's `[lineage]`, Spark runs sparkplug writes, and the per-run keys left to it.
fn check_lineage(c: &mut Checker<'_>, job: &Job) {
    if !job.lineage {
        return;
    }
    if c.catalog.lineage.is_none() {
        c.error(
            "lineage",
            "needs the catalog's [lineage] section: its namespace and url",
        );
    }
    if job.spark_steps.is_some() {
        c.error(
            "lineage",
            "SPARK_STEPS are sent as written: give the settings in their own spark-submit arguments, or use `steps`",
        );
    }
    for key in crate::run::lineage::PER_RUN_KEYS {
        if job.spark_conf.contains_key(key) {
            c.error(
                &format!("spark_conf.{key}"),
                "set by sparkplug for each run when lineage = true (the run is the parent): remove it",
            );
        }
    }
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

/// `retries` and `emr.fallback`: causes the engine can have, a bounded number of attempts, and alternatives that
/// change something of a cluster of instance groups.
fn check_recovery(c: &mut Checker<'_>, job: &Job) {
    if let Some(retries) = job.retries(&c.catalog.defaults) {
        let path = if job.retries.is_some() {
            "retries"
        } else {
            "defaults.retries"
        };
        if retries.max == 0 || retries.max > MAX_RETRIES {
            c.error(
                &format!("{path}.max"),
                format!(
                    "{} is not between 1 and {MAX_RETRIES}: each attempt may last the job's whole timeout_minutes",
                    retries.max
                ),
            );
        }
        if retries.on.is_empty() {
            c.error(
                &format!("{path}.on"),
                format!(
                    "lists no cause: name at least one of {}",
                    names(Cause::ALL.iter().map(|cause| cause.as_str()))
                ),
            );
        }
        for cause in &retries.on {
            if *cause != Cause::Throttled && job.engine != Engine::Emr {
                c.error(
                    &format!("{path}.on"),
                    format!(
                        "`{cause}` is an EMR cluster's failure: a {} run can only be retried when throttled",
                        job.engine.as_str()
                    ),
                );
            }
        }
        if retries
            .backoff_seconds
            .is_some_and(|s| u64::from(s) > MAX_BACKOFF_SECONDS)
        {
            c.error(
                &format!("{path}.backoff_seconds"),
                format!(
                    "is over {MAX_BACKOFF_SECONDS} seconds (the longest wait between attempts)"
                ),
            );
        }
    }
    let Some(fallback) = job.emr_settings(&c.catalog.defaults).fallback else {
        return;
    };
    if job.engine != Engine::Emr {
        if job.emr.as_ref().is_some_and(|e| e.fallback.is_some()) {
            c.error("emr.fallback", "only an EMR job's clusters fall back");
        }
        return;
    }
    if job.pool.is_some() {
        c.error(
            "emr.fallback",
            "a pooled job runs on its pool's clusters: set the pool's instance types instead",
        );
    }
    if job.emr_settings(&c.catalog.defaults).fleets.is_some() {
        c.error(
            "emr.fallback",
            "instance fleets already choose among their instance_types (and subnets): list the alternatives there",
        );
    }
    for (index, alternative) in fallback.iter().enumerate() {
        if alternative.is_empty() {
            c.error(
                &format!("emr.fallback[{index}]"),
                "changes nothing: name a master, core or task instance type, or a subnet_id",
            );
        }
    }
}

/// A month's budget is a positive number of dollars.
fn check_budget(c: &mut Checker<'_>, path: &str, budget: Option<&Budget>) {
    if let Some(budget) = budget {
        if !(budget.usd_per_month.is_finite() && budget.usd_per_month > 0.0) {
            c.error(
                &format!("{path}.usd_per_month"),
                format!(
                    "{} is not a positive number of dollars",
                    budget.usd_per_month
                ),
            );
        }
    }
}

/// An engine's limit is at least one run at once (left out: no limit).
fn check_limits(c: &mut Checker<'_>, limits: Option<&Limits>) {
    let Some(limits) = limits else { return };
    for (field, limit) in [
        ("glue_concurrent_runs", limits.glue_concurrent_runs),
        ("emr_clusters", limits.emr_clusters),
        (
            "emr_serverless_concurrent_runs",
            limits.emr_serverless_concurrent_runs,
        ),
    ] {
        if limit == Some(0) {
            c.error(
                &format!("limits.{field}"),
                "must be at least 1 (leave it out for no limit)",
            );
        }
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
        if let Some(batch) = trigger.batch {
            if !(1..=MAX_BATCH_OBJECTS).contains(&batch.max_objects) {
                c.error(
                    &format!("{path}.batch.max_objects"),
                    format!(
                        "{} is not between 1 and {MAX_BATCH_OBJECTS}",
                        batch.max_objects
                    ),
                );
            }
            if !(1..=MAX_BATCH_WINDOW_SECONDS).contains(&batch.window_seconds) {
                c.error(
                    &format!("{path}.batch.window_seconds"),
                    format!(
                        "{} is not between 1 and {MAX_BATCH_WINDOW_SECONDS} (a day)",
                        batch.window_seconds
                    ),
                );
            }
        }
    }
    check_input_set(c, job, &vars);
    check_expect(c, job);
}

/// The largest batch: its manifest lists every object in the run's input.
const MAX_BATCH_OBJECTS: u32 = 10_000;
const MAX_BATCH_WINDOW_SECONDS: u32 = 86_400;

/// `trigger.all_of`, `deadline`, `on_deadline`: locations that parse, one partition's keys in every input, a deadline
/// that can find its partition by the time it comes.
fn check_input_set(c: &mut Checker<'_>, job: &Job, vars: &Vars) {
    let trigger = &job.trigger;
    if trigger.all_of.is_empty() {
        if trigger.deadline.is_some() {
            c.error(
                "trigger.deadline",
                "a deadline is an input set's: set trigger.all_of",
            );
        }
        if trigger.on_deadline.is_some() {
            c.error(
                "trigger.on_deadline",
                "an input set's: set trigger.all_of and its deadline",
            );
        }
        return;
    }
    let set = match InputSet::of(job, vars) {
        Ok(Some(set)) => set,
        Ok(None) => return,
        Err(why) => {
            let (path, why) = why.split_once(": ").unwrap_or(("trigger.all_of", &why));
            c.error(path, why.to_string());
            return;
        }
    };
    let mut first: Vec<String> = set.inputs[0].keys.clone();
    first.sort();
    if first.is_empty() {
        c.error(
            "trigger.all_of[0]",
            "names no partition: its key needs the partition's placeholders, e.g. dt={date}",
        );
    }
    for (index, input) in set.inputs.iter().enumerate().skip(1) {
        let mut keys = input.keys.clone();
        keys.sort();
        if keys != first {
            c.error(
                &format!("trigger.all_of[{index}]"),
                format!(
                    "has the partition keys {{{}}}, the set's first input {{{}}}: every input must name the same partition",
                    keys.join("}, {"),
                    first.join("}, {")
                ),
            );
        }
    }
    if trigger.on_deadline.is_some() && trigger.deadline.is_none() {
        c.error(
            "trigger.on_deadline",
            "applies at a deadline: set trigger.deadline",
        );
    }
    if let Some(deadline) = &trigger.deadline {
        if let Err(why) = crate::catalog::schedule::next(deadline, chrono::Utc::now()) {
            c.error("trigger.deadline", why);
        }
        let timeless: Vec<&String> = first
            .iter()
            .filter(|k| !TIME_KEYS.iter().any(|(time, _)| time == k))
            .collect();
        if !timeless.is_empty() {
            c.error(
                "trigger.deadline",
                format!(
                    "the partition's key {{{}}} tells no time: a deadline finds its partition by the time it comes ({{date}}, {{year}}, {{month}}, {{day}}, {{hour}})",
                    timeless[0]
                ),
            );
        }
    }
}

/// `expect.succeeded_by`: a cron expression, which does not come before the schedule that runs the job (from the
/// start of a (Monday) day, the schedule's first time comes before the expectation's first time); or a duration
/// after what starts the job's runs, which only an input set or a schedule gives.
fn check_expect(c: &mut Checker<'_>, job: &Job) {
    let Some(expect) = &job.expect else { return };
    let cron = match expect.due() {
        Ok(crate::catalog::ExpectDue::Cron(cron)) => cron,
        Ok(crate::catalog::ExpectDue::After(_)) => {
            if job.trigger.all_of.is_empty() && job.trigger.schedule.is_none() {
                c.error(
                    "expect.succeeded_by",
                    format!(
                        "`{}` is a duration after the job's input set's first arrival or its schedule's times, and \
                         the job has neither (all_of, schedule): give a cron(…) instead",
                        expect.succeeded_by
                    ),
                );
            }
            return;
        }
        Err(why) => {
            c.error("expect.succeeded_by", why);
            return;
        }
    };
    // Monday 2026-01-05, 00:00 UTC.
    let day = chrono::DateTime::<chrono::Utc>::from_timestamp(1_767_571_200, 0).unwrap_or_default();
    let due = match crate::catalog::schedule::next(cron, day) {
        Ok(Some(due)) => due,
        Ok(None) => {
            c.error("expect.succeeded_by", "never comes (its year has passed)");
            return;
        }
        Err(why) => {
            c.error("expect.succeeded_by", why);
            return;
        }
    };
    let Some(schedule) = job
        .trigger
        .schedule
        .as_deref()
        .filter(|s| s.trim().starts_with("cron("))
    else {
        return;
    };
    if let Ok(Some(run)) = crate::catalog::schedule::next(schedule, day) {
        if run > due {
            c.error(
                "expect.succeeded_by",
                format!(
                    "{} comes before the job's schedule {schedule} runs it (due {}, its run {}): put it after the \
                     schedule's time",
                    expect.succeeded_by,
                    due.format("%a %H:%M"),
                    run.format("%a %H:%M")
                ),
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
