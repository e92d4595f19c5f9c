//! The end-to-end tests' harness: the one local stack of the test binary, the SDK clients on it, and the helpers
//! every topic uses (start a run, wait for it, read the emulator's state, set faults).

pub(crate) use aws_sdk_emr::types::ClusterState;
pub(crate) use serde_json::{json, Value};
pub(crate) use sparkplug_cli::local::{LocalStack, StartedStack};
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::sync::OnceLock;
pub(crate) use std::time::{Duration, Instant};

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The emulator's account (moto's default): every stack and bucket of the local stack is in it.
pub(crate) const ACCOUNT: &str = "123456789012";

/// One local stack for the whole test binary, with dev's and prod's stacks side by side as in one account; it stops
/// itself when this process ends.
pub(crate) fn stack() -> &'static LocalStack {
    static STACK: OnceLock<StartedStack> = OnceLock::new();
    &STACK
        .get_or_init(|| {
            let dir = repo().join(".local");
            let id = std::process::id();
            let started = StartedStack::start(
                &repo(),
                &["dev", "prod"],
                &dir.join(format!("e2e-{id}.json")),
                &dir.join(format!("e2e-{id}.log")),
                Duration::from_secs(1200),
            )
            .unwrap_or_else(|e| panic!("cannot start the local stack: {e}"));
            started
                .stack
                .control("/quotas", &suite_quotas(&started.stack))
                .unwrap_or_else(|e| panic!("cannot turn the emulator's quotas on: {e}"));
            started
        })
        .stack
}

/// AWS's quotas in the emulator (local/emulator/quotas.py), for the stack's Region, at fifty times AWS's numbers: the
/// suite runs some fifty tests' traffic at once in one account — dozens of cluster starts a minute, which EMR's
/// RunJobFlow bucket (10, refilled at 0.5 a second) and its account-wide bucket (25, 5 a second) would spread over
/// minutes, past the tests' limits. A test that means to meet a quota sets its bucket, then puts this back.
pub(crate) fn suite_quotas(stack: &LocalStack) -> Value {
    json!({"scale": 0.02, "region": stack.region})
}

pub(crate) struct Aws {
    pub(crate) sfn: aws_sdk_sfn::Client,
    pub(crate) emr: aws_sdk_emr::Client,
    pub(crate) glue: aws_sdk_glue::Client,
    /// The SDK configuration every client above is made from: the local stack's endpoint and region.
    pub(crate) config: aws_config::SdkConfig,
    pub(crate) stack: &'static LocalStack,
    _turn: Turn,
}

/// The tests share the one stack; a test that sets an account-wide quota has it alone. AWS's quotas are per account
/// and Region: a StartExecution bucket emptied on purpose would throttle every other test's starts (parked for a
/// tick those tests do not run). A writer waiting is served before readers that come after it (tokio's lock is fair).
static SHARING: std::sync::LazyLock<tokio::sync::RwLock<()>> =
    std::sync::LazyLock::new(|| tokio::sync::RwLock::new(()));

/// A test's turn on the stack, held as long as its `Aws`.
#[allow(dead_code)] // held, never read
enum Turn {
    Shared(tokio::sync::RwLockReadGuard<'static, ()>),
    Alone(tokio::sync::RwLockWriteGuard<'static, ()>),
}

/// The stack, shared with the other tests running.
pub(crate) async fn aws() -> Aws {
    clients(Turn::Shared(SHARING.read().await)).await
}

/// The stack alone: once every test running has ended, and until this one ends.
pub(crate) async fn aws_alone() -> Aws {
    clients(Turn::Alone(SHARING.write().await)).await
}

async fn clients(turn: Turn) -> Aws {
    let stack = stack();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&stack.endpoint)
        .region(aws_config::Region::new(stack.region.clone()))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "local", "local", None, None, "e2e",
        ))
        .load()
        .await;
    Aws {
        sfn: aws_sdk_sfn::Client::new(&config),
        emr: aws_sdk_emr::Client::new(&config),
        glue: aws_sdk_glue::Client::new(&config),
        config,
        stack,
        _turn: turn,
    }
}

