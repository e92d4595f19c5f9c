//! The task handlers over real SDK clients and a request/response-level mock: the exact requests sent, retry
//! safety, state mapping and error classification. Each handler is called through its JSON contract
//! ([`handle`]), as the Lambda runtime calls it.

mod budget_tasks;
#[path = "../common/mod.rs"]
mod common;
mod emr_tasks;
mod glue_tasks;
mod idempotence;
mod recovery_tasks;
mod trigger_tasks;

use chrono::{DateTime, TimeZone, Utc};
use common::fake_aws::{state_change, waiter_item, FakeAws};
use common::{catalog, event as fixture, now, plan_of, to_json, vars};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use sparkplug::cost::Pricing;
use sparkplug::engine::handlers::trigger::TriggerConfig;
use sparkplug::engine::handlers::{emr, glue, notify, trigger};
use sparkplug::engine::input::handle;
use sparkplug::engine::{ErrorKind, TaskError};

async fn create_cluster(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, pools) = (aws.emr(), aws.tokens());
    handle("emr-create-cluster", input, |i| {
        emr::emr_create_cluster(&client, &pools, i, now())
    })
    .await
}

async fn add_steps(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, tokens) = (aws.emr(), aws.tokens());
    handle("emr-add-steps", input, |i| {
        emr::emr_add_steps(&client, &tokens, i, now())
    })
    .await
}

async fn notify(aws: &FakeAws, event: Value) -> Result<Value, TaskError> {
    let (emr, glue, sfn, tokens) = (aws.emr(), aws.glue(), aws.sfn(), aws.tokens());
    let serverless = aws.serverless();
    handle("notify", event, |e| {
        notify::notify(&emr, &glue, &serverless, &sfn, &tokens, e, now())
    })
    .await
}

fn pricing() -> Pricing {
    Pricing::shipped("eu-west-1").unwrap()
}

async fn terminate(aws: &FakeAws, input: Value, now: DateTime<Utc>) -> Result<Value, TaskError> {
    let (client, pools, pricing) = (aws.emr(), aws.tokens(), pricing());
    handle("emr-terminate", input, |i| {
        emr::emr_terminate(&client, &pools, &pricing, i, now)
    })
    .await
}

async fn glue_start(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, tokens) = (aws.glue(), aws.tokens());
    handle("glue-start-run", input, |i| {
        glue::glue_start_run(&client, &tokens, i, now())
    })
    .await
}

async fn glue_finish(aws: &FakeAws, input: Value) -> Result<Value, TaskError> {
    let (client, pricing) = (aws.glue(), pricing());
    handle("glue-finish", input, |i| {
        glue::glue_finish(&client, &pricing, i, now())
    })
    .await
}

async fn start(
    config: &TriggerConfig,
    aws: &FakeAws,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let (client, table) = (aws.sfn(), aws.tokens());
    let (objects, alerts) = (aws.objects(), aws.alerts());
    let ports = sparkplug::engine::handlers::trigger::Ports {
        sfn: &client,
        table: &table,
        objects: &objects,
        alerts: &alerts,
    };
    handle("trigger", event, |e| {
        trigger::trigger(config, &ports, e, now)
    })
    .await
}

fn resolve_plan(
    catalog: &sparkplug::Catalog,
    vars: &sparkplug::Vars,
    request: Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let input = trigger::ResolveInput {
        request,
        execution_name: None,
        execution_arn: None,
    };
    trigger::resolve_plan(catalog, vars, input, now).map(|plan| to_json(&plan))
}

/// A startDate of an execution started by the call being answered (the adapter tells a new start from a repeated
/// one by it).
fn started_now() -> f64 {
    Utc::now().timestamp_millis() as f64 / 1000.0
}

fn epoch(h: u32, m: u32) -> f64 {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0)
        .unwrap()
        .timestamp() as f64
}

fn kind(error: &TaskError) -> ErrorKind {
    error.kind
}

/// The name of the run's own cluster, as its plan's RunJobFlow request gives it.
fn own_cluster(plan: &sparkplug::run::RunPlan) -> String {
    sparkplug::run::plan::run_cluster_name(plan.environment.as_deref(), &plan.run_name)
}

/// A DescribeCluster answer for an active cluster, tagged with its environment.
fn described(id: &str, name: &str, environment: Option<&str>) -> Value {
    let tags: Vec<Value> = environment
        .map(|env| json!({"Key": "sparkplug:environment", "Value": env}))
        .into_iter()
        .collect();
    json!({"Cluster": {"Id": id, "Name": name, "Status": {"State": "WAITING"}, "Tags": tags}})
}

fn trigger_config() -> TriggerConfig {
    let catalog = catalog();
    TriggerConfig {
        vars: vars(&catalog),
        catalog,
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev"
            .into(),
        alert_topic_arn: None,
        parked_budget: std::time::Duration::ZERO,
    }
}
