//! The archive and incident-review exports with real readers: two generated shop days
//! (same date, other content, the second smaller) are imported one after the other (so
//! compaction has files to merge, and the second import's must settle the day), then pyarrow and
//! DuckDB read the Hive-partitioned archive and the export bundle, and their counts,
//! time ranges, partitions and values must agree with what search says was ingested.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{generate_day, generate_day_seeded, python_with, run_ok, sluice};

const FROM: &str = "2026-11-20T13:00:00Z";
const TO: &str = "2026-11-20T16:00:00Z";

fn count(data: &Path, query: &str, extra: &[&str]) -> u64 {
    let out = run_ok(sluice().arg("--data-dir").arg(data).args(["search", query, "--count"]).args(extra));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn ndjson_events(text: &str) -> Vec<String> {
    let mut events: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect();
    events.sort();
    events
}

fn zip_entry(path: &Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut bytes = Vec::new();
    zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

#[test]
fn archive_and_exports_read_back_in_pyarrow_and_duckdb() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    for (run, seed, events) in [("a", 42, 8_000), ("b", 4242, 5_000)] {
        let files = generate_day_seeded(&work.path().join(run), events, seed);
        run_ok(sluice().arg("--data-dir").arg(&data).arg("import").args(&files));
    }
    let total = count(&data, "*", &[]);
    assert_eq!(total, 65_000);

    // Compaction at the end of the second import merged the two runs' files: one file
    // per finished day, module and source. The second run's files hold fewer rows than
    // the day settled by the first and were written just now, so only the import's
    // last pass (which settles without waiting for the day to go quiet) merges them.
    let manifest: Value = serde_json::from_slice(&std::fs::read(data.join("archive/_manifest.json")).unwrap()).unwrap();
    let mut per_partition: BTreeMap<String, usize> = BTreeMap::new();
    for file in manifest["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        let partition = format!("{} {}", path.rsplit_once('/').unwrap().0, file["source"].as_str().unwrap());
        *per_partition.entry(partition).or_default() += 1;
        assert_eq!(file["level"], 3, "{file}");
    }
    assert!(per_partition.len() >= 20, "{per_partition:?}");
    assert!(per_partition.values().all(|&n| n == 1), "{per_partition:?}");
    assert_eq!(manifest["files"].as_array().unwrap().iter().map(|f| f["rows"].as_u64().unwrap()).sum::<u64>(), total);

    // The export as a zip; then one module's 5xx as a directory.
    let bundle = work.path().join("incident.zip");
    let out = run_ok(
        sluice().arg("--data-dir").arg(&data).args(["export", "--from", FROM, "--to", TO, "--out"]).arg(&bundle),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("from the index"), "{out:?}");
    let in_window = count(&data, "*", &["--from", FROM, "--to", TO]);
    let exported = ndjson_events(&String::from_utf8(zip_entry(&bundle, "events.ndjson")).unwrap());
    assert_eq!(exported.len() as u64, in_window);
    let summary: Value = serde_json::from_slice(&zip_entry(&bundle, "summary.json")).unwrap();
    assert_eq!(summary["events"], in_window);
    assert_eq!(summary["bundle_version"], 1);
    let errors = count(&data, "level:error OR level:fatal OR status:>=500", &["--from", FROM, "--to", TO]);
    assert_eq!(summary["errors"], errors);
    assert!(summary["top_errors"][0]["count"].as_u64().unwrap() > 10, "{}", summary["top_errors"]);
    let alerts: Value = serde_json::from_slice(&zip_entry(&bundle, "alerts.json")).unwrap();
    assert!(
        alerts.as_array().unwrap().iter().any(|a| a["kind"] == "error_burst" && a["module"] == "payment"),
        "the 14:00 payment burst is in the bundle: {alerts}"
    );
    let slow: Value = serde_json::from_slice(&zip_entry(&bundle, "slow_queries.json")).unwrap();
    assert_eq!(slow["slow_queries"], count(&data, "slow:true", &["--from", FROM, "--to", TO]));
    let report = String::from_utf8(zip_entry(&bundle, "report.html")).unwrap();
    assert!(report.contains("<svg") && report.contains("Top errors") && !report.contains("<script"));

    let payment = work.path().join("payment-5xx");
    run_ok(
        sluice()
            .arg("--data-dir")
            .arg(&data)
            .args(["export", "--from", FROM, "--to", TO, "--module", "payment", "--query", "status:>=500", "--out"])
            .arg(&payment),
    );
    let payment_5xx = count(&data, "status:>=500", &["--from", FROM, "--to", TO, "--module", "payment"]);
    assert!(payment_5xx > 20);
    let from_index = ndjson_events(&std::fs::read_to_string(payment.join("events.ndjson")).unwrap());
    assert_eq!(from_index.len() as u64, payment_5xx);

    // Once the index no longer holds a window (here: no index at all), the same export
    // comes from the archive, with the query applied the same way.
    let archive_only = work.path().join("archive-only");
    std::fs::create_dir_all(&archive_only).unwrap();
    copy_dir(&data.join("archive"), &archive_only.join("archive"));
    copy_dir(&data.join("alerts"), &archive_only.join("alerts"));
    let from_archive_dir = work.path().join("payment-5xx-archive");
    let out = run_ok(
        sluice()
            .arg("--data-dir")
            .arg(&archive_only)
            .args(["export", "--from", FROM, "--to", TO, "--module", "payment", "--query", "status:>=500", "--out"])
            .arg(&from_archive_dir),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{payment_5xx} from the archive")), "{out:?}");
    let from_archive = ndjson_events(&std::fs::read_to_string(from_archive_dir.join("events.ndjson")).unwrap());
    assert_eq!(from_archive, from_index, "archive and index exports hold the same events");

    let Some(python) = python_with("duckdb") else { return };
    let script = r#"
import io, json, sys, zipfile
import duckdb, pyarrow.dataset as ds, pyarrow.parquet as pq
archive, bundle, payment = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
t = ds.dataset(archive, format='parquet', partitioning='hive').to_table()
out['pyarrow_archive_rows'] = t.num_rows
out['pyarrow_partitions'] = sorted(set(str(d) for d in t.column('dt').to_pylist()))
con = duckdb.connect()
con.execute("set TimeZone = 'UTC'")
glob = archive + '/**/*.parquet'
out['duckdb_archive_rows'] = con.execute(f"select count(*) from read_parquet('{glob}', hive_partitioning=true)").fetchone()[0]
out['duckdb_by_module'] = dict(con.execute(f"select module, count(*) from read_parquet('{glob}', hive_partitioning=true) group by module").fetchall())
lo, hi = con.execute(f"select strftime(min(timestamp), '%Y-%m-%dT%H:%M:%S'), strftime(max(timestamp), '%Y-%m-%dT%H:%M:%S') from read_parquet('{glob}', hive_partitioning=true)").fetchone()
out['duckdb_archive_range'] = [lo, hi]
z = zipfile.ZipFile(bundle)
events = [json.loads(l) for l in z.read('events.ndjson').decode().splitlines() if l.strip()]
table = pq.read_table(io.BytesIO(z.read('events.parquet')))
out['bundle_parquet_rows'] = table.num_rows
rows = table.to_pylist()
key = lambda ts, e: (ts, e['module'], e['source'], e['message'])
from_parquet = sorted(key(r['timestamp'].strftime('%Y-%m-%dT%H:%M:%S.%f'), r) for r in rows)
from_ndjson = sorted(key(e['timestamp'].rstrip('Z').ljust(26, '0')[:26], e) for e in events)
out['bundle_parquet_equals_ndjson'] = from_parquet == from_ndjson
out['bundle_range'] = [min(r['timestamp'] for r in rows).isoformat(), max(r['timestamp'] for r in rows).isoformat()]
status_of = {(e['timestamp'].rstrip('Z').ljust(26, '0')[:26], e['message']): e['fields'].get('status') for e in events}
out['bundle_status_column_matches_fields'] = all(r['status'] == status_of[(r['timestamp'].strftime('%Y-%m-%dT%H:%M:%S.%f'), r['message'])] for r in rows)
out['duckdb_payment_5xx'] = con.execute(f"select count(*) from read_parquet('{payment}/events.parquet') where status >= 500 and module = 'payment'").fetchone()[0]
print(json.dumps(out))
"#;
    let out = run_ok(Command::new(python).args(["-c", script]).arg(data.join("archive")).arg(&bundle).arg(&payment));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["pyarrow_archive_rows"], total, "{got}");
    assert_eq!(got["duckdb_archive_rows"], total, "{got}");
    assert_eq!(got["pyarrow_partitions"], serde_json::json!(["2026-11-20"]), "{got}");
    for (module, n) in got["duckdb_by_module"].as_object().unwrap() {
        assert_eq!(n.as_u64().unwrap(), count(&data, "*", &["--module", module]), "{module}");
    }
    let range = got["duckdb_archive_range"].as_array().unwrap();
    assert!(range[0].as_str().unwrap().starts_with("2026-11-20T00:"), "{got}");
    assert!(range[1].as_str().unwrap().starts_with("2026-11-20T23:"), "{got}");
    assert_eq!(got["bundle_parquet_rows"], in_window, "{got}");
    assert_eq!(got["bundle_parquet_equals_ndjson"], true, "{got}");
    assert!(got["bundle_range"][0].as_str().unwrap() >= "2026-11-20T13:00:00", "{got}");
    assert!(got["bundle_range"][1].as_str().unwrap() < "2026-11-20T16:00:00", "{got}");
    assert_eq!(got["bundle_status_column_matches_fields"], true, "{got}");
    assert_eq!(got["duckdb_payment_5xx"], payment_5xx, "{got}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A free port on 127.0.0.1 for a helper server.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the helper server when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn archive_lives_in_an_s3_compatible_store() {
    // moto's standalone server speaks the S3 REST API over HTTP (installed by .ci/run).
    let Some(python) = python_with("moto.server") else { return };
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let _moto = KillOnDrop(
        Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let s3 = format!(
        "import boto3, sys, time\n\
         s3 = boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\n\
         for _ in range(100):\n\
         \x20   try:\n\
         \x20       s3.create_bucket(Bucket='shop-archive'); break\n\
         \x20   except Exception:\n\
         \x20       time.sleep(0.1)\n"
    );
    run_ok(Command::new(&python).args(["-c", &s3]));

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "[archive]\nurl = \"s3://shop-archive/prod\"\nkeep_local_days = 0\nupload_interval = \"1s\"\n\
             [archive.options]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\nallow_http = \"true\"\n\
             access_key_id = \"test\"\nsecret_access_key = \"test\"\n"
        ),
    )
    .unwrap();
    let files = generate_day(&work.path().join("logs"), 2_000);
    let data = work.path().join("data");
    let with_config = || {
        let mut cmd = sluice();
        cmd.arg("--config").arg(&config).arg("--data-dir").arg(&data);
        cmd
    };
    run_ok(with_config().arg("import").args(&files));
    let total = count(&data, "*", &[]);
    assert_eq!(total, 10_000);
    // Uploaded at the end of the import; the finished day is no longer kept locally.
    let local_parquet = walk(&data.join("archive")).into_iter().filter(|p| p.ends_with(".parquet")).count();
    assert_eq!(local_parquet, 0);

    // Any S3 reader sees one Hive-partitioned table, and the manifest beside it.
    let script = format!(
        "import json, pyarrow.dataset as ds, pyarrow.fs as fs\n\
         s3 = fs.S3FileSystem(endpoint_override='{endpoint}', scheme='http', access_key='test', secret_key='test', region='us-east-1')\n\
         t = ds.dataset('shop-archive/prod', filesystem=s3, format='parquet', partitioning='hive', exclude_invalid_files=True).to_table()\n\
         m = json.loads(s3.open_input_file('shop-archive/prod/_manifest.json').read())\n\
         print(json.dumps({{'rows': t.num_rows, 'modules': len(set(t.column('module').to_pylist())), 'manifest_rows': sum(f['rows'] for f in m['files'])}}))\n"
    );
    let out = run_ok(Command::new(&python).args(["-c", &script]));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["rows"], total, "{got}");
    assert_eq!(got["manifest_rows"], total, "{got}");
    assert!(got["modules"].as_u64().unwrap() >= 7, "{got}");

    // With the index gone, an export reads the window back from the store.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let bundle = work.path().join("from-s3");
    let out = run_ok(with_config().args(["export", "--from", FROM, "--to", TO, "--out"]).arg(&bundle));
    let summary: Value = serde_json::from_slice(&std::fs::read(bundle.join("summary.json")).unwrap()).unwrap();
    assert!(summary["events"].as_u64().unwrap() > 1000, "{summary}");
    assert_eq!(summary["events"], summary["events_from_archive"], "{out:?}");
    let lines = std::fs::read_to_string(bundle.join("events.ndjson")).unwrap().lines().count() as u64;
    assert_eq!(summary["events"], lines);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path().to_string_lossy().into_owned());
        }
    }
    out
}
