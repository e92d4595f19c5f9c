//! Reruns over the fixture catalog: what a rerun's plan keeps of the run it reruns and what it changes.

mod common;

use common::{catalog, plan_of, vars};
use serde_json::{json, Value};
use sparkplug::run::rerun::{plan, EndedRun, RerunRequest};

fn ended(job: &str, status: &str, failed_step: Option<&str>) -> EndedRun {
    EndedRun {
        plan: plan_of(job),
        status: status.into(),
        summary: failed_step.map(|step| json!({"failure": {"error": "StepFailed", "step": step}})),
    }
}

fn request(run: &str, from_failed: bool) -> RerunRequest {
    RerunRequest {
        rerun: run.into(),
        from_failed,
        ..RerunRequest::default()
    }
}

fn step_names(plan: &sparkplug::RunPlan) -> Vec<String> {
    plan.emr
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .map(|s| s["Name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn from_the_failed_step_a_rerun_keeps_only_the_steps_left_and_the_first_runs_run_name() {
    let catalog = catalog();
    let first = ended("sales_daily", "FAILED", Some("aggregate"));
    let original = first.plan.run_name.clone();
    let name = format!("{original}-rerun-1");
    let rerun = plan(
        &catalog,
        &vars(&catalog),
        &first,
        &request(&original, true),
        &name,
        common::now(),
    )
    .unwrap();
    assert_eq!(rerun.run_name, name);
    assert_eq!(step_names(&first.plan), ["ingest", "aggregate"]);
    assert_eq!(step_names(&rerun), ["aggregate"]);
    let of = rerun.rerun.as_ref().unwrap();
    assert_eq!(of.run, original);
    assert_eq!(of.root, original);
    assert_eq!(of.from_step.as_deref(), Some("aggregate"));
    assert_eq!(of.skipped_steps, ["ingest"]);
    // Its own cluster and tags bear its own name …
    let cluster = &rerun.emr.as_ref().unwrap().cluster;
    assert_eq!(cluster["Name"], format!("sparkplug-dev-{name}"));
    assert!(cluster["Tags"]
        .as_array()
        .unwrap()
        .contains(&json!({"Key": "sparkplug:run", "Value": name})));
    // … its inputs and time are the first run's.
    assert_eq!(rerun.trigger, first.plan.trigger);
    assert_eq!(rerun.params, first.plan.params);
    // Without from_failed, every step runs again.
    let whole = plan(
        &catalog,
        &vars(&catalog),
        &first,
        &request(&original, false),
        &name,
        common::now(),
    )
    .unwrap();
    assert_eq!(step_names(&whole), ["ingest", "aggregate"]);
    assert_eq!(whole.rerun.unwrap().from_step, None);
}

#[test]
fn a_rerun_of_a_rerun_counts_from_the_first_run_and_keeps_its_run_name_for_the_steps() {
    let catalog = catalog();
    let first = ended("sales_daily", "FAILED", Some("aggregate"));
    let root = first.plan.run_name.clone();
    let second = plan(
        &catalog,
        &vars(&catalog),
        &first,
        &request(&root, true),
        &format!("{root}-rerun-1"),
        common::now(),
    )
    .unwrap();
    let again = EndedRun {
        plan: second.clone(),
        status: "FAILED".into(),
        summary: Some(json!({"failure": {"step": "aggregate"}})),
    };
    let third = plan(
        &catalog,
        &vars(&catalog),
        &again,
        &request(&second.run_name, true),
        &format!("{root}-rerun-2"),
        common::now(),
    )
    .unwrap();
    let of = third.rerun.as_ref().unwrap();
    assert_eq!(
        (of.run.as_str(), of.root.as_str()),
        (second.run_name.as_str(), root.as_str())
    );
    // `{run_name}` in the steps' args is the first run's: its outputs are where the remaining steps look.
    let args: Vec<Value> = third.emr.as_ref().unwrap().steps[0]["HadoopJarStep"]["Args"]
        .as_array()
        .unwrap()
        .clone();
    let text = serde_json::to_string(&args).unwrap();
    assert!(!text.contains("-rerun-"), "{text}");
}

#[test]
fn what_cannot_be_rerun_is_refused_with_the_reason() {
    let catalog = catalog();
    let vars = vars(&catalog);
    let running = ended("sales_daily", "RUNNING", None);
    let name = running.plan.run_name.clone();
    let err = plan(
        &catalog,
        &vars,
        &running,
        &request(&name, false),
        "x-rerun-1",
        common::now(),
    )
    .unwrap_err();
    assert!(err.contains("is still running"), "{err}");
    let succeeded = ended("sales_daily", "SUCCEEDED", None);
    let err = plan(
        &catalog,
        &vars,
        &succeeded,
        &request(&name, true),
        "x-rerun-1",
        common::now(),
    )
    .unwrap_err();
    assert!(err.contains("no step failed"), "{err}");
    // A failed step the job no longer has.
    let renamed = ended("sales_daily", "FAILED", Some("aggregate_v1"));
    let err = plan(
        &catalog,
        &vars,
        &renamed,
        &request(&name, true),
        "x-rerun-1",
        common::now(),
    )
    .unwrap_err();
    assert!(
        err.contains("`aggregate_v1` is not one of the job's steps now (ingest, aggregate)"),
        "{err}"
    );
    // A bad name for the rerun.
    let failed = ended("sales_daily", "FAILED", Some("aggregate"));
    let err = plan(
        &catalog,
        &vars,
        &failed,
        &request(&name, true),
        "bad name",
        common::now(),
    )
    .unwrap_err();
    assert!(err.contains("bad name"), "{err}");
    // A failed Glue run starts again whole (no steps to skip).
    let glue = ended("customer_scores", "FAILED", None);
    let rerun = plan(
        &catalog,
        &vars,
        &glue,
        &request(&glue.plan.run_name, true),
        "c-rerun-1",
        common::now(),
    )
    .unwrap();
    assert_eq!(rerun.rerun.unwrap().from_step, None);
}
