//! `sparkplug replay-failed`: the failed-events queue through its functions again.

use super::*;
use crate::output::say;

pub(crate) async fn replay_failed(dry_run: bool, target: &TargetArgs) -> Result<(), String> {
    let stack = target.stack().await?;
    let report = stack.replay_failed(dry_run).await?;
    for (function, answer) in &report.replayed {
        say!(
            "{} {function}: {answer}",
            if dry_run { "would replay" } else { "replayed" }
        );
    }
    for (function, why) in &report.failed {
        say!("failed again {function}: {why} (left in the queue)");
    }
    for why in &report.unreadable {
        say!("left in the queue: {why}");
    }
    if !report.started.is_empty() {
        say!(
            "started {} run(s): {}",
            report.started.len(),
            report.started.join(", ")
        );
    }
    say!(
        "{} replayed, {} failed again, {} unreadable",
        report.replayed.len(),
        report.failed.len(),
        report.unreadable.len()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} event(s) failed again", report.failed.len()))
    }
}
