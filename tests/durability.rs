//! What a shipper promises: a `kill -9` at any moment loses no acknowledged event and no
//! line of a tailed file, and stores none twice; rotation under a writer that never
//! pauses (rename-and-create, copytruncate) does the same.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{Server, eventually, try_http};

fn config(dir: &Path, sources: &str) -> PathBuf {
    let path = dir.join("sluice.toml");
    std::fs::write(&path, sources).unwrap();
    path
}

fn serve(dir: &Path, config: &Path) -> Server {
    Server::start(dir, &["--config", config.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
}

/// How many times each `{marker}-N` number occurs among the stored events of `source`.
fn occurrences(server: &Server, source: &str, marker: &str) -> BTreeMap<u64, u64> {
    let found = server.search(&format!("source:{source}"), "&aggs=false&limit=10000&from=-3650d");
    let mut seen = BTreeMap::new();
    for hit in found["hits"].as_array().unwrap() {
        let message = hit["message"].as_str().unwrap();
        let number = message
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{marker}-")))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("unexpected event {message}"));
        *seen.entry(number).or_default() += 1;
    }
    seen
}

fn wait_for_total(server: &Server, source: &str, expected: u64) -> u64 {
    let total =
        || server.search(&format!("source:{source}"), "&aggs=false&limit=1&from=-3650d")["total"].as_u64().unwrap();
    eventually(Duration::from_secs(90), || (total() >= expected).then_some(())).map_or_else(total, |()| total())
}

fn kill_9(server: Server) {
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    std::mem::forget(server);
}

/// A writer appending numbered lines to `path` until told to stop; returns how many.
fn spawn_writer(path: PathBuf, stop: Arc<AtomicBool>, limit: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let mut n = 0;
        while n < limit && !(stop.load(Ordering::Relaxed) && n > 0) {
            writeln!(file, "2026-11-20T14:00:00Z INFO tailed line tail-{n}").unwrap();
            n += 1;
            if n % 50 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        n
    })
}

#[test]
fn kill_9_mid_stream_loses_nothing_acknowledged_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = config(
        dir.path(),
        &format!("[[sources]]\nname = \"tailed\"\npath = \"{}/app.log\"\nformat = \"plain\"\n", logs.display()),
    );
    let server = serve(dir.path(), &config);
    let addr = server.addr.clone();

    let stop = Arc::new(AtomicBool::new(false));
    // Both run at a pace that keeps them busy when the kill comes (and under the 10,000
    // hits one search returns).
    let writer = spawn_writer(logs.join("app.log"), stop.clone(), 9000);
    // A producer posting numbered batches; it records which batches were acknowledged.
    let acked = Arc::new(AtomicU64::new(0));
    let producer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut batch = 0u64;
            while !stop.load(Ordering::Relaxed) && batch < 900 {
                let body: String = (0..10).map(|i| format!("pushed event http-{}\n", batch * 10 + i)).collect();
                match try_http(&addr, "POST", "/api/v1/ingest?source=pushed&format=plain", body.as_bytes()) {
                    Ok((200, _)) => {
                        acked.store(batch + 1, Ordering::SeqCst);
                        batch += 1;
                        std::thread::sleep(Duration::from_millis(4));
                    }
                    _ => return,
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    kill_9(server);
    let _ = producer.join();
    // The writer goes on while the server is down, as applications do.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let acked_batches = acked.load(Ordering::SeqCst);
    assert!(acked_batches > 0 && written > 0, "the kill came before any traffic");
    assert!(acked_batches < 900 && written < 9000, "the kill came after the traffic ended");
    eprintln!("killed after {written} tailed lines written and {acked_batches} batches acknowledged");

    let server = serve(dir.path(), &config);
    wait_for_total(&server, "tailed", written);
    let tailed = occurrences(&server, "tailed", "tail");
    assert_eq!(tailed.len() as u64, written, "every written line is stored");
    assert!(
        tailed.values().all(|&n| n == 1),
        "no line twice: {:?}",
        tailed.iter().filter(|(_, n)| **n > 1).take(5).collect::<Vec<_>>()
    );
    assert_eq!(tailed.keys().next_back(), Some(&(written - 1)));

    let pushed = occurrences(&server, "pushed", "http");
    for n in 0..acked_batches * 10 {
        assert_eq!(pushed.get(&n), Some(&1), "acknowledged event http-{n} must be stored exactly once");
    }
    // A batch in flight at the kill may or may not have become durable, but never twice
    // and never in part.
    assert!(pushed.values().all(|&n| n == 1));
    assert_eq!(pushed.len() % 10, 0, "a record is stored whole or not at all");
}

#[test]
fn rotation_under_a_writer_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[[sources]]\nname = \"renamed\"\npath = \"{0}/app.log\"\nformat = \"plain\"\n\n\
             [[sources]]\nname = \"copied\"\npath = \"{0}/web.log\"\nformat = \"plain\"\n",
            logs.display()
        ),
    );
    let server = serve(dir.path(), &config);
    let total = 6000u64;
    // Both files are written line after line without pause; every 1500 lines the first
    // is renamed away (logrotate's default) and the second copied and truncated
    // (logrotate's copytruncate), as logrotate would do between two writes.
    let (app, web) = (logs.join("app.log"), logs.join("web.log"));
    let mut app_file = std::fs::OpenOptions::new().create(true).append(true).open(&app).unwrap();
    let mut web_file = std::fs::OpenOptions::new().create(true).append(true).open(&web).unwrap();
    for n in 0..total {
        writeln!(app_file, "app line app-{n}").unwrap();
        writeln!(web_file, "web line web-{n}").unwrap();
        if n % 1500 == 1499 {
            let generation = n / 1500;
            std::fs::rename(&app, logs.join(format!("app.log.{generation}"))).unwrap();
            app_file = std::fs::OpenOptions::new().create(true).append(true).open(&app).unwrap();
            std::fs::copy(&web, logs.join(format!("web.log.{generation}"))).unwrap();
            web_file.set_len(0).unwrap();
        }
        // ~0.75 s between rotations: a busy log, rotated far more often than any real one,
        // yet never twice within one of the tailer's polls (100 ms), even on a loaded machine.
        if n % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    drop((app_file, web_file));
    for (source, marker) in [("renamed", "app"), ("copied", "web")] {
        wait_for_total(&server, source, total);
        // Give a late duplicate time to show up before counting.
        std::thread::sleep(Duration::from_millis(1500));
        let seen = occurrences(&server, source, marker);
        let missing: Vec<u64> = (0..total).filter(|n| !seen.contains_key(n)).take(10).collect();
        let twice: Vec<(&u64, &u64)> = seen.iter().filter(|(_, n)| **n > 1).take(10).collect();
        assert!(missing.is_empty() && twice.is_empty(), "{source}: missing {missing:?}, twice {twice:?}");
        assert_eq!(seen.len() as u64, total, "{source}");
    }
    let log = server.log.lock().unwrap().clone();
    eprintln!("copies read after truncation: {}", log.matches("reading the rest from its rotated copy").count());
}
