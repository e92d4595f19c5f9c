//! Sensing: a cluster and its steps, or a Glue run, as the adapter reads them → a [`SenseReport`], through the
//! state maps of [`super::states`].

use chrono::{DateTime, Utc};

use super::ports::{ClusterView, GlueRunView, ServerlessRunView, StepView};
use super::report::{FailureName, RunFailure, SenseReport};
use super::states::{
    emr_cluster_phase, emr_step_status, glue_run_status, serverless_run_status, ClusterPhase,
    Status, UnknownState,
};
use crate::run::timeline::{StepTimes, Timeline};

fn seconds_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<i64> {
    Some((to? - from?).num_seconds())
}

/// The EMR sensor: the cluster and the run's steps (by id, in plan order) → a report. The run's time limit is not
/// the sensor's: the waiting task's timeout ends the run (`States.Timeout`).
pub fn sense_emr(
    cluster: &ClusterView,
    all_steps: &[StepView],
    step_ids: &[String],
) -> SenseReport {
    let steps: Vec<Option<&StepView>> = step_ids
        .iter()
        .map(|id| all_steps.iter().find(|s| &s.id == id))
        .collect();
    let mut timeline = Timeline {
        created: cluster.created,
        ready: cluster.ready,
        ended: cluster.ended,
        steps: steps
            .iter()
            .zip(step_ids)
            .map(|(step, id)| StepTimes {
                name: step.map(|s| s.name.clone()).unwrap_or_default(),
                id: id.clone(),
                state: step.map_or("MISSING".to_string(), |s| s.state.clone()),
                submitted: step.and_then(|s| s.created),
                started: step.and_then(|s| s.started),
                ended: step.and_then(|s| s.ended),
            })
            .collect(),
        ..Timeline::default()
    };
    let first_start = timeline.steps.iter().filter_map(|s| s.started).min();
    let last_end = timeline.steps.iter().filter_map(|s| s.ended).max();
    timeline.startup_seconds = seconds_between(cluster.created, cluster.ready.or(first_start));
    timeline.execution_seconds = seconds_between(first_start, last_end);

    let done = timeline
        .steps
        .iter()
        .filter(|s| s.state == "COMPLETED")
        .count();
    let progress = format!(
        "cluster {}, {done}/{} steps completed",
        cluster.state,
        step_ids.len()
    );
    let report = |status, failure| SenseReport {
        status,
        resource_id: Some(cluster.id.clone()),
        state: cluster.state.clone(),
        progress: progress.clone(),
        failure,
        timeline: timeline.clone(),
    };

    // A FAILED step says most about the run, even when the cluster then shut down because of it.
    let mut statuses = Vec::with_capacity(steps.len());
    for (step, id) in steps.iter().zip(step_ids) {
        let Some(step) = step else {
            let failure = RunFailure {
                step: Some(id.clone()),
                reason: Some("the step is not on the cluster".into()),
                ..RunFailure::new(FailureName::StepMissing)
            };
            return report(Status::Failed, Some(failure));
        };
        match emr_step_status(&step.state) {
            Ok(status) => statuses.push((step, status)),
            Err(UnknownState(state)) => {
                return report(Status::Failed, Some(unknown("step", &state)));
            }
        }
    }
    let step_failure = |step: &StepView| {
        let details = step.failure.clone().unwrap_or_default();
        RunFailure {
            error: FailureName::StepFailed,
            step: Some(step.name.clone()),
            reason: details
                .reason
                .or_else(|| Some(format!("step {}", step.state))),
            message: details.message.or(step.state_change.message.clone()),
            log: details.log_file,
        }
    };
    if let Some((step, _)) = statuses.iter().find(|(s, _)| s.state == "FAILED") {
        return report(Status::Failed, Some(step_failure(step)));
    }
    let all_succeeded = statuses
        .iter()
        .all(|(_, status)| *status == Status::Succeeded);
    if all_succeeded && !step_ids.is_empty() {
        return report(Status::Succeeded, None);
    }
    let cluster_gone = matches!(emr_cluster_phase(&cluster.state), Ok(ClusterPhase::Gone));
    // Cancelled or interrupted steps on a live cluster: the steps are the story. On a dead cluster, the cluster is.
    if !cluster_gone {
        if let Some((step, _)) = statuses
            .iter()
            .find(|(_, status)| *status == Status::Failed)
        {
            return report(Status::Failed, Some(step_failure(step)));
        }
    }
    match emr_cluster_phase(&cluster.state) {
        Err(UnknownState(state)) => report(Status::Failed, Some(unknown("cluster", &state))),
        Ok(ClusterPhase::Gone) => {
            let failure = RunFailure {
                reason: cluster
                    .state_change
                    .code
                    .clone()
                    .or(Some(cluster.state.clone())),
                message: cluster.state_change.message.clone(),
                ..RunFailure::new(FailureName::ClusterTerminated)
            };
            report(Status::Failed, Some(failure))
        }
        Ok(ClusterPhase::Starting | ClusterPhase::Up) => report(Status::Running, None),
    }
}

