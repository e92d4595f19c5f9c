//! `sparkplug doctor`: the drift lost events leave, and `--fix`.

use super::*;
use crate::output::say;

pub(crate) fn print_diagnosis(diagnosis: &sparkplug::engine::handlers::doctor::Diagnosis) {
    for finding in &diagnosis.findings {
        let run = match (&finding.run, &finding.status) {
            (Some(run), Some(status)) => format!(" (run {run}, {status})"),
            (Some(run), None) => format!(" (run {run}, ended)"),
            _ => String::new(),
        };
        say!(
            "{:<13} {}{run} — fixed by {}",
            finding.kind,
            finding.what,
            finding.fixed_by
        );
    }
    for missed in &diagnosis.missed {
        say!(
            "{:<13} {} did not run by {}: {} — see `sparkplug history {}`",
            "missed",
            missed.job,
            missed.due.format("%Y-%m-%dT%H:%MZ"),
            missed.why,
            missed.job
        );
    }
    say!(
        "failed-events queue: {} message(s); last tick evaluated: {}",
        diagnosis.failed_events.messages,
        diagnosis.last_tick.map_or("none".to_string(), |t| t
            .format("%Y-%m-%dT%H:%MZ")
            .to_string())
    );
}

pub(crate) async fn doctor(
    catalog: &sparkplug::Catalog,
    fix: bool,
    json: bool,
    target: &TargetArgs,
) -> Result<(), String> {
    let stack = target.stack().await?;
    let mut diagnosis = stack.diagnose(catalog).await?;
    let mut fixed = None;
    if fix && !diagnosis.is_healthy() {
        if !json {
            print_diagnosis(&diagnosis);
            say!("running every backstop now…");
        }
        fixed = Some(stack.fix(&diagnosis).await?);
        // What the backstops set off (a freed slot's next run, a terminated cluster) settles within seconds.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        diagnosis = stack.diagnose(catalog).await?;
    }
    if json {
        print_json(&serde_json::json!({"diagnosis": diagnosis, "fixed": fixed}));
    } else {
        print_diagnosis(&diagnosis);
    }
    if diagnosis.is_healthy() {
        if !json {
            say!("no drift: every slot, waiter and lease belongs to a running run, nothing is left running");
        }
        Ok(())
    } else {
        Err(format!(
            "{} finding(s){}",
            diagnosis.findings.len(),
            if fix {
                " remain after the backstops ran"
            } else {
                ": `sparkplug doctor --fix` runs every backstop now"
            }
        ))
    }
}
