//! The local stack (`dev/local up`, see `local/stack.py`): its state file and its control API, for the CLI's
//! `--local` mode, the demo and the end-to-end tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// Where `dev/local up` writes its state by default, relative to the repository.
pub const DEFAULT_STATE_FILE: &str = ".local/state.json";

/// What a running local stack tells its clients.
#[derive(Debug, Clone, Deserialize)]
pub struct LocalStack {
    /// The AWS endpoint (moto).
    pub endpoint: String,
    /// The emulator's control API.
    pub control: String,
    /// `cargo lambda watch`'s Invoke API.
    pub lambda_endpoint: String,
    pub region: String,
    pub state_machine_arn: String,
    pub data_bucket: String,
    pub trigger_function: String,
    /// Every environment's stack (dev's included) when the stack runs several side by side, as in one account.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentStack>,
}

/// One environment's stack inside the local stack.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentStack {
    pub state_machine_arn: String,
    pub data_bucket: String,
    pub trigger_function: String,
    /// `cargo lambda watch`'s Invoke API for this environment's functions.
    pub lambda_endpoint: String,
    /// The SQS queue URL of the functions' failed asynchronous invocations.
    #[serde(default)]
    pub failed_events_queue: Option<String>,
}

/// The SDK configuration that points every client at the local stack.
pub async fn sdk_config(stack: &LocalStack) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&stack.endpoint)
        .region(aws_config::Region::new(stack.region.clone()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "local",
            "local",
            None,
            None,
            "sparkplug-local",
        ))
        .load()
        .await
}

impl LocalStack {
    pub fn read(path: &Path) -> Result<LocalStack, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "no local stack at {} ({e}): start one with `dev/local up`",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// POSTs JSON to the control API.
    pub fn control(&self, path: &str, body: &Value) -> Result<Value, String> {
        http_json(&format!("{}{path}", self.control), Some(body))
    }

    /// GETs JSON from the control API.
    pub fn control_get(&self, path: &str) -> Result<Value, String> {
        http_json(&format!("{}{path}", self.control), None)
    }

    /// Invokes a function through `cargo lambda watch`; `Err` carries a function error's JSON.
    pub fn invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        invoke_at(&self.lambda_endpoint, function, payload)
    }

    /// The events the emulator's rules delivered to `function` whose JSON contains `text`, with its answers.
    pub fn events(&self, function: &str, text: &str) -> Result<Vec<Value>, String> {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let path = format!(
            "/events?function={}&text={}",
            utf8_percent_encode(function, NON_ALPHANUMERIC),
            utf8_percent_encode(text, NON_ALPHANUMERIC)
        );
        match self.control_get(&path)? {
            Value::Array(events) => Ok(events),
            other => Err(format!("GET /events answered {other}")),
        }
    }
}

impl EnvironmentStack {
    /// Invokes one of this environment's functions; `Err` carries a function error's JSON.
    pub fn invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        invoke_at(&self.lambda_endpoint, function, payload)
    }
}

fn invoke_at(lambda_endpoint: &str, function: &str, payload: &Value) -> Result<Value, Value> {
    let url = format!("{lambda_endpoint}/2015-03-31/functions/{function}/invocations");
    match http(&url, Some(payload)) {
        Ok((200, body)) => Ok(serde_json::from_str(&body).unwrap_or(Value::String(body))),
        Ok((_, body)) => Err(serde_json::from_str(&body).unwrap_or(Value::String(body))),
        Err(e) => Err(Value::String(e)),
    }
}

/// A local stack this process started; stopped when dropped (and by the stack itself when this process is gone).
pub struct StartedStack {
    pub stack: LocalStack,
    pub state_file: PathBuf,
    child: Child,
}

impl StartedStack {
    /// Runs `dev/local up` from `repo` with the stacks of `environments` (dev first; more than one deploys them side
    /// by side in one emulator, as in one account) and waits until it is ready. Output goes to `log`.
    pub fn start(
        repo: &Path,
        environments: &[&str],
        state_file: &Path,
        log: &Path,
        timeout: Duration,
    ) -> Result<StartedStack, String> {
        let _ = std::fs::remove_file(state_file);
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let output = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let errors = output.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("bash")
            .arg(repo.join("dev/local"))
            .arg("up")
            .arg("--state-file")
            .arg(state_file)
            .arg("--exit-with-parent")
            .arg(std::process::id().to_string())
            .arg("--environments")
            .arg(environments.join(","))
            .current_dir(repo)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .map_err(|e| format!("cannot run dev/local: {e}"))?;
        let mut started = StartedStack {
            stack: LocalStack {
                endpoint: String::new(),
                control: String::new(),
                lambda_endpoint: String::new(),
                region: String::new(),
                state_machine_arn: String::new(),
                data_bucket: String::new(),
                trigger_function: String::new(),
                environments: BTreeMap::new(),
            },
            state_file: state_file.to_path_buf(),
            child,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(stack) = LocalStack::read(state_file) {
                started.stack = stack;
                return Ok(started);
            }
            if let Ok(Some(status)) = started.child.try_wait() {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(20).collect();
                return Err(format!(
                    "dev/local up exited ({status}):\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the local stack was not ready within {} s (log: {})",
                    timeout.as_secs(),
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for StartedStack {
    fn drop(&mut self) {
        // SIGTERM lets the stack stop its functions; `kill` is the fallback.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

fn http_json(url: &str, body: Option<&Value>) -> Result<Value, String> {
    let (status, text) = http(url, body)?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON ({e}): {text}"))?;
    if status >= 300 {
        return Err(format!("{url}: HTTP {status}: {value}"));
    }
    Ok(value)
}

/// One request to a loopback service of the local stack (a POST of `body` as JSON, or a GET without one): the status
/// and the body, whatever the status.
fn http(url: &str, body: Option<&Value>) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // A function invocation waits for the function: a run's task may take minutes on a slow machine.
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .into();
    let response = match body {
        None => agent.get(url).call(),
        Some(body) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body.to_string()),
    };
    let mut response = response.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((status, text))
}
