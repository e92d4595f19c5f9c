//! The operator's commands over a deployed (or the local) stack: `sparkplug doctor` — the drift a lost event
//! leaves, and `--fix` to run every backstop now — and `sparkplug replay-failed` — the failed-events queue sent
//! through its functions again.
//!
//! On AWS the stack is found from its run state machine (`sparkplug-run-<env>`): its token table
//! `sparkplug-<env>-tokens`, its queue `sparkplug-<env>-failed-events`, its functions `sparkplug-<env>-<function>`
//! (template.yaml names them so).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sparkplug::aws::emr::Emr;
use sparkplug::aws::glue::Glue;
use sparkplug::aws::operator::{FailedEventsQueue, Functions};
use sparkplug::aws::run_table::RunTable;
use sparkplug::aws::serverless::Serverless;
use sparkplug::aws::sfn::Sfn;
use sparkplug::catalog::{Catalog, Vars};
use sparkplug::engine::handlers::doctor::{backstop_of, examine, Diagnosis, DoctorConfig};
use sparkplug::engine::handlers::janitor::JanitorConfig;
use sparkplug::engine::handlers::replay::{replay, FailedInvocation, ReplayReport};
use sparkplug::engine::ports::{AwsError, InvokeApi};

use crate::local::LocalStack;

