//! The sensing state maps, as tables: every state the AWS SDK's service models list (`…State::values()`) has its
//! expected meaning here, so a state AWS adds fails this test instead of a run.

use aws_sdk_emr::types::{ClusterState, StepState};
use aws_sdk_glue::types::JobRunState;
use sparkplug::engine::states::{
    emr_cluster_phase, emr_step_cancellable, emr_step_status, glue_run_status, ClusterPhase,
    Status, UnknownState,
};

/// `expected` must name every value of the SDK's enum, each once, and the map must agree with it.
fn check_table<T: PartialEq + std::fmt::Debug>(
    sdk_values: &[&str],
    expected: &[(&str, T)],
    map: impl Fn(&str) -> Result<T, UnknownState>,
) {
    let mut named: Vec<&str> = expected.iter().map(|(state, _)| *state).collect();
    named.sort_unstable();
    let mut listed = sdk_values.to_vec();
    listed.sort_unstable();
    assert_eq!(
        named, listed,
        "the table and the SDK's model list different states"
    );
    for (state, meaning) in expected {
        assert_eq!(map(state).as_ref(), Ok(meaning), "{state}");
    }
    assert_eq!(
        map("SOMETHING_NEW"),
        Err(UnknownState("SOMETHING_NEW".into()))
    );
}

#[test]
fn emr_step_states() {
    use Status::*;
    check_table(
        StepState::values(),
        &[
            ("PENDING", Running),
            ("CANCEL_PENDING", Running),
            ("RUNNING", Running),
            ("COMPLETED", Succeeded),
            ("CANCELLED", Failed),
            ("FAILED", Failed),
            ("INTERRUPTED", Failed),
        ],
        emr_step_status,
    );
    // CancelSteps takes PENDING and RUNNING steps; every other state is being cancelled already, or over.
    for state in StepState::values() {
        assert_eq!(
            emr_step_cancellable(state),
            matches!(*state, "PENDING" | "RUNNING"),
            "{state}"
        );
    }
}

#[test]
fn emr_cluster_states() {
    use ClusterPhase::*;
    check_table(
        ClusterState::values(),
        &[
            ("STARTING", Starting),
            ("BOOTSTRAPPING", Starting),
            ("RUNNING", Up),
            ("WAITING", Up),
            ("TERMINATING", Gone),
            ("TERMINATED", Gone),
            ("TERMINATED_WITH_ERRORS", Gone),
        ],
        emr_cluster_phase,
    );
}

#[test]
fn glue_run_states() {
    use Status::*;
    check_table(
        JobRunState::values(),
        &[
            ("STARTING", Running),
            ("RUNNING", Running),
            ("WAITING", Running),
            ("STOPPING", Running),
            ("SUCCEEDED", Succeeded),
            ("FAILED", Failed),
            ("TIMEOUT", Failed),
            ("ERROR", Failed),
            // A stopped run is a failure, always: nobody asked sparkplug to stop it.
            ("STOPPED", Failed),
            ("EXPIRED", Failed),
        ],
        glue_run_status,
    );
}
