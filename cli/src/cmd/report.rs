//! `sparkplug report`: the runs of a window as one self-contained HTML page.

use std::path::Path;

use super::*;

pub(crate) async fn report(
    jobs: &[String],
    since: chrono::TimeDelta,
    out: &Path,
    target: &TargetArgs,
) -> Result<(), String> {
    let target = target.target().await?;
    let now = chrono::Utc::now();
    let report = sparkplug_cli::report::collect(
        &target.sfn,
        &target.table,
        &target.logs,
        &target.state_machine_arn,
        jobs,
        now - since,
        now,
    )
    .await?;
    let page = sparkplug_cli::report::render(&report);
    std::fs::write(out, page).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    say!("{}: {} run(s)", out.display(), report.runs.len());
    Ok(())
}