/// The functions whose schedules are the backstops, and what each schedule sends: what `doctor --fix` runs now.
pub const BACKSTOPS: &[(&str, &str)] = &[
    ("queue", r#"{"drain": true}"#),
    ("notify", r#"{"reconcile": true, "older_than_seconds": 0}"#),
    ("janitor", r#"{"sweep": true}"#),
    ("trigger", r#"{"catch_up": true, "grace_seconds": 0}"#),
    ("alert", r#"{"catch_up": true, "grace_seconds": 0}"#),
];

/// Where the functions are invoked.
pub enum Invoker {
    /// The local stack's `cargo lambda watch` of each environment (a function of another environment is named
    /// `<binary>--<env>`).
    Local(LocalStack),
    Aws(Functions),
}

impl InvokeApi for Invoker {
    async fn invoke(
        &self,
        function: &str,
        payload: &Value,
    ) -> Result<Result<Value, Value>, AwsError> {
        match self {
            Invoker::Aws(functions) => functions.invoke(function, payload).await,
            Invoker::Local(stack) => {
                let (binary, env) = function.split_once("--").unwrap_or((function, "dev"));
                let answer = match stack.environments.get(env) {
                    Some(environment) => environment.invoke(binary, payload),
                    None => stack.invoke(binary, payload),
                };
                Ok(answer)
            }
        }
    }
}

/// A deployed stack, as the operator's commands see it.
pub struct Stack {
    pub env: String,
    pub state_machine_arn: String,
    pub table: RunTable,
    pub sfn: Sfn,
    pub emr: Emr,
    pub glue: Glue,
    pub serverless: Serverless,
    pub failed_events: FailedEventsQueue,
    pub invoker: Invoker,
    /// The local stack runs no scheduler by default: its tick is not expected every minute.
    pub local: bool,
}

/// The environment of a run state machine named `sparkplug-run-<env>`.
pub fn environment_of(state_machine_arn: &str) -> Result<String, String> {
    state_machine_arn
        .rsplit(':')
        .next()
        .and_then(|name| name.strip_prefix("sparkplug-run-"))
        .filter(|env| !env.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "{state_machine_arn} is not a sparkplug run state machine (sparkplug-run-<env>)"
            )
        })
}

impl Stack {
    pub async fn aws(state_machine_arn: &str) -> Result<Stack, String> {
        let env = environment_of(state_machine_arn)?;
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let failed_events =
            FailedEventsQueue::named(&config, &format!("sparkplug-{env}-failed-events"))
                .await
                .map_err(|e| format!("the failed-events queue of {env}: {e}"))?;
        let invoker = Invoker::Aws(Functions::new(&config));
        Ok(Stack::with_clients(
            &config,
            env,
            state_machine_arn.to_string(),
            failed_events,
            invoker,
        ))
    }

    pub async fn local(stack: &LocalStack, env: &str) -> Result<Stack, String> {
        let environment = stack
            .environments
            .get(env)
            .ok_or_else(|| format!("the local stack has no {env} environment"))?;
        let queue = environment
            .failed_events_queue
            .clone()
            .ok_or("the local stack's state file names no failed-events queue: restart it")?;
        let config = crate::local::sdk_config(stack).await;
        let failed_events = FailedEventsQueue::new(&config, queue);
        let invoker = Invoker::Local(stack.clone());
        let arn = environment.state_machine_arn.clone();
        Ok(Stack::with_clients(
            &config,
            env.to_string(),
            arn,
            failed_events,
            invoker,
        ))
    }

    fn with_clients(
        config: &aws_config::SdkConfig,
        env: String,
        state_machine_arn: String,
        failed_events: FailedEventsQueue,
        invoker: Invoker,
    ) -> Stack {
        Stack {
            table: RunTable::new(config, format!("sparkplug-{env}-tokens")),
            sfn: Sfn::new(config),
            emr: Emr::new(config),
            glue: Glue::new(config),
            serverless: Serverless::new(config),
            failed_events,
            local: matches!(invoker, Invoker::Local(_)),
            invoker,
            state_machine_arn,
            env,
        }
    }

    /// A function of this stack by its binary's name.
    pub fn function(&self, binary: &str) -> String {
        match (&self.invoker, self.env.as_str()) {
            (Invoker::Aws(_), env) => format!("sparkplug-{env}-{binary}"),
            (Invoker::Local(_), "dev") => binary.to_string(),
            (Invoker::Local(_), env) => format!("{binary}--{env}"),
        }
    }

    fn doctor_config(&self, catalog: &Catalog) -> Result<DoctorConfig, String> {
        let vars = Vars::resolve(
            catalog,
            [("SPARKPLUG_VAR_ENV".to_string(), self.env.clone())],
            [],
        )
        .map_err(|e| e.to_string())?;
        Ok(DoctorConfig {
            janitor: JanitorConfig {
                catalog: catalog.clone(),
                vars,
                state_machine_arn: self.state_machine_arn.clone(),
            },
            // On AWS the tick comes every minute: five minutes without one is drift.
            tick_lag: (!self.local).then(|| chrono::Duration::minutes(5)),
        })
    }

    /// What a lost event left behind.
    pub async fn diagnose(&self, catalog: &Catalog) -> Result<Diagnosis, String> {
        let config = self.doctor_config(catalog)?;
        examine(
            &config,
            &self.table,
            &self.sfn,
            &self.emr,
            &self.glue,
            &self.serverless,
            &self.failed_events,
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Runs every backstop now, as its schedule would (the tick with the current minute): each function's answer.
    pub async fn fix(&self, diagnosis: &Diagnosis) -> Result<BTreeMap<String, Value>, String> {
        let mut answers = BTreeMap::new();
        let mut inputs: Vec<(&str, Value)> = BACKSTOPS
            .iter()
            .map(|(function, input)| {
                (
                    *function,
                    serde_json::from_str(input).unwrap_or(Value::Null),
                )
            })
            .collect();
        if diagnosis
            .findings
            .iter()
            .any(|f| f.kind == "tick" || f.kind == "parked")
        {
            let (function, _) = backstop_of("tick");
            inputs.push((
                function,
                json!({"tick": true, "time": chrono::Utc::now().to_rfc3339()}),
            ));
        }
        for (function, input) in inputs {
            let name = self.function(function);
            let answer = self
                .invoker
                .invoke(&name, &input)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let key = if answers.contains_key(function) {
                format!("{function} (tick)")
            } else {
                function.to_string()
            };
            answers.insert(key, answer.unwrap_or_else(|error| json!({"failed": error})));
        }
        Ok(answers)
    }

    /// Sends every message of the failed-events queue through its function again.
    pub async fn replay_failed(&self, dry_run: bool) -> Result<ReplayReport, String> {
        let local = matches!(self.invoker, Invoker::Local(_));
        let name = |failed: &FailedInvocation| {
            if local {
                failed.function.clone()
            } else {
                failed.function_arn.clone()
            }
        };
        replay(&self.failed_events, &self.invoker, name, dry_run)
            .await
            .map_err(|e| e.to_string())
    }
}
