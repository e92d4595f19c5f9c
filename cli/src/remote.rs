//! `sparkplug run` and `sparkplug status`: start a run on a deployed (or local) state machine and follow it live —
//! the execution, its EMR cluster and steps (on a pool cluster, its own step), its Glue run or its EMR
//! Serverless job run — with elapsed times, then its summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_emr::types::{ClusterState, ClusterSummary};
use serde_json::{json, Value};
use sparkplug::aws::serverless::Serverless;
use sparkplug::engine::execution::is_plan;
use sparkplug::engine::ports::ServerlessApi;
use sparkplug_cli::local::LocalStack;

use crate::output::say;

/// The SDK configuration that points every client at the local stack.
pub async fn local_sdk_config(stack: &LocalStack) -> aws_config::SdkConfig {
    sparkplug_cli::local::sdk_config(stack).await
}

/// Where runs go: the state machine and the SDK clients.
pub struct Target {
    pub state_machine_arn: String,
    pub sfn: aws_sdk_sfn::Client,
    pub emr: aws_sdk_emr::Client,
    pub glue: aws_sdk_glue::Client,
    pub serverless: Serverless,
    /// Where failed runs' logs are (S3, CloudWatch Logs): the report's log tails.
    pub logs: sparkplug::aws::alerts::Logs,
    /// The local stack, whose emulator lists the state-change events it delivered (AWS keeps no such list).
    pub local: Option<LocalStack>,
    /// The stack's run table (`sparkplug-<env>-tokens`, beside `sparkplug-run-<env>`): the months' spend.
    pub table: sparkplug::aws::run_table::RunTable,
}

impl Target {
    pub async fn aws(state_machine_arn: String) -> Target {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Target::with_config(state_machine_arn, &config)
    }

    pub async fn local(stack: &LocalStack) -> Target {
        let config = local_sdk_config(stack).await;
        Target {
            local: Some(stack.clone()),
            ..Target::with_config(stack.state_machine_arn.clone(), &config)
        }
    }

    fn with_config(state_machine_arn: String, config: &aws_config::SdkConfig) -> Target {
        Target {
            sfn: aws_sdk_sfn::Client::new(config),
            emr: aws_sdk_emr::Client::new(config),
            glue: aws_sdk_glue::Client::new(config),
            serverless: Serverless::new(config),
            logs: sparkplug::aws::alerts::Logs::new(config),
            local: None,
            table: sparkplug::aws::run_table::RunTable::new(
                config,
                run_table_of(&state_machine_arn),
            ),
            state_machine_arn,
        }
    }

    /// The execution ARN of a run, from its name.
    pub fn execution_arn(&self, run_name: &str) -> String {
        sparkplug::engine::execution::execution_arn(&self.state_machine_arn, run_name)
    }

    /// Starts an execution named `run_name`; an existing one of that name is reported, not an error.
    pub async fn start(&self, run_name: &str, input: &Value) -> Result<String, String> {
        let result = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(run_name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.execution_arn().to_string()),
            Err(e) => Err(format!(
                "StartExecution: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )),
        }
    }
}

/// The run table of the stack whose run state machine is `state_machine_arn`: the template names them
/// `sparkplug-run-<env>` and `sparkplug-<env>-tokens`.
pub fn run_table_of(state_machine_arn: &str) -> String {
    let machine = state_machine_arn.rsplit(':').next().unwrap_or_default();
    let environment = machine.strip_prefix("sparkplug-run-").unwrap_or(machine);
    format!("sparkplug-{environment}-tokens")
}

/// How a run ended, as `follow` saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run_name: String,
    pub status: String,
    pub summary: Value,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The last state of the run's cluster(s) (EMR), Glue run or EMR Serverless job run.
    pub resource_state: Option<String>,
}

struct Timeline {
    start: Instant,
    seen: BTreeMap<String, String>,
}

impl Timeline {
    /// Prints `what` when its state changes.
    fn note(&mut self, what: &str, state: &str, detail: &str) {
        if self.seen.get(what).map(String::as_str) == Some(state) {
            return;
        }
        self.seen.insert(what.to_string(), state.to_string());
        let elapsed = self.start.elapsed().as_secs_f64();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("  {detail}")
        };
        say!("  +{elapsed:6.1}s  {what:<34} {state}{detail}");
    }
}

