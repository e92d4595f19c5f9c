//! `sparkplug backfill`: one run per period.

use std::collections::BTreeMap;

use sparkplug::catalog::Catalog;
use sparkplug::run::{render, RunInput, Trigger};

use super::*;
use crate::output::{self, say};

pub(crate) struct BackfillRequest<'a> {
    pub(crate) job: &'a str,
    pub(crate) from: chrono::DateTime<chrono::Utc>,
    pub(crate) to: chrono::DateTime<chrono::Utc>,
    pub(crate) every: chrono::TimeDelta,
    pub(crate) max_concurrent: usize,
    pub(crate) args: &'a BTreeMap<String, String>,
}

pub(crate) async fn backfill(
    catalog: &Catalog,
    request: BackfillRequest<'_>,
    target: &TargetArgs,
) -> Result<(), String> {
    let times = sparkplug_cli::backfill::periods(request.from, request.to, request.every)?;
    // Each period's run is planned here first: a job or a param that does not exist starts nothing.
    let vars = vars(catalog, Vec::new())?;
    let mut runs = Vec::new();
    for time in times {
        let input = RunInput {
            trigger: Trigger::Manual { time, input: None },
            args: request.args.clone(),
            time,
            run_name: None,
        };
        let plan = render(catalog, request.job, &input, &vars).map_err(|e| e.to_string())?;
        runs.push((time, plan.run_name));
    }
    let target = target.target().await?;
    let bar = output::progress(runs.len() as u64, &format!("backfill of {}", request.job));
    let periods = sparkplug_cli::backfill::run(
        &target.sfn,
        &target.state_machine_arn,
        request.job,
        request.args,
        &runs,
        request.max_concurrent,
        &|period| {
            bar.inc(1);
            bar.set_message(format!("{} {}", period.run_name, period.status));
        },
    )
    .await;
    bar.finish_and_clear();
    let periods = periods?;
    let rows = periods
        .iter()
        .map(|p| {
            vec![
                p.time.format("%Y-%m-%d %H:%M").to_string(),
                p.run_name.clone(),
                p.status.clone(),
            ]
        })
        .collect();
    say!(
        "{}",
        output::table(&["period (UTC)", "run", "status"], &[], rows)
    );
    let count = |status: &str| periods.iter().filter(|p| p.status == status).count();
    say!(
        "{} period(s): {} succeeded, {} already run, {} did not succeed",
        periods.len(),
        count("SUCCEEDED"),
        count("already run"),
        periods.len() - count("SUCCEEDED") - count("already run")
    );
    if periods
        .iter()
        .all(|p| p.status == "SUCCEEDED" || p.status == "already run")
    {
        Ok(())
    } else {
        Err("some periods did not succeed (see the table)".into())
    }
}