impl Aws {
    /// An S3 client of the local stack (path-style: one endpoint for every bucket).
    pub(crate) fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }
}

/// A run name no other test uses.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

pub(crate) struct Finished {
    pub(crate) status: String,
    pub(crate) output: Value,
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
}

impl Aws {
    pub(crate) fn execution_arn(&self, name: &str) -> String {
        sparkplug::engine::execution::execution_arn(&self.stack.state_machine_arn, name)
    }

    /// Starts a run the way the console does, about its own input object `s3://<data bucket>/<prefix>/<run>.json`.
    pub(crate) async fn start_about(&self, job: &str, run_name: &str, prefix: &str) {
        let input = json!({"job": job, "run_name": run_name,
            "input": format!("s3://{}/{prefix}/{run_name}.json", self.stack.data_bucket)});
        self.start_input(run_name, &input).await;
    }

    /// Starts a run the way the console does: `{"job": …}` plus a chosen name.
    pub(crate) async fn start(&self, job: &str, run_name: &str) {
        self.start_input(run_name, &json!({"job": job, "run_name": run_name}))
            .await;
    }

    /// StartExecution of the run state machine under `run_name` with this input (a request or a whole plan).
    pub(crate) async fn start_input(&self, run_name: &str, input: &Value) {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.stack.state_machine_arn)
            .name(run_name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
    }

    pub(crate) async fn fault(&self, run_name: &str, spec: Value) {
        let mut body = spec;
        body["run"] = json!(run_name);
        self.stack.control("/faults", &body).unwrap();
    }

    pub(crate) async fn wait(&self, run_name: &str, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        loop {
            let execution = self
                .sfn
                .describe_execution()
                .execution_arn(self.execution_arn(run_name))
                .send()
                .await
                .unwrap();
            if execution.status().as_str() != "RUNNING" {
                return Finished {
                    status: execution.status().as_str().to_string(),
                    output: execution
                        .output()
                        .and_then(|o| serde_json::from_str(o).ok())
                        .unwrap_or(Value::Null),
                    error: execution.error().map(str::to_string),
                    cause: execution.cause().map(str::to_string),
                };
            }
            assert!(
                Instant::now() < deadline,
                "{run_name} still RUNNING after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The run's own clusters (named after it): (id, state).
    pub(crate) async fn clusters(&self, run_name: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut pages = self.emr.list_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            for cluster in page.unwrap().clusters().iter().filter(|c| {
                // A run's own cluster, in either environment (dev's and prod's share the account here).
                ["dev", "prod"].iter().any(|env| {
                    c.name()
                        == Some(&*sparkplug::run::plan::run_cluster_name(
                            Some(env),
                            run_name,
                        ))
                })
            }) {
                let state = cluster
                    .status()
                    .and_then(|s| s.state())
                    .map(ClusterState::as_str)
                    .unwrap_or_default();
                found.push((
                    cluster.id().unwrap_or_default().to_string(),
                    state.to_string(),
                ));
            }
        }
        found
    }

    pub(crate) async fn assert_no_cluster_left(&self, run_name: &str) {
        let clusters = self.clusters(run_name).await;
        assert!(
            !clusters.is_empty(),
            "{run_name}: no cluster was ever created"
        );
        let left: Vec<_> = clusters
            .iter()
            .filter(|(_, s)| !s.starts_with("TERMINAT"))
            .collect();
        assert!(
            left.is_empty(),
            "{run_name}: clusters left running: {left:?}"
        );
    }

    /// What the trigger answered for the S3 event of `key` (the emulator delivers it like the EventBridge rule).
    pub(crate) async fn delivered(&self, key: &str) -> Value {
        // A throttled invocation is retried by Lambda a minute or more later (the reserved-concurrency burst).
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let events = self
                .stack
                .events(&self.stack.trigger_function, key)
                .unwrap();
            if let Some(found) = events
                .iter()
                // dev's trigger (prod's hears the same arrivals, and finds no job of its own for dev's buckets)
                .find(|e| {
                    e["event"]["detail"]["object"]["key"] == key
                        && e["function"] == self.stack.trigger_function.as_str()
                })
            {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no event for {key} reached the trigger"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) async fn put(&self, key: &str) {
        self.stack
            .control(
                "/put-object",
                &json!({"bucket": self.stack.data_bucket, "key": key, "body": "x"}),
            )
            .unwrap();
    }

    pub(crate) async fn executions_named(&self, names: &[String]) -> usize {
        let mut found = 0;
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.stack.state_machine_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            found += page
                .unwrap()
                .executions()
                .iter()
                .filter(|e| names.iter().any(|n| n == e.name()))
                .count();
        }
        found
    }
}

pub(crate) const RUN: Duration = Duration::from_secs(240);

/// Starts hello_world under `fault`, waits for it, and checks that no cluster of the run is left.
pub(crate) async fn faulty_run(aws: &Aws, name: &str, fault: Value) -> Finished {
    let run = unique(name);
    aws.fault(&run, fault).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, Duration::from_secs(240)).await;
    aws.assert_no_cluster_left(&run).await;
    finished
}

impl Aws {
    /// Within 60 s, the run's cluster is terminated: after an end no Catch sees, only the janitor does it.
    pub(crate) async fn janitor_ends_the_cluster_of(&self, run: &str) -> Duration {
        within(
            Duration::from_secs(60),
            "the janitor terminated the cluster",
            || async {
                let clusters = self.clusters(run).await;
                !clusters.is_empty()
                    && clusters
                        .iter()
                        .all(|(_, state)| state.starts_with("TERMINAT"))
            },
        )
        .await
    }

