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

/// `sparkplug status JOB --partition P`.
pub(crate) async fn partition(
    catalog: &sparkplug::catalog::Catalog,
    job: &str,
    partition: &str,
    set: Vec<(String, String)>,
    target: &TargetArgs,
) -> Result<(), String> {
    let vars = vars(catalog, set)?;
    let target = target.target().await?;
    let sfn = sparkplug::aws::sfn::Sfn::from_client(target.sfn.clone());
    let status = sparkplug_cli::partition::partition_status(
        catalog,
        &vars,
        &target.table,
        &sfn,
        &target.state_machine_arn,
        job,
        partition,
    )
    .await?;
    say!("{status}");
    Ok(())
}
