//! Parse results on real logs from `../shared/corpus`, checked against what the peer tools
//! (pt-query-digest 3.2.1) parsed from the same files.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike};
use serde_json::Value;
use sluice_core::{Config, Event, FormatName, SourceConfig};
use sluice_parsers::{ModuleRouter, Parser};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must have ../shared/corpus beside the checkout");
    eprintln!("SKIPPED: no ../shared/corpus beside the checkout");
    None
}

/// Reads `path`, or `path.gz` when only the compressed copy exists; `.gz` is inflated.
fn read_maybe_gz(path: &Path) -> Vec<u8> {
    let file = if path.exists() {
        path.to_owned()
    } else {
        path.with_file_name(format!("{}.gz", path.file_name().unwrap().to_string_lossy()))
    };
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if file.extension().is_none_or(|e| e != "gz") {
        return bytes;
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
    out
}

fn parse(format: FormatName, bytes: &[u8]) -> Vec<Event> {
    let source = SourceConfig::adhoc("corpus", format);
    let mut parser =
        Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "h", DateTime::UNIX_EPOCH).unwrap();
    let mut events = Vec::new();
    parser.parse_all(bytes, &mut events);
    events
}

/// The input log a pt-query-digest event dump was made from.
fn slow_log_input(corpus: &Path, dump: &str) -> PathBuf {
    let name = dump.trim_end_matches(".gz").trim_end_matches(".jsonl");
    if let Some(rest) = name.strip_prefix("beats-") {
        corpus.join("beats-filebeat/filebeat/module/mysql/slowlog/test").join(rest)
    } else if let Some(rest) = name.strip_prefix("ptqd-samples-") {
        corpus.join("percona-toolkit/t/pt-query-digest/samples").join(rest)
    } else {
        corpus.join("percona-toolkit/t/lib/samples/slowlogs").join(name)
    }
}

fn seconds(v: &Value) -> Option<f64> {
    v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_f64())
}

/// Every event pt-query-digest parsed from every slow log in the corpus, field by field.
#[test]
fn mysql_slow_logs_match_pt_query_digest() {
    let Some(corpus) = corpus() else { return };
    let dumps = corpus.join("peer-outputs/pt-query-digest-3.2.1/events");
    let mut names: Vec<String> =
        std::fs::read_dir(&dumps).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for name in &names {
        let expected: Vec<Value> = String::from_utf8(read_maybe_gz(&dumps.join(name)))
            .unwrap()
            .lines()
            // "# No events processed." is how pt-query-digest reports an empty input.
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // pt-query-digest drops an entry cut off before its statement (a lone `# Time:` at
        // the end of a file); Sluice keeps it, marked, so nothing is lost. Compare the rest.
        let events: Vec<Event> = parse(FormatName::MysqlSlow, &read_maybe_gz(&slow_log_input(&corpus, name)))
            .into_iter()
            .filter(|e| e.field_str("parse_error") != Some("slow log entry without a statement"))
            .collect();
        if events.len() != expected.len() {
            mismatches.push(format!("{name}: {} events, pt-query-digest has {}", events.len(), expected.len()));
            continue;
        }
        for (i, (ours, theirs)) in events.iter().zip(&expected).enumerate() {
            compared += 1;
            let mut differ = |what: &str, a: String, b: String| {
                if a != b {
                    mismatches.push(format!("{name} #{i} {what}: ours {a:?}, pt-query-digest {b:?}"));
                }
            };
            let arg = theirs["arg"].as_str().unwrap_or("");
            differ("query", ours.field_str("query").unwrap_or("").to_owned(), arg.to_owned());
            for (key, field) in [("Query_time", "query_time_ms"), ("Lock_time", "lock_time_ms")] {
                if let Some(secs) = seconds(&theirs[key]) {
                    let ms = ours.field_f64(field).unwrap_or(f64::NAN);
                    differ(key, format!("{:.6}", ms / 1000.0), format!("{secs:.6}"));
                }
            }
            for (key, field) in [("Rows_sent", "rows_sent"), ("Rows_examined", "rows_examined")] {
                if let Some(n) = seconds(&theirs[key]) {
                    differ(key, format!("{}", ours.field_f64(field).unwrap_or(-1.0)), format!("{n}"));
                }
            }
            // Dumps were made with --inherit-attributes "": compare what each entry states itself.
            if let Some(db) = theirs["db"].as_str().or(theirs["Schema"].as_str()) {
                differ("db", ours.field_str("db").unwrap_or("").to_owned(), db.to_owned());
            }
            // pt-query-digest keeps the space in `bob @ host`; Sluice trims it.
            for (key, field) in [("user", "user"), ("host", "client_host"), ("ip", "client_ip")] {
                if let Some(v) = theirs[key].as_str() {
                    differ(key, ours.field_str(field).unwrap_or("").to_owned(), v.trim().to_owned());
                }
            }
            if let Some(ts) = theirs["ts"].as_str() {
                // pt-query-digest prints the `# Time` text without fraction or offset; Sluice
                // stores the instant in UTC, so an explicit offset shows as whole hours.
                let theirs_time = chrono::NaiveDateTime::parse_from_str(ts, "%y%m%d %k:%M:%S")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S"))
                    .unwrap_or_else(|e| panic!("{name}: pt ts {ts:?}: {e}"));
                let ours_time = ours.timestamp.naive_utc().with_nanosecond(0).unwrap();
                let offset = theirs_time - ours_time;
                let whole_hours = offset.num_seconds() % 3600 == 0 && offset.num_hours().abs() <= 14;
                let iso_with_offset = ts.contains('T') && whole_hours;
                if ours_time != theirs_time && !iso_with_offset {
                    differ("ts", ours_time.to_string(), ts.to_owned());
                }
            }
        }
    }
    assert!(compared > 300, "compared only {compared} events");
    assert!(
        mismatches.is_empty(),
        "{} mismatches over {compared} events:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
