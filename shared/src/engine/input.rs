//! The input side of every handler's contract: decoding the state machine's JSON into the handler's input type (bad
//! input is `InvalidInput`, naming what is wrong) and checking that a plan is one this build can run.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::errors::TaskError;
use crate::catalog::Engine;
use crate::run::plan::PLAN_VERSION;
use crate::run::RunPlan;

/// Decodes a task's input; the error names the task and where in the input the problem is.
pub fn decode<I: DeserializeOwned>(task: &str, input: Value) -> Result<I, TaskError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        TaskError::invalid(format!("{task}: bad input{at}: {}", e.into_inner()))
    })
}

/// A handler behind its JSON contract, as the Lambda runtime loop runs it for every invocation: decodes `input` as
/// the handler's `I` (bad input is `InvalidInput`), runs the handler, and encodes its `O`.
pub async fn handle<I, O, F, Fut>(task: &str, input: Value, handler: F) -> Result<Value, TaskError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, TaskError>>,
{
    let output = handler(decode(task, input)?).await?;
    serde_json::to_value(output)
        .map_err(|e| TaskError::invalid(format!("{task}: cannot write the output: {e}")))
}

/// A plan of this version and of this engine, or an `InvalidInput` that says which it is not.
pub fn check_plan(plan: &RunPlan, engine: Engine) -> Result<(), TaskError> {
    if plan.plan_version != PLAN_VERSION {
        return Err(TaskError::invalid(format!(
            "plan version {} is not the version this function reads ({PLAN_VERSION}): redeploy or re-plan",
            plan.plan_version
        )));
    }
    if plan.engine != engine {
        return Err(TaskError::invalid(format!(
            "run {} is a {} run, not {}",
            plan.run_name,
            plan.engine.as_str(),
            engine.as_str()
        )));
    }
    Ok(())
}
