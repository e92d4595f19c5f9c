//! One module per command (`sparkplug <command>`), and what they share: where a command goes (the local stack or
//! AWS), the catalog, the async runtime, JSON output.

pub(crate) mod backfill;
pub(crate) mod bucket;
pub(crate) mod doctor;
pub(crate) mod history;
pub(crate) mod matches;
pub(crate) mod plan;
pub(crate) mod replay;
pub(crate) mod report;
pub(crate) mod rerun;
pub(crate) mod run;
pub(crate) mod status;
pub(crate) mod validate;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sparkplug::catalog::{Catalog, Vars};
use sparkplug::load::{self, Loaded};

use crate::output::say;
use crate::remote;

#[derive(clap::Args)]
pub(crate) struct TargetArgs {
    /// Use the local stack (`dev/local up`) instead of AWS.
    #[arg(long)]
    pub(crate) local: bool,
    /// The local stack's state file.
    #[arg(long, value_name = "FILE", default_value = sparkplug_cli::local::DEFAULT_STATE_FILE)]
    pub(crate) state_file: PathBuf,
    /// The run state machine on AWS (the stack output RunStateMachineArn).
    #[arg(
        long,
        env = "SPARKPLUG_STATE_MACHINE_ARN",
        value_name = "ARN",
        required_unless_present = "local"
    )]
    pub(crate) state_machine: Option<String>,
}

impl TargetArgs {
    pub(crate) async fn target(&self) -> Result<remote::Target, String> {
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

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub(crate) fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

/// The catalog at `path`; with `config_env`, its vars as that environment of the SAM configuration file deploys them.
pub(crate) fn load_catalog(
    path: &Path,
    config_env: Option<&str>,
    config_file: &Path,
) -> Result<Loaded, String> {
    let deployed = match config_env {
        None => Default::default(),
        Some(env) => {
            let deployed = sparkplug_cli::samconfig::read(config_file, env)?;
            for (var, why) in &deployed.unknown {
                eprintln!(
                    "note: ${{{var}}} keeps the catalog's value for --config-env {env}: {why} (give it with --set {var}=…)"
                );
            }
            deployed.vars
        }
    };
    let loaded = load::from_file_with_vars(path, &deployed).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded)
}

/// Catalog vars from `SPARKPLUG_VAR_*` in this environment, then `--set`.
pub(crate) fn vars(catalog: &Catalog, set: Vec<(String, String)>) -> Result<Vars, String> {
    Vars::resolve(catalog, std::env::vars(), set).map_err(|e| e.to_string())
}

pub(crate) fn read_event(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the event {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("the event {} is not valid JSON: {e}", path.display()))
}

impl TargetArgs {
    pub(crate) async fn stack(&self) -> Result<sparkplug_cli::operator::Stack, String> {
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

pub(crate) fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => say!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}
