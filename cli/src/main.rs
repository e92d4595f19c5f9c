//! `sparkplug`: check the job catalog, render run plans, and see which runs an event would start.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::DurationRound;
use clap::{Parser, Subcommand};
use serde_json::Value;
use sparkplug::catalog::{self, Catalog, Engine};
use sparkplug::plan::{render, RunInput, Trigger, Vars};
use sparkplug::resolve::resolve_event;
use sparkplug::s3::S3Location;
use sparkplug::Loaded;

#[derive(Parser)]
#[command(
    name = "sparkplug",
    version,
    about = "Start and watch Spark batches on AWS Glue and EMR"
)]
struct Cli {
    /// The job catalog.
    #[arg(long, global = true, env = catalog::PATH_ENV, default_value = catalog::DEFAULT_PATH)]
    catalog: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the catalog: every problem on its own line, as `<job>.<field>: <reason>`.
    Validate,
    /// Print the run plan of one job (a Step Functions input, ready to paste into the console).
    Plan {
        /// The job's name in the catalog.
        job: String,
        /// The S3 object the run is about (`{input}` and friends).
        #[arg(long, value_name = "s3://bucket/key", conflicts_with = "event")]
        input: Option<String>,
        /// Plan the run this trigger event (S3 notification, EventBridge event, `{"job": …}`) starts for JOB.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// A catalog var (`${name}`) or one of the job's params (`{name}`).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
    },
    /// Print `[{job, run_name, plan}]` for every run a trigger event would start; starts nothing.
    Match {
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// A catalog var (`${name}`).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
    },
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let loaded = load(&cli.catalog)?;
    match cli.command {
        Command::Validate => {
            println!("{}", summary(&cli.catalog, &loaded.catalog));
            Ok(())
        }
        Command::Plan {
            job,
            input,
            event,
            set,
        } => plan(&loaded.catalog, &job, input, event, set),
        Command::Match { event, set } => {
            let vars = vars(&loaded.catalog, set)?;
            let event = read_event(&event)?;
            let resolution = resolve_event(&loaded.catalog, &event, &vars, chrono::Utc::now())
                .map_err(|e| e.to_string())?;
            for ignored in &resolution.ignored {
                eprintln!("ignored: {ignored}");
            }
            for failure in &resolution.failures {
                eprintln!("failed: {failure}");
            }
            print_json(&serde_json::to_value(&resolution.matches).map_err(|e| e.to_string())?);
            if resolution.failures.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} part(s) of the event start nothing (see above)",
                    resolution.failures.len()
                ))
            }
        }
    }
}

fn load(path: &Path) -> Result<Loaded, String> {
    let loaded = Catalog::load(path).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded)
}

fn summary(path: &Path, catalog: &Catalog) -> String {
    let count = |engine| catalog.jobs.values().filter(|j| j.engine == engine).count();
    let s3 = catalog
        .jobs
        .values()
        .map(|j| j.trigger.s3.len())
        .sum::<usize>();
    let schedules = catalog
        .jobs
        .values()
        .filter(|j| j.trigger.schedule.is_some())
        .count();
    format!(
        "{}: {} job(s) valid ({} emr, {} glue); {} S3 trigger(s), {} schedule(s)",
        path.display(),
        catalog.jobs.len(),
        count(Engine::Emr),
        count(Engine::Glue),
        s3,
        schedules
    )
}

/// Catalog vars from `SPARKPLUG_VAR_*` in this environment, then `--set`.
fn vars(catalog: &Catalog, set: Vec<(String, String)>) -> Result<Vars, String> {
    Vars::resolve(catalog, std::env::vars(), set).map_err(|e| e.to_string())
}

fn read_event(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the event {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("the event {} is not valid JSON: {e}", path.display()))
}

fn plan(
    catalog: &Catalog,
    job: &str,
    input: Option<String>,
    event: Option<PathBuf>,
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
            let run = RunInput {
                trigger: Trigger::Manual { time: now, input },
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

fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}
