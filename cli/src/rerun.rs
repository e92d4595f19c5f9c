//! `sparkplug rerun`: a new run of a run that ended, started as the console would start it
//! (`{"rerun": "<run>", "from_failed": …}`: the stack's resolve function makes its plan from the run it reruns, with
//! the deployed catalog and vars), named `<root>-rerun-<n>`. Checked here first, so that a mistake starts nothing.

use std::collections::BTreeMap;

use serde_json::json;
use sparkplug::aws::sfn::Sfn;
use sparkplug::engine::execution::{execution_arn, plan_in};
use sparkplug::engine::ports::{ExecutionsApi, SfnApi};
use sparkplug::engine::ErrorKind;
use sparkplug::run::rerun::{can_rerun, next_rerun, root_of, NextRerun};

/// What the command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rerun {
    /// It started this rerun.
    Started(String),
    /// A rerun of the chain was running already: this one (nothing started).
    Running(String),
}

/// Starts the rerun of `run` (or finds the one running), after checking that `run` exists, has ended, and, with
/// `from_failed`, did not succeed.
pub async fn rerun(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    run: &str,
    from_failed: bool,
    args: &BTreeMap<String, String>,
    over_budget: bool,
) -> Result<Rerun, String> {
    let executions = Sfn::from_client(sfn.clone());
    let arn = execution_arn(state_machine_arn, run);
    let execution = match executions.describe_execution(&arn).await {
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(format!(
                "no run `{run}`: {state_machine_arn} has no execution of that name"
            ))
        }
        described => described.map_err(|e| format!("DescribeExecution {run}: {e}"))?,
    };
    can_rerun(run, &execution.status, from_failed)?;
    let outputs = executions
        .task_outputs(&arn)
        .await
        .map_err(|e| format!("GetExecutionHistory {run}: {e}"))?;
    let plan = plan_in(&execution.input, &outputs).ok_or_else(|| {
        format!(
            "`{run}` has no run plan (it failed before one was made): start its job again instead"
        )
    })?;
    let root = root_of(&plan).to_string();
    let mut statuses = Vec::new();
    loop {
        let name = sparkplug::run::rerun::rerun_name(&root, statuses.len() as u32 + 1);
        match executions
            .execution_status(state_machine_arn, &name)
            .await
            .map_err(|e| format!("DescribeExecution {name}: {e}"))?
        {
            Some(status) => statuses.push(status),
            None => break,
        }
    }
    let name = match next_rerun(&root, &statuses) {
        NextRerun::Follow(name) => return Ok(Rerun::Running(name)),
        NextRerun::Succeeded(name) => {
            return Err(format!(
                "`{root}` was rerun as `{name}`, which succeeded: nothing to rerun"
            ))
        }
        NextRerun::Start(name) => name,
    };
    let mut request =
        json!({"rerun": run, "from_failed": from_failed, "args": args, "run_name": name});
    if over_budget {
        // Read by the state machine's budget check: the rerun starts even past its job's budget.
        request["over_budget"] = json!(true);
    }
    sfn.start_execution()
        .state_machine_arn(state_machine_arn)
        .name(&name)
        .input(request.to_string())
        .send()
        .await
        .map_err(|e| {
            format!(
                "StartExecution {name}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    Ok(Rerun::Started(name))
}
