//! Traces, when the template's `Tracing` parameter is `on`: each invocation of a function is one OpenTelemetry span,
//! named after the function, with the run it concerns as attributes (`run`, `job`, indexed as X-Ray annotations, so
//! that `annotation.run = "<run>"` finds a run's spans), a child of the X-Ray trace Lambda hands the invocation. A
//! state machine with X-Ray tracing passes its trace header to each Lambda task (Step Functions Developer Guide, "AWS
//! X-Ray and Step Functions"), so one run is one trace, from resolve to the finish task. Spans are sent as X-Ray
//! segment documents over UDP to the X-Ray daemon that Lambda's active tracing runs beside the function
//! (`AWS_XRAY_DAEMON_ADDRESS`, Lambda Developer Guide, "Defined runtime environment variables") — no collector layer,
//! no HTTP client. Each AWS call the invocation makes is a subsegment of it. Off (the default), nothing is set up
//! and an invocation costs no span.

use std::collections::HashMap;
use std::net::SocketAddr;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_aws::trace::{XrayIdGenerator, XrayPropagator};
use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
use opentelemetry_aws::xray_exporter::{SegmentTranslator, XrayExporter};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use serde_json::Value;
use tracing::{Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The template sets it from its `Tracing` parameter (`on` or `off`) on every function.
pub const SWITCH: &str = "SPARKPLUG_TRACING";
/// Where Lambda's X-Ray daemon listens (`host:port`, UDP), set by Lambda when active tracing is on.
pub const DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// The span attributes X-Ray indexes as annotations.
const ANNOTATIONS: [&str; 2] = ["run", "job"];

/// Whether the deployment asked for traces.
pub fn wanted() -> bool {
    std::env::var(SWITCH).is_ok_and(|value| value.eq_ignore_ascii_case("on"))
}

/// The layer that exports spans to Lambda's X-Ray daemon, when traces are wanted and the daemon's address is known;
/// `None` otherwise (a bad address is said once in the log, and the function runs untraced).
pub fn xray_layer<S>() -> Option<impl Layer<S>>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    if !wanted() {
        return None;
    }
    let address = std::env::var(DAEMON_ADDRESS).ok()?;
    let client = address
        .parse::<SocketAddr>()
        .map_err(|e| e.to_string())
        .and_then(|address| XrayDaemonClient::new(address).map_err(|e| e.to_string()));
    match client {
        Ok(client) => {
            let mut translator = SegmentTranslator::new()
                .with_indexed_attrs(ANNOTATIONS.iter().map(|name| name.to_string()));
            // The function's log group beside each segment: X-Ray's trace view links to the invocation's logs.
            if let Ok(group) = std::env::var("AWS_LAMBDA_LOG_GROUP_NAME") {
                translator = translator.with_log_group_name(group);
            }
            // A server span's segment is named after the service: the function, as Lambda names its own segment.
            let service =
                std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "sparkplug".into());
            Some(layer_over(
                XrayExporter::new(client).with_translator(translator),
                service,
            ))
        }
        Err(why) => {
            eprintln!("traces off: {DAEMON_ADDRESS} `{address}` is no daemon address: {why}");
            None
        }
    }
}

/// The tracing layer over `exporter`: X-Ray's trace ids (a timestamp first), a span sampled as its parent is (the
/// invocation's trace header says whether X-Ray samples the trace), each span exported as it ends — an invocation's
/// spans go out before Lambda freezes the function. `service` names the spans' service (`service.name`). Only the
/// spans of [`exported`] reach it, whatever the log level.
pub fn layer_over<S, E>(exporter: E, service: String) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    E: SpanExporter + 'static,
{
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_id_generator(XrayIdGenerator::default())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_simple_exporter(exporter)
        .build();
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("sparkplug"))
        .with_filter(filter_fn(exported))
}

/// The spans a trace holds: the invocation's, and each AWS SDK operation's under it (the SDK names its operation
/// span `<Service>.<Operation>` with `rpc.system = "aws-api"`, which X-Ray's exporter turns into a subsegment named
/// after the service) — not the SDK's inner spans (attempts, serialization), nor log lines.
pub fn exported(meta: &Metadata<'_>) -> bool {
    meta.is_span() && (meta.name() == INVOCATION || meta.fields().field("rpc.system").is_some())
}

/// The name of an invocation's span.
const INVOCATION: &str = "invocation";

/// The span of one invocation of `function`: the run and job its payload concerns as attributes, the X-Ray trace of
/// `trace_header` (Lambda's `Lambda-Runtime-Trace-Id`, `Root=…;Parent=…;Sampled=…`) as its parent.
pub fn invocation_span(
    function: &str,
    trace_header: Option<&str>,
    payload: &Value,
) -> tracing::Span {
    let span = tracing::info_span!(
        INVOCATION,
        otel.name = %function,
        otel.kind = "server",
        faas.name = %function,
        run = tracing::field::Empty,
        job = tracing::field::Empty,
    );
    let (run, job) = run_of(payload);
    if let Some(run) = run {
        span.record("run", run.as_str());
    }
    if let Some(job) = job {
        span.record("job", job.as_str());
    }
    if let Some(header) = trace_header {
        let carrier = HashMap::from([("x-amzn-trace-id".to_string(), header.to_string())]);
        // Without the X-Ray layer (no daemon to send to) there is no trace to join: the span only scopes the log.
        let _ = span.set_parent(XrayPropagator::default().extract(&carrier));
    }
    span
}

/// The run and job an invocation's payload concerns: a task's plan (`plan`, or the plan itself), the resolve task's
/// request (`execution_name`, `request.job`), a named run's request (`{"job": …, "run_name": …}`), or an execution's
/// status change (its `detail.name`, and the job its input names).
pub fn run_of(payload: &Value) -> (Option<String>, Option<String>) {
    fn text(value: &Value, name: &str) -> Option<String> {
        value.get(name).and_then(Value::as_str).map(str::to_string)
    }
    let plan = payload.get("plan").unwrap_or(payload);
    let change = (text(payload, "source").as_deref() == Some("aws.states"))
        .then(|| payload.get("detail"))
        .flatten();
    let change_input = change
        .and_then(|detail| detail.get("input"))
        .and_then(Value::as_str)
        .and_then(|input| serde_json::from_str::<Value>(input).ok());
    let run = text(plan, "run_name")
        .or_else(|| text(payload, "execution_name"))
        .or_else(|| change.and_then(|detail| text(detail, "name")));
    let job = text(plan, "job")
        .or_else(|| payload.get("request").and_then(|r| text(r, "job")))
        .or_else(|| change_input.and_then(|input| text(&input, "job")));
    (run, job)
}
