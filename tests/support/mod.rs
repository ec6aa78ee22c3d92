//! Helpers for end-to-end tests: run the real `sluice` binary, talk HTTP to it over a
//! real socket, and find outside tools (Python with pyarrow) the way CI installs them.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn sluice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env("SLUICE_LOG", "info");
    cmd
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("run sluice");
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}:\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A running `sluice serve`, stopped with SIGTERM on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `serve --listen 127.0.0.1:0` in `cwd` and waits for the address it bound.
    pub fn start(cwd: &Path, args: &[&str]) -> Server {
        let mut child = sluice()
            .current_dir(cwd)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sluice serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("address=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = log_writer.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("sluice serve did not start:\n{}", log.lock().unwrap())
        });
        Server { child, addr, log }
    }

    pub fn get(&self, path_and_query: &str) -> (u16, String) {
        http(&self.addr, "GET", path_and_query, b"")
    }

    pub fn post(&self, path_and_query: &str, body: &[u8]) -> (u16, String) {
        http(&self.addr, "POST", path_and_query, body)
    }

    pub fn search(&self, query: &str, extra: &str) -> serde_json::Value {
        let (status, body) = self.get(&format!("/api/v1/search?q={}{extra}", encode(query)));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("search JSON")
    }

    /// SIGTERM, then wait; returns the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let status = self.terminate();
        std::mem::forget(self);
        status
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sluice serve did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Polls `check` until it returns Some, for at most `limit` (generous: a correctness
/// wait, not a speed assertion; latency is measured in benches/).
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A minimal HTTP/1.1 client over a real socket (Connection: close).
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    try_http(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// [`http`], returning the socket error instead of panicking (a server being killed).
pub fn try_http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // axum answers small bodies with Content-Length, larger ones chunked.
    let body =
        if text.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The Python that has pyarrow: `$SLUICE_PYTHON` (set by .ci/run) or `python3`.
/// Under CI=true a missing pyarrow fails the test instead of skipping it.
pub fn python_with(module: &str) -> Option<String> {
    let python = std::env::var("SLUICE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python).args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let hint = format!("{python} cannot import {module}; run .ci/run or `pip install {module}` and set SLUICE_PYTHON");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must not skip: {hint}");
    eprintln!("SKIPPED part of this test: {hint}");
    None
}

/// A generated shop day (2026-11-20, UTC) in every format, `events` per file, with the
/// default incidents (slow-SQL storm at 10:00, payment error burst at 14:00).
pub fn generate_day(dir: &Path, events: u64) -> Vec<PathBuf> {
    generate_day_seeded(dir, events, 42)
}

/// [`generate_day`] with other random content for another `seed`.
pub fn generate_day_seeded(dir: &Path, events: u64, seed: u64) -> Vec<PathBuf> {
    use sluice_benches::{Budget, Incidents, OUTPUTS, write_one};
    let start = "2026-11-20T00:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    OUTPUTS
        .iter()
        .enumerate()
        .map(|(i, (format, file, _))| {
            let path = dir.join(format).join(file);
            write_one(format, &path, Budget::Events(events), seed + i as u64, start, Incidents::default()).unwrap();
            path
        })
        .collect()
}
