//! Reruns: a new run of a run that ended — the same job, trigger, params and logical time, rendered from the catalog
//! under a new name (`<run>-rerun-<n>`), and, for an EMR run that failed part-way, only from its first step that did
//! not complete (on a new cluster: the steps before it are not run again).
//!
//! A rerun keeps the `{run_name}` of the run it reruns — the first run of the chain — so that the steps it skips left
//! their outputs where its remaining steps look for them. Its own name is the execution's, its cluster's and its tags'.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub use super::plan::RerunOf;
use super::plan::{pooled_step_name, render_as, RunInput, RunPlan};
use super::runkey::MAX_EXECUTION_NAME_LEN;
use crate::catalog::{Catalog, Engine, Vars};

/// A rerun as the console or `sparkplug rerun` asks for it: `{"rerun": "<run>", "from_failed": true, "args": {…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    pub rerun: String,
    #[serde(default)]
    pub from_failed: bool,
    /// Params to change (the others keep the run's values).
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// The rerun's name; the execution's own name when absent.
    #[serde(default)]
    pub run_name: Option<String>,
    /// Start it even past its job's budget (the state machine's budget check reads it from the execution's input).
    #[serde(default)]
    pub over_budget: bool,
}

impl RerunRequest {
    /// `Some` when the input asks for a rerun; an error names what is wrong with one that does.
    pub fn from_input(input: &Value) -> Option<Result<RerunRequest, String>> {
        input.get("rerun")?;
        Some(
            serde_json::from_value(input.clone())
                .map_err(|e| format!("a rerun is {{\"rerun\": \"<run>\", \"from_failed\": true|false, \"args\": {{…}}}}: {e}")),
        )
    }
}

/// The run being rerun, as Step Functions has it.
#[derive(Debug, Clone)]
pub struct EndedRun {
    pub plan: RunPlan,
    /// The execution's status: SUCCEEDED, FAILED, TIMED_OUT, ABORTED (RUNNING is refused).
    pub status: String,
    /// Its summary (the execution's output, or its last task's).
    pub summary: Option<Value>,
}

/// The name of the `n`-th rerun of the chain that started with `root`: `<root>-rerun-<n>`, the root cut short so that
/// the whole stays within an execution name's 80 characters.
pub fn rerun_name(root: &str, n: u32) -> String {
    let suffix = format!("-rerun-{n}");
    let room = MAX_EXECUTION_NAME_LEN.saturating_sub(suffix.len());
    let stem: String = root.chars().take(room).collect();
    format!("{stem}{suffix}")
}

/// What `sparkplug rerun` does, given the statuses of the chain's reruns so far (`<root>-rerun-1`, `-2`, … in order,
/// up to the first that does not exist): a repeated command starts nothing twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRerun {
    /// Start this rerun.
    Start(String),
    /// A rerun is running: follow it, start nothing.
    Follow(String),
    /// A rerun succeeded already: nothing to do.
    Succeeded(String),
}

pub fn next_rerun(root: &str, statuses: &[String]) -> NextRerun {
    let named = |index: usize| rerun_name(root, index as u32 + 1);
    if let Some(index) = statuses.iter().position(|s| s == "RUNNING") {
        return NextRerun::Follow(named(index));
    }
    if let Some(index) = statuses.iter().position(|s| s == "SUCCEEDED") {
        return NextRerun::Succeeded(named(index));
    }
    NextRerun::Start(named(statuses.len()))
}

/// The root of the chain `plan` belongs to: the run itself, or the first run a rerun reruns.
pub fn root_of(plan: &RunPlan) -> &str {
    plan.rerun
        .as_ref()
        .map_or(plan.run_name.as_str(), |r| r.root.as_str())
}

/// The rerun's plan, named `run_name`. `now` stands for an S3 arrival's time when its event gave none.
pub fn plan(
    catalog: &Catalog,
    vars: &Vars,
    ended: &EndedRun,
    request: &RerunRequest,
    run_name: &str,
    now: DateTime<Utc>,
) -> Result<RunPlan, String> {
    let original = &ended.plan;
    let name = &original.run_name;
    can_rerun(name, &ended.status, request.from_failed)?;
    let time = original.trigger.time().unwrap_or(now);
    let mut args = original.params.clone();
    args.extend(request.args.clone());
    let input = RunInput {
        trigger: original.trigger.clone(),
        args,
        time,
        run_name: Some(run_name.to_string()),
    };
    let root = root_of(original).to_string();
    let mut plan = render_as(catalog, &original.job, &input, vars, Some(&root))
        .map_err(|e| format!("the rerun of `{name}`: {e}"))?;
    let from_step = match (request.from_failed, plan.engine) {
        (true, Engine::Emr) => failed_step(ended),
        _ => None,
    };
    let skipped_steps = match &from_step {
        Some(step) => {
            skip_to(&mut plan, step).map_err(|e| format!("the rerun of `{name}`: {e}"))?
        }
        None => Vec::new(),
    };
    plan.rerun = Some(RerunOf {
        run: name.clone(),
        root,
        from_step,
        skipped_steps,
    });
    Ok(plan)
}