fn unknown(what: &str, state: &str) -> RunFailure {
    RunFailure {
        reason: Some(format!(
            "the {what} is in state `{state}`, which this version of sparkplug does not know"
        )),
        ..RunFailure::new(FailureName::UnknownState)
    }
}

/// The EMR Serverless sensor: a job run → a report. Start-up is submission → running (the application starting, the
/// workers provisioned, or none of it on pre-initialized capacity).
pub fn sense_serverless(run: &ServerlessRunView) -> SenseReport {
    let timeline = Timeline {
        created: run.created,
        ready: run.started,
        ended: run.ended,
        startup_seconds: seconds_between(run.created, run.started),
        execution_seconds: run
            .execution_seconds
            .or_else(|| seconds_between(run.started, run.ended)),
        billed: run.billed.clone(),
        ..Timeline::default()
    };
    let report = |status, failure| SenseReport {
        status,
        resource_id: Some(run.id.clone()),
        state: run.state.clone(),
        progress: format!("job run {} {}", run.id, run.state),
        failure,
        timeline: timeline.clone(),
    };
    match serverless_run_status(&run.state) {
        Ok(Status::Succeeded) => report(Status::Succeeded, None),
        Ok(Status::Failed) => {
            let failure = RunFailure {
                reason: Some(format!("job run {}", run.state)),
                message: run.state_details.clone(),
                log: run.log_uri.as_ref().map(|uri| {
                    format!(
                        "{}/applications/{}/jobs/{}/",
                        uri.trim_end_matches('/'),
                        run.application_id,
                        run.id
                    )
                }),
                ..RunFailure::new(FailureName::JobRunFailed)
            };
            report(Status::Failed, Some(failure))
        }
        Ok(Status::Running) => report(Status::Running, None),
        Err(UnknownState(state)) => report(Status::Failed, Some(unknown("job run", &state))),
    }
}

/// The Glue sensor: a job run → a report.
pub fn sense_glue(run: &GlueRunView) -> SenseReport {
    let mut timeline = Timeline {
        created: run.started,
        ended: run.completed,
        ..Timeline::default()
    };
    timeline.execution_seconds = run.execution_seconds;
    if let (Some(total), Some(execution)) = (
        seconds_between(run.started, run.completed),
        run.execution_seconds,
    ) {
        // Glue reports only the whole run and its execution time: the rest is start-up.
        timeline.startup_seconds = Some((total - execution).max(0));
    }
    let report = |status, failure| SenseReport {
        status,
        resource_id: Some(run.id.clone()),
        state: run.state.clone(),
        progress: format!("Glue run {} {}", run.id, run.state),
        failure,
        timeline: timeline.clone(),
    };
    match glue_run_status(&run.state) {
        Ok(Status::Succeeded) => report(Status::Succeeded, None),
        Ok(Status::Failed) => {
            let failure = RunFailure {
                reason: Some(format!("Glue run {}", run.state)),
                message: run.error_message.clone(),
                log: run.log_group.clone(),
                ..RunFailure::new(FailureName::GlueRunFailed)
            };
            report(Status::Failed, Some(failure))
        }
        Ok(Status::Running) => report(Status::Running, None),
        Err(UnknownState(state)) => report(Status::Failed, Some(unknown("Glue run", &state))),
    }
}
