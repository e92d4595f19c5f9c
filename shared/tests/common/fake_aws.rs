//! A request/response-level AWS mock: real SDK clients over an HTTP client that records every request's JSON body
//! and answers from a script, by API action (`X-Amz-Target`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

#[derive(Debug, Default)]
struct Script {
    answers: HashMap<String, VecDeque<(u16, Value)>>,
    requests: Vec<(String, Value)>,
}

/// The SDK's HTTP connector, answering from the script. (Written here rather than taken from the SDK's `test-util`
/// feature: that feature changes aws-smithy-http-client, which every SDK crate depends on, so a test build would
/// compile every SDK crate a second time beside the functions' build.)
#[derive(Debug)]
struct ScriptedConnector(Arc<Mutex<Script>>);

impl HttpConnector for ScriptedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let action = match target.rsplit('.').next() {
            Some(action) if !action.is_empty() => action.to_string(),
            _ => rest_action(request.method(), path_of(request.uri())),
        };
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let mut script = self.0.lock().unwrap();
        script.requests.push((action.clone(), body));
        let answer = match script.answers.get_mut(&action) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        };
        let (status, body) = answer.unwrap_or((
            400,
            json!({"__type": "UnexpectedCall", "message": format!("the test did not expect {action}")}),
        ));
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// The path of a request's URI (`https://host/a/b?q` → `/a/b`).
fn path_of(uri: &str) -> &str {
    let after_host = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    after_host.split('?').next().unwrap_or(after_host)
}

/// One fake AWS for all three services.
#[derive(Clone, Default)]
pub struct FakeAws {
    script: Arc<Mutex<Script>>,
    sdk_retries: bool,
}

impl FakeAws {
    pub fn new() -> Self {
        Self::default()
    }

    /// Clients with the SDK's standard retries (3 attempts, millisecond backoff), as a function has them; by default
    /// the clients do not retry, so that every answer is seen once.
    pub fn with_sdk_retries() -> Self {
        FakeAws {
            sdk_retries: true,
            ..Self::default()
        }
    }

    /// Queues an answer for `action` (e.g. `RunJobFlow`); the last answer queued repeats.
    pub fn answer(&self, action: &str, status: u16, body: Value) -> &Self {
        self.script
            .lock()
            .unwrap()
            .answers
            .entry(action.to_string())
            .or_default()
            .push_back((status, body));
        self
    }

    pub fn ok(&self, action: &str, body: Value) -> &Self {
        self.answer(action, 200, body)
    }

    /// An AWS JSON-protocol error answer.
    pub fn error(&self, action: &str, status: u16, code: &str, message: &str) -> &Self {
        self.answer(action, status, json!({"__type": code, "message": message}))
    }

    /// The bodies of the requests made for `action`, in order.
    pub fn requests(&self, action: &str) -> Vec<Value> {
        self.script
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Every action called, in order.
    pub fn actions(&self) -> Vec<String> {
        self.script
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn http_client(&self) -> SharedHttpClient {
        let connector = SharedHttpConnector::new(ScriptedConnector(self.script.clone()));
        http_client_fn(move |_, _| connector.clone())
    }

    fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test"),
                ),
            )
            .http_client(self.http_client())
            .retry_config(if self.sdk_retries {
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            } else {
                aws_config::retry::RetryConfig::disabled()
            })
            .build()
    }

    pub fn emr(&self) -> sparkplug::aws::emr::Emr {
        sparkplug::aws::emr::Emr::new(&self.sdk_config())
    }

    pub fn glue(&self) -> sparkplug::aws::glue::Glue {
        sparkplug::aws::glue::Glue::new(&self.sdk_config())
    }

    pub fn serverless(&self) -> sparkplug::aws::serverless::Serverless {
        sparkplug::aws::serverless::Serverless::new(&self.sdk_config())
    }

    pub fn sfn(&self) -> sparkplug::aws::sfn::Sfn {
        sparkplug::aws::sfn::Sfn::new(&self.sdk_config())
    }
}

impl FakeAws {
    /// The failed-events queue (SQS speaks JSON with an `X-Amz-Target` too).
    #[cfg(feature = "operator")]
    pub fn failed_events(&self) -> sparkplug::aws::operator::FailedEventsQueue {
        sparkplug::aws::operator::FailedEventsQueue::new(
            &self.sdk_config(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/sparkplug-dev-failed-events",
        )
    }

    /// S3 as the trigger uses it (input sets' backstop, batches' manifests).
    pub fn objects(&self) -> sparkplug::aws::objects::Objects {
        sparkplug::aws::objects::Objects::new(&self.sdk_config())
    }

    /// SNS and EventBridge as the alerts use them.
    pub fn alerts(&self) -> sparkplug::aws::alerts::Alerts {
        sparkplug::aws::alerts::Alerts::new(&self.sdk_config())
    }

    pub fn tokens(&self) -> sparkplug::aws::run_table::RunTable {
        sparkplug::aws::run_table::RunTable::new(&self.sdk_config(), "sparkplug-dev-tokens")
    }
}

/// A token table item (GetItem's `Item`, a Scan's `Items` entry) for a waiter of `run` on `work`.
pub fn waiter_item(run: &str, work: Value, token: &str, registered: i64) -> Value {
    // The key the code gives this work (`engine::table_keys`).
    let key = serde_json::from_value::<sparkplug::engine::ports::Work>(work.clone())
        .unwrap()
        .key();
    json!({
        "key": {"S": key},
        "token": {"S": token},
        "run_name": {"S": run},
        "job": {"S": "sales_daily"},
        "work": {"S": work.to_string()},
        "registered": {"N": registered.to_string()},
        "expires": {"N": (registered + 86_400).to_string()},
    })
}

/// An EventBridge state-change event as AWS sends it.
pub fn state_change(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({"version": "0", "id": "e-1", "detail-type": detail_type, "source": source, "account": "123456789012",
        "time": "2026-11-27T06:30:00Z", "region": "eu-west-1", "resources": [], "detail": detail})
}

/// A REST-JSON request's action (EMR Serverless: no `X-Amz-Target`, the method and path say it).
fn rest_action(method: &str, path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let action = match (method, parts.as_slice()) {
        ("GET", ["applications"]) => "ListApplications",
        ("POST", ["applications"]) => "CreateApplication",
        ("GET", ["applications", _]) => "GetApplication",
        ("PATCH", ["applications", _]) => "UpdateApplication",
        ("GET", ["applications", _, "jobruns"]) => "ListJobRuns",
        ("POST", ["applications", _, "jobruns"]) => "StartJobRun",
        ("GET", ["applications", _, "jobruns", _]) => "GetJobRun",
        ("DELETE", ["applications", _, "jobruns", _]) => "CancelJobRun",
        _ => "Unknown",
    };
    action.to_string()
}
