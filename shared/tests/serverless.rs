//! EMR Serverless: the catalog, the plan's requests, the start and finish handlers over real SDK clients and the
//! request/response mock, the sensor, notify's event, the cost.

mod common;

use common::fake_aws::{state_change, waiter_item, FakeAws};
use common::{catalog_of, manual_input, now, vars};
use serde_json::{json, Value};
use sparkplug::cost::Pricing;
use sparkplug::engine::handlers::{notify, serverless};
use sparkplug::engine::input::handle;
use sparkplug::engine::{ErrorKind, TaskError};
use sparkplug::run::plan::serverless::client_token;
use sparkplug::run::{render, RunPlan};

const CATALOG: &str = r#"
[vars]
env = "dev"
role = "arn:aws:iam::123456789012:role/sparkplug-emr-serverless-dev"

[defaults.emr_serverless]
execution_role = "${role}"
log_uri = "s3://acme-logs-dev/emr-serverless/"

[jobs.orders]
engine = "emr_serverless"
jar = "s3://acme-artifacts-dev/jars/orders.jar"
class = "com.acme.Orders"
args = ["--input", "{input}"]
spark_conf = { "spark.executor.cores" = "2" }
timeout_minutes = 45

[jobs.orders.emr_serverless]
architecture = "ARM64"
initial_capacity = { driver = { workers = 1, cpu = "2 vCPU", memory = "4 GB" }, executor = { workers = 2, cpu = "4 vCPU", memory = "8 GB", disk = "30 GB" } }
maximum_capacity = { cpu = "32 vCPU", memory = "128 GB" }
auto_stop_minutes = 10
"#;

fn plan(run: &str) -> RunPlan {
    let catalog = catalog_of(CATALOG).unwrap();
    let mut input = manual_input(Some("s3://acme-data-dev/landing/orders/o1.json"));
    input.run_name = Some(run.to_string());
    render(&catalog, "orders", &input, &vars(&catalog)).unwrap()
}

const APP: &str = "00fabc123def4567";

#[test]
fn the_plan_carries_create_application_and_start_job_run_in_the_apis_json() {
    let plan = plan("orders-1");
    let part = plan.emr_serverless.as_ref().unwrap();
    assert_eq!(
        part.application,
        json!({
            "name": "sparkplug-orders-dev",
            "releaseLabel": "emr-7.5.0",
            "type": "SPARK",
            "architecture": "ARM64",
            "initialCapacity": {
                "DRIVER": {"workerCount": 1, "workerConfiguration": {"cpu": "2 vCPU", "memory": "4 GB"}},
                "EXECUTOR": {"workerCount": 2, "workerConfiguration": {"cpu": "4 vCPU", "memory": "8 GB", "disk": "30 GB"}}
            },
            "maximumCapacity": {"cpu": "32 vCPU", "memory": "128 GB"},
            "autoStartConfiguration": {"enabled": true},
            "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 10},
            "tags": {"sparkplug:job": "orders", "sparkplug:environment": "dev"}
        })
    );
    assert_eq!(
        part.run,
        json!({
            "clientToken": "orders-1",
            "name": "orders-1",
            "executionRoleArn": "arn:aws:iam::123456789012:role/sparkplug-emr-serverless-dev",
            "jobDriver": {"sparkSubmit": {
                "entryPoint": "s3://acme-artifacts-dev/jars/orders.jar",
                "entryPointArguments": ["--input", "s3://acme-data-dev/landing/orders/o1.json"],
                "sparkSubmitParameters": "--class com.acme.Orders --conf spark.executor.cores=2"
            }},
            "configurationOverrides": {"monitoringConfiguration": {"s3MonitoringConfiguration": {
                "logUri": "s3://acme-logs-dev/emr-serverless/"}}},
            "executionTimeoutMinutes": 45,
            "tags": {"sparkplug:job": "orders", "sparkplug:run": "orders-1", "sparkplug:environment": "dev"}
        })
    );
}

#[test]
fn a_client_token_is_the_run_name_or_within_64_characters_a_stable_hash() {
    assert_eq!(client_token("orders-1"), "orders-1");
    let long =
        "orders_enrich-s3-20261127T063000Z-acme-data-dev-landing-orders-2026-11-27-o1-json-abcdef";
    let token = client_token(long);
    assert_eq!(token.len(), 64);
    assert!(long.starts_with(&token[..47]));
    assert_eq!(token, client_token(long));
    assert_ne!(token, client_token(&long.replace("abcdef", "abcdeg")));
    // A console run's own name may carry characters a token may not: made safe, and still distinct.
    let odd = client_token("orders+retry(2)-é");
    assert!(
        odd.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "{odd}"
    );
    assert!(
        odd.starts_with("orders-retry-2--") && odd.len() <= 64,
        "{odd}"
    );
    assert_ne!(odd, client_token("orders+retry(3)-é"));
    let wide = "é".repeat(70);
    assert!(client_token(&wide).len() <= 64);
}

