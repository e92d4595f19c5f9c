//! Runs that recover: a failed attempt whose cause the job lists in `retries.on` starts a new attempt of the same
//! run — the same execution, name and slot, so it is counted once in queues and budgets — after a backoff; and an EMR
//! cluster that EC2 had no capacity for before any step ran starts again at once on the job's next `emr.fallback`
//! alternative (other instance types, another subnet). A multi-step EMR run resumes at its first step that did not
//! complete.
//!
//! What is a cause is the engine's reading of AWS's answers (`engine::recovery`); what happens next is decided here,
//! from the plan alone.

use serde_json::json;

pub use super::plan::attempts::{apply_alternative, own_alternative, Attempt, Recovery};
use super::plan::serverless::client_token;
use super::plan::{pooled_step_name, RunPlan};
pub use crate::catalog::recovery::{Alternative, Cause, Retries};
use crate::catalog::Engine;

/// The next attempt: its plan, how long to wait before it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct NextAttempt {
    pub plan: RunPlan,
    pub wait_seconds: u64,
    pub cause: Cause,
    /// The fallback alternative it runs on, when it moves to one.
    pub alternative: Option<String>,
}

/// The description of the alternative `plan` runs on, when it is a fallback one.
pub fn alternative_of(plan: &RunPlan) -> Option<String> {
    let recovery = plan.recovery.as_ref()?;
    let index = recovery.alternative.checked_sub(1)?;
    recovery.fallback.get(index).map(Alternative::describe)
}

/// What follows a failed attempt of `plan`: a new attempt, or none (the run fails). `any_step_ran`: whether the
/// attempt's work began (a cluster that ran a step is no capacity failure to fall back from).
pub fn next_attempt(plan: &RunPlan, failed: Attempt, any_step_ran: bool) -> Option<NextAttempt> {
    let recovery = plan.recovery.as_ref()?;
    let cause = failed.cause?;
    let mut next = plan.clone();
    let mut moved_to = None;
    let wait_seconds;
    {
        let next_recovery = next.recovery.as_mut()?;
        if cause == Cause::Capacity
            && !any_step_ran
            && plan.engine == Engine::Emr
            && recovery.alternative < recovery.fallback.len()
        {
            let alternative = &recovery.fallback[recovery.alternative];
            let emr = next.emr.as_mut()?;
            apply_alternative(&recovery.own, &mut emr.cluster);
            apply_alternative(alternative, &mut emr.cluster);
            next_recovery.alternative += 1;
            moved_to = Some(alternative.describe());
            wait_seconds = 0;
        } else {
            let retries = recovery.retries.as_ref()?;
            if !retries.on.contains(&cause) || recovery.retried >= retries.max {
                return None;
            }
            wait_seconds = retries.backoff(recovery.retried);
            next_recovery.retried += 1;
        }
        next_recovery.attempt += 1;
    }
    let attempt = recovery.attempt + 1;
    skip_completed(&mut next, &failed.completed_steps);
    if let Some(serverless) = next.emr_serverless.as_mut() {
        // A repeated StartJobRun with the same clientToken answers the earlier run: each attempt has its own.
        serverless.run["clientToken"] = json!(client_token(&format!(
            "{}-attempt-{attempt}",
            plan.run_name
        )));
    }
    if let Some(next_recovery) = next.recovery.as_mut() {
        next_recovery.earlier.push(failed);
    }
    Some(NextAttempt {
        plan: next,
        wait_seconds,
        cause,
        alternative: moved_to,
    })
}

/// Drops the plan's EMR steps that an earlier attempt completed.
fn skip_completed(plan: &mut RunPlan, completed: &[String]) {
    if completed.is_empty() {
        return;
    }
    let pooled = pooled_step_name(&plan.run_name, "");
    if let Some(emr) = plan.emr.as_mut() {
        emr.steps.retain(|step| {
            let name = step["Name"].as_str().unwrap_or_default();
            let own = name.strip_prefix(&pooled).unwrap_or(name);
            !completed.iter().any(|done| done == own || done == name)
        });
    }
}

/// The resource ids the attempts before this one used (a retried start must not adopt one of them).
pub fn earlier_resources(plan: &RunPlan) -> Vec<&str> {
    plan.recovery
        .iter()
        .flat_map(|r| &r.earlier)
        .filter_map(|a| a.resource_id.as_deref())
        .collect()
}
