//! A run's execution of the run state machine: its ARN from the state machine's and its name.

/// The ARN of the execution `name` of a state machine (Step Functions' ARN format: the state machine's, with
/// `:execution:` for `:stateMachine:` and the name after it).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    let base = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
    format!("{base}:{name}")
}