#[test]
fn an_application_differs_only_in_what_the_plan_sets() {
    let planned = json!({"maximumCapacity": {"cpu": "32 vCPU", "memory": "128 GB"}, "releaseLabel": "emr-7.5.0",
        "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 10}});
    // EMR Serverless reports a default the plan leaves alone (disk): no difference.
    let current = json!({"maximumCapacity": {"cpu": "32 vCPU", "memory": "128 GB", "disk": "200 GB"},
        "releaseLabel": "emr-7.5.0", "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 10.0}});
    assert!(serverless::differing_settings(&planned, &current).is_empty());
    let stale = json!({"maximumCapacity": {"cpu": "8 vCPU", "memory": "128 GB"}, "releaseLabel": "emr-7.2.0",
        "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 10}});
    assert_eq!(
        serverless::differing_settings(&planned, &stale),
        vec!["maximumCapacity", "releaseLabel"]
    );
}

#[test]
fn validation_names_what_an_emr_serverless_job_gets_wrong() {
    let bad = CATALOG
        .replace("execution_role = \"${role}\"\n", "")
        .replace("ARM64", "SPARC")
        .replace("auto_stop_minutes = 10", "auto_stop_minutes = 0")
        .replace("workers = 1,", "workers = 0,")
        .replace(
            "timeout_minutes = 45",
            "timeout_minutes = 45\npool = \"bursts\"",
        );
    let text = catalog_of(&bad).unwrap_err();
    for expected in [
        "orders.emr_serverless.execution_role: missing",
        "orders.emr_serverless.architecture: `SPARC`: EMR Serverless runs X86_64 or ARM64",
        "orders.emr_serverless.auto_stop_minutes: 0: EMR Serverless takes 1 to 10080 minutes",
        "orders.emr_serverless.initial_capacity.driver.workers: must be at least 1",
        "orders.pool: this job's engine is emr_serverless",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
    let spaced = CATALOG.replace(
        "\"spark.executor.cores\" = \"2\"",
        "\"spark.driver.extraJavaOptions\" = \"-Da=1 -Db=2\"",
    );
    assert!(catalog_of(&spaced).unwrap_err().contains(
        "orders.spark_conf.spark.driver.extraJavaOptions: a value with spaces cannot travel in EMR Serverless' \
         sparkSubmitParameters"
    ));
    let no_class = CATALOG.replace("class = \"com.acme.Orders\"\n", "");
    assert!(catalog_of(&no_class)
        .unwrap_err()
        .contains("orders.class: missing"));
    // Two jobs naming one application must agree on it; the job run's role may differ.
    let shared = format!(
        "{CATALOG}application_name = \"acme-batch-${{env}}\"\n\n[jobs.returns]\nengine = \"emr_serverless\"\n\
         jar = \"s3://acme-artifacts-dev/jars/returns.jar\"\nclass = \"com.acme.Returns\"\n\
         [jobs.returns.emr_serverless]\napplication_name = \"acme-batch-${{env}}\"\nauto_stop_minutes = 10\n\
         execution_role = \"arn:aws:iam::123456789012:role/returns\"\n"
    );
    assert_eq!(
        catalog_of(&shared)
            .unwrap_err()
            .matches("acme-batch")
            .count(),
        1,
        "one error, for the second job"
    );
    assert!(catalog_of(&shared).unwrap_err().contains(
        "returns.emr_serverless.application_name: `acme-batch-dev` is also `orders`'s application, with other \
         architecture, initialCapacity, maximumCapacity: jobs sharing an application set it alike"
    ));
    // Alike as planned: a default written out (the release) is the default left out.
    let alike = shared.replace(
        "auto_stop_minutes = 10\nexecution_role",
        "auto_stop_minutes = 10\narchitecture = \"ARM64\"\nrelease_label = \"emr-7.5.0\"\n\
         initial_capacity = { driver = { workers = 1, cpu = \"2 vCPU\", memory = \"4 GB\" }, executor = { workers = 2, cpu = \"4 vCPU\", memory = \"8 GB\", disk = \"30 GB\" } }\n\
         maximum_capacity = { cpu = \"32 vCPU\", memory = \"128 GB\" }\nexecution_role",
    );
    assert!(catalog_of(&alike).is_ok(), "{:?}", catalog_of(&alike).err());
    let on_emr = CATALOG.replace("engine = \"emr_serverless\"", "engine = \"emr\"");
    assert!(catalog_of(&on_emr).unwrap_err().contains(
        "orders.emr_serverless: this job's engine is emr: EMR Serverless settings do not apply"
    ));
}

fn application(state: &str, max_cpu: &str) -> Value {
    json!({"application": {"applicationId": APP, "name": "sparkplug-orders-dev", "arn": "arn:x", "releaseLabel": "emr-7.5.0",
        "type": "Spark", "state": state, "createdAt": 1.7e9, "updatedAt": 1.7e9, "architecture": "ARM64",
        "initialCapacity": {
            "DRIVER": {"workerCount": 1, "workerConfiguration": {"cpu": "2 vCPU", "memory": "4 GB"}},
            "EXECUTOR": {"workerCount": 2, "workerConfiguration": {"cpu": "4 vCPU", "memory": "8 GB", "disk": "30 GB"}}},
        "maximumCapacity": {"cpu": max_cpu, "memory": "128 GB"},
        "autoStartConfiguration": {"enabled": true},
        "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 10}}})
}

fn listed(state: &str) -> Value {
    json!({"applications": [{"id": APP, "name": "sparkplug-orders-dev", "arn": "arn:x", "releaseLabel": "emr-7.5.0",
        "type": "Spark", "state": state, "createdAt": 1.7e9, "updatedAt": 1.7e9}]})
}

async fn start(aws: &FakeAws, plan: &RunPlan) -> Result<Value, TaskError> {
    let (client, tokens) = (aws.serverless(), aws.tokens());
    let input = json!({"plan": plan, "task_token": "token-1", "retry_count": 0});
    handle("emr-serverless-start", input, |i| {
        serverless::serverless_start(&client, &tokens, i, now())
    })
    .await
}

#[tokio::test]
async fn a_start_uses_the_application_as_planned_and_waits_on_the_job_run() {
    let plan = plan("orders-2");
    let aws = FakeAws::new();
    aws.ok("ListApplications", listed("STARTED"));
    aws.ok("GetApplication", application("STARTED", "32 vCPU"));
    aws.ok(
        "StartJobRun",
        json!({"applicationId": APP, "jobRunId": "jr-1", "arn": "arn:jr"}),
    );
    aws.ok("PutItem", json!({}));
    let output = start(&aws, &plan).await.unwrap();
    assert_eq!(output, json!({"application_id": APP, "job_run_id": "jr-1"}));
    // The request goes out as planned: its clientToken is the run's name.
    assert_eq!(
        aws.requests("StartJobRun")[0],
        plan.emr_serverless.as_ref().unwrap().run
    );
    let waiter = &aws.requests("PutItem")[0]["Item"];
    assert_eq!(waiter["key"], json!({"S": format!("emrs#{APP}#jr-1")}));
    assert!(
        aws.requests("UpdateApplication").is_empty()
            && aws.requests("CreateApplication").is_empty()
    );
}

#[tokio::test]
async fn a_missing_application_is_created_and_a_stopped_one_that_differs_updated() {
    let plan = plan("orders-3");
    // None yet: created (its clientToken from its settings, so two first runs create one), and the start retried.
    let aws = FakeAws::new();
    aws.ok("ListApplications", json!({"applications": []}));
    aws.ok(
        "CreateApplication",
        json!({"applicationId": APP, "name": "sparkplug-orders-dev", "arn": "arn:x"}),
    );
    let error = start(&aws, &plan).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Retryable, "{error}");
    assert!(error.message.contains("is CREATING"), "{error}");
    let created = &aws.requests("CreateApplication")[0];
    assert_eq!(created["name"], "sparkplug-orders-dev");
    assert!(created["clientToken"]
        .as_str()
        .unwrap()
        .starts_with("sparkplug-"));
    assert!(aws.requests("StartJobRun").is_empty());

    // Stopped and different (its maximum capacity): brought back to the plan, then the run starts.
    let aws = FakeAws::new();
    aws.ok("ListApplications", listed("STOPPED"));
    aws.ok("GetApplication", application("STOPPED", "8 vCPU"));
    aws.ok("UpdateApplication", json!({"application": {}}));
    aws.ok(
        "StartJobRun",
        json!({"applicationId": APP, "jobRunId": "jr-2", "arn": "arn:jr"}),
    );
    aws.ok("PutItem", json!({}));
    start(&aws, &plan).await.unwrap();
    let update = &aws.requests("UpdateApplication")[0];
    assert_eq!(
        update["maximumCapacity"],
        json!({"cpu": "32 vCPU", "memory": "128 GB"})
    );
    assert!(
        update.get("name").is_none() && update.get("tags").is_none(),
        "{update}"
    );

    // Started and different: not updated under other runs' feet; the run uses it as it is.
    let aws = FakeAws::new();
    aws.ok("ListApplications", listed("STARTED"));
    aws.ok("GetApplication", application("STARTED", "8 vCPU"));
    aws.ok(
        "StartJobRun",
        json!({"applicationId": APP, "jobRunId": "jr-3", "arn": "arn:jr"}),
    );
    aws.ok("PutItem", json!({}));
    start(&aws, &plan).await.unwrap();
    assert!(aws.requests("UpdateApplication").is_empty());
}

fn job_run(state: &str, details: &str) -> Value {
    json!({"jobRun": {"applicationId": APP, "jobRunId": "jr-1", "name": "orders-4", "arn": "arn:jr",
        "createdBy": "arn:role", "createdAt": 1_795_933_800.0, "updatedAt": 1_795_933_900.0,
        "startedAt": 1_795_933_812.0, "endedAt": 1_795_933_872.0,
        "executionRole": "arn:role", "state": state, "stateDetails": details, "releaseLabel": "emr-7.5.0",
        "jobDriver": {"sparkSubmit": {"entryPoint": "s3://a/b.jar"}},
        "configurationOverrides": {"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://acme-logs-dev/emr-serverless/"}}},
        "totalExecutionDurationSeconds": 60,
        "billedResourceUtilization": {"vCPUHour": 0.2, "memoryGBHour": 0.8, "storageGBHour": 0.0}}})
}

#[tokio::test]
async fn notify_answers_a_waiting_run_when_its_job_run_ends_and_says_why_it_failed() {
    let aws = FakeAws::new();
    let work = json!({"engine": "emr_serverless", "application_id": APP, "job_run_id": "jr-1"});
    let item = waiter_item("orders-4", work, "token-4", 1_795_933_800);
    aws.ok("GetItem", json!({"Item": item}));
    aws.ok(
        "GetJobRun",
        job_run("FAILED", "java.lang.IllegalStateException: order 42"),
    );
    aws.ok("SendTaskSuccess", json!({}));
    aws.ok("DeleteItem", json!({}));
    let (emr, glue, sfn, tokens, serverless) = (
        aws.emr(),
        aws.glue(),
        aws.sfn(),
        aws.tokens(),
        aws.serverless(),
    );
    let event = state_change(
        "EMR Serverless Job Run State Change",
        "aws.emr-serverless",
        json!({"jobRunId": "jr-1", "applicationId": APP, "arn": "arn:jr", "releaseLabel": "emr-7.5.0",
            "state": "FAILED", "previousState": "RUNNING", "createdBy": "arn:role", "updatedAt": "2026-11-27T06:31:00Z",
            "createdAt": "2026-11-27T06:30:00Z"}),
    );
    let report = handle("notify", event, |e| {
        notify::notify(&emr, &glue, &serverless, &sfn, &tokens, e, now())
    })
    .await
    .unwrap();
    assert_eq!(report["answered"], json!(["orders-4: failed"]));
    let answer: Value = serde_json::from_str(
        aws.requests("SendTaskSuccess")[0]["output"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer["failure"]["error"], "JobRunFailed");
    assert_eq!(
        answer["failure"]["message"],
        "java.lang.IllegalStateException: order 42"
    );
    assert_eq!(
        answer["failure"]["log"],
        format!("s3://acme-logs-dev/emr-serverless/applications/{APP}/jobs/jr-1/")
    );
    assert_eq!(answer["timeline"]["startup_seconds"], 12);
    assert_eq!(answer["timeline"]["execution_seconds"], 60);

    // A job run still going says nothing new: no lookup at all.
    let aws = FakeAws::new();
    let running = state_change(
        "EMR Serverless Job Run State Change",
        "aws.emr-serverless",
        json!({"jobRunId": "jr-1", "applicationId": APP, "state": "RUNNING"}),
    );
    let (emr, glue, sfn, tokens, serverless) = (
        aws.emr(),
        aws.glue(),
        aws.sfn(),
        aws.tokens(),
        aws.serverless(),
    );
    handle("notify", running, |e| {
        notify::notify(&emr, &glue, &serverless, &sfn, &tokens, e, now())
    })
    .await
    .unwrap();
    assert!(aws.actions().is_empty());
}

#[tokio::test]
async fn finish_prices_what_was_billed_and_cancels_a_job_run_the_run_outlived() {
    let plan = plan("orders-4");
    let sense = json!({"status": "succeeded", "resource_id": "jr-1", "state": "SUCCESS", "progress": "done",
        "timeline": {"execution_seconds": 60, "billed": {"vcpu_hours": 0.2, "memory_gb_hours": 0.8, "storage_gb_hours": 0.0}}});
    let aws = FakeAws::new();
    let pricing = Pricing::shipped("us-east-1").unwrap();
    let client = aws.serverless();
    let summary = handle(
        "emr-serverless-finish",
        json!({"plan": plan, "sense": sense}),
        |i| serverless::serverless_finish(&client, &pricing, i, now()),
    )
    .await
    .unwrap();
    assert!(aws.actions().is_empty(), "{:?}", aws.actions());
    assert_eq!(summary["job_run_id"], "jr-1");
    // ARM64: 0.2 vCPU-hours × $0.042094 + 0.8 GB-hours × $0.004628.
    let compute = summary["cost"]["compute_usd"].as_f64().unwrap();
    assert!(
        (compute - (0.2 * 0.042094 + 0.8 * 0.004628)).abs() < 0.00001,
        "{compute}"
    );
    assert!(summary["cost"]["basis"]
        .as_str()
        .unwrap()
        .contains("(ARM64)"));

    // Past its limit: the job run still going is cancelled, and the run fails as a timeout.
    let aws = FakeAws::new();
    aws.ok("ListApplications", listed("STARTED"));
    aws.ok("GetApplication", application("STARTED", "32 vCPU"));
    aws.ok("ListJobRuns", json!({"jobRuns": [{"applicationId": APP, "id": "jr-9", "name": "orders-4", "arn": "arn:jr",
        "createdBy": "arn:role", "createdAt": 1.7e9, "updatedAt": 1.7e9, "executionRole": "arn:role", "state": "RUNNING",
        "stateDetails": "", "releaseLabel": "emr-7.5.0"},
        {"applicationId": APP, "id": "jr-other", "name": "another-run", "arn": "arn:jr", "createdBy": "arn:role",
        "createdAt": 1.7e9, "updatedAt": 1.7e9, "executionRole": "arn:role", "state": "RUNNING", "stateDetails": "",
        "releaseLabel": "emr-7.5.0"}]}));
    aws.ok(
        "CancelJobRun",
        json!({"applicationId": APP, "jobRunId": "jr-9"}),
    );
    let client = aws.serverless();
    let summary = handle(
        "emr-serverless-finish",
        json!({"plan": plan, "error": {"Error": "States.Timeout", "Cause": ""}}),
        |i| serverless::serverless_finish(&client, &pricing, i, now()),
    )
    .await
    .unwrap();
    assert_eq!(
        aws.actions()
            .iter()
            .filter(|a| *a == "CancelJobRun")
            .count(),
        1
    );
    assert_eq!(summary["error"], "Timeout");
    assert_eq!(summary["job_run_id"], "jr-9");
}

#[test]
fn an_applications_token_changes_with_what_is_created() {
    use sparkplug::engine::handlers::serverless::application_token;
    let settings =
        json!({"name": "sparkplug-orders-dev", "releaseLabel": "emr-7.5.0", "type": "SPARK"});
    let token = application_token("sparkplug-orders-dev", &settings);
    // Two first runs at once send one request: one token, one application.
    assert_eq!(
        token,
        application_token("sparkplug-orders-dev", &settings.clone())
    );
    // Re-created with other settings (after a catalog change): another token, so the old request is not replayed.
    let changed =
        json!({"name": "sparkplug-orders-dev", "releaseLabel": "emr-7.6.0", "type": "SPARK"});
    assert_ne!(token, application_token("sparkplug-orders-dev", &changed));
    // CreateApplication's clientToken: 1 to 64 characters of [A-Za-z0-9._-] (botocore emr-serverless model).
    assert!(
        token.len() <= 64
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    );
}

#[test]
fn an_application_name_of_the_jobs_own_names_the_environment() {
    // dev and prod in one account would share (and update) one application otherwise.
    let shared = format!("{CATALOG}application_name = \"acme-batch\"\n");
    assert!(catalog_of(&shared).unwrap_err().contains(
        "orders.emr_serverless.application_name: `acme-batch` names no environment: put `${env}` in it"
    ));
}
