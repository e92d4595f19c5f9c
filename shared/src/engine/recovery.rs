//! A failed attempt's cause, read from AWS's answers, and what its finish task does with it: the run's summary says
//! so, and carries the next attempt's state for the state machine to start after its wait
//! ([`crate::run::recovery`] decides whether there is one).

use serde_json::{json, Value};
use tracing::warn;

use super::ports::ClusterView;
use super::states::Status;
use super::summary::{finish, CaughtError, FinishInput, NextAttemptState, RunSummary};
use crate::run::recovery::{alternative_of, next_attempt, Attempt, Cause};

/// EMR's ErrorDetail codes for a cluster EC2 had no capacity for (EMR Management Guide, "Error codes with
/// ErrorDetail information" → "Internal error codes": INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ — the subnet's
/// Availability Zone has no capacity for the instance type; INTERNAL_ERROR_SPOT_NO_CAPACITY_PRIMARY and
/// INTERNAL_ERROR_SPOT_PRICE_INCREASE_PRIMARY — no Spot capacity, or none at the price, for the primary node). The
/// guide advises against reading ErrorMessage's text: only the codes are read.
pub const CAPACITY_ERROR_CODES: [&str; 3] = [
    "INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ",
    "INTERNAL_ERROR_SPOT_NO_CAPACITY_PRIMARY",
    "INTERNAL_ERROR_SPOT_PRICE_INCREASE_PRIMARY",
];

/// ClusterStateChangeReason code of an instance fleet that could not be provisioned within its provisioning
/// timeout (EMR API Reference, ClusterStateChangeReason; Management Guide, "Configure provisioning timeouts for
/// cluster launch": TimeoutAction TERMINATE_CLUSTER).
pub const FLEET_TIMEOUT_CODE: &str = "INSTANCE_FLEET_TIMEOUT";

/// ClusterStateChangeReason code of a cluster lost to its instances' failure (EMR API Reference).
pub const INSTANCE_FAILURE_CODE: &str = "INSTANCE_FAILURE";

/// Why an EMR cluster ended, when a new attempt could help: capacity when it ended TERMINATED_WITH_ERRORS before it
/// was ever ready (so before any step ran) with a capacity ErrorDetail code or a fleet's provisioning timeout; a
/// Spot interruption when it was lost to an instance failure after it was ready, and its request runs its primary
/// or core nodes on Spot
/// (EC2 may take Spot instances back at any time: EC2 User Guide, "Spot Instance interruptions").
pub fn emr_cause(cluster: &ClusterView, request: &Value) -> Option<Cause> {
    if cluster.state != "TERMINATED_WITH_ERRORS" {
        return None;
    }
    let code = cluster.state_change.code.as_deref();
    let capacity_code = cluster
        .error_codes
        .iter()
        .any(|c| CAPACITY_ERROR_CODES.contains(&c.as_str()));
    if cluster.ready.is_none() && (capacity_code || code == Some(FLEET_TIMEOUT_CODE)) {
        return Some(Cause::Capacity);
    }
    if cluster.ready.is_some()
        && code == Some(INSTANCE_FAILURE_CODE)
        && spot_primary_or_core(request)
    {
        return Some(Cause::SpotInterrupted);
    }
    None
}

/// Whether a RunJobFlow request runs its primary or core nodes on Spot (an instance group in the SPOT market, a
/// fleet with Spot capacity): losing those ends a cluster, losing task nodes does not.
pub fn spot_primary_or_core(request: &Value) -> bool {
    let instances = &request["Instances"];
    let roles = ["MASTER", "CORE"];
    let groups = instances["InstanceGroups"].as_array();
    let fleets = instances["InstanceFleets"].as_array();
    let spot_group = groups.is_some_and(|groups| {
        groups
            .iter()
            .any(|g| g["Market"] == "SPOT" && roles.iter().any(|role| g["InstanceRole"] == *role))
    });
    let spot_fleet = fleets.is_some_and(|fleets| {
        fleets.iter().any(|f| {
            f["TargetSpotCapacity"].as_u64().unwrap_or(0) > 0
                && roles.iter().any(|role| f["InstanceFleetType"] == *role)
        })
    });
    spot_group || spot_fleet
}

/// A task error the state machine caught after its own retries, when it says AWS refused for its rate or a quota:
/// the `Throttled` kind, the `Retryable` kind (5xx, `ConcurrentRunsExceededException`) or Lambda's own throttling.
pub fn caught_cause(caught: Option<&CaughtError>) -> Option<Cause> {
    match caught?.error.as_str() {
        "Throttled" | "Retryable" | "Lambda.TooManyRequestsException" => Some(Cause::Throttled),
        _ => None,
    }
}

/// What a failed attempt tells of itself, for [`recover`].
#[derive(Debug, Clone, Default)]
pub struct AttemptEnd {
    pub cause: Option<Cause>,
    /// Whether any of its work began (an EMR step ran).
    pub any_step_ran: bool,
    /// EMR: the steps it completed.
    pub completed_steps: Vec<String>,
}

/// A finish task's end: a failed attempt whose cause the job's recovery covers gets a next attempt (its summary
/// says so, and no metric line is printed for it: the run has not ended); any other attempt ends the run
/// ([`finish`]), its summary listing the attempts before it and their cost added to its own.
pub fn recover(
    mut summary: RunSummary,
    state: &FinishInput,
    end: AttemptEnd,
    now: chrono::DateTime<chrono::Utc>,
) -> RunSummary {
    let plan = &state.plan;
    let Some(recovery) = plan.recovery.as_ref() else {
        return finish(summary, state, now);
    };
    summary.attempt = Some(recovery.attempt);
    summary.attempts = recovery.earlier.clone();
    if summary.status != Status::Succeeded {
        let failed = Attempt {
            attempt: recovery.attempt,
            resource_id: summary
                .cluster_id
                .clone()
                .or_else(|| summary.glue_run_id.clone())
                .or_else(|| summary.job_run_id.clone()),
            error: summary
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            why: summary.cause.clone().unwrap_or_default(),
            cause: end.cause,
            alternative: alternative_of(plan),
            cost_usd: summary.cost.as_ref().map(|c| c.usd),
            completed_steps: end.completed_steps,
        };
        if let Some(next) = next_attempt(plan, failed, end.any_step_ran) {
            let mut next_state = json!({"plan": next.plan, "cluster": {}});
            if let Some(slot) = &state.slot {
                next_state["slot"] = slot.clone();
            }
            warn!(job = %plan.job, run = %plan.run_name, attempt = recovery.attempt, cause = %next.cause,
                wait_seconds = next.wait_seconds, alternative = ?next.alternative, "attempt failed: trying again");
            summary.next_attempt = Some(NextAttemptState {
                attempt: recovery.attempt + 1,
                cause: next.cause,
                wait_seconds: next.wait_seconds,
                alternative: next.alternative,
                state: next_state,
            });
            return summary;
        }
    }
    let earlier_usd: f64 = summary.attempts.iter().filter_map(|a| a.cost_usd).sum();
    if let (Some(cost), false) = (&mut summary.cost, summary.attempts.is_empty()) {
        cost.usd += earlier_usd;
        cost.basis.push_str(&format!(
            "; with {} earlier attempt(s): {earlier_usd:.4} USD",
            summary.attempts.len()
        ));
    }
    finish(summary, state, now)
}