    pub(crate) async fn stop(&self, run_name: &str) {
        self.sfn
            .stop_execution()
            .execution_arn(self.execution_arn(run_name))
            .cause("stopped from the console (e2e)")
            .send()
            .await
            .unwrap();
    }

    /// The runs of a Glue job that carry this run's name.
    pub(crate) async fn glue_runs_of(
        &self,
        job: &str,
        run_name: &str,
    ) -> Vec<aws_sdk_glue::types::JobRun> {
        let Ok(runs) = self.glue.get_job_runs().job_name(job).send().await else {
            return Vec::new();
        };
        runs.job_runs()
            .iter()
            .filter(|r| {
                r.arguments()
                    .and_then(|a| a.get("--sparkplug_run"))
                    .map(String::as_str)
                    == Some(run_name)
            })
            .cloned()
            .collect()
    }

    /// The Glue runs of customer_scores that carry this run's name: (id, state).
    pub(crate) async fn glue_runs(&self, run_name: &str) -> Vec<(String, String)> {
        self.glue_runs_of("sparkplug-customer_scores-dev", run_name)
            .await
            .iter()
            .map(|r| {
                let state = r
                    .job_run_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                (r.id().unwrap_or_default().to_string(), state)
            })
            .collect()
    }
}

/// Polls `done` until it holds, up to `limit`; the time it took.
pub(crate) async fn within<F, Fut>(limit: Duration, what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    start.elapsed()
}

// ------------------------------------------------------------------------------------------ event-driven completion

impl Aws {
    /// The execution's history: (type, state entered or exited, timestamp).
    pub(crate) async fn history(&self, run_name: &str) -> Vec<(String, Option<String>, f64)> {
        let mut events = Vec::new();
        let mut pages = self
            .sfn
            .get_execution_history()
            .execution_arn(self.execution_arn(run_name))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for event in page.unwrap().events() {
                let name = event
                    .state_entered_event_details()
                    .map(|d| d.name().to_string());
                let at = event.timestamp().as_secs_f64();
                events.push((event.r#type().as_str().to_string(), name, at));
            }
        }
        events
    }

    /// Starts `job` under `run_name` with its plan's limit (`timeout_seconds`) set to `seconds`: the plan is resolved
    /// by the stack's resolve function and passed whole, as the console may.
    pub(crate) async fn start_with_limit(&self, job: &str, run_name: &str, seconds: u64) {
        let mut plan = self
            .stack
            .invoke(
                "resolve",
                &json!({"request": {"job": job}, "execution_name": run_name}),
            )
            .unwrap();
        plan["timeout_seconds"] = json!(seconds);
        self.start_input(run_name, &plan).await;
    }

    pub(crate) async fn status(&self, run_name: &str) -> String {
        let execution = self
            .sfn
            .describe_execution()
            .execution_arn(self.execution_arn(run_name))
            .send()
            .await
            .unwrap();
        execution.status().as_str().to_string()
    }

    /// When the last of the run's steps ended (EMR's EndDateTime), in epoch seconds.
    pub(crate) async fn last_step_end(&self, run_name: &str) -> f64 {
        let (cluster, _) = self.clusters(run_name).await.remove(0);
        let steps = self
            .emr
            .list_steps()
            .cluster_id(cluster)
            .send()
            .await
            .unwrap();
        steps
            .steps()
            .iter()
            .filter_map(|s| s.status()?.timeline()?.end_date_time())
            .map(|t| t.as_secs_f64())
            .fold(f64::MIN, f64::max)
    }

    /// What notify did with the state-change events about this run's cluster: (state, its answer).
    pub(crate) async fn notified(&self, run_name: &str) -> Vec<(String, Value)> {
        let (cluster, _) = self.clusters(run_name).await.remove(0);
        self.notified_about(&cluster).await
    }

    /// What notify did with the state-change events about `cluster`: (state, its answer).
    pub(crate) async fn notified_about(&self, cluster: &str) -> Vec<(String, Value)> {
        let events = self.stack.events("notify", cluster).unwrap();
        events
            .iter()
            .filter(|e| e["function"] == "notify" && e["event"]["detail"]["clusterId"] == cluster)
            .map(|e| {
                (
                    e["event"]["detail"]["state"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    e["answer"].clone(),
                )
            })
            .collect()
    }
}

/// Runs `hello_world` under `run` with its step taking `step_seconds`; (history length, completion lag in seconds:
/// the step's end → the state machine entering Terminate).
pub(crate) async fn event_driven_run(aws: &Aws, run: &str, step_seconds: u64) -> (usize, f64) {
    aws.fault(run, json!({"step_seconds": step_seconds})).await;
    aws.start("hello_world", run).await;
    let finished = aws.wait(run, RUN).await;
    assert_eq!(
        finished.status, "SUCCEEDED",
        "{:?} {:?}",
        finished.error, finished.cause
    );
    let history = aws.history(run).await;
    let terminate = history
        .iter()
        .find(|(_, state, _)| state.as_deref() == Some("Terminate"))
        .map(|(_, _, at)| *at)
        .unwrap();
    let lag = terminate - aws.last_step_end(run).await;
    assert!(
        !history
            .iter()
            .any(|(kind, _, _)| kind == "WaitStateEntered"),
        "a Wait state: the run polls"
    );
    (history.len(), lag)
}

impl Aws {
    /// A waiter in the token table whose cluster EMR does not know (its record outlived it): the reconciler fails its
    /// task (WorkLost) instead of keeping it for ever, and forgets it. Its token is long dead: the answer is dropped.
    pub(crate) async fn reconcile_a_waiter_whose_cluster_is_gone(&self) {
        let tokens = sparkplug::aws::run_table::RunTable::new(&self.config, "sparkplug-dev-tokens");
        let gone = sparkplug::engine::ports::Work::Emr {
            cluster_id: "j-GONE0000000".into(),
            step_ids: vec!["s-GONE".into()],
            sequential: true,
            pooled: false,
        };
        let run = unique("gone");
        let waiter = sparkplug::engine::ports::Waiter {
            work: gone,
            token: "a-token-nobody-waits-on".into(),
            run_name: run.clone(),
            job: "hello_world".into(),
            registered: chrono::Utc::now() - chrono::Duration::hours(1),
            expires: chrono::Utc::now() + chrono::Duration::hours(1),
        };
        use sparkplug::engine::ports::TokenStore;
        assert!(tokens.put_waiter(&waiter).await.unwrap());
        // The reconcile reads the waiters from the run table's index, eventually consistent: a waiter written this
        // instant is seen by the next look (the schedule's is 5 minutes away; this one, a second).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = self
            .stack
            .invoke("notify", &json!({"reconcile": true}))
            .unwrap();
        assert!(
            report["answered"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str() == Some(&format!("{run}: WorkLost"))),
            "{report}"
        );
        assert_eq!(tokens.get_waiter("emr#j-GONE0000000").await.unwrap(), None);
    }
}

// ------------------------------------------------------------------------------------------------- alerts and cost

impl Aws {
    /// The SNS messages about `run` (its name is in every alert).
    pub(crate) fn alerts_about(&self, run: &str) -> Vec<Value> {
        let messages = self.stack.control_get("/sns").unwrap();
        messages
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message"].as_str().unwrap_or_default().contains(run))
            .cloned()
            .collect()
    }

    /// The EventBridge alert events about `run`, their `detail` parsed.
    pub(crate) fn alert_events_about(&self, run: &str) -> Vec<Value> {
        let entries = self.stack.control_get("/bus").unwrap();
        entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["Source"] == "sparkplug" && e["DetailType"] == "sparkplug Run Alert")
            .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
            .filter(|d| d["run_name"] == run)
            .collect()
    }

    /// The OpenLineage RunEvents of `run` on the bus (jobs.toml's `[lineage]`), oldest first, each checked against
    /// its committed schema.
    pub(crate) fn lineage_events_about(&self, run: &str) -> Vec<Value> {
        let id = sparkplug::run::lineage::run_id("sparkplug-dev", run);
        let entries = self.stack.control_get("/bus").unwrap();
        let events: Vec<Value> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["Source"] == "sparkplug" && e["DetailType"] == "OpenLineage RunEvent")
            .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
            .filter(|d| d["run"]["runId"] == id.as_str())
            .collect();
        for event in &events {
            let envelope = json!({"source": "sparkplug", "detail-type": "OpenLineage RunEvent", "detail": event});
            follows_schema("openlineage-run-event", &envelope);
        }
        events
    }

