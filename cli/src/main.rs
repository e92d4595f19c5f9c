//! `sparkplug`: check the job catalog, render run plans, see which runs an event would start, start and follow runs
//! (on AWS or on the local stack), and run the local demo.

mod demo;
mod output;
mod remote;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::DurationRound;
use clap::{Parser, Subcommand};
use serde_json::Value;
use sparkplug::catalog::{Catalog, Engine, Vars};
use sparkplug::load::{self, Loaded};
use sparkplug::run::s3::S3Location;
use sparkplug::run::{render, resolve_event, RunInput, Trigger};

use crate::output::say;

#[derive(Parser)]
#[command(
    name = "sparkplug",
    version,
    about = "Start and watch Spark batches on AWS Glue and EMR"
)]
struct Cli {
    /// The job catalog.
    #[arg(long, global = true, env = load::PATH_ENV, default_value = load::DEFAULT_PATH)]
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
        /// For a chained job (`trigger.after`): the upstream run it follows (`{upstream_run}`).
        #[arg(long, value_name = "RUN", conflicts_with = "event")]
        after: Option<String>,
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
    /// Start a run of JOB (as the console would: {"job": …}) and follow it live until it ends.
    Run {
        job: String,
        /// The S3 object the run is about.
        #[arg(long, value_name = "s3://bucket/key")]
        input: Option<String>,
        /// One of the job's params (`{name}`).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Start it and return at once.
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show a run's status and summary; `--follow` follows it until it ends.
    Status {
        run_name: String,
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Recent runs, newest first: status, trigger, start-up and execution time, why a run failed.
    History {
        /// Only this job's runs.
        job: Option<String>,
        /// How far back: 7d, 12h, 30m.
        #[arg(long, default_value = "7d", value_parser = sparkplug_cli::history::parse_since)]
        since: chrono::TimeDelta,
        /// The runs as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// One manual run of JOB per period from --from to --to (inclusive), with that period's time as the run's
    /// `{date}`; run again, it starts nothing for the periods already run.
    Backfill {
        job: String,
        /// The first period: 2026-11-01 (midnight UTC) or 2026-11-01T06:00:00Z.
        #[arg(long, value_parser = sparkplug_cli::backfill::parse_time)]
        from: chrono::DateTime<chrono::Utc>,
        /// The last period, included.
        #[arg(long, value_parser = sparkplug_cli::backfill::parse_time)]
        to: chrono::DateTime<chrono::Utc>,
        /// The time between periods: 1d, 6h, 30m.
        #[arg(long, default_value = "1d", value_parser = sparkplug_cli::history::parse_since)]
        every: chrono::TimeDelta,
        /// Runs at once.
        #[arg(long, default_value_t = 4)]
        max_concurrent: usize,
        /// One of the job's params (`{name}`), for every run.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The drift a lost event leaves — slots held by ended runs, queued runs whose execution ended, waiters and pool
    /// leases of ended runs, clusters, Glue runs and EMR Serverless job runs of ended runs, the failed-events queue, a
    /// tick that fell behind — one line each; exits non-zero when there is any. `--fix` runs every backstop now.
    Doctor {
        /// Run every backstop now (the queue's drain, notify's reconciler, the janitor's sweep, the chains' and the
        /// alerts' catch-ups; the tick when it fell behind), then look again.
        #[arg(long)]
        fix: bool,
        /// The diagnosis as JSON instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Send every event of the failed-events queue (what a function could not handle after Lambda's retries) through
    /// its function again, and say what that started; a message handled is deleted. Safe to repeat: a run already
    /// started is not started again.
    ReplayFailed {
        /// Only say what would be replayed.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The local stack.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// S3 buckets whose arrivals start jobs.
    Bucket {
        #[command(subcommand)]
        command: BucketCommand,
    },
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Let BUCKET send its events to EventBridge (where the trigger's rule listens), keeping the SNS, SQS and Lambda
    /// notifications it already has (a plain put-bucket-notification-configuration would replace them).
    EnableEventbridge {
        bucket: String,
        /// Use the local stack (`dev/local up`) instead of AWS.
        #[arg(long)]
        local: bool,
        /// The local stack's state file.
        #[arg(long, value_name = "FILE", default_value = sparkplug_cli::local::DEFAULT_STATE_FILE)]
        state_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Start the local stack and run the demo: an S3 arrival → EMR run, a Glue run, a failing step.
    Demo,
}

#[derive(clap::Args)]
struct TargetArgs {
    /// Use the local stack (`dev/local up`) instead of AWS.
    #[arg(long)]
    local: bool,
    /// The local stack's state file.
    #[arg(long, value_name = "FILE", default_value = sparkplug_cli::local::DEFAULT_STATE_FILE)]
    state_file: PathBuf,
    /// The run state machine on AWS (the stack output RunStateMachineArn).
    #[arg(
        long,
        env = "SPARKPLUG_STATE_MACHINE_ARN",
        value_name = "ARN",
        required_unless_present = "local"
    )]
    state_machine: Option<String>,
}

impl TargetArgs {
    async fn target(&self) -> Result<remote::Target, String> {
        if self.local {
            let stack = sparkplug_cli::local::LocalStack::read(&self.state_file)?;
            Ok(remote::Target::local(&stack).await)
        } else {
            let arn = self
                .state_machine
                .clone()
                .ok_or("give --state-machine ARN, or --local")?;
            Ok(remote::Target::aws(arn).await)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
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
    if let Command::Local {
        command: LocalCommand::Demo,
    } = &cli.command
    {
        let repo = std::env::current_dir().map_err(|e| e.to_string())?;
        return runtime()?.block_on(demo::demo(&repo));
    }
    if let Command::Status {
        run_name,
        follow,
        target,
    } = &cli.command
    {
        return runtime()?.block_on(status(run_name, *follow, target));
    }
    if let Command::ReplayFailed { dry_run, target } = &cli.command {
        return runtime()?.block_on(replay_failed(*dry_run, target));
    }
    if let Command::History {
        job,
        since,
        json,
        target,
    } = &cli.command
    {
        return runtime()?.block_on(history(job.as_deref(), *since, *json, target));
    }
    if let Command::Bucket {
        command:
            BucketCommand::EnableEventbridge {
                bucket,
                local,
                state_file,
            },
    } = &cli.command
    {
        return runtime()?.block_on(enable_eventbridge(bucket, *local, state_file));
    }
    let loaded = load_catalog(&cli.catalog)?;
    match cli.command {
        Command::Local { .. }
        | Command::Status { .. }
        | Command::Bucket { .. }
        | Command::ReplayFailed { .. }
        | Command::History { .. } => {
            unreachable!("handled above")
        }
        Command::Doctor { fix, json, target } => {
            runtime()?.block_on(doctor(&loaded.catalog, fix, json, &target))
        }
        Command::Run {
            job,
            input,
            set,
            detach,
            target,
        } => runtime()?.block_on(start_run(
            &loaded.catalog,
            &job,
            input,
            set,
            detach,
            &target,
        )),
        Command::Backfill {
            job,
            from,
            to,
            every,
            max_concurrent,
            set,
            target,
        } => {
            let args: BTreeMap<String, String> = set.into_iter().collect();
            let request = BackfillRequest {
                job: &job,
                from,
                to,
                every,
                max_concurrent,
                args: &args,
            };
            runtime()?.block_on(backfill(&loaded.catalog, request, &target))
        }
        Command::Validate => {
            say!("{}", summary(&cli.catalog, &loaded.catalog));
            Ok(())
        }
        Command::Plan {
            job,
            input,
            event,
            after,
            set,
        } => plan(&loaded.catalog, &job, input, event, after, set),
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

async fn start_run(
    catalog: &Catalog,
    job: &str,
    input: Option<String>,
    set: Vec<(String, String)>,
    detach: bool,
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
    let request = remote::run_input(job, &plan.run_name, now, &args, input.as_deref());
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

async fn status(run_name: &str, follow: bool, target: &TargetArgs) -> Result<(), String> {
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

async fn history(
    job: Option<&str>,
    since: chrono::TimeDelta,
    json: bool,
    target: &TargetArgs,
) -> Result<(), String> {
    let target = target.target().await?;
    let runs = sparkplug_cli::history::runs(
        &target.sfn,
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
    Ok(())
}

struct BackfillRequest<'a> {
    job: &'a str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    every: chrono::TimeDelta,
    max_concurrent: usize,
    args: &'a BTreeMap<String, String>,
}

async fn backfill(
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

async fn enable_eventbridge(bucket: &str, local: bool, state_file: &Path) -> Result<(), String> {
    use sparkplug_cli::bucket::{self, Enabled};

    let (s3, config) = if local {
        let stack = sparkplug_cli::local::LocalStack::read(state_file)?;
        let config = remote::local_sdk_config(&stack).await;
        // The emulator serves buckets by path, not by virtual host.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        (s3, config)
    } else {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        (aws_sdk_s3::Client::new(&config), config)
    };
    let account = bucket::caller_account(&aws_sdk_sts::Client::new(&config)).await?;
    match bucket::enable_eventbridge(&s3, &account, bucket).await? {
        Enabled::Already => {
            say!("{bucket}: already sends its events to EventBridge; nothing changed")
        }
        Enabled::Now { kept } => {
            say!("{bucket}: sends its events to EventBridge now; its {kept} other notification(s) kept")
        }
    }
    Ok(())
}

fn load_catalog(path: &Path) -> Result<Loaded, String> {
    let loaded = load::from_file(path).map_err(|e| e.to_string())?;
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
    let chained = catalog
        .jobs
        .values()
        .filter(|j| !j.trigger.after.is_empty())
        .count();
    format!(
        "{}: {} job(s) valid ({} emr, {} glue, {} emr_serverless); {} S3 trigger(s), {} schedule(s), {} chained \
         job(s), {} warm pool(s)",
        path.display(),
        catalog.jobs.len(),
        count(Engine::Emr),
        count(Engine::Glue),
        count(Engine::EmrServerless),
        s3,
        schedules,
        chained,
        catalog.pools.len()
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
    after: Option<String>,
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
            let trigger = match (after, upstream) {
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

impl TargetArgs {
    async fn stack(&self) -> Result<sparkplug_cli::operator::Stack, String> {
        use sparkplug_cli::operator::Stack;
        if self.local {
            let stack = sparkplug_cli::local::LocalStack::read(&self.state_file)?;
            Stack::local(&stack, "dev").await
        } else {
            let arn = self
                .state_machine
                .as_deref()
                .ok_or("--state-machine ARN (or --local) is required")?;
            Stack::aws(arn).await
        }
    }
}

fn print_diagnosis(diagnosis: &sparkplug::engine::doctor::Diagnosis) {
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
    say!(
        "failed-events queue: {} message(s); last tick evaluated: {}",
        diagnosis.failed_events.messages,
        diagnosis.last_tick.map_or("none".to_string(), |t| t
            .format("%Y-%m-%dT%H:%MZ")
            .to_string())
    );
}

async fn doctor(
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

async fn replay_failed(dry_run: bool, target: &TargetArgs) -> Result<(), String> {
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

fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => say!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}
