//! A run's execution of the run state machine, for the handlers and the CLI: its ARN and its status change event
//! (plain types in `run::execution`), and the plan and summary read from what the execution holds.

pub use crate::run::execution::{execution_arn, ExecutionStatusChange, STATUS_CHANGE};

use serde_json::Value;

use super::errors::TaskError;
use crate::run::RunPlan;

/// The `InvalidInput` of `function` for an execution status change without `why` (a field every such event carries).
pub fn status_change_error(function: &str, why: &str) -> TaskError {
    TaskError::invalid(format!("{function}: the execution status change has {why}"))
}

/// Whether an execution's input or a task's output is a run plan (the trigger starts an execution with one; resolve
/// makes one of a console request).
pub fn is_plan(value: &Value) -> bool {
    value.get("plan_version").is_some() && value.get("run_name").is_some()
}

/// The plan of an execution: its input when that is a plan, else the task output that is one (resolve's).
pub fn plan_in(input: &Value, outputs: &[Value]) -> Option<RunPlan> {
    std::iter::once(input)
        .chain(outputs)
        .find(|value| is_plan(value))
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}

/// The run's summary: the execution's output, else the newest task output that is one (a failed execution has no
/// output; its finish task's is the summary).
pub fn summary_in(output: Option<&Value>, outputs: &[Value]) -> Option<Value> {
    output
        .into_iter()
        .chain(outputs)
        .find(|value| {
            value.get("status").is_some() && value.get("run_name").is_some() && !is_plan(value)
        })
        .cloned()
}

/// The job and what triggered it, from an execution's input: a plan, or a `{"job": …}` request.
pub fn job_and_trigger(input: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if is_plan(input) {
        let trigger = &input["trigger"];
        if let Some(rerun) = input.get("rerun") {
            let from = match rerun["from_step"].as_str() {
                Some(step) => format!(" from step {step}"),
                None => String::new(),
            };
            return (
                text(&input["job"]),
                format!("rerun of {}{from}", text(&rerun["run"])),
            );
        }
        let kind = match text(&trigger["type"]).as_str() {
            "s3" => format!(
                "s3://{}/{}",
                text(&trigger["bucket"]),
                text(&trigger["key"])
            ),
            "upstream" => format!("after {}", text(&trigger["run"])),
            "input_set" => {
                let partition: Vec<String> = trigger["partition"]
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| format!("{k}={}", text(v))).collect())
                    .unwrap_or_default();
                format!("input set {}", partition.join(","))
            }
            "batch" => format!(
                "batch of {} objects",
                trigger["objects"].as_u64().unwrap_or_default()
            ),
            other => other.to_string(),
        };
        return (text(&input["job"]), kind);
    }
    if let Some(run) = input["rerun"].as_str() {
        // A rerun that never got its plan (its Resolve task failed).
        return (String::new(), format!("rerun of {run}"));
    }
    let kind = if input["scheduled"].as_bool() == Some(true) {
        "schedule"
    } else {
        "console"
    };
    (text(&input["job"]), kind.to_string())
}

/// What triggered a run, from its execution's input and its plan: the plan says it, but for a console request
/// (`{"job": …}`, which the plan calls `manual`), which says `console` or `schedule`.
pub fn trigger_of(input: &Value, plan: &Value) -> String {
    if is_plan(input) || input.get("rerun").is_some() {
        job_and_trigger(plan).1
    } else {
        job_and_trigger(input).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_job_and_trigger_come_from_a_plan_or_a_request() {
        let plan = json!({"plan_version": 1, "job": "sales_daily", "run_name": "sales_daily-1",
            "trigger": {"type": "s3", "bucket": "b", "key": "landing/x/_SUCCESS"}});
        assert_eq!(
            job_and_trigger(&plan),
            ("sales_daily".into(), "s3://b/landing/x/_SUCCESS".into())
        );
        let plan = json!({"plan_version": 1, "job": "customer_scores", "run_name": "customer_scores-1",
                "trigger": {"type": "schedule"}});
        assert_eq!(job_and_trigger(&plan).1, "schedule");
        assert_eq!(
            job_and_trigger(&json!({"job": "hello_world"})),
            ("hello_world".into(), "console".into())
        );
        assert_eq!(
            job_and_trigger(&json!({"job": "x", "scheduled": true})).1,
            "schedule"
        );
        let rerun = json!({"plan_version": 1, "job": "sales_daily", "run_name": "s-1-rerun-1",
            "trigger": {"type": "manual"}, "rerun": {"run": "s-1", "root": "s-1", "from_step": "aggregate"}});
        assert_eq!(
            job_and_trigger(&rerun),
            (
                "sales_daily".into(),
                "rerun of s-1 from step aggregate".into()
            )
        );
    }

    #[test]
    fn a_console_request_is_a_console_run_whatever_its_plan_says() {
        let plan = json!({"plan_version": 1, "job": "hello_world", "run_name": "h-1", "trigger": {"type": "manual"}});
        assert_eq!(trigger_of(&json!({"job": "hello_world"}), &plan), "console");
        assert_eq!(
            trigger_of(&json!({"job": "hello_world", "scheduled": true}), &plan),
            "schedule"
        );
        assert_eq!(trigger_of(&plan, &plan), "manual");
        let rerun = json!({"plan_version": 1, "job": "hello_world", "run_name": "h-1-rerun-1",
            "trigger": {"type": "manual"}, "rerun": {"run": "h-1", "root": "h-1"}});
        assert_eq!(trigger_of(&json!({"rerun": "h-1"}), &rerun), "rerun of h-1");
    }
}
