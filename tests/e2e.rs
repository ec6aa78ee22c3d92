//! End to end: the real `sluice` binary on a temp data dir, as a user runs it.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// (built-in source name, sample file): every sample `serve` tails by default.
const SAMPLES: [(&str, &str); 8] = [
    ("nginx", "nginx/access.log"),
    ("mysql", "mysql-slow/slow.log"),
    ("postgres", "postgres/postgresql.log"),
    ("app", "logback/app.log"),
    ("service", "json/service.log"),
    ("apache", "apache/access.log"),
    ("syslog", "syslog/messages.log"),
    ("batch", "plain/app.log"),
];

fn expected_events(sample: &str) -> Vec<Value> {
    let path = repo_root().join("sample-logs").join(sample).with_extension("expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A work dir holding a copy of sample-logs/, so tests can append without touching the repo.
fn workdir_with_samples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (_, sample) in SAMPLES {
        let to = dir.path().join("sample-logs").join(sample);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join("sample-logs").join(sample), to).unwrap();
    }
    dir
}

#[test]
fn import_then_search_by_trace_id_and_read_parquet() {
    let work = workdir_with_samples();
    let data = work.path().join("data");
    let out = run_ok(
        sluice()
            .current_dir(work.path())
            .args(["import", "--data-dir", "data"])
            .args(SAMPLES.iter().map(|(_, s)| format!("sample-logs/{s}"))),
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    let total: usize = SAMPLES.iter().map(|(_, s)| expected_events(s).len()).sum();
    // One line of the syslog sample is deliberately not syslog: kept raw, and counted.
    assert!(summary.contains(&format!("imported {total} events from 8 file(s)")), "{summary}");
    assert!(summary.contains("(1 kept raw with parse_error)"), "{summary}");

    // The sample files matched the built-in sources by path, so they carry those names.
    let app_events = expected_events("logback/app.log");
    let traced = app_events.iter().find(|e| e["fields"]["exception"].is_string()).expect("an error with a stack trace");
    let trace_id = traced["fields"]["trace_id"].as_str().unwrap();
    let out = run_ok(sluice().current_dir(work.path()).args(["search", trace_id, "--json"]));
    let hits: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let containing: Vec<&Value> = SAMPLES
        .iter()
        .flat_map(|(_, s)| expected_events(s))
        .filter(|e| e.to_string().contains(trace_id))
        .map(|e| Box::leak(Box::new(e)) as &Value)
        .collect();
    assert_eq!(hits.len(), containing.len(), "{hits:?}");
    let hit = &hits[0];
    for key in ["timestamp", "module", "source", "level", "host", "message", "fields"] {
        assert!(hit.get(key).is_some(), "missing `{key}` in {hit}");
    }
    assert_eq!(hit["source"], "app");
    assert_eq!(hit["module"], traced["module"]);
    assert_eq!(hit["message"], traced["message"]);
    assert!(hit["timestamp"].as_str().unwrap().ends_with('Z'));

    let out = run_ok(sluice().current_dir(work.path()).args(["search", "*", "--count"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), total.to_string());
    let out =
        run_ok(sluice().current_dir(work.path()).args(["search", "status:>=500", "--count", "--module", "payment"]));
    let payment_5xx = SAMPLES
        .iter()
        .flat_map(|(_, s)| expected_events(s))
        .filter(|e| e["module"] == "payment" && e["fields"]["status"].as_u64().is_some_and(|s| s >= 500))
        .count();
    assert!(payment_5xx > 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), payment_5xx.to_string());

    // The archive is a Hive-partitioned Parquet tree any reader opens as one table.
    let Some(python) = python_with("pyarrow") else { return };
    let script = "import sys, pyarrow.dataset as ds\n\
                  t = ds.dataset(sys.argv[1], format='parquet', partitioning='hive').to_table()\n\
                  print(t.num_rows, sorted(set(t.column('module').to_pylist())), t.schema.field('timestamp').type)";
    let out = run_ok(std::process::Command::new(python).args(["-c", script]).arg(data.join("archive")));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.starts_with(&format!("{total} ")), "{report}");
    assert!(report.contains("'payment'") && report.contains("timestamp[us, tz=UTC]"), "{report}");
}

