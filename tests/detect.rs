//! Detection end to end with the real binary: a generated day of shop logs with two
//! injected incidents becomes exactly those alerts, the digest names the storm, and the
//! digest of a slow log agrees with pt-query-digest 3.2.1 run on the same file.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_benches::{Budget, Incidents, write_one};
use support::{generate_day, run_ok, sluice};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[test]
fn shop_incidents_become_exactly_their_alerts_and_the_digest_names_the_storm() {
    let work = tempfile::tempdir().unwrap();
    let files = generate_day(&work.path().join("logs"), 20_000);
    let data = work.path().join("data");
    run_ok(sluice().arg("--data-dir").arg(&data).arg("import").args(&files));

    let out = run_ok(sluice().arg("--data-dir").arg(&data).args(["alerts", "--json"]));
    let alerts: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: BTreeSet<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (s("kind"), s("rule"), s("module"))
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        ("error_burst", "error_burst", "payment"),
        ("slow_sql", "slow_sql_storm", "order"),
        ("slow_sql", "slow_sql_module_storm", "order"),
    ]
    .iter()
    .map(|(k, r, m)| (k.to_string(), r.to_string(), m.to_string()))
    .collect();
    assert_eq!(kinds, expected, "a quiet day with two incidents: {alerts:#?}");
    assert_eq!(alerts.len(), 3, "one alert per incident and rule: {alerts:#?}");

    for alert in &alerts {
        let (start, end) = (at(alert["start"].as_str().unwrap()), at(alert["end"].as_str().unwrap()));
        let (from, to) = if alert["kind"] == "error_burst" {
            (at("2026-11-20T14:00:00Z"), at("2026-11-20T14:10:00Z"))
        } else {
            (at("2026-11-20T10:00:00Z"), at("2026-11-20T10:15:00Z"))
        };
        assert!(start >= from && start < from + chrono::TimeDelta::minutes(2), "{alert}");
        assert!(end > start && end <= to, "{alert}");
        assert_eq!(alert["status"], "closed", "the import ended");
        for key in ["id", "severity", "count", "summary"] {
            assert!(alert.get(key).is_some(), "{key}");
        }
    }
    let burst = alerts.iter().find(|a| a["kind"] == "error_burst").unwrap();
    assert_eq!(burst["severity"], "P1", "payment is a core flow and most of its requests failed");
    assert!(burst["failure_ratio"].as_f64().unwrap() > 0.5);
    assert!(burst["sources"].as_object().unwrap().len() >= 2, "nginx and the app saw it: {burst}");
    let storm = alerts.iter().find(|a| a["rule"] == "slow_sql_storm").unwrap();
    assert_eq!(storm["severity"], "P2");
    assert!(storm["fingerprint"].as_str().unwrap().starts_with("select o.*, i.sku from orders o join order_item"));

    // The alert's search finds its events.
    let out = run_ok(sluice().arg("--data-dir").arg(&data).args([
        "search",
        burst["search"].as_str().unwrap(),
        "--from",
        burst["start"].as_str().unwrap(),
        "--to",
        "2026-11-20T14:10:00Z",
        "--count",
    ]));
    let found: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(found >= burst["count"].as_u64().unwrap(), "{found} events for {burst}");

    // Filters.
    let out = run_ok(sluice().arg("--data-dir").arg(&data).args(["alerts", "--kind", "slow_sql", "--json"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let out = run_ok(sluice().arg("--data-dir").arg(&data).args(["alerts", "--severity", "P1"]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("error_burst") && !table.contains("slow_sql"), "{table}");

    // The digest of the day: the storm's statement takes most of the time.
    let out =
        run_ok(sluice().arg("--data-dir").arg(&data).args(["digest", "--date", "2026-11-20", "--format", "json"]));
    let digest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(digest["threshold_ms"], 500.0);
    assert_eq!(digest["queries"][0]["id"], storm["query_id"]);
    assert_eq!(digest["queries"][0]["module"], "order");
    let slow: u64 = digest["queries"].as_array().unwrap().iter().map(|q| q["count"].as_u64().unwrap()).sum();
    assert_eq!(slow, digest["slow_queries"].as_u64().unwrap());
    let out = run_ok(sluice().arg("--data-dir").arg(&data).args([
        "search",
        "slow:true",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-21",
        "--count",
    ]));
    let marked: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(marked, slow, "the digest lists exactly the statements marked slow");
    let out =
        run_ok(sluice().arg("--data-dir").arg(&data).args(["digest", "--date", "2026-11-20", "--format", "html"]));
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.contains("<svg") && html.contains(storm["query_id"].as_str().unwrap()));

    let out = sluice().arg("--data-dir").arg(&data).args(["digest", "--date", "yesterday"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sluice().arg("--data-dir").arg(&data).args(["alerts", "--kind", "fire"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// pt-query-digest is Debian's percona-toolkit; CI installs it. Under CI=true it must run.
fn pt_query_digest() -> Option<&'static str> {
    let ok = Command::new("pt-query-digest").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have pt-query-digest (apt-get install percona-toolkit)"
        );
        eprintln!("SKIPPED: pt-query-digest is not installed (apt-get install percona-toolkit)");
        return None;
    }
    Some("pt-query-digest")
}

#[test]
fn digest_of_a_generated_slow_log_matches_pt_query_digest_top_20() {
    let Some(pt) = pt_query_digest() else { return };
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("slow.log");
    let start = "2026-11-20T09:30:00Z".parse::<DateTime<Utc>>().unwrap();
    let incidents = Incidents { storm_at_minute: 20, burst_at_minute: 600 };
    write_one("mysql-slow", &log, Budget::Bytes(6 << 20), 9, start, incidents).unwrap();

    let theirs = run_ok(Command::new(pt).args(["--output", "json", "--limit", "20"]).arg(&log));
    let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let ours = run_ok(sluice().args(["digest", "--min-ms", "0", "--format", "json"]).arg(&log));
    let ours: Value = serde_json::from_slice(&ours.stdout).unwrap();

    assert_eq!(ours["total_queries"], theirs["global"]["query_count"]);
    let classes = theirs["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 20.min(ours["queries"].as_array().unwrap().len()));
    for (rank, (class, row)) in classes.iter().zip(ours["queries"].as_array().unwrap()).enumerate() {
        assert_eq!(row["id"], class["checksum"], "rank {}", rank + 1);
        assert_eq!(row["fingerprint"], class["fingerprint"], "rank {}", rank + 1);
        assert_eq!(row["count"], class["query_count"], "rank {}", rank + 1);
        let total_s: f64 = class["metrics"]["Query_time"]["sum"].as_str().unwrap().parse().unwrap();
        let ours_s = row["total_ms"].as_f64().unwrap() / 1000.0;
        assert!(
            (ours_s - total_s).abs() < 1e-6 * (row["count"].as_f64().unwrap() + 1.0),
            "rank {}: {ours_s} vs {total_s}",
            rank + 1
        );
        let max_s: f64 = class["metrics"]["Query_time"]["max"].as_str().unwrap().parse().unwrap();
        assert!((row["max_ms"].as_f64().unwrap() / 1000.0 - max_s).abs() < 1e-6, "rank {}", rank + 1);
        let examined: f64 = class["metrics"]["Rows_examined"]["sum"].as_str().unwrap().parse().unwrap();
        assert_eq!(row["rows_examined"].as_f64().unwrap(), examined, "rank {}", rank + 1);
    }
}

/// A live alert subscriber must not keep `serve` from stopping on SIGTERM.
#[test]
fn serve_stops_with_an_alert_stream_open() {
    use std::io::{Read, Write};
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("sluice.toml"), "").unwrap();
    let server = support::Server::start(work.path(), &[]);
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(stream, "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).unwrap();
    let mut head = [0u8; 256];
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"), "{head}");
    let status = server.stop();
    assert!(status.success(), "serve exited with {status}");
}
