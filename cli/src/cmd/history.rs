//! `sparkplug history`: recent runs, newest first.

use super::*;
use crate::output::{self, say};

pub(crate) async fn history(
    job: Option<&str>,
    since: chrono::TimeDelta,
    json: bool,
    target: &TargetArgs,
) -> Result<(), String> {
    let target = target.target().await?;
    let runs = sparkplug_cli::history::runs(
        &target.sfn,
        &target.table,
        &target.state_machine_arn,
        job,
        chrono::Utc::now() - since,
    )
    .await?;
    if json {
        print_json(&serde_json::to_value(&runs).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if runs.is_empty() {
        say!(
            "no run since {}",
            (chrono::Utc::now() - since).format("%Y-%m-%d %H:%M UTC")
        );
        footer(&target, job).await;
        return Ok(());
    }
    let seconds = |s: Option<i64>| s.map_or("-".to_string(), |s| format!("{s} s"));
    let rows = runs
        .iter()
        .map(|run| {
            vec![
                run.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                run.run_name.clone(),
                run.job.clone(),
                run.status.clone(),
                run.trigger.clone(),
                seconds(run.startup_seconds),
                seconds(run.execution_seconds),
                output::usd(run.cost_usd),
                run.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "started (UTC)",
        "run",
        "job",
        "status",
        "trigger",
        "start-up",
        "execution",
        "cost (est.)",
        "reason",
    ];
    say!(
        "{}",
        output::table(&header, &["start-up", "execution", "cost (est.)"], rows)
    );
    footer(&target, job).await;
    Ok(())
}

/// What follows the runs: the job's missed expectation, and the month's spend beside its budget.
async fn footer(target: &crate::remote::Target, job: Option<&str>) {
    // A job's last missed expectation ("did not run"), while no success has come since.
    if let Some(job) = job {
        use sparkplug::engine::ports::LedgerStore;
        if let Ok(ledger) = target.table.ledger(job).await {
            if let Some(line) = missed_line(job, &ledger) {
                say!("{line}");
            }
        }
    }
    // Month-to-date spend, beside its budget: the job's when one is asked for, and all jobs'.
    let month = sparkplug::run::budget::month_of(chrono::Utc::now());
    let scopes = match job {
        Some(job) => vec![Some(job), None],
        None => vec![None],
    };
    for scope in scopes {
        match target.table.month_spend(scope, &month).await {
            Ok(spend) => say!("{}", spend_line(scope, &month, spend)),
            Err(e) => say!("(month-to-date spend unknown: {e})"),
        }
    }
}

/// `sales_daily spent $12.40 in 2026-12 (3 runs) of its $400.00 budget (3 %)`.
fn spend_line(
    job: Option<&str>,
    month: &str,
    (usd, runs, budget): (f64, u64, Option<f64>),
) -> String {
    let who = job.map_or("all jobs".to_string(), |job| format!("job {job}"));
    let of_budget = budget.map_or(" (no budget)".to_string(), |budget| {
        format!(
            " of its ${budget:.2} budget ({:.0} %)",
            usd / budget * 100.0
        )
    });
    format!("{who} spent ${usd:.2} in {month} ({runs} runs){of_budget}")
}

/// `daily_margin did not run by 2026-12-01 10:00 UTC: inputs missing for …`, while no run succeeded since.
fn missed_line(job: &str, ledger: &sparkplug::engine::ports::JobLedger) -> Option<String> {
    let (due, why) = ledger.missed.as_ref()?;
    if ledger.succeeded.as_ref().is_some_and(|(_, at)| at > due) {
        return None;
    }
    Some(format!(
        "{job} did not run by {}: {why}",
        due.format("%Y-%m-%d %H:%M UTC")
    ))
}