#[test]
fn serve_tails_samples_appends_and_restarts_without_reingesting() {
    let work = workdir_with_samples();
    let server = Server::start(work.path(), &[]);
    let total: usize = SAMPLES.iter().map(|(_, s)| expected_events(s).len()).sum();
    let all = eventually(Duration::from_secs(60), || {
        let body = server.search("*", "&limit=0");
        (body["total"].as_u64() == Some(total as u64)).then_some(body)
    });
    assert!(
        all.is_some(),
        "expected {total} events; last: {}\n{}",
        server.search("*", "&limit=0"),
        server.log.lock().unwrap()
    );

    // Every sample file is searchable, each event with the module and level its golden file says.
    for (source, sample) in SAMPLES {
        let expected = expected_events(sample);
        let body = server.search(&format!("source:{source}"), "&limit=10000");
        assert_eq!(body["total"].as_u64(), Some(expected.len() as u64), "{source}");
        let mut got: Vec<_> = body["hits"].as_array().unwrap().iter().map(message_module_level).collect();
        let mut want: Vec<_> = expected.iter().map(message_module_level).collect();
        got.sort();
        want.sort();
        let differing: Vec<_> = got.iter().zip(&want).filter(|(g, w)| g != w).take(3).collect();
        assert!(
            got.len() == want.len() && differing.is_empty(),
            "{source}: differs from the golden file: {differing:?}"
        );
    }

    // A line appended to a tailed file becomes searchable.
    append(
        &work.path().join("sample-logs/nginx/access.log"),
        "10.9.9.9 - - [22/Nov/2026:10:00:00 +0000] \"POST /api/pay/confirm HTTP/1.1\" 503 12 \"-\" \"probe-agent/1.0\"\n",
    );
    let appended = eventually(Duration::from_secs(30), || {
        let body = server.search("probe", "");
        (body["total"] == 1).then_some(body)
    })
    .expect("appended line searchable");
    assert_eq!(appended["hits"][0]["module"], "payment");
    assert_eq!(appended["hits"][0]["level"], "error");
    assert_eq!(appended["hits"][0]["fields"]["status"], 503);

    // HTTP ingest answers once durable.
    let (status, body) = server.post(
        "/api/v1/ingest?source=checkout&format=json",
        br#"{"ts":"2026-11-22T10:00:01Z","level":"warn","msg":"coupon service slow","module":"order"}"#,
    );
    assert_eq!(status, 200, "{body}");

    let status = server.stop();
    assert!(status.success(), "serve exited with {status}");

    // Restart: nothing is ingested twice, and the tailer picks up where it stopped.
    let server = Server::start(work.path(), &[]);
    append(
        &work.path().join("sample-logs/json/service.log"),
        "{\"time\":\"2026-11-22T10:00:02Z\",\"level\":\"error\",\"msg\":\"after-restart\",\"service\":\"logistics-tracker\"}\n",
    );
    let after = eventually(Duration::from_secs(30), || {
        let body = server.search("after-restart", "&limit=0");
        (body["total"] == 1).then_some(())
    });
    assert!(after.is_some(), "line appended after restart not found");
    assert_eq!(server.search("*", "&limit=0")["total"].as_u64(), Some(total as u64 + 3));
    assert!(server.stop().success());
}

#[test]
fn bad_usage_and_config_exit_2_naming_the_problem() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("bad.toml"), "listen = \"127.0.0.1:0\"\nslow_sql = 5\n").unwrap();
    let out = sluice().current_dir(work.path()).args(["search", "*", "--config", "bad.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slow_sql"));

    for (name, toml) in [
        ("prefix.toml", "[[sources]]\nname = \"pg\"\nformat = \"postgres\"\nlog_line_prefix = \"%m %Z \"\n"),
        ("pattern.toml", "[[sources]]\nname = \"app\"\nformat = \"logback\"\npattern = \"%thread %msg\"\n"),
        ("nginx.toml", "[[sources]]\nname = \"web\"\nformat = \"nginx\"\nlog_format = \"no variables\"\n"),
        ("rule.toml", "[[modules]]\nname = \"pay\"\nfield = \"path\"\nregex = \"(\"\n"),
    ] {
        std::fs::write(work.path().join(name), toml).unwrap();
        let out = sluice().current_dir(work.path()).args(["search", "*", "--config", name]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("sources[0]") || stderr.contains("modules"), "{name}: {stderr}");
    }

    let out = sluice().current_dir(work.path()).args(["search", "*", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = sluice().current_dir(work.path()).args(["import", "--format", "yaml", "x.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yaml"));

    let out = sluice().current_dir(work.path()).args(["search", "*", "--from", "last tuesday"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Searching before anything was ingested is an ordinary failure with a clear message.
    let out = sluice().current_dir(work.path()).args(["search", "*"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing has been ingested"));
}

fn message_module_level(event: &Value) -> (String, String, String) {
    let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
    (text("message"), text("module"), text("level"))
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
