//! `sparkplug run`: start a run as the console would, and follow it.

use chrono::DurationRound;
use sparkplug::catalog::Catalog;
use sparkplug::run::s3::S3Location;
use sparkplug::run::{render, RunInput, Trigger};

use super::*;
use crate::output::say;
use crate::remote;

pub(crate) async fn start_run(
    catalog: &Catalog,
    job: &str,
    input: Option<String>,
    set: Vec<(String, String)>,
    detach: bool,
    over_budget: bool,
    target: &TargetArgs,
) -> Result<(), String> {
    let args: std::collections::BTreeMap<String, String> = set.into_iter().collect();
    let now = chrono::Utc::now()
        .duration_trunc(chrono::TimeDelta::seconds(1))
        .unwrap_or_else(|_| chrono::Utc::now());
    let object = input
        .as_deref()
        .map(|uri| S3Location::parse(uri).map_err(|e| format!("--input: {e}")))
        .transpose()?;
    // Render here first: a mistake is reported before anything starts, and the run's name is known.
    let run = RunInput {
        trigger: Trigger::Manual {
            time: now,
            input: object,
        },
        args: args.clone(),
        time: now,
        run_name: None,
    };
    let plan =
        render(catalog, job, &run, &vars(catalog, Vec::new())?).map_err(|e| e.to_string())?;
    let target = target.target().await?;
    let mut request = remote::run_input(job, &plan.run_name, now, &args, input.as_deref());
    if over_budget {
        // Read by the state machine's budget check: the run starts even past its job's budget.
        request["over_budget"] = serde_json::json!(true);
    }
    target.start(&plan.run_name, &request).await?;
    say!("started {} ({})", plan.run_name, plan.engine.as_str());
    if detach {
        return Ok(());
    }
    let outcome = remote::follow(
        &target,
        &plan.run_name,
        std::time::Duration::from_secs(48 * 3600),
    )
    .await?;
    remote::print_outcome(&outcome);
    if outcome.status == "SUCCEEDED" {
        Ok(())
    } else {
        Err(format!("{} {}", plan.run_name, outcome.status))
    }
}
