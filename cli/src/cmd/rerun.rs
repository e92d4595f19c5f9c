//! `sparkplug rerun`: a new run of a run that ended, from its failed step with `--from-failed`; followed live.

use super::*;
use crate::output::say;
use crate::remote;

pub(crate) async fn rerun(
    run: &str,
    from_failed: bool,
    set: Vec<(String, String)>,
    detach: bool,
    over_budget: bool,
    target: &TargetArgs,
) -> Result<(), String> {
    let target = target.target().await?;
    let args = set.into_iter().collect();
    let name = match sparkplug_cli::rerun::rerun(
        &target.sfn,
        &target.state_machine_arn,
        run,
        from_failed,
        &args,
        over_budget,
    )
    .await?
    {
        sparkplug_cli::rerun::Rerun::Started(name) => {
            say!("started {name}, a rerun of {run}");
            name
        }
        sparkplug_cli::rerun::Rerun::Running(name) => {
            say!("{name} reruns it already: following it (nothing started)");
            name
        }
    };
    if detach {
        return Ok(());
    }
    let outcome = remote::follow(&target, &name, std::time::Duration::from_secs(48 * 3600)).await?;
    remote::print_outcome(&outcome);
    if outcome.status == "SUCCEEDED" {
        Ok(())
    } else {
        Err(format!("{name} {}", outcome.status))
    }
}
