//! Traces: an invocation's span carries its run, continues the X-Ray trace Lambda hands it, follows X-Ray's sampling
//! decision, and has an X-Ray trace id of its own when it starts one.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::{json, Value};
use sparkplug::aws::telemetry::{invocation_span, layer_over, run_of};
use tracing_subscriber::prelude::*;

/// The spans exported while `invoke` runs under a subscriber with the tracing layer over an in-memory exporter.
fn exported(invoke: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let subscriber = tracing_subscriber::registry()
        .with(layer_over(exporter.clone(), "sparkplug-dev-queue".into()));
    // Read before the subscriber goes: the provider's shutdown then empties the exporter.
    tracing::subscriber::with_default(subscriber, || {
        invoke();
        exporter.get_finished_spans().unwrap()
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn task_payload() -> Value {
    json!({"plan": {"job": "sales_daily", "run_name": "sales_daily-2026-12-08"}, "task_token": "t"})
}

#[test]
fn an_invocation_is_one_span_in_the_runs_x_ray_trace_with_its_run() {
    // Lambda's Lambda-Runtime-Trace-Id for a task of a traced execution (X-Ray Developer Guide, "Tracing header").
    let header = "Root=1-675562a0-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let spans = exported(|| {
        let span = invocation_span("sparkplug-dev-queue", Some(header), &task_payload());
        let _inside = span.enter();
        tracing::info!("a log line inside the invocation");
    });
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    assert_eq!(span.name, "sparkplug-dev-queue");
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("675562a0bd862e3fe1be46a994272793").unwrap()
    );
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex("53995c3f42cd8ad8").unwrap()
    );
    assert_eq!(
        attribute(span, "run").as_deref(),
        Some("sales_daily-2026-12-08")
    );
    assert_eq!(attribute(span, "job").as_deref(), Some("sales_daily"));
    assert_eq!(
        attribute(span, "faas.name").as_deref(),
        Some("sparkplug-dev-queue")
    );
}

#[test]
fn a_trace_x_ray_does_not_sample_exports_nothing() {
    let header = "Root=1-675562a0-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    let spans = exported(|| {
        let span = invocation_span("sparkplug-dev-queue", Some(header), &task_payload());
        let _inside = span.enter();
    });
    assert!(spans.is_empty(), "{spans:?}");
}

#[test]
fn an_invocation_without_a_trace_header_starts_an_x_ray_trace() {
    let before = chrono::Utc::now().timestamp();
    let spans = exported(|| {
        let span = invocation_span("sparkplug-dev-trigger", None, &json!({"tick": true}));
        let _inside = span.enter();
    });
    let after = chrono::Utc::now().timestamp();
    assert_eq!(spans.len(), 1);
    // An X-Ray trace id starts with the epoch second it began (X-Ray Developer Guide, "Tracing header").
    let id = spans[0].span_context.trace_id().to_string();
    let seconds = i64::from_str_radix(&id[..8], 16).unwrap();
    assert!((before..=after).contains(&seconds), "{id}");
    assert_eq!(attribute(&spans[0], "run"), None);
}

#[test]
fn the_run_of_each_payload_shape() {
    let of = |payload: Value| {
        let (run, job) = run_of(&payload);
        (run.unwrap_or_default(), job.unwrap_or_default())
    };
    let pair = |run: &str, job: &str| (run.to_string(), job.to_string());
    let status_change = json!({"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
        "detail": {"name": "hello_world-1", "status": "FAILED", "input": "{\"job\": \"hello_world\"}"}});
    let cluster_change =
        json!({"source": "aws.emr", "detail": {"name": "sparkplug-dev-hello_world-1"}});
    // The state machine's Resolve task: the console's input as `request`, the execution's name beside it.
    let resolve = json!({"request": {"job": "hello_world"}, "execution_name": "hello_world-4",
        "execution_arn": "arn:aws:states:eu-west-1:123456789012:execution:sparkplug-run-dev:hello_world-4"});
    assert_eq!(
        of(task_payload()),
        pair("sales_daily-2026-12-08", "sales_daily")
    );
    assert_eq!(of(status_change), pair("hello_world-1", "hello_world"));
    assert_eq!(of(cluster_change), pair("", ""));
    assert_eq!(
        of(json!({"job": "hello_world", "run_name": "hello_world-2"})),
        pair("hello_world-2", "hello_world")
    );
    assert_eq!(of(resolve), pair("hello_world-4", "hello_world"));
    assert_eq!(of(json!("not an object")), pair("", ""));
    assert_eq!(of(json!({"plan": 7})), pair("", ""));
}

#[test]
fn traces_are_exported_only_when_the_deployment_asks_and_names_a_daemon() {
    use sparkplug::aws::telemetry::{xray_layer, DAEMON_ADDRESS, SWITCH};
    use tracing_subscriber::Registry;
    // The only test here that reads the environment.
    let layer = || xray_layer::<Registry>().is_some();
    std::env::remove_var(SWITCH);
    std::env::set_var(DAEMON_ADDRESS, "127.0.0.1:2000");
    assert!(!layer(), "no switch: no traces");
    std::env::set_var(SWITCH, "off");
    assert!(!layer(), "off");
    std::env::set_var(SWITCH, "on");
    assert!(layer(), "on, with Lambda's daemon");
    std::env::set_var(DAEMON_ADDRESS, "not an address");
    assert!(!layer(), "on, but no daemon address to send to");
    std::env::remove_var(DAEMON_ADDRESS);
    assert!(!layer(), "on, but active tracing is not (no daemon)");
}

#[test]
fn each_aws_call_of_an_invocation_is_a_span_under_it_and_nothing_else_is() {
    let spans = exported(|| {
        let span = invocation_span("sparkplug-dev-emr-create-cluster", None, &task_payload());
        let _inside = span.enter();
        // As the SDK names an operation's span (aws-sdk-*/src/operation/*.rs), with its inner attempt beneath.
        let call = tracing::debug_span!(
            "EMR.RunJobFlow",
            "rpc.service" = "EMR",
            "rpc.method" = "RunJobFlow",
            "rpc.system" = "aws-api"
        );
        let _call = call.enter();
        let attempt = tracing::debug_span!("try_attempt", "attempt" = 1);
        let _attempt = attempt.enter();
        tracing::info!("a log line");
    });
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        ["EMR.RunJobFlow", "sparkplug-dev-emr-create-cluster"]
    );
    assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
    assert_eq!(
        attribute(&spans[0], "rpc.system").as_deref(),
        Some("aws-api")
    );
}
