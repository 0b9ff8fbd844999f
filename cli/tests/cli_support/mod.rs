//! Helpers for the CLI tests: spawn the built binaries, wait on their output lines (never
//! sleeps), temp dirs under `std::env::temp_dir`, and children killed on drop.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Generous bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(30);

/// Path of the `bootnode` binary.
pub const BOOTNODE: &str = env!("CARGO_BIN_EXE_bootnode");
/// Path of the `kadnode` binary.
pub const KADNODE: &str = env!("CARGO_BIN_EXE_kadnode");

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("kadnode-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn str(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Stdout,
    Stderr,
}

enum Line {
    Text(Source, String),
    Eof,
}

/// A running child process whose output is read line by line.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    open_streams: usize,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proc({})", self.name)
    }
}

fn reader(stream: impl Read + Send + 'static, source: Source, tx: mpsc::Sender<Line>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(Line::Text(source, line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Line::Eof);
    });
}

impl Proc {
    /// `kadnode discv4 listen` on 127.0.0.1:0 with `bootnode` as its only bootnode, plus
    /// `extra` flags.
    pub fn listen_node(bootnode: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "discv4",
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--bootnodes",
            bootnode,
        ];
        args.extend_from_slice(extra);
        Self::spawn(KADNODE, &args)
    }

    /// Starts `bin` with `args`, a clean `RUST_LOG`, and `HOME`/`XDG_DATA_HOME` pointed at
    /// `home` when given (so no test touches the real data directory).
    pub fn spawn(bin: &str, args: &[&str]) -> Self {
        Self::spawn_env(bin, args, &[])
    }

    pub fn spawn_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_full(bin, args, env, false)
    }

    /// Like [`Proc::spawn`], with a pipe to the child's stdin for [`Proc::send_line`].
    pub fn spawn_with_stdin(bin: &str, args: &[&str]) -> Self {
        Self::spawn_full(bin, args, &[], true)
    }

    fn spawn_full(bin: &str, args: &[&str], env: &[(&str, &str)], stdin: bool) -> Self {
        let mut command = Command::new(bin);
        command
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("XDG_DATA_HOME")
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        reader(child.stdout.take().unwrap(), Source::Stdout, tx.clone());
        reader(child.stderr.take().unwrap(), Source::Stderr, tx);
        let name = format!(
            "{} {}",
            Path::new(bin).file_name().unwrap().to_string_lossy(),
            args.join(" ")
        );
        Self {
            name,
            child,
            stdin,
            lines,
            open_streams: 2,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Writes one line to the child's stdin (needs [`Proc::spawn_with_stdin`]).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("spawned without a stdin pipe");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn record(&mut self, line: Line) -> Option<(Source, String)> {
        match line {
            Line::Text(source, text) => {
                match source {
                    Source::Stdout => self.stdout.push(text.clone()),
                    Source::Stderr => self.stderr.push(text.clone()),
                }
                Some((source, text))
            }
            Line::Eof => {
                self.open_streams -= 1;
                None
            }
        }
    }

    /// Waits for a line on `source` matching `pred` (lines seen before this call count too).
    pub fn wait_line(
        &mut self,
        source: Source,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let seen = match source {
            Source::Stdout => &self.stdout,
            Source::Stderr => &self.stderr,
        };
        if let Some(line) = seen.iter().find(|l| pred(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.open_streams == 0 {
                panic!(
                    "{}: exited before the expected line\n{}",
                    self.name,
                    self.dump()
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some((from, text)) = self.record(line) {
                        if from == source && pred(&text) {
                            return text;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no matching line within {timeout:?}\n{}",
                        self.name,
                        self.dump()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => self.open_streams = 0,
            }
        }
    }

    pub fn wait_stdout(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_line(Source::Stdout, WAIT, pred)
    }

    pub fn wait_stderr(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_line(Source::Stderr, WAIT, pred)
    }

    /// Waits for the process to exit (both output streams closed, then `wait`).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.open_streams > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.record(line);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "{}: did not exit within {timeout:?}\n{}",
                        self.name,
                        self.dump()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.child.wait().unwrap()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        signal(self.pid(), "TERM");
    }

    /// Sends SIGHUP.
    pub fn sighup(&self) {
        signal(self.pid(), "HUP");
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        signal(self.pid(), "INT");
    }

    pub fn dump(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The result of a finished command.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to completion (bounded by [`WAIT`]).
pub fn run(bin: &str, args: &[&str]) -> Output {
    run_env(bin, args, &[])
}

pub fn run_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut proc = Proc::spawn_env(bin, args, env);
    let status = proc.wait_exit(WAIT);
    Output {
        code: status.code().unwrap_or(-1),
        stdout: proc.stdout.join("\n"),
        stderr: proc.stderr.join("\n"),
    }
}

/// A bootnode on loopback port 0 with its printed identity.
pub struct Bootnode {
    pub proc: Proc,
    pub enode: String,
    pub enr: String,
    pub rpc: Option<String>,
    pub metrics: Option<String>,
}

impl Bootnode {
    pub fn start(datadir: &Path, extra: &[&str]) -> Self {
        let dir = datadir.display().to_string();
        let mut args = vec!["--addr", "127.0.0.1:0", "--datadir", &dir];
        args.extend_from_slice(extra);
        let mut proc = Proc::spawn(BOOTNODE, &args);
        let enode = proc.wait_stdout(|l| l.starts_with("enode://"));
        let enr = proc.wait_stdout(|l| l.starts_with("enr:"));
        let datadir_line = proc.wait_stdout(|l| l.starts_with("datadir:"));
        assert!(datadir_line.contains(&dir), "{datadir_line}");
        let url = |p: &Proc, prefix: &str| {
            p.stdout
                .iter()
                .find_map(|l| l.strip_prefix(prefix).map(|u| u.trim().to_owned()))
        };
        let rpc = url(&proc, "rpc:");
        let metrics = url(&proc, "metrics:");
        Self {
            proc,
            enode,
            enr,
            rpc,
            metrics,
        }
    }

    /// The node id part of the enode URL (128 hex characters).
    pub fn pubkey(&self) -> String {
        pubkey_of(&self.enode)
    }
}

/// The 128-hex public key of an enode URL.
pub fn pubkey_of(enode: &str) -> String {
    enode
        .trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap()
        .to_owned()
}

/// Sends one HTTP/1.1 request and returns (status, body).
pub fn http(url: &str, method: &str, body: Option<&str>) -> (u16, String) {
    let rest = url.trim_start_matches("http://");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A JSON-RPC call; returns the parsed response object.
pub fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let request =
        serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let (status, body) = http(url, "POST", Some(&request.to_string()));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}
