//! `sluice-load`: pushes log files at a running `sluice serve` over keep-alive HTTP
//! connections and reports durable ingest throughput (bytes acknowledged per second), or
//! holds many idle keep-alive connections open and uses each of them (the peak-traffic
//! drill). Loopback only: it refuses any address that is not 127.0.0.0/8 or ::1.
//!
//! ```text
//! sluice-load throughput --addr 127.0.0.1:7080 --connections 4 --batch-kb 1024 \
//!     /tmp/shop/nginx/access.log=/api/v1/ingest?source=nginx&format=nginx ...
//! sluice-load connections --addr 127.0.0.1:7080 --count 10000
//! sluice-load append --rate 50000 --seconds 20 INPUT.log OUTPUT.log
//! ```
//! `append` is the application side of a tailing test: it copies INPUT's lines to the end
//! of OUTPUT at a steady rate (looping over INPUT), flushing every few milliseconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(stream), host: addr.to_string() })
    }

    /// One POST on the kept-alive connection; the status and the `Retry-After` seconds.
    async fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, Option<u64>)> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (mut length, mut retry_after) = (0usize, None);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("retry-after") {
                retry_after = value.trim().parse().ok();
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, retry_after))
    }
}

/// Line-aligned batches of about `batch` bytes from each `file=path` target.
fn batches(targets: &[(String, String)], batch: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (file, path) in targets {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
        let mut start = 0;
        while start < data.len() {
            let mut end = (start + batch).min(data.len());
            if end < data.len() {
                end = memchr_newline(&data[end..]).map_or(data.len(), |i| end + i + 1);
            }
            out.push((path.clone(), data[start..end].to_vec()));
            start = end;
        }
    }
    // Interleave the files, as several shippers would.
    out.sort_by_key(|(_, b)| b.len() % 7);
    out
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

async fn throughput(addr: SocketAddr, connections: usize, batch: usize, targets: Vec<(String, String)>) {
    let work = batches(&targets, batch);
    let total_bytes: usize = work.iter().map(|(_, b)| b.len()).sum();
    let queue = Arc::new(Mutex::new(work.into_iter()));
    let (throttled, acked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (queue, throttled, acked, latencies) = (queue.clone(), throttled.clone(), acked.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await.expect("connect");
            loop {
                let Some((path, body)) = queue.lock().await.next() else { return };
                loop {
                    let sent = Instant::now();
                    let (status, retry_after) = conn.post(&path, &body).await.expect("post");
                    match status {
                        200 | 201 | 204 => {
                            latencies.lock().unwrap().push(sent.elapsed());
                            acked.fetch_add(body.len() as u64, Ordering::Relaxed);
                            break;
                        }
                        429 => {
                            throttled.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(retry_after.unwrap_or(1) * 100)).await;
                        }
                        other => panic!("{path}: HTTP {other}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let secs = started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    println!(
        "sent {:.1} MiB in {secs:.2} s: {:.1} MiB/s acknowledged (durable), {} requests, {} answered 429; \
         latency p50 {:?} p99 {:?}",
        total_bytes as f64 / 1048576.0,
        acked.load(Ordering::Relaxed) as f64 / 1048576.0 / secs,
        latencies.len(),
        throttled.load(Ordering::Relaxed),
        pct(0.5).copied().unwrap_or_default(),
        pct(0.99).copied().unwrap_or_default(),
    );
}

async fn connections(addr: SocketAddr, count: usize) {
    let started = Instant::now();
    let mut open = Vec::with_capacity(count);
    let mut failed = 0;
    // Open in waves so the listen backlog is not the thing measured.
    for wave in (0..count).collect::<Vec<_>>().chunks(500) {
        let opened = join_all(wave.iter().map(|_| Conn::open(addr))).await;
        for conn in opened {
            match conn {
                Ok(c) => open.push(c),
                Err(_) => failed += 1,
            }
        }
    }
    let opened_in = started.elapsed();
    let path = "/api/v1/ingest?source=drill&format=plain";
    let mut errors = 0;
    for round in 0..2 {
        let round_started = Instant::now();
        let results = join_all(open.iter_mut().enumerate().map(|(i, conn)| async move {
            let body = format!("drill round {round} connection {i}\n");
            conn.post(path, body.as_bytes()).await
        }))
        .await;
        let ok = results.iter().filter(|r| matches!(r, Ok((200, _)))).count();
        errors += results.len() - ok;
        let mut kinds = std::collections::BTreeMap::new();
        for result in &results {
            let kind = match result {
                Ok((200, _)) => continue,
                Ok((status, _)) => format!("HTTP {status}"),
                Err(e) => e.kind().to_string(),
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        if !kinds.is_empty() {
            println!("round {round} failures: {kinds:?}");
        }
        println!(
            "round {round}: {ok} of {} kept-alive connections answered 200 in {:.2?}",
            results.len(),
            round_started.elapsed()
        );
    }
    println!(
        "{count} connections: {} opened in {opened_in:.2?}, {failed} failed to open, {errors} request errors",
        open.len()
    );
}

/// Appends INPUT's lines to OUTPUT at `rate` lines per second for `seconds`.
fn append(rate: u64, seconds: u64, input: &str, output: &str) {
    use std::io::Write;
    let data = std::fs::read(input).unwrap_or_else(|e| panic!("cannot read {input}: {e}"));
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    assert!(!lines.is_empty(), "{input} has no lines");
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(output).expect("open output");
    let started = Instant::now();
    let (mut written, mut bytes, mut next) = (0u64, 0u64, 0usize);
    let tick = Duration::from_millis(5);
    let mut buf = Vec::with_capacity(1 << 20);
    while started.elapsed() < Duration::from_secs(seconds) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while written < due {
            buf.extend_from_slice(lines[next]);
            next = (next + 1) % lines.len();
            written += 1;
        }
        out.write_all(&buf).expect("append");
        bytes += buf.len() as u64;
        buf.clear();
        std::thread::sleep(tick);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "appended {written} lines ({:.1} MiB) in {secs:.2} s: {:.0} lines/s, {:.1} MiB/s",
        bytes as f64 / 1048576.0,
        written as f64 / secs,
        bytes as f64 / 1048576.0 / secs
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: sluice-load throughput --addr A [--connections N] [--batch-kb K] FILE=PATH...\n       \
         sluice-load connections --addr A [--count N]\n       \
         sluice-load append [--rate LINES_PER_S] [--seconds S] INPUT OUTPUT"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let (mut addr, mut conns, mut batch_kb, mut count, mut targets) =
        (None, 4usize, 1024usize, 10_000usize, Vec::new());
    let (mut rate, mut seconds, mut files) = (50_000u64, 20u64, Vec::new());
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--addr" => addr = Some(value()),
            "--connections" => conns = value().parse().unwrap_or_else(|_| usage()),
            "--batch-kb" => batch_kb = value().parse().unwrap_or_else(|_| usage()),
            "--count" => count = value().parse().unwrap_or_else(|_| usage()),
            "--rate" => rate = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            target => match target.split_once('=') {
                Some((file, path)) => targets.push((file.to_owned(), path.to_owned())),
                None => files.push(target.to_owned()),
            },
        }
    }
    if mode == "append" {
        let [input, output] = files.as_slice() else { usage() };
        append(rate, seconds, input, output);
        return;
    }
    let addr: SocketAddr = addr.unwrap_or_else(|| usage()).parse().unwrap_or_else(|_| usage());
    if !addr.ip().is_loopback() {
        eprintln!("sluice-load only targets loopback addresses");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match mode.as_str() {
        "throughput" if !targets.is_empty() => runtime.block_on(throughput(addr, conns, batch_kb << 10, targets)),
        "connections" => runtime.block_on(connections(addr, count)),
        _ => usage(),
    }
}
