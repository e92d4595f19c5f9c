//! `sparkplug plan`: the run plan of one job (a Step Functions input).

use std::path::PathBuf;

use chrono::DurationRound;
use sparkplug::catalog::Catalog;
use sparkplug::run::s3::S3Location;
use sparkplug::run::{render, resolve_event, RunInput, Trigger};

use super::*;

pub(crate) fn plan(
    catalog: &Catalog,
    job: &str,
    input: Option<String>,
    event: Option<PathBuf>,
    after: Option<String>,
    partition: Option<String>,
    set: Vec<(String, String)>,
) -> Result<(), String> {
    // `--set` names a catalog var or, failing that, one of the job's params.
    let (var_settings, args): (Vec<_>, Vec<_>) = set
        .into_iter()
        .partition(|(key, _)| catalog.vars.contains_key(key));
    let vars = vars(catalog, var_settings)?;
    let now = chrono::Utc::now()
        .duration_trunc(chrono::TimeDelta::seconds(1))
        .unwrap_or_else(|_| chrono::Utc::now());
    let plan = match event {
        Some(path) => {
            let event = read_event(&path)?;
            let resolution =
                resolve_event(catalog, &event, &vars, now).map_err(|e| e.to_string())?;
            let found = resolution.matches.into_iter().find(|m| m.job == job);
            match found {
                Some(found) => found.plan,
                None => {
                    let failures: Vec<String> = resolution
                        .failures
                        .iter()
                        .map(ToString::to_string)
                        .chain(resolution.ignored)
                        .collect();
                    return Err(format!(
                        "the event in {} starts no run of `{job}`{}",
                        path.display(),
                        if failures.is_empty() {
                            String::new()
                        } else {
                            format!(":\n  {}", failures.join("\n  "))
                        }
                    ));
                }
            }
        }
        None => {
            let input = input
                .map(|uri| S3Location::parse(&uri).map_err(|e| format!("--input: {e}")))
                .transpose()?;
            let upstream = catalog
                .job(job)
                .and_then(|j| j.trigger.after.first().cloned());
            let set = catalog
                .job(job)
                .map(|j| sparkplug::run::inputs::InputSet::of(j, &vars))
                .transpose()?
                .flatten();
            let trigger = match (after, upstream, partition, set) {
                (_, _, Some(partition), Some(set)) => {
                    let partition =
                        sparkplug::run::inputs::Partition::parse(&partition, &set.keys())
                            .map_err(|e| format!("--partition: {e}"))?;
                    Trigger::of_input_set(&set, &partition, |_| Some(now), now)
                }
                (_, _, Some(_), None) => {
                    return Err(format!(
                        "--partition: `{job}` waits for no input set (its trigger has no all_of)"
                    ))
                }
                (after, upstream, None, _) => match (after, upstream) {
                    (Some(run), Some(upstream)) => Trigger::Upstream {
                        job: upstream,
                        run,
                        time: now,
                        input,
                    },
                    (Some(_), None) => {
                        return Err(format!(
                            "--after: `{job}` runs after no job (it has no `trigger.after`)"
                        ))
                    }
                    (None, _) => Trigger::Manual { time: now, input },
                },
            };
            let run = RunInput {
                trigger,
                args: args.into_iter().collect(),
                time: now,
                run_name: None,
            };
            render(catalog, job, &run, &vars).map_err(|e| e.to_string())?
        }
    };
    print_json(&serde_json::to_value(&plan).map_err(|e| e.to_string())?);
    Ok(())
}