/// Whether a run in `status` can be rerun: once it has ended, and from its failed step only if it did not succeed.
pub fn can_rerun(run: &str, status: &str, from_failed: bool) -> Result<(), String> {
    match status {
        "RUNNING" => Err(format!(
            "`{run}` is still running: a rerun starts once it has ended (stop it first to rerun it now)"
        )),
        "SUCCEEDED" if from_failed => Err(format!(
            "`{run}` succeeded: no step failed to rerun from (rerun it whole, without from_failed)"
        )),
        _ => Ok(()),
    }
}

/// The first step of an EMR run that did not complete: the one its summary says failed (the steps after it were
/// cancelled with it). None when no step failed — the cluster never ran one, or the run timed out before.
fn failed_step(ended: &EndedRun) -> Option<String> {
    let step = ended.summary.as_ref()?.pointer("/failure/step")?.as_str()?;
    // A pooled run's step bears its run's name on the pool's cluster: the catalog's name is after it.
    let prefix = pooled_step_name(&ended.plan.run_name, "");
    Some(step.strip_prefix(&prefix).unwrap_or(step).to_string())
}

/// Drops the plan's EMR steps before `step`; returns their names.
fn skip_to(plan: &mut RunPlan, step: &str) -> Result<Vec<String>, String> {
    let run_name = plan.run_name.clone();
    let Some(emr) = plan.emr.as_mut() else {
        return Ok(Vec::new());
    };
    let name_of = |s: &Value| {
        let name = s["Name"].as_str().unwrap_or_default();
        let pooled = pooled_step_name(&run_name, "");
        name.strip_prefix(&pooled).unwrap_or(name).to_string()
    };
    let names: Vec<String> = emr.steps.iter().map(name_of).collect();
    let Some(start) = names.iter().position(|n| n == step) else {
        return Err(format!(
            "its failed step `{step}` is not one of the job's steps now ({}): rerun it whole",
            names.join(", ")
        ));
    };
    emr.steps.drain(..start);
    Ok(names[..start].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_names_count_from_the_root_and_stay_within_80_characters() {
        assert_eq!(rerun_name("sales_daily-abc", 1), "sales_daily-abc-rerun-1");
        let long = "x".repeat(80);
        let name = rerun_name(&long, 12);
        assert_eq!(name.len(), 80);
        assert!(name.ends_with("x-rerun-12"));
    }

    #[test]
    fn a_repeated_rerun_follows_the_running_one_and_stops_at_a_success() {
        let statuses = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(next_rerun("r", &[]), NextRerun::Start("r-rerun-1".into()));
        assert_eq!(
            next_rerun("r", &statuses(&["FAILED", "ABORTED"])),
            NextRerun::Start("r-rerun-3".into())
        );
        assert_eq!(
            next_rerun("r", &statuses(&["FAILED", "RUNNING"])),
            NextRerun::Follow("r-rerun-2".into())
        );
        assert_eq!(
            next_rerun("r", &statuses(&["SUCCEEDED", "FAILED"])),
            NextRerun::Succeeded("r-rerun-1".into())
        );
    }

    #[test]
    fn a_rerun_request_is_read_strictly() {
        let ok =
            RerunRequest::from_input(&serde_json::json!({"rerun": "r-1", "from_failed": true}));
        assert_eq!(
            ok,
            Some(Ok(RerunRequest {
                rerun: "r-1".into(),
                from_failed: true,
                ..RerunRequest::default()
            }))
        );
        assert_eq!(
            RerunRequest::from_input(&serde_json::json!({"job": "x"})),
            None
        );
        let bad =
            RerunRequest::from_input(&serde_json::json!({"rerun": "r-1", "from_fialed": true}));
        assert!(bad.unwrap().unwrap_err().contains("from_fialed"));
        let bad = RerunRequest::from_input(&serde_json::json!({"rerun": 7}));
        assert!(bad.unwrap().is_err());
    }
}
