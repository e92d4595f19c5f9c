//! The local stack (`dev/local up`, see `local/stack.py`): its state file and its control API, for the CLI's
//! `--local` mode, the demo and the end-to-end tests.

use std::io::{Read, Write};
use std::net::TcpStream;
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
        http_json("POST", &format!("{}{path}", self.control), Some(body))
    }

    /// GETs JSON from the control API.
    pub fn control_get(&self, path: &str) -> Result<Value, String> {
        http_json("GET", &format!("{}{path}", self.control), None)
    }

    /// Invokes a function through `cargo lambda watch`; `Err` carries a function error's JSON.
    pub fn invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.lambda_endpoint
        );
        match http("POST", &url, Some(payload)) {
            Ok((200, body)) => Ok(serde_json::from_str(&body).unwrap_or(Value::String(body))),
            Ok((_, body)) => Err(serde_json::from_str(&body).unwrap_or(Value::String(body))),
            Err(e) => Err(Value::String(e)),
        }
    }

    /// The environment that points the AWS SDK at this stack.
    pub fn sdk_environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// A local stack this process started; stopped when dropped (and by the stack itself when this process is gone).
pub struct StartedStack {
    pub stack: LocalStack,
    pub state_file: PathBuf,
    child: Child,
}

impl StartedStack {
    /// Runs `dev/local up` from `repo` and waits until it is ready. Output goes to `log`.
    pub fn start(
        repo: &Path,
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

fn http_json(method: &str, url: &str, body: Option<&Value>) -> Result<Value, String> {
    let (status, text) = http(method, url, body)?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON ({e}): {text}"))?;
    if status >= 300 {
        return Err(format!("{url}: HTTP {status}: {value}"));
    }
    Ok(value)
}

/// A minimal HTTP/1.1 client for the loopback services of the local stack.
fn http(method: &str, url: &str, body: Option<&Value>) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// is supported"))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("{url}: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let body = &response[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: no HTTP status"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let after = &rest[end + 2..];
        match size {
            Some(size) if size > 0 && after.len() >= size => {
                out.extend_from_slice(&after[..size]);
                rest = after[size..]
                    .strip_prefix(b"\r\n")
                    .unwrap_or(&after[size..]);
            }
            _ => break,
        }
    }
    out
}
