//! `sparkplug status`: a run's status and summary.

use serde_json::Value;

use super::*;
use crate::output::say;
use crate::remote;

pub(crate) async fn status(
    run_name: &str,
    follow: bool,
    target: &TargetArgs,
) -> Result<(), String> {
    let target = target.target().await?;
    if follow {
        let outcome =
            remote::follow(&target, run_name, std::time::Duration::from_secs(48 * 3600)).await?;
        remote::print_outcome(&outcome);
        return Ok(());
    }
    let execution = target
        .sfn
        .describe_execution()
        .execution_arn(target.execution_arn(run_name))
        .send()
        .await
        .map_err(|e| {
            format!(
                "{run_name}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    say!("{run_name} {}", execution.status().as_str());
    if let Some(output) = execution.output() {
        let value: Value =
            serde_json::from_str(output).unwrap_or(Value::String(output.to_string()));
        print_json(&value);
    }
    if let Some(error) = execution.error() {
        say!("error: {error}");
    }
    if let Some(cause) = execution.cause() {
        say!("cause: {cause}");
    }
    Ok(())
}