/// Follows a run until its execution ends, printing each state change of the execution, the cluster and its
/// steps, the Glue run or the EMR Serverless job run.
pub async fn follow(target: &Target, run_name: &str, limit: Duration) -> Result<Outcome, String> {
    let arn = target.execution_arn(run_name);
    let mut timeline = Timeline {
        start: Instant::now(),
        seen: BTreeMap::new(),
    };
    let deadline = Instant::now() + limit;
    // Clusters of this run are at most as old as its execution.
    let since = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp() - 48 * 3600);
    let mut plan: Option<Value> = None;
    let mut glue_run: Option<(String, String)> = None;
    let mut serverless_run: Option<(String, String)> = None;
    // A pooled run's cluster: the one its CreateCluster task leased (a warm one bears another run's name).
    let mut leased: Option<String> = None;
    let mut next_lease_look = Instant::now();
    let mut resource_state = None;
    loop {
        let execution = target
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeExecution {run_name}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })?;
        let status = execution.status().as_str().to_string();
        if timeline.seen.is_empty() {
            timeline.note("execution", &status, "");
        }

        // EMR: the run's cluster bears the name its plan's RunJobFlow request gives (a pool's cluster, that of the run
        // that started it); a pooled run that joined a warm cluster knows it from its CreateCluster task's output.
        if plan.is_none() {
            plan = plan_of(target, &arn, execution.input()).await;
        }
        let plan = plan.as_ref();
        let own_cluster = plan
            .and_then(|p| p.pointer("/emr/cluster/Name"))
            .and_then(Value::as_str);
        let pooled = plan.is_some_and(|p| p.pointer("/emr/pool").is_some());
        // Its history is read every 2 s at most until the create task has answered (and once the execution ended).
        if pooled && leased.is_none() && (Instant::now() >= next_lease_look || status != "RUNNING")
        {
            next_lease_look = Instant::now() + Duration::from_secs(2);
            leased = task_outputs(target, &arn)
                .await
                .iter()
                .find_map(|output| Some(output.get("cluster_id")?.as_str()?.to_string()));
        }
        let mut clusters = Vec::new();
        let mut pages = target
            .emr
            .list_clusters()
            .created_after(since)
            .into_paginator()
            .send();
        while let Some(Ok(page)) = pages.next().await {
            clusters.extend(
                page.clusters()
                    .iter()
                    .filter(|c| {
                        (own_cluster.is_some() && c.name() == own_cluster)
                            || (c.id().is_some() && c.id() == leased.as_deref())
                    })
                    .cloned(),
            );
        }
        // A leased cluster older than the list's window (a pool's cluster lives on): described by its id.
        if let Some(id) = leased.as_deref() {
            if !clusters.iter().any(|c| c.id() == Some(id)) {
                if let Ok(described) = target.emr.describe_cluster().cluster_id(id).send().await {
                    if let Some(cluster) = described.cluster() {
                        clusters.push(
                            ClusterSummary::builder()
                                .id(id)
                                .set_name(cluster.name().map(str::to_string))
                                .set_status(cluster.status().cloned())
                                .build(),
                        );
                    }
                }
            }
        }
        let cluster_ids: Vec<String> = clusters
            .iter()
            .filter_map(|c| c.id().map(str::to_string))
            .collect();
        for cluster in &clusters {
            let id = cluster.id().unwrap_or_default();
            let state = cluster
                .status()
                .and_then(|s| s.state())
                .map(ClusterState::as_str)
                .unwrap_or("?");
            let reason = cluster
                .status()
                .and_then(|s| s.state_change_reason())
                .and_then(|r| r.message())
                .filter(|_| state.starts_with("TERMINATED"))
                .unwrap_or_default();
            timeline.note(&format!("cluster {id}"), state, reason);
            resource_state = Some(state.to_string());
            if let Ok(steps) = target.emr.list_steps().cluster_id(id).send().await {
                // On a pool cluster, only this run's step (named `<run>: <step>`), not its neighbours'.
                let pooled = cluster
                    .name()
                    .is_some_and(|n| n.starts_with("sparkplug-pool-"));
                let own_prefix = format!("{run_name}: ");
                let mut steps: Vec<_> = steps
                    .steps()
                    .iter()
                    .filter(|step| {
                        !pooled || step.name().is_some_and(|n| n.starts_with(&own_prefix))
                    })
                    .cloned()
                    .collect();
                steps.reverse(); // ListSteps answers newest first
                let count = steps.len();
                for (index, step) in steps.iter().enumerate() {
                    let state = step
                        .status()
                        .and_then(|s| s.state())
                        .map(|s| s.as_str())
                        .unwrap_or("?");
                    let failure = step
                        .status()
                        .and_then(|s| s.failure_details())
                        .map(|f| {
                            format!(
                                "{} {}",
                                f.reason().unwrap_or_default(),
                                f.log_file().unwrap_or_default()
                            )
                        })
                        .unwrap_or_default();
                    let name = format!(
                        "step {}/{count} {}",
                        index + 1,
                        step.name().unwrap_or_default()
                    );
                    timeline.note(&name, state, failure.trim());
                }
            }
        }
        // Locally: the state-change events that reached notify, and what it did with each.
        if let Some(stack) = &target.local {
            let job_run_id = glue_run
                .as_ref()
                .or(serverless_run.as_ref())
                .map(|(_, id)| id.as_str());
            let own_steps = pooled.then(|| format!("{run_name}: "));
            for (what, state, answer) in
                notified(stack, &cluster_ids, job_run_id, own_steps.as_deref())
            {
                timeline.note(&what, &state, &answer);
            }
        }
        // Glue: the run carries the run's name in its arguments.
        if let (None, Some(plan)) = (&glue_run, plan) {
            glue_run = glue_run_of(target, plan, run_name).await;
        }
        if let Some((job, id)) = &glue_run {
            if let Ok(run) = target
                .glue
                .get_job_run()
                .job_name(job)
                .run_id(id)
                .send()
                .await
            {
                if let Some(run) = run.job_run() {
                    let state = run.job_run_state().map(|s| s.as_str()).unwrap_or("?");
                    timeline.note(
                        &format!("glue run {}", short(id)),
                        state,
                        run.error_message().unwrap_or_default(),
                    );
                    resource_state = Some(state.to_string());
                }
            }
        }

        // EMR Serverless: the job run carries the run's name, in the plan's application.
        if let (None, Some(plan)) = (&serverless_run, plan) {
            serverless_run = serverless_run_of(target, plan, run_name).await;
        }
        if let Some((application, id)) = &serverless_run {
            if let Ok(run) = target.serverless.get_job_run(application, id).await {
                timeline.note(
                    &format!("job run {}", short(id)),
                    &run.state,
                    run.state_details.as_deref().unwrap_or_default(),
                );
                resource_state = Some(run.state);
            }
        }

        timeline.note("execution", &status, "");
        if status != "RUNNING" {
            // A failed execution has no output: its summary is the last task's.
            let summary = match execution
                .output()
                .and_then(|o| serde_json::from_str(o).ok())
            {
                Some(summary) => summary,
                None => last_summary(target, &arn).await.unwrap_or(Value::Null),
            };
            // A job run that ended between two looks: its last state, from the summary's job run id.
            if let (None, Some(id)) = (&serverless_run, summary["job_run_id"].as_str()) {
                if let Some(application) = serverless_application(target, plan).await {
                    if let Ok(run) = target.serverless.get_job_run(&application, id).await {
                        timeline.note(&format!("job run {}", short(id)), &run.state, "");
                        resource_state = Some(run.state);
                    }
                }
            }
            return Ok(Outcome {
                run_name: run_name.to_string(),
                status,
                summary,
                error: execution.error().map(str::to_string),
                cause: execution.cause().map(str::to_string),
                resource_state,
            });
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{run_name} is still running after {} s",
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

async fn task_outputs(target: &Target, execution_arn: &str) -> Vec<Value> {
    sparkplug_cli::history::task_outputs(&target.sfn, execution_arn).await
}

async fn last_summary(target: &Target, execution_arn: &str) -> Option<Value> {
    sparkplug_cli::history::last_summary(&target.sfn, execution_arn).await
}

/// The state-change events about these clusters (or this Glue or EMR Serverless job run) that the local emulator
/// delivered to notify: (what, state, what notify did). On a pool cluster, `own_steps` is the prefix of
/// this run's step names: the other runs' step events are theirs.
fn notified(
    stack: &LocalStack,
    clusters: &[String],
    job_run: Option<&str>,
    own_steps: Option<&str>,
) -> Vec<(String, String, String)> {
    let events: Vec<Value> = clusters
        .iter()
        .map(String::as_str)
        .chain(job_run)
        .flat_map(|id| stack.events("notify", id).unwrap_or_default())
        .collect();
    events
        .iter()
        .filter_map(|e| {
            let detail = &e["event"]["detail"];
            let ours = detail["clusterId"]
                .as_str()
                .is_some_and(|c| clusters.iter().any(|id| id == c))
                || (job_run.is_some() && detail["jobRunId"].as_str() == job_run);
            let a_neighbours_step = detail["stepId"].is_string()
                && own_steps.is_some_and(|prefix| {
                    !detail["name"]
                        .as_str()
                        .is_some_and(|name| name.starts_with(prefix))
                });
            if !ours || a_neighbours_step {
                return None;
            }
            let subject = detail["stepId"]
                .as_str()
                .or(detail["clusterId"].as_str())
                .or(detail["jobRunId"].as_str())
                .unwrap_or_default();
            let answer = &e["answer"];
            let did = if answer["answered"].as_array().is_some_and(|a| !a.is_empty()) {
                "→ notify answered the waiting task".to_string()
            } else if answer.get("errorType").is_some() {
                format!("→ notify failed: {}", answer["errorMessage"])
            } else {
                "→ notify: nothing to answer".to_string()
            };
            Some((
                format!(
                    "event {} {}",
                    e["event"]["detail-type"].as_str().unwrap_or_default(),
                    short(subject)
                ),
                detail["state"].as_str().unwrap_or_default().to_string(),
                did,
            ))
        })
        .collect()
}

/// The run's plan: the execution's input when it is one (an S3 arrival's), else what resolve made of it.
async fn plan_of(target: &Target, execution_arn: &str, input: Option<&str>) -> Option<Value> {
    let input: Option<Value> = input.and_then(|i| serde_json::from_str(i).ok());
    match input {
        Some(plan) if is_plan(&plan) => Some(plan),
        _ => task_outputs(target, execution_arn)
            .await
            .into_iter()
            .find(is_plan),
    }
}

/// The Glue job and run id of a Glue run: the job from the plan, the run by its `--sparkplug_run` argument.
async fn glue_run_of(target: &Target, plan: &Value, run_name: &str) -> Option<(String, String)> {
    let job = plan.pointer("/glue/job/Name")?.as_str()?;
    let runs = target.glue.get_job_runs().job_name(job).send().await.ok()?;
    let id = runs
        .job_runs()
        .iter()
        .find(|run| {
            run.arguments()
                .and_then(|a| a.get("--sparkplug_run"))
                .map(String::as_str)
                == Some(run_name)
        })?
        .id()?
        .to_string();
    Some((job.to_string(), id))
}

/// The application and job run id of an EMR Serverless run: the application by the plan's name, the job run by the
/// run's name (StartJobRun's `name`) among the application's active job runs — once found, followed to its end.
async fn serverless_run_of(
    target: &Target,
    plan: &Value,
    run_name: &str,
) -> Option<(String, String)> {
    let application = serverless_application(target, Some(plan)).await?;
    let runs = target.serverless.active_job_runs(&application).await.ok()?;
    let (id, _) = runs.into_iter().find(|(_, name)| name == run_name)?;
    Some((application, id))
}

/// The id of the EMR Serverless application the run's plan names.
async fn serverless_application(target: &Target, plan: Option<&Value>) -> Option<String> {
    let name = plan?
        .pointer("/emr_serverless/application/name")?
        .as_str()?;
    Some(target.serverless.find_application(name).await.ok()??.id)
}

/// Prints the end of a run: its status, and the summary's start-up vs execution times or its failure.
pub fn print_outcome(outcome: &Outcome) {
    say!("  {} {}", outcome.run_name, outcome.status);
    let timeline = &outcome.summary["timeline"];
    if let (Some(startup), Some(execution)) = (
        timeline["startup_seconds"].as_i64(),
        timeline["execution_seconds"].as_i64(),
    ) {
        say!("  start-up {startup} s, execution {execution} s");
    }
    let summary = &outcome.summary;
    if let (Some(pool), Some(cluster)) = (
        summary["pool"]["name"].as_str(),
        summary["cluster_id"].as_str(),
    ) {
        let start = summary["pool"]["start"].as_str().unwrap_or("?");
        say!("  warm pool {pool}: {start} start on cluster {cluster} (it stays up for the pool's next runs)");
    }
    if let Some(job_run) = summary["job_run_id"].as_str() {
        say!("  EMR Serverless job run {job_run}");
    }
    if let Some(error) = &outcome.error {
        say!("  error: {error}");
    }
    if let Some(cause) = &outcome.cause {
        say!("  cause: {cause}");
    }
}

/// The console-equivalent input of a run: the resolve function renders the plan from it.
pub fn run_input(
    job: &str,
    run_name: &str,
    time: chrono::DateTime<chrono::Utc>,
    args: &BTreeMap<String, String>,
    input: Option<&str>,
) -> Value {
    let mut value = json!({ "job": job, "run_name": run_name, "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) });
    if !args.is_empty() {
        value["args"] = json!(args);
    }
    if let Some(input) = input {
        value["input"] = json!(input);
    }
    value
}
