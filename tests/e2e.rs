//! End to end, on this machine: the local stack (moto + local/emulator.py, the real Lambda binaries under
//! `cargo lambda watch`, the real state machine deployed from template.yaml). Every test asserts on the emulator's
//! state — executions, clusters, steps, Glue runs — never on log text, and polls with deadlines.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_emr::types::ClusterState;
use serde_json::{json, Value};
use sparkplug_cli::local::{LocalStack, StartedStack};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The emulator's account (moto's default): every stack and bucket of the local stack is in it.
const ACCOUNT: &str = "123456789012";

/// One local stack for the whole test binary, with dev's and prod's stacks side by side as in one account; it stops
/// itself when this process ends.
fn stack() -> &'static LocalStack {
    static STACK: OnceLock<StartedStack> = OnceLock::new();
    &STACK
        .get_or_init(|| {
            let dir = repo().join(".local");
            let id = std::process::id();
            StartedStack::start(
                &repo(),
                &["dev", "prod"],
                &dir.join(format!("e2e-{id}.json")),
                &dir.join(format!("e2e-{id}.log")),
                Duration::from_secs(1200),
            )
            .unwrap_or_else(|e| panic!("cannot start the local stack: {e}"))
        })
        .stack
}

struct Aws {
    sfn: aws_sdk_sfn::Client,
    emr: aws_sdk_emr::Client,
    glue: aws_sdk_glue::Client,
    /// The SDK configuration every client above is made from: the local stack's endpoint and region.
    config: aws_config::SdkConfig,
    stack: &'static LocalStack,
}

async fn aws() -> Aws {
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
    }
}

impl Aws {
    /// An S3 client of the local stack (path-style: one endpoint for every bucket).
    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }
}

/// A run name no other test uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

struct Finished {
    status: String,
    output: Value,
    error: Option<String>,
    cause: Option<String>,
}

impl Aws {
    fn execution_arn(&self, name: &str) -> String {
        sparkplug::engine::execution::execution_arn(&self.stack.state_machine_arn, name)
    }

    /// Starts a run the way the console does, about its own input object `s3://<data bucket>/<prefix>/<run>.json`.
    async fn start_about(&self, job: &str, run_name: &str, prefix: &str) {
        let input = json!({"job": job, "run_name": run_name,
            "input": format!("s3://{}/{prefix}/{run_name}.json", self.stack.data_bucket)});
        self.start_input(run_name, &input).await;
    }

    /// Starts a run the way the console does: `{"job": …}` plus a chosen name.
    async fn start(&self, job: &str, run_name: &str) {
        self.start_input(run_name, &json!({"job": job, "run_name": run_name}))
            .await;
    }

    /// StartExecution of the run state machine under `run_name` with this input (a request or a whole plan).
    async fn start_input(&self, run_name: &str, input: &Value) {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.stack.state_machine_arn)
            .name(run_name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
    }

    async fn fault(&self, run_name: &str, spec: Value) {
        let mut body = spec;
        body["run"] = json!(run_name);
        self.stack.control("/faults", &body).unwrap();
    }

