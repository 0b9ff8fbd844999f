//! Drives the ethereumjs interop peers in `tests/js/` (`dpt.mjs`, `rlpx.mjs`) from tests.
//!
//! Each peer is a `node` child process speaking JSON lines: events on stdout, commands on
//! stdin. If `node` or `tests/js/node_modules` is missing, [`JsPeer::spawn`] prints why and
//! returns `None` so the test can skip; set `KADNODE_REQUIRE_JS=1` to make that a failure.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How much of the child's stderr is kept for failure messages.
const STDERR_KEEP: usize = 16 * 1024;
/// Events held for later `wait_for`/`next_event` calls; older ones are discarded.
const BACKLOG_KEEP: usize = 10_000;

/// Why talking to a JS peer failed.
#[derive(Debug, thiserror::Error)]
pub enum JsError {
    /// No event (or no matching event) arrived in time.
    #[error(
        "{script}: no {what} within {timeout:?}; skipped events: {skipped}; stderr:\n{stderr}"
    )]
    Timeout {
        /// The script name.
        script: String,
        /// What was awaited.
        what: String,
        /// The wait.
        timeout: Duration,
        /// Events seen meanwhile that did not match (abridged).
        skipped: String,
        /// The child's stderr so far.
        stderr: String,
    },
    /// The process closed its stdout (it exited or crashed).
    #[error("{script}: process ended; stderr:\n{stderr}")]
    Exited {
        /// The script name.
        script: String,
        /// The child's stderr.
        stderr: String,
    },
    /// Writing a command failed.
    #[error("{script}: cannot send command: {source}")]
    Io {
        /// The script name.
        script: String,
        /// The I/O failure.
        source: std::io::Error,
    },
}

/// A running JS peer.
#[derive(Debug)]
pub struct JsPeer {
    script: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
    stderr: Arc<Mutex<String>>,
}

/// The `tests/js` directory of the workspace (these helpers are shared by the root package's
/// tests and the CLI crate's).
pub fn js_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("tests").join("js"))
        .find(|dir| dir.join("package.json").exists())
        .unwrap_or_else(|| manifest.join("tests").join("js"))
}

fn skip(reason: &str) -> Option<JsPeer> {
    let message = format!("skipping: {reason}; run `npm ci` in tests/js (needs node 20)");
    if std::env::var_os("KADNODE_REQUIRE_JS").is_some_and(|v| v != "0") {
        panic!("KADNODE_REQUIRE_JS is set but the JS peer is unavailable: {message}");
    }
    eprintln!("{message}");
    None
}

fn node_available() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl JsPeer {
    /// Starts `node tests/js/<script> <args…>`; `None` (with a message) if node or the
    /// installed packages are missing. Must be called inside a tokio runtime.
    pub fn spawn(script: &str, args: &[&str]) -> Option<JsPeer> {
        let dir = js_dir();
        if !dir
            .join("node_modules")
            .join("@ethereumjs")
            .join("devp2p")
            .is_dir()
        {
            return skip(&format!(
                "{} is missing",
                dir.join("node_modules").display()
            ));
        }
        if !node_available() {
            return skip("`node` is not on PATH");
        }
        let mut child = match Command::new("node")
            .arg(dir.join(script))
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(err) => panic!("cannot start node {script}: {err}"),
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr_pipe = child.stderr.take();
        let (tx, events) = mpsc::unbounded_channel();
        if let Some(stdout) = stdout {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let event = serde_json::from_str(&line)
                        .unwrap_or_else(|_| serde_json::json!({ "event": "stdout", "line": line }));
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = stderr_pipe {
            let stderr = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    let mut kept = stderr.lock().unwrap_or_else(|e| e.into_inner());
                    kept.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    if kept.len() > STDERR_KEEP {
                        let mut cut = kept.len() - STDERR_KEEP;
                        while !kept.is_char_boundary(cut) {
                            cut += 1;
                        }
                        kept.drain(..cut);
                    }
                }
            });
        }
        Some(JsPeer {
            script: script.to_owned(),
            child,
            stdin,
            events,
            backlog: VecDeque::new(),
            stderr,
        })
    }

    /// The child's stderr so far (the last 16 KiB).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The next event (oldest unconsumed first).
    pub async fn next_event(&mut self, timeout: Duration) -> Result<Value, JsError> {
        if let Some(event) = self.backlog.pop_front() {
            return Ok(event);
        }
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(self.exited().await),
            Err(_) => Err(self.timeout_error("event", timeout, &[])),
        }
    }

    /// The first unconsumed event matching `pred`; events that do not match stay queued
    /// for later calls.
    pub async fn wait_for(
        &mut self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, JsError> {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            if let Some(event) = self.backlog.remove(pos) {
                return Ok(event);
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let first_new = self.backlog.len();
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if pred(&event) => return Ok(event),
                Ok(Some(event)) => {
                    if self.backlog.len() >= BACKLOG_KEEP {
                        self.backlog.pop_front();
                    }
                    self.backlog.push_back(event);
                }
                Ok(None) => return Err(self.exited().await),
                Err(_) => {
                    let skipped: Vec<Value> =
                        self.backlog.iter().skip(first_new).cloned().collect();
                    return Err(self.timeout_error("matching event", timeout, &skipped));
                }
            }
        }
    }

    /// The first unconsumed event named `name` (its `"event"` field).
    pub async fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Value, JsError> {
        self.wait_for(|e| e["event"] == name, timeout)
            .await
            .map_err(|err| match err {
                JsError::Timeout {
                    script,
                    timeout,
                    skipped,
                    stderr,
                    ..
                } => JsError::Timeout {
                    script,
                    what: format!("`{name}` event"),
                    timeout,
                    skipped,
                    stderr,
                },
                other => other,
            })
    }

    /// Sends one command, e.g. `json!({"cmd": "bootstrap", "address": "127.0.0.1", "udpPort": 30303})`.
    pub async fn send(&mut self, cmd: Value) -> Result<(), JsError> {
        let io_err = |script: &str, source| JsError::Io {
            script: script.to_owned(),
            source,
        };
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(io_err(
                &self.script,
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdin already closed"),
            ));
        };
        let mut line = cmd.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| io_err(&self.script, e))?;
        stdin.flush().await.map_err(|e| io_err(&self.script, e))
    }

    /// Asks the peer to exit and waits (up to 5 s) for it; kills it otherwise.
    pub async fn exit(mut self) {
        let _ = self.send(serde_json::json!({ "cmd": "exit" })).await;
        self.stdin = None;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    async fn exited(&mut self) -> JsError {
        // Give the stderr reader a moment to collect the crash report.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        JsError::Exited {
            script: self.script.clone(),
            stderr: self.stderr(),
        }
    }

    fn timeout_error(&self, what: &str, timeout: Duration, skipped: &[Value]) -> JsError {
        let mut listed: Vec<String> = skipped.iter().take(20).map(Value::to_string).collect();
        if skipped.len() > 20 {
            listed.push(format!("… {} more", skipped.len() - 20));
        }
        JsError::Timeout {
            script: self.script.clone(),
            what: what.to_owned(),
            timeout,
            skipped: format!("[{}]", listed.join(", ")),
            stderr: self.stderr(),
        }
    }
}

/// A `listening` event's port and node id (128 hex characters).
pub fn listening(event: &Value) -> (u16, String) {
    let port = event["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("listening event without a port: {event}"));
    let id = event["id"]
        .as_str()
        .unwrap_or_else(|| panic!("listening event without an id: {event}"))
        .to_owned();
    (port, id)
}
