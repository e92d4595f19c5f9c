//! `sparkplug`: check the job catalog, render run plans, see which runs an event would start, start and follow runs
//! (on AWS or on the local stack), and run the local demo.

mod cmd;
mod demo;
mod output;
mod remote;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sparkplug::load::{self};

use crate::output::say;

use crate::cmd::{load_catalog, parse_key_value, runtime, TargetArgs};

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
    /// Read the catalog's vars as this environment of the SAM configuration file deploys them (its
    /// `parameter_overrides`), as `sam deploy --config-env` does: `plan`, `validate` and `match` then show what that
    /// stack would run. `--set` still wins.
    #[arg(long, global = true, value_name = "ENV")]
    config_env: Option<String>,
    /// The SAM configuration file `--config-env` reads.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "samconfig.toml"
    )]
    config_file: PathBuf,
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
        /// For a job with an input set (`trigger.all_of`): the run of this partition (`2026-12-03`), every input
        /// arrived (`{input_<name>}`).
        #[arg(long, value_name = "PARTITION", conflicts_with_all = ["event", "after"])]
        partition: Option<String>,
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
        /// Start it even when its job (or all jobs) spent its month's budget.
        #[arg(long)]
        over_budget: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Start a new run of a run that ended — the same job, trigger, params and time — named `<run>-rerun-<n>`, and
    /// follow it. A rerun that is running already is followed instead (a repeated command starts nothing twice).
    Rerun {
        /// The run (execution name) to rerun.
        run: String,
        /// An EMR run: start at its first step that did not complete, on a new cluster (the steps before it are not
        /// run again). Glue and EMR Serverless runs start again whole.
        #[arg(long)]
        from_failed: bool,
        /// One of the job's params to change (the others keep the run's values).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Start it and return at once.
        #[arg(long)]
        detach: bool,
        /// Start it even when its job (or all jobs) spent its month's budget.
        #[arg(long)]
        over_budget: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show a run's status and summary; `--follow` follows it until it ends.
    Status {
        /// The run (execution name); with `--partition`, the job.
        run_name: String,
        #[arg(long)]
        follow: bool,
        /// Show a partition of the job's input set instead (`2026-12-03`, or `date=2026-12-03,region=eu`): which
        /// inputs arrived and when, which are missing, its deadline, its run.
        #[arg(long, value_name = "PARTITION")]
        partition: Option<String>,
        /// A catalog var (`${name}`), with --partition.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
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
    /// The runs of a window as one self-contained HTML page: start-up vs execution per run, cost per job per day,
    /// failures with their log tails, queue waits and warm pool hits.
    Report {
        /// Only these jobs' runs (every job's when none).
        jobs: Vec<String>,
        /// How far back: 7d, 12h, 30m.
        #[arg(long, default_value = "7d", value_parser = sparkplug_cli::history::parse_since)]
        since: chrono::TimeDelta,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE", default_value = "report.html")]
        out: PathBuf,
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
    // Only the commands that read the catalog load it.
    let catalog = || {
        load_catalog(&cli.catalog, cli.config_env.as_deref(), &cli.config_file)
            .map(|loaded| loaded.catalog)
    };
    match cli.command {
        Command::Validate => {
            say!("{}", cmd::validate::summary(&cli.catalog, &catalog()?));
            Ok(())
        }
        Command::Plan {
            job,
            input,
            event,
            after,
            partition,
            set,
        } => cmd::plan::plan(&catalog()?, &job, input, event, after, partition, set),
        Command::Match { event, set } => cmd::matches::matches(&catalog()?, &event, set),
        Command::Run {
            job,
            input,
            set,
            detach,
            over_budget,
            target,
        } => {
            let catalog = catalog()?;
            runtime()?.block_on(cmd::run::start_run(
                &catalog,
                &job,
                input,
                set,
                detach,
                over_budget,
                &target,
            ))
        }
        Command::Rerun {
            run,
            from_failed,
            set,
            detach,
            over_budget,
            target,
        } => runtime()?.block_on(cmd::rerun::rerun(
            &run,
            from_failed,
            set,
            detach,
            over_budget,
            &target,
        )),
        Command::Status {
            run_name,
            partition: Some(partition),
            set,
            target,
            ..
        } => {
            let catalog = catalog()?;
            runtime()?.block_on(cmd::status::partition(
                &catalog, &run_name, &partition, set, &target,
            ))
        }
        Command::Status {
            run_name,
            follow,
            target,
            ..
        } => runtime()?.block_on(cmd::status::status(&run_name, follow, &target)),
        Command::History {
            job,
            since,
            json,
            target,
        } => runtime()?.block_on(cmd::history::history(job.as_deref(), since, json, &target)),
        Command::Report {
            jobs,
            since,
            out,
            target,
        } => runtime()?.block_on(cmd::report::report(&jobs, since, &out, &target)),
        Command::Backfill {
            job,
            from,
            to,
            every,
            max_concurrent,
            set,
            target,
        } => {
            let catalog = catalog()?;
            let args: BTreeMap<String, String> = set.into_iter().collect();
            let request = cmd::backfill::BackfillRequest {
                job: &job,
                from,
                to,
                every,
                max_concurrent,
                args: &args,
            };
            runtime()?.block_on(cmd::backfill::backfill(&catalog, request, &target))
        }
        Command::Doctor { fix, json, target } => {
            let catalog = catalog()?;
            runtime()?.block_on(cmd::doctor::doctor(&catalog, fix, json, &target))
        }
        Command::ReplayFailed { dry_run, target } => {
            runtime()?.block_on(cmd::replay::replay_failed(dry_run, &target))
        }
        Command::Local {
            command: LocalCommand::Demo,
        } => {
            let repo = std::env::current_dir().map_err(|e| e.to_string())?;
            runtime()?.block_on(demo::demo(&repo))
        }
        Command::Bucket {
            command:
                BucketCommand::EnableEventbridge {
                    bucket,
                    local,
                    state_file,
                },
        } => runtime()?.block_on(cmd::bucket::enable_eventbridge(&bucket, local, &state_file)),
    }
}