    pub(crate) async fn one_alert_about(&self, run: &str) -> (Value, Value) {
        within(
            Duration::from_secs(90),
            "the run's alert went out",
            || async {
                !self.alerts_about(run).is_empty() && !self.alert_events_about(run).is_empty()
            },
        )
        .await;
        // A second delivery of the status change would show here within a moment.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (messages, events) = (self.alerts_about(run), self.alert_events_about(run));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(events.len(), 1, "{events:?}");
        // What went out follows its committed schema: the event as the bus holds it, the chat form as SNS sent it.
        let event = json!({"source": "sparkplug", "detail-type": "sparkplug Run Alert", "detail": events[0]});
        follows_schema("run-alert", &event);
        let chat: Value = serde_json::from_str(messages[0]["default"].as_str().unwrap()).unwrap();
        follows_schema("chat-notification", &chat);
        (messages[0].clone(), events[0].clone())
    }
}

/// Panics unless `instance` follows `docs/schemas/<name>.schema.json`.
pub(crate) fn follows_schema(name: &str, instance: &Value) {
    let path = repo().join(format!("docs/schemas/{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{name}: {problems:?}\n{instance}");
}

// ------------------------------------------------------------------------------- schedules and buckets: the catalog

impl Aws {
    /// The executions whose name starts with `prefix`.
    pub(crate) async fn executions_named_like(&self, prefix: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.stack.state_machine_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            found.extend(
                page.unwrap()
                    .executions()
                    .iter()
                    .filter(|e| e.name().starts_with(prefix))
                    .map(|e| e.name().to_string()),
            );
        }
        found
    }
}

// ------------------------------------------------------------------------------------------------------ queues

pub(crate) struct GlueRunTimes {
    pub(crate) started: Option<f64>,
    pub(crate) completed: Option<f64>,
}

impl Aws {
    /// The state a running execution entered last.
    pub(crate) async fn current_state(&self, run_name: &str) -> Option<String> {
        self.history(run_name)
            .await
            .into_iter()
            .filter_map(|(_, state, _)| state)
            .next_back()
    }