    async fn wait(&self, run_name: &str, limit: Duration) -> Finished {
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
    async fn clusters(&self, run_name: &str) -> Vec<(String, String)> {
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

    async fn assert_no_cluster_left(&self, run_name: &str) {
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
    async fn delivered(&self, key: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
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

    async fn put(&self, key: &str) {
        self.stack
            .control(
                "/put-object",
                &json!({"bucket": self.stack.data_bucket, "key": key, "body": "x"}),
            )
            .unwrap();
    }

    async fn executions_named(&self, names: &[String]) -> usize {
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

const RUN: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_arrival_runs_emr_from_create_to_terminate() {
    let aws = aws().await;
    let key = format!("landing/sales/{}/_SUCCESS", unique("dt"));
    aws.put(&key).await;
    let delivered = aws.delivered(&key).await;
    let started = delivered["answer"]["started"].as_array().unwrap().clone();
    assert_eq!(started.len(), 1, "{delivered}");
    let run = started[0].as_str().unwrap().to_string();
    assert!(run.starts_with("sales_daily-"));

    let finished = aws.wait(&run, RUN).await;
    assert_eq!(
        finished.status, "SUCCEEDED",
        "{:?} {:?}",
        finished.error, finished.cause
    );
    // The cluster had the plan's configuration…
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 1);
    let cluster = aws
        .emr
        .describe_cluster()
        .cluster_id(&clusters[0].0)
        .send()
        .await
        .unwrap();
    let cluster = cluster.cluster().unwrap();
    assert_eq!(cluster.release_label(), Some("emr-7.5.0"));
    let tags: Vec<(&str, &str)> = cluster
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert!(
        tags.contains(&("sparkplug:job", "sales_daily"))
            && tags.contains(&("sparkplug:run", run.as_str())),
        "{tags:?}"
    );
    assert_eq!(
        cluster.status().unwrap().state().unwrap().as_str(),
        "TERMINATED"
    );
    // …its steps were added in order and completed…
    let steps = aws
        .emr
        .list_steps()
        .cluster_id(&clusters[0].0)
        .send()
        .await
        .unwrap();
    let mut steps: Vec<(String, String, Vec<String>)> = steps
        .steps()
        .iter()
        .map(|s| {
            (
                s.name().unwrap_or_default().to_string(),
                s.status().unwrap().state().unwrap().as_str().to_string(),
                s.config().map(|c| c.args().to_vec()).unwrap_or_default(),
            )
        })
        .collect();
    steps.reverse();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.0.as_str(), s.1.as_str()))
            .collect::<Vec<_>>(),
        [("ingest", "COMPLETED"), ("aggregate", "COMPLETED")]
    );
    let input_prefix = format!(
        "s3://{}/{}",
        aws.stack.data_bucket,
        key.trim_end_matches("_SUCCESS")
    );
    assert!(steps[0].2.contains(&input_prefix), "{:?}", steps[0].2);
    // …and the run's output is its summary with a timeline.
    assert_eq!(finished.output["status"], "succeeded");
    assert_eq!(
        finished.output["timeline"]["steps"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(finished.output["timeline"]["startup_seconds"]
        .as_i64()
        .is_some());
    assert!(finished.output["timeline"]["execution_seconds"]
        .as_i64()
        .is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_input_is_resolved_and_run() {
    let aws = aws().await;
    let run = unique("hello-console");
    aws.sfn
        .start_execution()
        .state_machine_arn(&aws.stack.state_machine_arn)
        .name(&run)
        .input(r#"{"job": "hello_world"}"#)
        .send()
        .await
        .unwrap();
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    assert_eq!(finished.output["job"], "hello_world");
    let cluster_run = finished.output["run_name"].as_str().unwrap();
    aws.assert_no_cluster_left(cluster_run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn glue_runs_succeed_and_fail_with_the_glue_message() {
    let aws = aws().await;
    let ok = unique("customer_scores-ok");
    let bad = unique("customer_scores-bad");
    aws.fault(&bad, json!({"fail_glue_run": {"message": "java.lang.IllegalStateException: no input for 2026-11-27"}})).await;
    aws.start("customer_scores", &ok).await;
    aws.start("customer_scores", &bad).await;

    let finished = aws.wait(&ok, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let run_id = finished.output["glue_run_id"].as_str().unwrap();
    let run = aws
        .glue
        .get_job_run()
        .job_name("sparkplug-customer_scores-dev")
        .run_id(run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        run.job_run().unwrap().job_run_state().unwrap().as_str(),
        "SUCCEEDED"
    );
    assert_eq!(
        run.job_run().unwrap().arguments().unwrap()["--sparkplug_run"],
        ok
    );

    let finished = aws.wait(&bad, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("GlueRunFailed"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap()
            .contains("no input for 2026-11-27"),
        "{:?}",
        finished.cause
    );
}

/// Starts hello_world under `fault`, waits for it, and checks that no cluster of the run is left.
async fn faulty_run(aws: &Aws, name: &str, fault: Value) -> Finished {
    let run = unique(name);
    aws.fault(&run, fault).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, Duration::from_secs(240)).await;
    aws.assert_no_cluster_left(&run).await;
    finished
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_run_job_flow_is_retried_and_the_run_succeeds() {
    let aws = aws().await;
    let fault = json!({"api_errors": [{"action": "RunJobFlow", "code": "ThrottlingException", "message": "Rate exceeded", "times": 4}]});
    let finished = faulty_run(&aws, "throttled-create", fault).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_fails_after_the_cluster_exists_reuses_it_and_leaves_none() {
    let aws = aws().await;
    // The cluster is created, then the answer is lost (the SDK retries: more clusters of this run may exist).
    let fault = json!({"api_errors": [{"action": "RunJobFlow", "code": "InternalServerError", "message": "lost", "times": 3, "after_call": true}]});
    let run = unique("lost-create");
    aws.fault(&run, fault).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    // Exactly one cluster: the SDK never re-sends RunJobFlow; the task's retry finds the cluster the lost call made.
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert!(clusters[0].1.starts_with("TERMINATED"), "{clusters:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_to_add_steps_and_start_job_run_add_exactly_one_of_each() {
    let aws = aws().await;
    // AddJobFlowSteps takes effect, then a 5xx loses its answer: one set of steps all the same.
    let lost = |action: &str| json!({"api_errors": [{"action": action, "code": "InternalServerError", "message": "lost", "times": 1, "after_call": true}]});
    let run = unique("lost-steps");
    aws.fault(&run, lost("AddJobFlowSteps")).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let steps = aws
        .emr
        .list_steps()
        .cluster_id(&clusters[0].0)
        .send()
        .await
        .unwrap();
    assert_eq!(steps.steps().len(), 1, "{:?}", steps.steps());

    // StartJobRun, likewise: one Glue run.
    let run = unique("customer_scores-lost-start");
    aws.fault(&run, lost("StartJobRun")).await;
    aws.start("customer_scores", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let runs = aws.glue_runs(&run).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_add_steps_fails_the_run_and_terminates_the_cluster() {
    let aws = aws().await;
    let fault = json!({"api_errors": [{"action": "AddJobFlowSteps", "code": "InvalidRequestException", "message": "bad step", "times": 1}]});
    let finished = faulty_run(&aws, "bad-steps", fault).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("InvalidInput"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap()
            .contains("AddJobFlowSteps"),
        "{:?}",
        finished.cause
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_fails_the_run_with_its_reason_and_log_file() {
    let aws = aws().await;
    let fault = json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error.", "message": "java.lang.OutOfMemoryError",
        "log_file": "s3://acme-logs-dev/emr/steps/s-1/stderr.gz"}});
    let finished = faulty_run(&aws, "failed-step", fault).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("StepFailed"));
    let cause = finished.cause.unwrap();
    assert!(
        cause.contains("Unknown Error.")
            && cause.contains("s3://acme-logs-dev/emr/steps/s-1/stderr.gz"),
        "{cause}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_dying_mid_step_fails_the_run_with_its_reason() {
    let aws = aws().await;
    let fault = json!({"kill_cluster": {"code": "INSTANCE_FAILURE", "message": "Spot capacity was reclaimed"}});
    let finished = faulty_run(&aws, "spot-loss", fault).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("ClusterTerminated"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap()
            .contains("Spot capacity was reclaimed"),
        "{:?}",
        finished.cause
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_end_never_comes_ends_at_its_limit_and_terminates_its_cluster() {
    // Every state-change event of the run is lost and its step outlasts the run's limit: the waiting task's timeout
    // (the plan's timeout_seconds) ends the run, and Terminate ends the cluster.
    let aws = aws().await;
    let run = unique("never-ends");
    aws.fault(
        &run,
        json!({"step_seconds": 600, "events": [{"action": "drop", "times": 1000}]}),
    )
    .await;
    aws.start_with_limit("hello_world", &run, 6).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("Timeout"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("(timeout_minutes)"),
        "{:?}",
        finished.cause
    );
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_terminate_is_retried() {
    let aws = aws().await;
    let fault = json!({"api_errors": [{"action": "TerminateJobFlows", "code": "ThrottlingException", "message": "Rate exceeded", "times": 1}]});
    let finished = faulty_run(&aws, "throttled-terminate", fault).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_start_exactly_one_execution() {
    let aws = aws().await;
    let key = format!("landing/sales/{} dup+/_SUCCESS", unique("dt"));
    aws.put(&key).await;
    let delivered = aws.delivered(&key).await;
    let run = delivered["answer"]["started"][0]
        .as_str()
        .unwrap()
        .to_string();
    let event = delivered["event"].clone();

    // The same EventBridge event delivered again.
    let again = aws
        .stack
        .invoke(&aws.stack.trigger_function, &event)
        .unwrap();
    assert_eq!(again["started"], json!([]));
    assert_eq!(again["duplicates"], json!([run]));

    // The same object through an S3 notification: form-urlencoded key, same sequencer.
    let object = &event["detail"]["object"];
    let encoded: String = object["key"]
        .as_str()
        .unwrap()
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    let notification = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": event["time"],
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "AWS:LOCAL"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "local", "bucket": {"name": aws.stack.data_bucket, "arn": "arn:aws:s3:::x"},
               "object": {"key": encoded, "size": object["size"], "eTag": object["etag"], "sequencer": object["sequencer"]}}}]});
    let classic = aws
        .stack
        .invoke(&aws.stack.trigger_function, &notification)
        .unwrap();
    assert_eq!(classic["duplicates"], json!([run]), "{classic}");
    assert_eq!(aws.executions_named(std::slice::from_ref(&run)).await, 1);
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_arrivals_starts_200_distinct_executions() {
    let aws = aws().await;
    let prefix = unique("burst");
    let keys: Vec<String> = (0..200)
        .map(|i| format!("landing/sales/{prefix}/part-{i:03}/_SUCCESS"))
        .collect();
    for key in &keys {
        aws.put(key).await;
    }
    let mut names = Vec::new();
    for key in &keys {
        let delivered = aws.delivered(key).await;
        assert_eq!(delivered["error"], false, "{delivered}");
        let name = delivered["answer"]["started"][0]
            .as_str()
            .unwrap()
            .to_string();
        // They are real runs: stop each once counted, to spare the other tests.
        let _ = aws
            .sfn
            .stop_execution()
            .execution_arn(aws.execution_arn(&name))
            .send()
            .await;
        names.push(name);
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 200);
    assert_eq!(aws.executions_named(&names).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_starts_nothing_and_the_trigger_says_why() {
    let aws = aws().await;
    for (event, says) in [
        (json!({"hello": "world"}), "unrecognised event"),
        (json!({"Records": "nope"}), "`Records` is not an array"),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {}}}),
            "bad `detail`",
        ),
        (json!({"job": "no_such_job"}), "unknown job `no_such_job`"),
    ] {
        let error = aws
            .stack
            .invoke(&aws.stack.trigger_function, &event)
            .unwrap_err();
        assert_eq!(error["errorType"], "InvalidInput", "{event}: {error}");
        assert!(
            error["errorMessage"].as_str().unwrap().contains(says),
            "{event}: {error}"
        );
    }
    // An arrival in a bucket nobody watches: ignored, with the reason.
    let foreign = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-11-27T06:00:00Z", "region": "us-east-1", "resources": [], "detail": {"version": "0",
        "bucket": {"name": "someone-elses-bucket"}, "object": {"key": "landing/sales/x/_SUCCESS", "size": 1, "etag": "e", "sequencer": "01"}}});
    let answer = aws
        .stack
        .invoke(&aws.stack.trigger_function, &foreign)
        .unwrap();
    assert_eq!(answer["started"], json!([]));
    assert!(
        answer["ignored"][0]
            .as_str()
            .unwrap()
            .contains("matches no job"),
        "{answer}"
    );
}

impl Aws {
    /// Within 60 s, the run's cluster is terminated: after an end no Catch sees, only the janitor does it.
    async fn janitor_ends_the_cluster_of(&self, run: &str) -> Duration {
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

    async fn stop(&self, run_name: &str) {
        self.sfn
            .stop_execution()
            .execution_arn(self.execution_arn(run_name))
            .cause("stopped from the console (e2e)")
            .send()
            .await
            .unwrap();
    }

    /// The runs of a Glue job that carry this run's name.
    async fn glue_runs_of(&self, job: &str, run_name: &str) -> Vec<aws_sdk_glue::types::JobRun> {
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
    async fn glue_runs(&self, run_name: &str) -> Vec<(String, String)> {
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
async fn within<F, Fut>(limit: Duration, what: &str, mut done: F) -> Duration
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

#[tokio::test(flavor = "multi_thread")]
async fn a_console_stop_of_an_emr_run_leaves_nothing_running() {
    let aws = aws().await;
    let run = unique("hello_world-stopped");
    aws.start("hello_world", &run).await;
    // Stopped while its task waits for the steps (the step outlasts the test).
    aws.fault(&run, json!({"step_seconds": 600})).await;
    within(RUN, "the run's steps are on its cluster", || async {
        match aws.clusters(&run).await.first() {
            Some((cluster, _)) => aws
                .emr
                .list_steps()
                .cluster_id(cluster)
                .send()
                .await
                .is_ok_and(|s| !s.steps().is_empty()),
            None => false,
        }
    })
    .await;
    // The token is kept just after the steps are added.
    tokio::time::sleep(Duration::from_millis(500)).await;
    aws.stop(&run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "ABORTED");
    // Step Functions runs no Catch path after a Stop: the janitor, on the execution's status change, ends the cluster.
    let took = within(
        Duration::from_secs(60),
        "the cluster terminated after the Stop",
        || async {
            let clusters = aws.clusters(&run).await;
            !clusters.is_empty()
                && clusters
                    .iter()
                    .all(|(_, state)| state.starts_with("TERMINAT"))
        },
    )
    .await;
    eprintln!(
        "EMR run stopped from the console: nothing running {:.1} s after the Stop",
        took.as_secs_f64()
    );
    // The cluster's end reached notify after nobody waited any more: dropped quietly, not failed.
    within(
        Duration::from_secs(30),
        "notify heard of the terminated cluster",
        || async {
            aws.notified(&run)
                .await
                .iter()
                .any(|(state, _)| state == "TERMINATED")
        },
    )
    .await;
    let notified = aws.notified(&run).await;
    for (state, answer) in &notified {
        assert!(answer.get("errorType").is_none(), "{state}: {answer}");
        assert!(answer["answered"].is_null(), "{state}: {answer}");
    }
    // The first end event found the token dead (the execution was stopped) and forgot it; later ones found none.
    assert!(
        notified.iter().any(|(_, answer)| answer["dropped"][0]
            .as_str()
            .unwrap_or_default()
            .contains("nobody waits on its token")),
        "{notified:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_stop_of_a_glue_run_stops_the_glue_run() {
    let aws = aws().await;
    let run = unique("customer_scores-stopped");
    // A long Glue run, so that only a stop ends it.
    aws.fault(&run, json!({"glue_run_seconds": 600})).await;
    aws.start("customer_scores", &run).await;
    within(RUN, "the Glue run started", || async {
        !aws.glue_runs(&run).await.is_empty()
    })
    .await;
    aws.stop(&run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(
        finished.status, "ABORTED",
        "{:?} {:?}",
        finished.error, finished.cause
    );
    let took = within(
        Duration::from_secs(60),
        "the Glue run stopped after the Stop",
        || async {
            let runs = aws.glue_runs(&run).await;
            !runs.is_empty() && runs.iter().all(|(_, state)| state == "STOPPED")
        },
    )
    .await;
    eprintln!(
        "Glue run stopped from the console: nothing running {:.1} s after the Stop",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_eventbridge_on_a_bucket_keeps_its_other_notifications() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};

    let aws = aws().await;
    let s3 = aws.s3();
    let bucket = unique("team-bucket");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The bucket already notifies a queue of another team.
    let queue = QueueConfiguration::builder()
        .id("other-team")
        .queue_arn(format!(
            "arn:aws:sqs:{}:123456789012:other-team",
            aws.stack.region
        ))
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let enabled = sparkplug_cli::bucket::enable_eventbridge(&s3, ACCOUNT, &bucket)
        .await
        .unwrap();
    assert_eq!(enabled, sparkplug_cli::bucket::Enabled::Now { kept: 1 });
    let after = s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(after.event_bridge_configuration().is_some());
    assert_eq!(
        after.queue_configurations().len(),
        1,
        "the other team's notification was lost"
    );
    assert_eq!(after.queue_configurations()[0].id(), Some("other-team"));
    // Again: nothing to do.
    let again = sparkplug_cli::bucket::enable_eventbridge(&s3, ACCOUNT, &bucket)
        .await
        .unwrap();
    assert_eq!(again, sparkplug_cli::bucket::Enabled::Already);

    // A bucket the stack's account does not own: refused, and its configuration left as it was (S3 answers 403 to a
    // request whose ExpectedBucketOwner is not the bucket's owner).
    let other = unique("other-account-bucket");
    s3.create_bucket().bucket(&other).send().await.unwrap();
    let err = sparkplug_cli::bucket::enable_eventbridge(&s3, "210987654321", &other)
        .await
        .unwrap_err();
    assert!(err.contains("not owned by account 210987654321"), "{err}");
    let untouched = s3
        .get_bucket_notification_configuration()
        .bucket(&other)
        .send()
        .await
        .unwrap();
    assert!(untouched.event_bridge_configuration().is_none());
}

/// template.yaml's `TriggerConcurrency` default: the trigger's reserved concurrency.
const TRIGGER_CONCURRENCY: u64 = 10;

/// Every object written to a bucket that sends its events to EventBridge reaches the trigger (its rule filters on
/// no bucket): a burst of part files nothing watches runs at most the trigger's reserved concurrency at once, the rest
/// throttled back into Lambda's queue and retried, every one handled in the end.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_part_files_runs_no_more_triggers_at_once_than_reserved() {
    let aws = aws().await;
    let prefix = unique("tmp/spark-output");
    let keys: Vec<String> = (0..3 * TRIGGER_CONCURRENCY)
        .map(|i| format!("{prefix}/part-{i:05}.parquet"))
        .collect();
    // Each invocation takes five seconds before the function runs (dev's and prod's: both hear the account's
    // writes), longer than the puts take, so the burst's events overlap.
    for key in &keys {
        aws.fault(
            key,
            json!({"lambda_delays": [{"function": "trigger", "seconds": 5, "times": 2}]}),
        )
        .await;
    }
    let throttled_before = aws.stack.control_get("/chaos").unwrap()["throttled"]
        .as_u64()
        .unwrap_or(0);
    let started = Instant::now();
    for key in &keys {
        aws.put(key).await;
    }
    for key in &keys {
        let delivered = aws.delivered(key).await;
        assert_eq!(delivered["answer"]["started"], json!([]), "{delivered}");
    }
    let chaos = aws.stack.control_get("/chaos").unwrap();
    let peak = chaos["peak_concurrency"][aws.stack.trigger_function.as_str()]
        .as_u64()
        .unwrap();
    let throttled = chaos["throttled"].as_u64().unwrap() - throttled_before;
    assert_eq!(peak, TRIGGER_CONCURRENCY, "{chaos}");
    assert!(throttled > 0, "{chaos}");
    eprintln!(
        "{} part files: the trigger ran at most {peak} at once, {throttled} invocations throttled, all handled in \
         {:.1} s",
        keys.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The emulator is a witness: it refuses what AWS refuses, whoever sends it (here the SDK, bypassing sparkplug).
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_refuses_what_aws_refuses() {
    use aws_sdk_emr::types::{
        ActionOnFailure, HadoopJarStepConfig, InstanceGroupConfig, InstanceRoleType,
        JobFlowInstancesConfig, StepConfig, Tag,
    };

    let aws = aws().await;
    let code = |e: &dyn aws_smithy_types::error::metadata::ProvideErrorMetadata| {
        e.code().unwrap_or_default().to_string()
    };

    // A Glue job otherwise valid; each case below adds one value AWS refuses.
    let witness_job = || {
        aws.glue
            .create_job()
            .name("sparkplug-witness")
            .role("r")
            .command(
                aws_sdk_glue::types::JobCommand::builder()
                    .name("glueetl")
                    .script_location("s3://b/k")
                    .build(),
            )
    };
    // A value outside the service model's enum (botocore's model, which moto does not check).
    let err = witness_job()
        .worker_type(aws_sdk_glue::types::WorkerType::from("G.9X"))
        .number_of_workers(2)
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");
    let message =
        aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(
        message.contains("WorkerType: `G.9X` is not one of"),
        "{message}"
    );

    // A string outside its model's `pattern`: an EMR Serverless tag value may hold letters, digits, spaces and
    // `/_.:=+@-` only (botocore's emr-serverless TagValue), which a run name like `rerun!` breaks.
    let err = aws_sdk_emrserverless::Client::new(&aws.config)
        .create_application()
        .name("sparkplug-witness")
        .release_label("emr-7.5.0")
        .r#type("SPARK")
        .client_token("witness")
        .tags("sparkplug:run", "rerun!")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");
    let message =
        aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(
        message.contains("`rerun!` does not match the pattern"),
        "{message}"
    );

    // Glue's 7-day limit on a run's Timeout.
    let err = witness_job()
        .timeout(10080)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");

    // CreateJob of a name that exists: AlreadyExistsException (moto would replace the job, and its runs with it).
    let name = unique("sparkplug-witness-twice");
    let create = || {
        aws.glue
            .create_job()
            .name(&name)
            .role("r")
            .command(
                aws_sdk_glue::types::JobCommand::builder()
                    .name("glueetl")
                    .script_location("s3://b/k")
                    .build(),
            )
            .send()
    };
    create().await.unwrap();
    let err = create().await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "AlreadyExistsException", "{err}");

    // A cluster under a v2 managed service role without the tag the policy requires fails as it starts.
    let group = |role: InstanceRoleType| {
        InstanceGroupConfig::builder()
            .instance_role(role)
            .instance_type("m5.xlarge")
            .instance_count(1)
            .build()
    };
    // A one-node cluster under `service_role`.
    let one_node = |name: &str, service_role: &str| {
        aws.emr
            .run_job_flow()
            .name(name)
            .release_label("emr-7.5.0")
            .service_role(service_role)
            .job_flow_role("EMR_EC2_DefaultRole")
            .instances(
                JobFlowInstancesConfig::builder()
                    .instance_groups(group(InstanceRoleType::Master))
                    .keep_job_flow_alive_when_no_steps(true)
                    .build(),
            )
    };
    let name = unique("witness-untagged");
    let cluster = one_node(&name, "EMR_DefaultRole_V2")
        .tags(
            Tag::builder()
                .key("sparkplug:environment")
                .value("witness")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = cluster.job_flow_id().unwrap().to_string();
    within(RUN, "the untagged v2 cluster fails", || async {
        let described = aws
            .emr
            .describe_cluster()
            .cluster_id(&id)
            .send()
            .await
            .unwrap();
        let status = described.cluster().unwrap().status().unwrap();
        if status.state() == Some(&ClusterState::TerminatedWithErrors) {
            let reason = status.state_change_reason().unwrap();
            assert_eq!(reason.code().map(|c| c.as_str()), Some("VALIDATION_ERROR"));
            assert!(reason
                .message()
                .unwrap()
                .contains("for-use-with-amazon-emr-managed-policies"));
            return true;
        }
        false
    })
    .await;

    // Steps side by side take only CONTINUE.
    let name = unique("witness-concurrent");
    let cluster = one_node(&name, "EMR_DefaultRole")
        .step_concurrency_level(2)
        .send()
        .await
        .unwrap();
    let id = cluster.job_flow_id().unwrap().to_string();
    let step = |action: ActionOnFailure| {
        StepConfig::builder()
            .name("s")
            .action_on_failure(action)
            .hadoop_jar_step(
                HadoopJarStepConfig::builder()
                    .jar("command-runner.jar")
                    .args("true")
                    .build(),
            )
            .build()
    };
    let err = aws
        .emr
        .add_job_flow_steps()
        .job_flow_id(&id)
        .steps(step(ActionOnFailure::CancelAndWait))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");
    aws.emr
        .add_job_flow_steps()
        .job_flow_id(&id)
        .steps(step(ActionOnFailure::Continue))
        .send()
        .await
        .unwrap();
    aws.emr
        .terminate_job_flows()
        .job_flow_ids(&id)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_timing_out_once_in_each_task_still_ends_the_run_as_it_should() {
    // A function past its Timeout reaches Step Functions as Lambda.Unknown: every task retries it.
    let aws = aws().await;
    let once = |functions: &[&str]| {
        let timeouts: Vec<Value> = functions
            .iter()
            .map(|f| json!({"function": f, "times": 1}))
            .collect();
        json!({"lambda_timeouts": timeouts})
    };
    let emr = unique("timeouts-emr");
    aws.fault(
        &emr,
        once(&["emr-create-cluster", "emr-add-steps", "emr-terminate"]),
    )
    .await;
    let glue = unique("customer_scores-timeouts");
    aws.fault(&glue, once(&["glue-start-run", "glue-finish"]))
        .await;
    aws.start("hello_world", &emr).await;
    aws.start("customer_scores", &glue).await;

    let finished = aws.wait(&emr, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let clusters = aws.clusters(&emr).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert!(clusters[0].1.starts_with("TERMINATED"), "{clusters:?}");
    let finished = aws.wait(&glue, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    assert_eq!(aws.glue_runs(&glue).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_and_prod_in_one_account_run_the_same_job_at_the_same_minute_on_their_own_clusters() {
    let aws = aws().await;
    let (dev, prod) = (
        &aws.stack.environments["dev"],
        &aws.stack.environments["prod"],
    );
    // The same request at the same minute in both environments: the same run name in each state machine.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time = chrono::DateTime::from_timestamp(nanos as i64 / 60 * 60, 0).unwrap();
    let request = json!({"job": "hello_world", "time": time.to_rfc3339(), "args": {}});
    let invoke = |stack: &sparkplug_cli::local::EnvironmentStack| {
        let (stack, request) = (stack.clone(), request.clone());
        tokio::task::spawn_blocking(move || stack.invoke(&stack.trigger_function, &request))
    };
    // dev's cluster is up before prod's run looks for one of that name: prod must not adopt it.
    let dev_answer = invoke(dev).await.unwrap().unwrap();
    let run = dev_answer["started"][0].as_str().unwrap().to_string();
    within(RUN, "dev's cluster exists", || async {
        !aws.clusters(&run).await.is_empty()
    })
    .await;
    let prod_answer = invoke(prod).await.unwrap().unwrap();
    assert_eq!(prod_answer["started"][0], run, "{prod_answer}");

    for machine in [&dev.state_machine_arn, &prod.state_machine_arn] {
        let arn = sparkplug::engine::execution::execution_arn(machine, &run);
        within(Duration::from_secs(240), "both executions end", || async {
            let execution = aws
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            execution.status().as_str() != "RUNNING"
        })
        .await;
        let execution = aws
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(
            execution.status().as_str(),
            "SUCCEEDED",
            "{arn}: {:?}",
            execution.cause()
        );
    }
    // Two clusters of that name, one per environment, both terminated: neither adopted the other's.
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    let mut environments = Vec::new();
    for (id, state) in &clusters {
        assert!(state.starts_with("TERMINATED"), "{clusters:?}");
        let described = aws
            .emr
            .describe_cluster()
            .cluster_id(id)
            .send()
            .await
            .unwrap();
        let tags = described.cluster().unwrap().tags();
        let env = tags
            .iter()
            .find(|t| t.key() == Some("sparkplug:environment"))
            .and_then(|t| t.value());
        environments.push(env.unwrap_or_default().to_string());
    }
    environments.sort();
    assert_eq!(environments, ["dev", "prod"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_console_runs_at_once_with_mixed_faults_end_as_their_faults_say() {
    let aws = aws().await;
    let mut runs = Vec::new();
    for index in 0..200 {
        let run = unique(&format!("burst-{index:03}"));
        // A third of them with a fault: a failing step, a dying cluster, a throttled create.
        let expected = match index % 6 {
            1 => {
                aws.fault(
                    &run,
                    json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error."}}),
                )
                .await;
                ("FAILED", Some("StepFailed"))
            }
            3 => {
                aws.fault(
                    &run,
                    json!({"kill_cluster": {"code": "INSTANCE_FAILURE", "message": "lost"}}),
                )
                .await;
                ("FAILED", Some("ClusterTerminated"))
            }
            5 => {
                let throttled = json!({"api_errors": [{"action": "RunJobFlow", "code": "ThrottlingException", "times": 2}]});
                aws.fault(&run, throttled).await;
                ("SUCCEEDED", None)
            }
            _ => ("SUCCEEDED", None),
        };
        runs.push((run, expected));
    }
    let started = Instant::now();
    for (run, _) in &runs {
        aws.start("hello_world", run).await;
    }
    for (run, (status, error)) in &runs {
        let finished = aws.wait(run, Duration::from_secs(900)).await;
        assert_eq!(finished.status, *status, "{run}: {:?}", finished.cause);
        assert_eq!(finished.error.as_deref(), *error, "{run}");
    }
    let ended = started.elapsed().as_secs_f64();
    // Nothing left running: every run's cluster terminated, exactly one cluster per run.
    let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut pages = aws.emr.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        for cluster in page.unwrap().clusters() {
            let state = cluster
                .status()
                .and_then(|s| s.state())
                .map(ClusterState::as_str)
                .unwrap_or_default();
            by_name
                .entry(
                    cluster
                        .name()
                        .unwrap_or_default()
                        .trim_start_matches("sparkplug-dev-")
                        .to_string(),
                )
                .or_default()
                .push(state.to_string());
        }
    }
    for (run, _) in &runs {
        let states = by_name.get(run).cloned().unwrap_or_default();
        assert_eq!(states.len(), 1, "{run}: {states:?}");
        assert!(states[0].starts_with("TERMINATED"), "{run}: {states:?}");
    }
    eprintln!("200 console runs with mixed faults: all ended as expected in {ended:.0} s, nothing left running");
}

/// Actions AWS authorizes as part of another call, never called by the functions themselves: tags and the idle
/// policy set by RunJobFlow, tags set by CreateJob, roles passed by RunJobFlow and CreateJob, and the failed-events
/// queue written by Lambda's on-failure destination.
const AUTHORIZED_WITHIN_ANOTHER_CALL: &[&str] = &[
    "elasticmapreduce:AddTags",
    "elasticmapreduce:PutAutoTerminationPolicy",
    "glue:TagResource",
    "emr-serverless:TagResource",
    "iam:PassRole",
    // S3 consults it to answer a missing object 404 rather than 403 (the alert's look for a late log).
    "s3:ListBucket",
    "sqs:SendMessage",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_call_a_function_makes_is_allowed_by_its_policy_and_every_grant_is_used() {
    let aws = aws().await;
    // Traffic on every path: an S3 arrival, an EMR run, a Glue run whose job definition changed, a stopped EMR run and
    // a stopped Glue run (the janitor's event path), and a sweep.
    // The Glue job is created by the stack's first customer_scores run (the emulator starts empty), then found changed
    // (another definition) by a later run. (Not deleted here: other tests run the same job meanwhile.)
    let job = "sparkplug-customer_scores-dev";
    let first = unique("customer_scores-iam-first");
    aws.start("customer_scores", &first).await;
    assert_eq!(aws.wait(&first, RUN).await.status, "SUCCEEDED", "{first}");
    let stale = aws_sdk_glue::types::JobUpdate::builder()
        .role("sparkplug-glue")
        .command(
            aws_sdk_glue::types::JobCommand::builder()
                .name("glueetl")
                .script_location("s3://acme-artifacts-dev/old.scala")
                .build(),
        )
        .max_retries(5)
        .build();
    aws.glue
        .update_job()
        .job_name(job)
        .job_update(stale)
        .send()
        .await
        .unwrap();
    let emr = unique("iam-emr");
    let glue = unique("customer_scores-iam");
    let emr_stopped = unique("iam-emr-stopped");
    let glue_stopped = unique("customer_scores-iam-stopped");
    aws.fault(&glue_stopped, json!({"glue_run_seconds": 600}))
        .await;
    // A create whose answer is lost: its retry describes the cluster it finds.
    let emr_retried = unique("iam-emr-retried");
    // …and whose add-steps fails once: its retry lists the steps already there.
    let lost = json!({"api_errors": [{"action": "RunJobFlow", "code": "InternalServerError", "message": "lost", "times": 1, "after_call": true}],
        "lambda_errors": [{"function": "emr-add-steps", "times": 1}]});
    aws.fault(&emr_retried, lost).await;
    aws.start("hello_world", &emr_retried).await;
    aws.put(&format!("landing/sales/{}/_SUCCESS", unique("iam")))
        .await;
    aws.start("hello_world", &emr).await;
    aws.start("customer_scores", &glue).await;
    aws.start("hello_world", &emr_stopped).await;
    aws.start("customer_scores", &glue_stopped).await;
    // A Glue start retried once (it looks for the run it may have started), and a Glue run past its limit (glue-finish
    // stops it).
    let glue_retried = unique("customer_scores-iam-retried");
    aws.fault(
        &glue_retried,
        json!({"lambda_errors": [{"function": "glue-start-run", "times": 1}]}),
    )
    .await;
    aws.start("customer_scores", &glue_retried).await;
    // Two runs of a job that runs one at a time: the second queues, and starts when the first ends.
    let ledger_first = unique("ledger_close-iam-first");
    let ledger_second = unique("ledger_close-iam-second");
    aws.fault(&ledger_first, json!({"glue_run_seconds": 8}))
        .await;
    aws.start("ledger_close", &ledger_first).await;
    aws.start("ledger_close", &ledger_second).await;
    // The drain while the first holds the slot and the second waits: it asks whether the holder still runs.
    within(RUN, "the second ledger run waits for the slot", || async {
        aws.current_state(&ledger_second).await.as_deref() == Some("TakeSlot")
    })
    .await;
    aws.stack.invoke("queue", &json!({"drain": true})).unwrap();
    // A failed step: its alert reads the step's stderr.gz; its first Publish fails (the alert gives its claim back,
    // and Lambda's retry sends it).
    let emr_failed = unique("iam-emr-failed");
    aws.fault(
        &emr_failed,
        json!({"fail_step": {"name": "hello_world", "message": "boom"},
            "api_errors": [{"action": "Publish", "code": "Throttled", "message": "Rate exceeded", "times": 1}]}),
    )
    .await;
    aws.start("hello_world", &emr_failed).await;
    let glue_limited = unique("customer_scores-iam-limited");
    aws.fault(&glue_limited, json!({"glue_run_seconds": 600}))
        .await;
    aws.start_with_limit("customer_scores", &glue_limited, 4)
        .await;
    // Warm pool traffic (the interactive pool, which only this test uses): a run that starts a cluster and one that
    // joins it; one stopped from the console and one past its limit while their steps run (their steps cancelled on
    // the shared cluster); one whose create fails (its end looks for a lease it may hold); then the pool's release.
    let pooled: Vec<String> = (0..2)
        .map(|i| unique(&format!("quick_pi-iam{i}")))
        .collect();
    let pooled_stopped = unique("quick_pi-iam-stopped");
    let pooled_limited = unique("quick_pi-iam-limited");
    let pooled_unmade = unique("quick_pi-iam-unmade");
    for run in [&pooled_stopped, &pooled_limited] {
        aws.fault(run, json!({"step_seconds": 600})).await;
    }
    aws.fault(
        &pooled_unmade,
        json!({"lambda_errors": [{"function": "emr-create-cluster", "error_type": "Failed", "times": 1}]}),
    )
    .await;
    for run in pooled.iter().chain([&pooled_stopped, &pooled_unmade]) {
        aws.start("quick_pi", run).await;
    }
    aws.start_with_limit("quick_pi", &pooled_limited, 20).await;
    within(RUN, "the runs to stop have started", || async {
        !aws.clusters(&emr_stopped).await.is_empty()
            && !aws.glue_runs(&glue_stopped).await.is_empty()
            && aws.current_state(&pooled_stopped).await.as_deref() == Some("RunSteps")
    })
    .await;
    aws.stop(&emr_stopped).await;
    aws.stop(&glue_stopped).await;
    aws.stop(&pooled_stopped).await;
    for run in &pooled {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED", "{run}");
    }
    assert_eq!(
        aws.wait(&pooled_limited, RUN).await.error.as_deref(),
        Some("Timeout")
    );
    assert_eq!(aws.wait(&pooled_unmade, RUN).await.status, "FAILED");
    within(
        Duration::from_secs(60),
        "the stopped pooled run's step is cancelled",
        || async {
            let report = aws.stack.events("janitor", &pooled_stopped).unwrap();
            report.iter().any(|e| {
                e["answer"]["steps"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
            })
        },
    )
    .await;
    let released = aws.release_idle("interactive", 21).await;
    assert!(
        !released.is_empty(),
        "the interactive pool's idle cluster is released"
    );
    // The pool's `warm` time (weekdays 07:50; a past Monday here): the janitor starts a cluster before any run, the
    // next run joins it warm, and it is released once idle.
    let look = aws
        .stack
        .invoke(
            "janitor",
            &json!({"release_idle": true, "warm": true, "pool": "interactive", "time": "2026-11-23T07:50:00Z"}),
        )
        .unwrap();
    let warmed = look["pools"]["warmed"]["interactive"]["started"]
        .as_str()
        .unwrap_or_else(|| panic!("no cluster warmed up: {look}"))
        .to_string();
    let after_warm_up = unique("quick_pi-iam-after-warm-up");
    aws.start("quick_pi", &after_warm_up).await;
    let done = aws.wait(&after_warm_up, RUN).await;
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["pool"]["start"], "warm", "{}", done.output);
    assert_eq!(cluster_of(&done), warmed);
    assert_eq!(aws.release_idle("interactive", 21).await, vec![warmed]);
    for run in [
        &emr,
        &glue,
        &emr_retried,
        &glue_retried,
        &ledger_first,
        &ledger_second,
    ] {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED", "{run}");
    }
    assert_eq!(
        aws.wait(&glue_limited, RUN).await.error.as_deref(),
        Some("Timeout")
    );
    assert!(aws
        .glue_runs(&glue_limited)
        .await
        .iter()
        .all(|(_, s)| s == "STOPPING" || s == "STOPPED"));
    assert_eq!(aws.wait(&emr_failed, RUN).await.status, "FAILED");
    let (_, alert) = aws.one_alert_about(&emr_failed).await;
    assert!(alert.get("log_tail").is_some(), "{alert}");
    within(
        Duration::from_secs(60),
        "the janitor ended the stopped runs",
        || async {
            aws.glue_runs(&glue_stopped)
                .await
                .iter()
                .all(|(_, s)| s == "STOPPED")
                && aws
                    .clusters(&emr_stopped)
                    .await
                    .iter()
                    .all(|(_, s)| s.starts_with("TERMINAT"))
        },
    )
    .await;
    // The backstops of the status change: the chains' and the alerts' catch-ups look at what ended since.
    for function in [aws.stack.trigger_function.as_str(), "alert"] {
        aws.stack
            .invoke(function, &json!({"catch_up": true, "grace_seconds": 0}))
            .unwrap();
    }
    // A sweep while a run is up: it asks the run's execution whether it still runs (it does: nothing is ended).
    let running = unique("iam-emr-running");
    aws.fault(&running, json!({"step_seconds": 600})).await;
    aws.start("hello_world", &running).await;
    within(RUN, "the long run's cluster is up", || async {
        !aws.clusters(&running).await.is_empty()
    })
    .await;
    let swept = aws
        .stack
        .invoke("janitor", &json!({"sweep": true}))
        .unwrap();
    assert!(swept.get("clusters").is_some(), "{swept}");
    assert_eq!(aws.status(&running).await, "RUNNING");
    aws.stop(&running).await;
    aws.reconcile_a_waiter_whose_cluster_is_gone().await;
    aws.serverless_traffic().await;

    let report = aws.stack.control_get("/iam").unwrap();
    assert!(
        report["calls"].as_u64().unwrap() > 0,
        "no call was attributed to a function"
    );
    // The only refusals by design: a cluster of another environment, described to find out whose it is; and the gone
    // waiter's cluster (no such cluster carries this environment's tag).
    for denied in report["denied"].as_array().unwrap() {
        if denied["resource"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/j-GONE0000000")
        {
            continue;
        }
        let function = denied["function"].as_str().unwrap();
        let own = if function.ends_with("--prod") {
            "prod"
        } else {
            "dev"
        };
        assert_eq!(
            denied["action"], "elasticmapreduce:DescribeCluster",
            "{denied}"
        );
        assert_ne!(
            denied["context"]["aws:ResourceTag/sparkplug:environment"], own,
            "{denied}"
        );
    }
    // Every action a dev function's policy grants, it used.
    for (function, granted) in report["granted"].as_object().unwrap() {
        if function.contains("--") {
            continue;
        }
        let used = &report["used"][function];
        let unused: Vec<&str> = granted
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|action| !AUTHORIZED_WITHIN_ANOTHER_CALL.contains(action))
            .filter(|action| !used.as_array().into_iter().flatten().any(|u| u == action))
            .collect();
        assert!(
            unused.is_empty(),
            "{function} is granted {unused:?}, which it never called"
        );
    }
    eprintln!(
        "IAM from traffic: {} calls by {} functions, each allowed by its policy; every grant used",
        report["calls"],
        report["used"].as_object().unwrap().len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_past_the_history_limit_fails_and_leaves_nothing_running() {
    // Step Functions fails an execution at its history quota, past every Catch: only the janitor can clean up.
    let aws = aws().await;
    let run = unique("history-limit");
    // The quota lowered for this run, so that the run reaches it while its cluster is up: a run writes ~23 events up to
    // the end of its wait for the steps (33 in all).
    aws.fault(&run, json!({"history_limit": 22})).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("maximum number of history events"),
        "{:?}",
        finished.cause
    );
    aws.janitor_ends_the_cluster_of(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_times_out_leaves_nothing_running() {
    // The execution's TimeoutSeconds ends it TIMED_OUT, past every Catch: only the janitor can clean up.
    let aws = aws().await;
    let run = unique("timed-out");
    aws.fault(&run, json!({"timeout_seconds": 2})).await;
    aws.start("hello_world", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "TIMED_OUT");
    aws.janitor_ends_the_cluster_of(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_runs_newest_first_with_their_trigger_times_and_failure() {
    let aws = aws().await;
    let ok = unique("history-ok");
    let failed = unique("history-failed");
    aws.fault(
        &failed,
        json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error."}}),
    )
    .await;
    aws.start("hello_world", &ok).await;
    assert_eq!(aws.wait(&ok, RUN).await.status, "SUCCEEDED");
    aws.start("hello_world", &failed).await;
    assert_eq!(aws.wait(&failed, RUN).await.status, "FAILED");

    let since = chrono::Utc::now() - chrono::TimeDelta::minutes(30);
    let runs = sparkplug_cli::history::runs(
        &aws.sfn,
        &aws.stack.state_machine_arn,
        Some("hello_world"),
        since,
    )
    .await
    .unwrap();
    assert!(runs.iter().all(|r| r.job == "hello_world"));
    let position = |name: &str| runs.iter().position(|r| r.run_name == name).unwrap();
    assert!(position(&failed) < position(&ok), "newest first");
    let ok_run = &runs[position(&ok)];
    assert_eq!(
        (ok_run.status.as_str(), ok_run.trigger.as_str()),
        ("SUCCEEDED", "console")
    );
    assert!(
        ok_run.startup_seconds.is_some() && ok_run.execution_seconds.is_some(),
        "{ok_run:?}"
    );
    let failed_run = &runs[position(&failed)];
    assert_eq!(failed_run.status, "FAILED");
    assert!(
        failed_run
            .reason
            .as_deref()
            .unwrap()
            .starts_with("StepFailed"),
        "{failed_run:?}"
    );
    // Another job's filter excludes them.
    let glue = sparkplug_cli::history::runs(
        &aws.sfn,
        &aws.stack.state_machine_arn,
        Some("customer_scores"),
        since,
    )
    .await
    .unwrap();
    assert!(glue.iter().all(|r| r.job == "customer_scores"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_day_backfill_starts_three_runs_and_run_again_starts_none() {
    use sparkplug_cli::backfill;

    let aws = aws().await;
    // A period no other test uses: this test's own days, far in the past.
    let offset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 100_000) as i64;
    let from = backfill::parse_time("2000-01-01").unwrap() + chrono::TimeDelta::days(offset * 10);
    let times = backfill::periods(
        from,
        from + chrono::TimeDelta::days(2),
        chrono::TimeDelta::days(1),
    )
    .unwrap();
    assert_eq!(times.len(), 3);
    let runs: Vec<_> = times
        .iter()
        .map(|t| (*t, format!("hello_world-backfill-{}", t.format("%Y%m%d"))))
        .collect();
    let args = Default::default();
    let machine = &aws.stack.state_machine_arn;
    let first = backfill::run(&aws.sfn, machine, "hello_world", &args, &runs, 2, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(),
        ["SUCCEEDED"; 3]
    );
    for (time, name) in &runs {
        // Each run has its period's time.
        let execution = aws
            .sfn
            .describe_execution()
            .execution_arn(aws.execution_arn(name))
            .send()
            .await
            .unwrap();
        let input: Value = serde_json::from_str(execution.input().unwrap()).unwrap();
        assert_eq!(input["time"], time.to_rfc3339());
    }
    let again = backfill::run(&aws.sfn, machine, "hello_world", &args, &runs, 2, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(),
        ["already run"; 3]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_on_instance_fleets_runs_and_leaves_nothing_running() {
    let aws = aws().await;
    let run = unique("fleet_pi");
    aws.start("fleet_pi", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    aws.assert_no_cluster_left(&run).await;
}

// ------------------------------------------------------------------------------------------ event-driven completion

impl Aws {
    /// The execution's history: (type, state entered or exited, timestamp).
    async fn history(&self, run_name: &str) -> Vec<(String, Option<String>, f64)> {
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
    async fn start_with_limit(&self, job: &str, run_name: &str, seconds: u64) {
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

    async fn status(&self, run_name: &str) -> String {
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
    async fn last_step_end(&self, run_name: &str) -> f64 {
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
    async fn notified(&self, run_name: &str) -> Vec<(String, Value)> {
        let (cluster, _) = self.clusters(run_name).await.remove(0);
        self.notified_about(&cluster).await
    }

    /// What notify did with the state-change events about `cluster`: (state, its answer).
    async fn notified_about(&self, cluster: &str) -> Vec<(String, Value)> {
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
async fn event_driven_run(aws: &Aws, run: &str, step_seconds: u64) -> (usize, f64) {
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

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_step_is_acted_on_within_seconds_and_history_does_not_grow_with_step_length() {
    let aws = aws().await;
    let (short_history, short_lag) = event_driven_run(&aws, &unique("evented-1s"), 1).await;
    let (long_history, long_lag) = event_driven_run(&aws, &unique("evented-8s"), 8).await;
    eprintln!(
        "event-driven hello_world: {short_history} history events with a 1 s step, {long_history} with an 8 s step; \
         completion lag {short_lag:.2} s and {long_lag:.2} s"
    );
    assert_eq!(
        short_history, long_history,
        "history grows with the step's length"
    );
    // Under the suite's load (other tests start hundreds of runs meanwhile) the bound is loose; alone, the lag is
    // tens of milliseconds (bench/run: BENCHMARKS.md). A poll loop would show up here as 30 s.
    for lag in [short_lag, long_lag] {
        assert!((0.0..=10.0).contains(&lag), "completion lag {lag:.2} s");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_step_event_is_made_good_by_the_reconciler() {
    let aws = aws().await;
    let run = unique("dropped-event");
    aws.fault(
        &run,
        json!({"events": [{"detail_type": "EMR Step Status Change", "state": "COMPLETED", "action": "drop"}]}),
    )
    .await;
    aws.start("hello_world", &run).await;
    within(RUN, "the step completed", || async {
        !aws.clusters(&run).await.is_empty() && aws.last_step_end(&run).await > 0.0
    })
    .await;
    // Its event was lost: nothing answers the waiting task…
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(aws.status(&run).await, "RUNNING");
    // …until the reconciler's schedule fires (here: invoked as the schedule would, with no minimum age).
    let report = aws
        .stack
        .invoke(
            "notify",
            &json!({"reconcile": true, "older_than_seconds": 0}),
        )
        .unwrap();
    assert!(
        report["answered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str() == Some(&format!("{run}: succeeded"))),
        "{report}"
    );
    assert_eq!(aws.wait(&run, RUN).await.status, "SUCCEEDED");
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_and_out_of_order_events_complete_a_run_once() {
    let aws = aws().await;
    let run = unique("sales-dup");
    // sales_daily has two steps: the first one's COMPLETED arrives after the second's, which arrives twice.
    aws.fault(
        &run,
        json!({"events": [
            {"detail_type": "EMR Step Status Change", "state": "RUNNING", "action": "reorder"},
            {"detail_type": "EMR Step Status Change", "state": "COMPLETED", "action": "reorder"},
            {"detail_type": "EMR Step Status Change", "state": "COMPLETED", "action": "duplicate"}
        ]}),
    )
    .await;
    let input = json!({"job": "sales_daily", "run_name": run,
        "input": format!("s3://{}/landing/sales/dup/_SUCCESS", aws.stack.data_bucket)});
    aws.start_input(&run, &input).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    aws.assert_no_cluster_left(&run).await;
    // Let the late copies arrive, then count: one answer, every other delivery dropped quietly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notified = aws.notified(&run).await;
    let answered: Vec<_> = notified
        .iter()
        .filter(|(_, answer)| answer["answered"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(answered.len(), 1, "{notified:?}");
    let completed = notified
        .iter()
        .filter(|(state, _)| state == "COMPLETED")
        .count();
    assert!(
        completed >= 3,
        "the duplicate was not delivered: {notified:?}"
    );
    assert!(
        notified
            .iter()
            .all(|(_, answer)| answer.get("errorType").is_none()),
        "{notified:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_about_a_cluster_sparkplug_did_not_start_are_dropped() {
    let aws = aws().await;
    let name = unique("someone-elses-cluster");
    let cluster = aws
        .emr
        .run_job_flow()
        .name(&name)
        .release_label("emr-7.5.0")
        .service_role("EMR_DefaultRole")
        .job_flow_role("EMR_EC2_DefaultRole")
        .instances(
            aws_sdk_emr::types::JobFlowInstancesConfig::builder()
                .master_instance_type("m5.xlarge")
                .instance_count(1)
                .keep_job_flow_alive_when_no_steps(false)
                .build(),
        )
        .steps(
            aws_sdk_emr::types::StepConfig::builder()
                .name("theirs")
                .hadoop_jar_step(
                    aws_sdk_emr::types::HadoopJarStepConfig::builder()
                        .jar("command-runner.jar")
                        .args("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .job_flow_id()
        .unwrap()
        .to_string();
    let dropped = within(RUN, "notify heard of the stranger's step", || async {
        aws.notified_about(&cluster)
            .await
            .iter()
            .any(|(state, _)| state == "COMPLETED")
    })
    .await;
    let notified = aws.notified_about(&cluster).await;
    for (_, answer) in &notified {
        assert!(answer["answered"].is_null(), "{answer}");
        assert!(
            answer["dropped"][0]
                .as_str()
                .unwrap_or_default()
                .contains("no task waits on it"),
            "{answer}"
        );
    }
    eprintln!(
        "{cluster}: {} events about it dropped ({:.1} s)",
        notified.len(),
        dropped.as_secs_f64()
    );
    aws.emr
        .terminate_job_flows()
        .job_flow_ids(&cluster)
        .send()
        .await
        .unwrap();
}

impl Aws {
    /// A waiter in the token table whose cluster EMR does not know (its record outlived it): the reconciler fails its
    /// task (WorkLost) instead of keeping it for ever, and forgets it. Its token is long dead: the answer is dropped.
    async fn reconcile_a_waiter_whose_cluster_is_gone(&self) {
        let tokens =
            sparkplug::aws::dynamodb::TokenTable::new(&self.config, "sparkplug-dev-tokens");
        let gone = sparkplug::engine::ports::Work::Emr {
            cluster_id: "j-GONE0000000".into(),
            step_ids: vec!["s-GONE".into()],
            sequential: true,
            shared: false,
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
    fn alerts_about(&self, run: &str) -> Vec<Value> {
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
    fn alert_events_about(&self, run: &str) -> Vec<Value> {
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

    async fn one_alert_about(&self, run: &str) -> (Value, Value) {
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
        (messages[0].clone(), events[0].clone())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_emr_step_sends_one_alert_with_the_tail_of_its_stderr() {
    let aws = aws().await;
    let run = unique("hello_world-alert");
    aws.fault(
        &run,
        json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error.",
            "message": "java.lang.ArithmeticException: / by zero"}}),
    )
    .await;
    aws.start("hello_world", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "FAILED");
    let (message, detail) = aws.one_alert_about(&run).await;
    let text = message["message"].as_str().unwrap();
    assert!(text.contains("failed step: hello_world"), "{text}");
    assert!(
        text.contains("Exception in thread \"main\" java.lang.ArithmeticException: / by zero"),
        "{text}"
    );
    let tail = detail["log_tail"].as_array().unwrap();
    assert_eq!(tail.len(), 50, "{detail}");
    assert!(tail
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("SparkSubmit.main"));
    assert_eq!(detail["error"], "StepFailed");
    assert!(detail["cost_usd"].as_f64().unwrap() > 0.0, "{detail}");
    assert_eq!(message["subject"], "sparkplug dev: hello_world FAILED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_glue_run_sends_its_error_log_tail_and_a_stopped_run_an_alert() {
    let aws = aws().await;
    let run = unique("customer_scores-alert");
    aws.fault(
        &run,
        json!({"fail_glue_run": {"message": "NullPointerException in ScoreCustomers"}}),
    )
    .await;
    aws.start("customer_scores", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "FAILED");
    let (_, detail) = aws.one_alert_about(&run).await;
    assert!(
        detail["log_tail"].as_array().unwrap().iter().any(|l| l
            .as_str()
            .unwrap_or_default()
            .contains("NullPointerException in ScoreCustomers")),
        "{detail}"
    );

    // A run stopped from the console: an alert, no tail (no step failed), and why.
    let stopped = unique("hello_world-alert-stopped");
    aws.fault(&stopped, json!({"step_seconds": 600})).await;
    aws.start("hello_world", &stopped).await;
    within(RUN, "the run's cluster is up", || async {
        !aws.clusters(&stopped).await.is_empty()
    })
    .await;
    aws.stop(&stopped).await;
    let (message, detail) = aws.one_alert_about(&stopped).await;
    assert_eq!(detail["status"], "ABORTED");
    assert!(
        message["message"]
            .as_str()
            .unwrap()
            .contains("(no log tail:"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_succeeded_run_shows_its_cost_and_alerts_only_when_its_job_asks() {
    let aws = aws().await;
    let run = unique("hello_world-cost");
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED");
    let cost = &finished.output["cost"];
    assert!(cost["usd"].as_f64().unwrap() > 0.0, "{cost}");
    assert!(
        cost["basis"]
            .as_str()
            .unwrap()
            .starts_with("estimate, us-east-1 list prices:"),
        "{cost}"
    );
    // hello_world notifies on failure only; customer_scores asks for successes too.
    let glue = unique("customer_scores-success");
    aws.start("customer_scores", &glue).await;
    assert_eq!(aws.wait(&glue, RUN).await.status, "SUCCEEDED");
    let (message, _) = aws.one_alert_about(&glue).await;
    assert_eq!(
        message["subject"],
        "sparkplug dev: customer_scores SUCCEEDED"
    );
    assert!(aws.alerts_about(&run).is_empty());
}

// ------------------------------------------------------------------------------- schedules and buckets: the catalog

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_job_in_the_catalog_alone_runs_on_the_minute_tick() {
    let aws = aws().await;
    // weekly_report: cron(30 7 ? * MON *). 2026-11-30 is a Monday. The tick is what the one schedule sends.
    let answer = aws
        .stack
        .invoke(
            &aws.stack.trigger_function,
            &json!({"tick": true, "time": "2026-11-30T07:30:00Z"}),
        )
        .unwrap();
    let started: Vec<&str> = answer["started"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(started, vec!["weekly_report-20261130T073000Z"], "{answer}");
    assert_eq!(aws.wait(started[0], RUN).await.status, "SUCCEEDED");
    // The same tick delivered again starts nothing; a minute when nothing is due neither.
    let again = aws
        .stack
        .invoke(
            &aws.stack.trigger_function,
            &json!({"tick": true, "time": "2026-11-30T07:30:00Z"}),
        )
        .unwrap();
    assert!(
        again["started"].as_array().is_none_or(|s| s.is_empty()),
        "{again}"
    );
    let quiet = aws
        .stack
        .invoke(
            &aws.stack.trigger_function,
            &json!({"tick": true, "time": "2026-11-30T07:31:00Z"}),
        )
        .unwrap();
    assert!(
        quiet["started"].as_array().is_none_or(|s| s.is_empty()),
        "{quiet}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_watching_another_bucket_fires_once_the_bucket_sends_its_events() {
    let aws = aws().await;
    let s3 = aws.s3();
    // partner_feed watches acme-partner-dev (jobs.toml), a bucket the template never names.
    let bucket = "acme-partner-dev";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    sparkplug_cli::bucket::enable_eventbridge(&s3, ACCOUNT, bucket)
        .await
        .unwrap();
    let key = format!("incoming/{}.csv", unique("drop"));
    aws.stack
        .control(
            "/put-object",
            &json!({"bucket": bucket, "key": key, "body": "a,b\n1,2\n"}),
        )
        .unwrap();
    let delivered = aws.delivered(&key).await;
    let started = delivered["answer"]["started"].as_array().unwrap().clone();
    assert_eq!(started.len(), 1, "{delivered}");
    let run = started[0].as_str().unwrap();
    assert!(run.starts_with("partner_feed-"), "{run}");
    assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED");

    // partner_report runs after partner_feed (trigger.after), on the same file, knowing which run it follows.
    let after = within(RUN, "partner_report started after partner_feed", || async {
        aws.executions_named_like("partner_report-after-")
            .await
            .len()
            == 1
    })
    .await;
    let report = aws
        .executions_named_like("partner_report-after-")
        .await
        .remove(0);
    let plan = aws
        .sfn
        .describe_execution()
        .execution_arn(aws.execution_arn(&report))
        .send()
        .await
        .unwrap();
    let plan: Value = serde_json::from_str(plan.input().unwrap()).unwrap();
    assert_eq!(plan["trigger"]["type"], "upstream");
    assert_eq!(plan["trigger"]["run"], run);
    let args = plan["glue"]["run"]["Arguments"]["--sparkplug_args"]
        .as_str()
        .unwrap();
    assert!(args.contains(run) && args.contains(&key), "{args}");
    assert_eq!(aws.wait(&report, RUN).await.status, "SUCCEEDED");
    eprintln!(
        "partner_report started {:.1} s after partner_feed's success was seen",
        after.as_secs_f64()
    );
}

impl Aws {
    /// The executions whose name starts with `prefix`.
    async fn executions_named_like(&self, prefix: &str) -> Vec<String> {
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

#[tokio::test(flavor = "multi_thread")]
async fn with_max_concurrent_runs_1_a_second_run_waits_then_runs() {
    let aws = aws().await;
    // ledger_close: max_concurrent_runs = 1. Two runs at once; the first's Glue run takes 40 s (long enough for the
    // checks below even under the suite's load).
    let first = unique("ledger_close-first");
    let second = unique("ledger_close-second");
    aws.fault(&first, json!({"glue_run_seconds": 40})).await;
    aws.fault(&second, json!({"glue_run_seconds": 2})).await;
    let ledger = |run: &str| {
        let run = run.to_string();
        let aws = &aws;
        async move {
            aws.sfn
                .describe_execution()
                .execution_arn(aws.execution_arn(&run))
                .send()
                .await
                .is_ok()
        }
    };
    aws.start("ledger_close", &first).await;
    within(RUN, "the first run holds the slot", || async {
        !aws.ledger_runs(&first).await.is_empty()
    })
    .await;
    aws.start("ledger_close", &second).await;
    assert!(ledger(&second).await);
    // The second waits: no Glue run of its own while the first runs, and history says QUEUED.
    within(RUN, "the second run waits for a slot", || async {
        aws.current_state(&second).await.as_deref() == Some("TakeSlot")
    })
    .await;
    assert!(
        aws.ledger_runs(&second).await.is_empty(),
        "the second run did not wait"
    );
    let history = sparkplug_cli::history::runs(
        &aws.sfn,
        &aws.stack.state_machine_arn,
        Some("ledger_close"),
        chrono::Utc::now() - chrono::Duration::minutes(5),
    )
    .await
    .unwrap();
    let status = |run: &str| {
        history
            .iter()
            .find(|r| r.run_name == run)
            .map(|r| r.status.clone())
    };
    assert_eq!(status(&second).as_deref(), Some("QUEUED"), "{history:?}");
    assert_eq!(status(&first).as_deref(), Some("RUNNING"));
    // Then it runs, after the first ended.
    assert_eq!(aws.wait(&first, RUN).await.status, "SUCCEEDED");
    assert_eq!(aws.wait(&second, RUN).await.status, "SUCCEEDED");
    let ended = aws.ledger_runs(&first).await[0].completed.unwrap();
    let started = aws.ledger_runs(&second).await[0].started.unwrap();
    assert!(
        started >= ended,
        "the second Glue run started {started:?}, before the first ended {ended:?}"
    );
}

struct GlueRunTimes {
    started: Option<f64>,
    completed: Option<f64>,
}

impl Aws {
    /// The state a running execution entered last.
    async fn current_state(&self, run_name: &str) -> Option<String> {
        self.history(run_name)
            .await
            .into_iter()
            .filter_map(|(_, state, _)| state)
            .next_back()
    }

    async fn ledger_runs(&self, run_name: &str) -> Vec<GlueRunTimes> {
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
    fn pools(&self) -> sparkplug::aws::dynamodb::TokenTable {
        sparkplug::aws::dynamodb::TokenTable::new(&self.config, "sparkplug-dev-tokens")
    }

    /// Starts every run at once, each about its own input object, and waits for them all.
    async fn run_all(&self, job: &str, runs: &[String]) -> Vec<Finished> {
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
    async fn steps_on(&self, cluster: &str) -> Vec<(String, String, f64, f64)> {
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

    async fn cluster_state(&self, cluster: &str) -> String {
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
    async fn release_idle(&self, pool: &str, minutes_later: i64) -> Vec<String> {
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
fn peak_side_by_side(steps: &[(String, String, f64, f64)]) -> usize {
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

fn cluster_of(finished: &Finished) -> String {
    finished.output["cluster_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn pooled_runs_share_warm_clusters_never_over_fill_them_and_idle_ones_are_released() {
    let aws = aws().await;
    // The pool `shared` takes 4 runs side by side per cluster. A burst of 6 at once, each step 15 s: one cluster for
    // the first four (one run starts it, three join it while it starts), a second for the fifth. The sixth takes
    // whichever has room when it asks: under load a first run may have ended and given its lease back by then, so
    // a cluster may take more than four runs in all, never more than four at once.
    let burst: Vec<String> = (0..6)
        .map(|i| unique(&format!("clicks_hourly-burst{i}")))
        .collect();
    for run in &burst {
        aws.fault(run, json!({"step_seconds": 15})).await;
    }
    let finished = aws.run_all("clicks_hourly", &burst).await;
    let mut by_cluster: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (run, done) in burst.iter().zip(&finished) {
        assert_eq!(done.status, "SUCCEEDED", "{run}: {:?}", done.cause);
        assert_eq!(done.output["pool"]["name"], "shared", "{}", done.output);
        eprintln!("{run}: {}", done.output);
        by_cluster
            .entry(cluster_of(done))
            .or_default()
            .push(done.output["pool"]["start"].as_str().unwrap());
    }
    assert_eq!(
        by_cluster.len(),
        2,
        "six runs, four at once a cluster: two clusters, never a third from the start race ({by_cluster:?})"
    );
    for (cluster, starts) in &by_cluster {
        assert_eq!(
            starts.iter().filter(|s| **s == "cold").count(),
            1,
            "{cluster}: one run started it ({starts:?})"
        );
        let steps = aws.steps_on(cluster).await;
        assert!(
            peak_side_by_side(&steps) <= 4,
            "{cluster} over-filled: {steps:?}"
        );
        // Each step is its run's, by name; nothing ended the shared cluster.
        assert!(steps.iter().all(
            |(name, state, ..)| name.starts_with("clicks_hourly-burst") && state == "COMPLETED"
        ));
        assert_eq!(
            aws.cluster_state(cluster).await,
            "WAITING",
            "{cluster}: a run's end never ends the cluster"
        );
    }
    let warm_cluster = by_cluster.keys().next().unwrap().clone();

    // Warm: the next run joins a waiting cluster and its step starts within seconds.
    let warm = unique("clicks_hourly-warm");
    let done = aws
        .run_all("clicks_hourly", std::slice::from_ref(&warm))
        .await
        .remove(0);
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["pool"]["start"], "warm");
    assert!(
        by_cluster.contains_key(&cluster_of(&done)),
        "{}",
        done.output
    );
    let startup = done.output["timeline"]["startup_seconds"].as_i64().unwrap();
    assert!(
        startup <= 5,
        "a warm run's step started {startup} s after it was submitted"
    );

    // One failing run on a shared cluster (CONTINUE) leaves the others' steps running: two runs' steps are running
    // when a third joins their cluster and fails; they succeed after it failed.
    let failing = unique("clicks_hourly-failing");
    let others: Vec<String> = (0..2)
        .map(|i| unique(&format!("clicks_hourly-beside{i}")))
        .collect();
    aws.fault(
        &failing,
        json!({"step_seconds": 1, "fail_step": {"name": "clicks_hourly", "message": "bad clicks"}}),
    )
    .await;
    for run in &others {
        aws.fault(run, json!({"step_seconds": 12})).await;
        aws.start_about("clicks_hourly", run, "landing/clicks")
            .await;
    }
    within(RUN, "the two runs' steps are running", || async {
        let mut running = 0;
        for cluster in by_cluster.keys() {
            running += aws
                .steps_on(cluster)
                .await
                .iter()
                .filter(|(n, s, ..)| {
                    others.iter().any(|o| n.starts_with(o.as_str())) && s == "RUNNING"
                })
                .count();
        }
        running == 2
    })
    .await;
    aws.start_about("clicks_hourly", &failing, "landing/clicks")
        .await;
    let all: Vec<String> = std::iter::once(failing.clone())
        .chain(others.clone())
        .collect();
    let mut finished = Vec::new();
    for run in &all {
        finished.push(aws.wait(run, RUN).await);
    }
    assert_eq!(finished[0].status, "FAILED");
    assert_eq!(
        finished[0].error.as_deref(),
        Some("StepFailed"),
        "{:?}",
        finished[0].cause
    );
    // A failed execution has no output: its cluster is the one whose steps include its step.
    let mut failed_cluster = String::new();
    let mut steps = Vec::new();
    for done in &finished[1..] {
        let on = aws.steps_on(&cluster_of(done)).await;
        if on.iter().any(|(n, ..)| n.starts_with(&failing)) {
            (failed_cluster, steps) = (cluster_of(done), on);
        }
    }
    assert!(
        !failed_cluster.is_empty(),
        "no other run shared the failing run's cluster"
    );
    let failed_end = steps
        .iter()
        .find(|(n, ..)| n.starts_with(&failing))
        .unwrap()
        .3;
    for (run, done) in others.iter().zip(&finished[1..]) {
        assert_eq!(done.status, "SUCCEEDED", "{run}: {:?}", done.cause);
        if cluster_of(done) == failed_cluster {
            let (_, state, start, end) = steps
                .iter()
                .find(|(n, ..)| n.starts_with(run.as_str()))
                .unwrap();
            assert_eq!(state, "COMPLETED");
            assert!(
                *start < failed_end && *end > failed_end,
                "{run} ran beside the failure and went on"
            );
        }
    }

    // A run that joins while a cluster is being released gets a new cluster: the janitor has marked the warm cluster
    // (its release interrupted before TerminateJobFlows), which EMR still shows WAITING.
    use sparkplug::engine::ports::PoolStore;
    let pools = aws.pools();
    let records = pools.pool_clusters(Some("shared")).await.unwrap();
    for record in &records {
        if record.runs.is_empty() {
            assert!(pools
                .mark_releasing("shared", &record.cluster_id, record.idle_since)
                .await
                .unwrap());
        }
    }
    assert_eq!(aws.cluster_state(&warm_cluster).await, "WAITING");
    let late = unique("clicks_hourly-late");
    let done = aws
        .run_all("clicks_hourly", std::slice::from_ref(&late))
        .await
        .remove(0);
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["pool"]["start"], "cold", "{}", done.output);
    assert!(
        !records.iter().any(|r| r.cluster_id == cluster_of(&done)),
        "joined a cluster being released"
    );

    // Idle: not yet at 5 minutes; at 11 (idle_minutes = 10) every cluster is released, and nothing is left.
    assert!(
        aws.release_idle("shared", 5)
            .await
            .iter()
            .all(|c| records.iter().any(|r| &r.cluster_id == c)),
        "only the marked clusters go before their idle minutes"
    );
    aws.release_idle("shared", 11).await;
    let mut used: Vec<String> = by_cluster.keys().cloned().collect();
    used.push(cluster_of(&done));
    used.push(failed_cluster);
    for cluster in used {
        let state = aws.cluster_state(&cluster).await;
        assert!(
            state.starts_with("TERMINAT"),
            "{cluster} is {state} after its pool's idle minutes"
        );
    }
    assert!(
        pools
            .pool_clusters(Some("shared"))
            .await
            .unwrap()
            .is_empty(),
        "released clusters are forgotten"
    );
}

// -------------------------------------------------------------------------------------------------- EMR Serverless

impl Aws {
    /// The orders_enrich application's id and state, once a run has made it.
    async fn orders_application(&self) -> Option<(String, String)> {
        let apps = self.serverless().list_applications().send().await.unwrap();
        apps.applications()
            .iter()
            .find(|a| a.name() == Some("sparkplug-orders_enrich-dev"))
            .map(|a| (a.id().to_string(), a.state().as_str().to_string()))
    }

    /// EMR Serverless traffic on every path of the IAM test: a run (the application created by the session's first),
    /// a run that finds the application stopped and changed (updated back), one past its limit (finish cancels its job
    /// run) and one stopped from the console (the janitor cancels it).
    async fn serverless_traffic(&self) {
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

    fn serverless(&self) -> aws_sdk_emrserverless::Client {
        aws_sdk_emrserverless::Client::new(&self.config)
    }

    /// Starts orders_enrich about its own input object, the way the console does.
    async fn start_orders(&self, run: &str) {
        self.start_about("orders_enrich", run, "landing/orders")
            .await;
    }

    /// The job runs of this run's name on the orders_enrich application: (id, state).
    async fn job_runs_named(&self, run: &str) -> Vec<(String, String)> {
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

#[tokio::test(flavor = "multi_thread")]
async fn emr_serverless_runs_succeed_fail_with_their_log_tail_and_a_console_stop_cancels_the_job_run(
) {
    let aws = aws().await;
    let ok = unique("orders_enrich-ok");
    let failing = unique("orders_enrich-failing");
    let stopped = unique("orders_enrich-stopped");
    aws.fault(
        &failing,
        json!({"fail_job_run": {"message": "java.lang.IllegalStateException: order 42 has no customer"}}),
    )
    .await;
    aws.fault(&stopped, json!({"job_run_seconds": 600})).await;
    for run in [&ok, &failing, &stopped] {
        aws.start_orders(run).await;
    }
    within(RUN, "the run to stop is running", || async {
        aws.job_runs_named(&stopped)
            .await
            .iter()
            .any(|(_, s)| s == "RUNNING")
    })
    .await;
    aws.stop(&stopped).await;

    // Success: one job run (its clientToken is the run's name), its billed cost, start-up and run time.
    let done = aws.wait(&ok, RUN).await;
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["engine"], "emr_serverless");
    let runs = aws.job_runs_named(&ok).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(done.output["job_run_id"], runs[0].0.as_str());
    assert_eq!(runs[0].1, "SUCCESS");
    assert!(
        done.output["timeline"]["startup_seconds"].is_i64(),
        "{}",
        done.output
    );
    let cost = &done.output["cost"];
    assert!(cost["compute_usd"].as_f64().unwrap() > 0.0, "{cost}");
    assert!(
        cost["basis"].as_str().unwrap().contains("vCPU-hours"),
        "{cost}"
    );

    // Failure: the job run's state details, and one alert with the driver's stderr tail.
    let failed = aws.wait(&failing, RUN).await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(failed.error.as_deref(), Some("JobRunFailed"));
    assert!(
        failed
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("order 42 has no customer"),
        "{:?}",
        failed.cause
    );
    let (_, alert) = aws.one_alert_about(&failing).await;
    let tail = alert["log_tail"]
        .as_array()
        .unwrap_or_else(|| panic!("no log tail: {alert}"));
    assert!(
        tail.iter().any(|l| l
            .as_str()
            .unwrap_or_default()
            .contains("order 42 has no customer")),
        "{alert}"
    );

    // Console Stop: the janitor cancels the job run.
    assert_eq!(aws.wait(&stopped, RUN).await.status, "ABORTED");
    within(
        Duration::from_secs(60),
        "the stopped run's job run is cancelled",
        || async {
            aws.job_runs_named(&stopped)
                .await
                .iter()
                .all(|(_, s)| s == "CANCELLED" || s == "CANCELLING")
        },
    )
    .await;
}

// ------------------------------------------------------------------ lost events: the doctor and the failed-events queue

#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_names_a_slot_a_lost_end_left_held_and_its_fix_lets_the_next_run_go() {
    let aws = aws().await;
    let first = unique("ledger_close-doctor-first");
    let second = unique("ledger_close-doctor-second");
    // Every delivery of first's end is lost: the queue never hears that its slot is free.
    aws.fault(
        &first,
        json!({"glue_run_seconds": 2, "events": [
            {"detail_type": "Step Functions Execution Status Change", "action": "drop", "times": 10}]}),
    )
    .await;
    aws.start("ledger_close", &first).await;
    within(RUN, "the first run holds the slot", || async {
        aws.current_state(&first).await.as_deref() == Some("StartGlueRun")
    })
    .await;
    aws.start("ledger_close", &second).await;
    assert_eq!(aws.wait(&first, RUN).await.status, "SUCCEEDED");
    within(RUN, "the second run waits for the slot", || async {
        aws.current_state(&second).await.as_deref() == Some("TakeSlot")
    })
    .await;
    let operator = sparkplug_cli::operator::Stack::local(aws.stack, "dev")
        .await
        .unwrap();
    let catalog = sparkplug::load::from_file(&repo().join("jobs.toml"))
        .unwrap()
        .catalog;
    let diagnosis = operator.diagnose(&catalog).await.unwrap();
    let held = diagnosis
        .findings
        .iter()
        .find(|f| f.run.as_deref() == Some(first.as_str()))
        .unwrap_or_else(|| panic!("no finding about {first}: {:?}", diagnosis.findings));
    assert_eq!(held.kind, "slot");
    assert_eq!(held.status.as_deref(), Some("SUCCEEDED"));
    assert!(held.fixed_by.starts_with("queue"), "{}", held.fixed_by);
    // `--fix`: the backstops now — the drain gives the slot back and the second run goes on.
    let answers = operator.fix(&diagnosis).await.unwrap();
    assert!(
        answers["queue"]["released"]
            .as_array()
            .is_some_and(|r| r.iter().any(|run| run == first.as_str())),
        "{answers:?}"
    );
    assert_eq!(aws.wait(&second, RUN).await.status, "SUCCEEDED");
    let again = operator.diagnose(&catalog).await.unwrap();
    assert!(
        !again
            .findings
            .iter()
            .any(|f| f.run.as_deref() == Some(first.as_str())),
        "{:?}",
        again.findings
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arrival_whose_trigger_failed_past_its_retries_is_replayed_from_the_failed_events_queue()
{
    let aws = aws().await;
    let key = format!("landing/sales/{}/_SUCCESS", unique("replayed"));
    // The trigger fails on this arrival's event on every attempt: Lambda's first and its two retries, in dev and in
    // prod (whose trigger hears every arrival of the account too; a fault names the function, not its environment).
    aws.fault(
        &key,
        json!({"lambda_errors": [{"function": "trigger", "detail_type": "Object Created", "times": 6}]}),
    )
    .await;
    aws.put(&key).await;
    within(
        RUN,
        "the arrival reached the failed-events queue",
        || async {
            let attempts = aws.stack.events("trigger", &key).unwrap();
            attempts.iter().filter(|e| e["error"] == true).count() == 3
        },
    )
    .await;
    // Lambda's record goes to the queue right after the last attempt.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let operator = sparkplug_cli::operator::Stack::local(aws.stack, "dev")
        .await
        .unwrap();
    let report = operator.replay_failed(false).await.unwrap();
    let started: Vec<&String> = report
        .started
        .iter()
        .filter(|run| run.starts_with("sales_daily-"))
        .collect();
    assert_eq!(started.len(), 1, "{report:?}");
    assert_eq!(aws.wait(started[0], RUN).await.status, "SUCCEEDED");
    // The message was deleted once its event was handled: a look at the queue no longer finds it.
    let left = operator.replay_failed(true).await.unwrap();
    assert!(
        !left
            .replayed
            .iter()
            .any(|(_, would)| would.to_string().contains(&key)),
        "{left:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_run_named_outside_what_aws_tags_take_fails_at_once_and_starts_nothing() {
    let aws = aws().await;
    // Step Functions takes `!` in an execution name; EMR's and EMR Serverless's tag values do not.
    let name = format!("rerun!{}", unique("x"));
    aws.start_input(&name, &json!({"job": "hello_world"})).await;
    let done = aws.wait(&name, RUN).await;
    assert_eq!(done.status, "FAILED");
    let cause = done.cause.unwrap_or_default();
    assert!(cause.contains("contains `!`"), "{cause}");
    assert!(aws.clusters(&name).await.is_empty());
}