    pub(crate) async fn ledger_runs(&self, run_name: &str) -> Vec<GlueRunTimes> {
        self.glue_runs_of("sparkplug-ledger_close-dev", run_name)
            .await
            .iter()
            .map(|r| GlueRunTimes {
                started: r.started_on().map(|t| t.as_secs_f64()),
                completed: r.completed_on().map(|t| t.as_secs_f64()),
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------------------------ warm pools

impl Aws {
    /// dev's run table (`sparkplug-dev-tokens`): pools' leases, runs' records.
    pub(crate) fn run_table(&self) -> sparkplug::aws::run_table::RunTable {
        sparkplug::aws::run_table::RunTable::new(&self.config, "sparkplug-dev-tokens")
    }

    /// Starts every run at once, each about its own input object, and waits for them all.
    pub(crate) async fn run_all(&self, job: &str, runs: &[String]) -> Vec<Finished> {
        // StartExecution answers at once: started one after the other, the runs are under way together.
        for run in runs {
            self.start_about(job, run, "landing/clicks").await;
        }
        let mut finished = Vec::new();
        for run in runs {
            finished.push(self.wait(run, RUN).await);
        }
        finished
    }

    /// A cluster's steps: (name, state, start, end) in epoch seconds.
    pub(crate) async fn steps_on(&self, cluster: &str) -> Vec<(String, String, f64, f64)> {
        let mut found = Vec::new();
        let mut pages = self
            .emr
            .list_steps()
            .cluster_id(cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for step in page.unwrap().steps() {
                let status = step.status().unwrap();
                let timeline = status.timeline();
                let at = |t: Option<&aws_smithy_types::DateTime>| {
                    t.map_or(f64::NAN, |t| t.as_secs_f64())
                };
                found.push((
                    step.name().unwrap_or_default().to_string(),
                    status
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    at(timeline.and_then(|t| t.start_date_time())),
                    at(timeline.and_then(|t| t.end_date_time())),
                ));
            }
        }
        found
    }

    pub(crate) async fn cluster_state(&self, cluster: &str) -> String {
        let described = self
            .emr
            .describe_cluster()
            .cluster_id(cluster)
            .send()
            .await
            .unwrap();
        described
            .cluster()
            .and_then(|c| c.status())
            .and_then(|s| s.state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    }

    /// The janitor's look at `pool` as if it were `minutes_later` from now: the clusters it released.
    pub(crate) async fn release_idle(&self, pool: &str, minutes_later: i64) -> Vec<String> {
        let time = chrono::Utc::now() + chrono::Duration::minutes(minutes_later);
        let report = self
            .stack
            .invoke(
                "janitor",
                &json!({"release_idle": true, "pool": pool, "time": time}),
            )
            .unwrap();
        serde_json::from_value(report["pools"]["released"].clone()).unwrap_or_default()
    }
}

/// Most steps RUNNING at once on a cluster, from their timelines.
pub(crate) fn peak_side_by_side(steps: &[(String, String, f64, f64)]) -> usize {
    steps
        .iter()
        .filter(|(_, _, start, _)| start.is_finite())
        .map(|(_, _, start, _)| {
            steps
                .iter()
                .filter(|(_, _, s, e)| *s <= *start && (e.is_nan() || *e > *start))
                .count()
        })
        .max()
        .unwrap_or(0)
}

pub(crate) fn cluster_of(finished: &Finished) -> String {
    finished.output["cluster_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// -------------------------------------------------------------------------------------------------- EMR Serverless

impl Aws {
    /// The orders_enrich application's id and state, once a run has made it.
    pub(crate) async fn orders_application(&self) -> Option<(String, String)> {
        let apps = self.serverless().list_applications().send().await.unwrap();
        apps.applications()
            .iter()
            .find(|a| a.name() == Some("sparkplug-orders_enrich-dev"))
            .map(|a| (a.id().to_string(), a.state().as_str().to_string()))
    }

    /// EMR Serverless traffic on every path of the IAM test: a run (the application created by the session's first),
    /// a run that finds the application stopped and changed (updated back), one past its limit (finish cancels its job
    /// run) and one stopped from the console (the janitor cancels it).
    pub(crate) async fn serverless_traffic(&self) {
        let first = unique("orders_enrich-iam");
        self.start_orders(&first).await;
        assert_eq!(self.wait(&first, RUN).await.status, "SUCCEEDED", "{first}");
        // Stopped and changed behind sparkplug's back (another test's runs may start it again meanwhile: tried until
        // a run found it stopped).
        let client = self.serverless();
        for attempt in 0..3 {
            let (id, _) = self.orders_application().await.unwrap();
            within(Duration::from_secs(90), "the application stops", || async {
                let _ = client.stop_application().application_id(&id).send().await;
                self.orders_application()
                    .await
                    .is_some_and(|(_, s)| s == "STOPPED")
            })
            .await;
            let stale = aws_sdk_emrserverless::types::AutoStopConfig::builder()
                .enabled(true)
                .idle_timeout_minutes(5)
                .build();
            client
                .update_application()
                .application_id(&id)
                .auto_stop_configuration(stale)
                .send()
                .await
                .unwrap();
            let run = unique(&format!("orders_enrich-iam-stale{attempt}"));
            self.start_orders(&run).await;
            assert_eq!(self.wait(&run, RUN).await.status, "SUCCEEDED", "{run}");
            let report = self.stack.control_get("/iam").unwrap();
            if report["used"]["emr-serverless-start"]
                .as_array()
                .is_some_and(|u| u.iter().any(|a| a == "emr-serverless:UpdateApplication"))
            {
                break;
            }
        }
        let limited = unique("orders_enrich-iam-limited");
        let stopped = unique("orders_enrich-iam-stopped");
        for run in [&limited, &stopped] {
            self.fault(run, json!({"job_run_seconds": 600})).await;
        }
        let mut plan = self
            .stack
            .invoke(
                "resolve",
                &json!({"request": {"job": "orders_enrich",
                    "input": format!("s3://{}/landing/orders/{limited}.json", self.stack.data_bucket)},
                    "execution_name": limited}),
            )
            .unwrap();
        plan["timeout_seconds"] = json!(15);
        self.start_input(&limited, &plan).await;
        self.start_orders(&stopped).await;
        within(RUN, "the serverless run to stop is running", || async {
            self.job_runs_named(&stopped)
                .await
                .iter()
                .any(|(_, s)| s == "RUNNING")
        })
        .await;
        self.stop(&stopped).await;
        assert_eq!(
            self.wait(&limited, RUN).await.error.as_deref(),
            Some("Timeout")
        );
        within(
            Duration::from_secs(60),
            "both job runs are cancelled",
            || async {
                let mut runs = self.job_runs_named(&limited).await;
                runs.extend(self.job_runs_named(&stopped).await);
                runs.iter()
                    .all(|(_, s)| s == "CANCELLED" || s == "CANCELLING")
            },
        )
        .await;
    }

    pub(crate) fn serverless(&self) -> aws_sdk_emrserverless::Client {
        aws_sdk_emrserverless::Client::new(&self.config)
    }

    /// Starts orders_enrich about its own input object, the way the console does.
    pub(crate) async fn start_orders(&self, run: &str) {
        self.start_about("orders_enrich", run, "landing/orders")
            .await;
    }

    /// The job runs of this run's name on the orders_enrich application: (id, state).
    pub(crate) async fn job_runs_named(&self, run: &str) -> Vec<(String, String)> {
        let client = self.serverless();
        let apps = client.list_applications().send().await.unwrap();
        let Some(app) = apps
            .applications()
            .iter()
            .find(|a| a.name() == Some("sparkplug-orders_enrich-dev"))
        else {
            return Vec::new();
        };
        let runs = client
            .list_job_runs()
            .application_id(app.id())
            .send()
            .await
            .unwrap();
        runs.job_runs()
            .iter()
            .filter(|r| r.name() == Some(run))
            .map(|r| (r.id().to_string(), r.state().as_str().to_string()))
            .collect()
    }
}

// ------------------------------------------------------------------ lost events: the doctor and the failed-events queue
