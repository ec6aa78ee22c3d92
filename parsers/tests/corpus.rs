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
    if file.extension().is_some_and(|e| e == "bz2") {
        let out =
            std::process::Command::new("bzip2").arg("-dc").arg(&file).output().expect("bzip2 (Debian package bzip2)");
        return out.stdout;
    }
    if file.extension().is_none_or(|e| e != "gz") {
        return bytes;
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
    out
}

fn parse(format: FormatName, bytes: &[u8]) -> Vec<Event> {
    parse_source(SourceConfig::adhoc("corpus", format), bytes)
}

fn parse_source(source: SourceConfig, bytes: &[u8]) -> Vec<Event> {
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

/// pgBadger's "Number of queries" and "Total query duration" for every report in the corpus,
/// against the statements with a duration that Sluice parses from the same fixture.
#[test]
fn postgres_logs_match_pgbadger_totals() {
    let Some(corpus) = corpus() else { return };
    let reports = corpus.join("peer-outputs/pgbadger-12.0");
    // The log_line_prefix each fixture was written with, as pgBadger's tests pass it.
    let prefixes =
        [("light.postgres", "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "), ("pg-timezones", "%t:%h:%u@%d:[%p]:")];
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".txt") else { continue };
        let report = std::fs::read_to_string(&path).unwrap();
        let expected_count: usize = report_value(&report, "Number of queries:").replace(',', "").parse().unwrap();
        let expected_ms = duration_ms(&report_value(&report, "Total query duration:"));
        let input = match stem.strip_prefix("beats-") {
            Some(rest) => corpus.join("beats-filebeat/filebeat/module/postgresql/log/test").join(format!("{rest}.log")),
            None => {
                let base = corpus.join("pgbadger/t/fixtures").join(format!("{stem}.log"));
                let bz2 = base.with_extension("log.bz2");
                if bz2.exists() { bz2 } else { base }
            }
        };
        let mut source = SourceConfig::adhoc("pg", FormatName::Postgres);
        // Both with the fixture's prefix, and with none (the built-in heuristics).
        let configured = prefixes.iter().find(|(n, _)| *n == stem).map(|(_, p)| p.to_string());
        for prefix in [configured.clone(), None].into_iter().collect::<std::collections::BTreeSet<_>>() {
            source.log_line_prefix = prefix.clone();
            let events = parse_source(source.clone(), &read_maybe_gz(&input));
            // pgBadger folds the extended protocol's parse and bind steps into the execute that
            // follows: they add to the total but are not queries of their own.
            let timed: Vec<&Event> = events.iter().filter(|e| e.field_f64("query_time_ms").is_some()).collect();
            let total: f64 = timed.iter().filter_map(|e| e.field_f64("query_time_ms")).sum();
            let queries: Vec<&&Event> =
                timed.iter().filter(|e| !matches!(e.field_str("statement_kind"), Some("parse" | "bind"))).collect();
            let label = format!("{stem} (prefix {prefix:?})");
            assert_eq!(queries.len(), expected_count, "{label}: statements with a duration");
            assert!((total - expected_ms).abs() < 1.0, "{label}: total {total} ms, pgBadger {expected_ms} ms");
            assert!(events.iter().all(|e| !e.fields.contains_key("parse_error")), "{label}: parse errors");
            checked.push(label);
        }
    }
    assert!(checked.len() >= 10, "{checked:?}");

    // The syslog fixture, as `pgbadger --dbname pgbench -x text` (12.0) reports it:
    // "Number of queries: 59,868", "Total query duration: 16s940ms".
    let events = parse(FormatName::Postgres, &read_maybe_gz(&corpus.join("pgbadger/t/fixtures/pg-syslog.1.bz2")));
    let pgbench: Vec<f64> = events
        .iter()
        .filter(|e| e.field_str("db") == Some("pgbench"))
        .filter_map(|e| e.field_f64("query_time_ms"))
        .collect();
    assert_eq!(pgbench.len(), 59_868);
    let total: f64 = pgbench.iter().sum();
    assert!((total - 16_940.0).abs() < 1.0, "total {total} ms");
    assert!(events.iter().all(|e| !e.fields.contains_key("parse_error")));
    // Statements split over several syslog lines (`[7-2] #011FROM ...`) are joined, tabs restored.
    let multi_line = events.iter().find(|e| e.message.contains("\tFROM pg_catalog.pg_database d")).unwrap();
    assert!(multi_line.message.starts_with("SELECT d.datname as \"Name\""), "{}", multi_line.message);
}

fn report_value(report: &str, label: &str) -> String {
    report.lines().find_map(|l| l.strip_prefix(label)).unwrap_or_else(|| panic!("no {label}")).trim().to_owned()
}

/// pgBadger's `8s654ms` / `9ms` / `1m2s` to milliseconds.
fn duration_ms(text: &str) -> f64 {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().unwrap_or(0.0);
        number.clear();
        total += match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                value
            }
            'm' => value * 60_000.0,
            's' => value * 1000.0,
            'h' => value * 3_600_000.0,
            'd' => value * 86_400_000.0,
            _ => 0.0,
        };
    }
    total
}

/// Every PostgreSQL fixture of pgBadger's (stderr, syslog, csvlog, jsonlog, CloudNativePG,
/// Cloud SQL, Heroku) parses without a line kept raw, and the counts pgBadger 12.0 reports
/// for them agree.
#[test]
fn postgres_fixtures_of_every_shape() {
    let Some(corpus) = corpus() else { return };
    let fixtures = corpus.join("pgbadger/t/fixtures");
    let mut parsed = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("pgbouncer") {
            continue; // pgbouncer's own log format, not PostgreSQL's
        }
        let events = parse(FormatName::Postgres, &read_maybe_gz(&path));
        let raw: Vec<&str> = events
            .iter()
            .filter(|e| e.fields.contains_key("parse_error"))
            .map(|e| e.message.as_str())
            .take(3)
            .collect();
        assert!(raw.is_empty(), "{name}: lines kept raw: {raw:?}");
        assert!(!events.is_empty(), "{name}: no events");
        parsed += 1;
    }
    assert!(parsed >= 20, "{parsed}");

    let count = |file: &str, user: &str, db: Option<&str>| {
        parse(FormatName::Postgres, &read_maybe_gz(&fixtures.join(file)))
            .iter()
            .filter(|e| e.message.starts_with("connection authorized") && e.field_str("user") == Some(user))
            .filter(|e| db.is_none_or(|d| e.field_str("db") == Some(d)))
            .count()
    };
    // pgBadger 12.0, "Connections per user".
    assert_eq!(count("cloudsql.log.gz", "cloudsqladmin", None), 396);
    assert_eq!(count("cnpg.log.gz", "postgres", Some("postgres")), 378);

    // A csvlog duration sticks to its own statement; a statement-only record has none.
    let events = parse(FormatName::Postgres, &read_maybe_gz(&fixtures.join("csv_statement_without_duration.log")));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].field_f64("query_time_ms"), Some(688_786.283));
    assert!(events[0].field_str("query").unwrap().contains("slow_table"));
    assert_eq!(events[1].field_f64("query_time_ms"), None);
    assert_eq!(events[1].field_str("statement_kind"), Some("statement"));
}

/// 10,000 real Apache lines (elastic's example set), against GoAccess 1.7's report of the
/// same file; and every edge case of Filebeat's nginx/apache test logs.
#[test]
fn access_logs_match_goaccess_and_filebeat_cases() {
    let Some(corpus) = corpus() else { return };
    let events = parse(FormatName::Nginx, &read_maybe_gz(&corpus.join("elastic-examples/apache_logs/apache_logs")));
    assert_eq!(events.len(), 10_000);
    assert!(events.iter().all(|e| !e.fields.contains_key("parse_error")));
    // GoAccess: "bandwidth": 2747282740 and the status-code panel.
    let bytes: f64 = events.iter().filter_map(|e| e.field_f64("bytes")).sum();
    assert_eq!(bytes as u64, 2_747_282_740);
    let mut statuses = std::collections::BTreeMap::new();
    for e in &events {
        *statuses.entry(e.field_f64("status").unwrap() as u16).or_insert(0) += 1;
    }
    let goaccess = [(200, 9126), (206, 45), (301, 164), (304, 445), (403, 2), (404, 213), (416, 2), (500, 3)];
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), goaccess);

    let dir = corpus.join("beats-filebeat/filebeat/module");
    let mut all = Vec::new();
    for file in ["apache/access/test/test.log", "nginx/access/test/test.log", "nginx/access/test/access.log"] {
        let events = parse(FormatName::Nginx, &read_maybe_gz(&dir.join(file)));
        let raw: Vec<&str> =
            events.iter().filter(|e| e.fields.contains_key("parse_error")).map(|e| e.message.as_str()).collect();
        assert!(raw.is_empty(), "{file}: {raw:?}");
        all.extend(events);
    }
    let find = |needle: &str| all.iter().find(|e| e.message.contains(needle)).unwrap_or_else(|| panic!("{needle}"));
    // A list of addresses: the first is the original client.
    let listed = find("10.0.0.2, 10.0.0.1, 127.0.0.1");
    assert_eq!(listed.field_str("client_ip"), Some("10.0.0.2"));
    assert_eq!(find("monitoring-server").field_str("client_host"), Some("monitoring-server"));
    // Apache's vhost_combined, and a proxy's X-Forwarded-For before the address.
    let vhost = find("vhost1.domaine.fr");
    assert_eq!(
        (vhost.field_str("vhost"), vhost.field_str("client_ip")),
        (Some("vhost1.domaine.fr"), Some("123.123.123.123"))
    );
    // The original client is the first address of the chain; the chain is kept.
    let proxied = find("Amazon CloudFront");
    assert_eq!(proxied.field_str("client_ip"), Some("10.5.102.222"));
    assert_eq!(proxied.field_str("forwarded_for"), Some("10.5.102.222, 199.96.1.1, 204.246.1.1 10.2.1.185"));
    let ipv6 = find("2a03:0000:10ff:f00f");
    assert_eq!(ipv6.field_str("client_ip"), Some("2a03:0000:10ff:f00f:0000:0000:0:8000"));
    // nginx's `main` format: the trailing "$http_x_forwarded_for" is not part of the user agent.
    let main = find("/stringpatch");
    assert_eq!(
        main.field_str("user_agent"),
        Some("Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2")
    );
    // Requests that never got a request line.
    assert_eq!(find("\"-\" 408").field_f64("status"), Some(408.0));
    assert_eq!(find("\"\" 400").field_f64("status"), Some(400.0));
    assert_eq!(find("::1 - - [26/Dec/2016:16:16:29 +0200]").field_str("client_ip"), Some("::1"));
}

/// Kafka's log4j logs (`[%d] %p %m (%c)%n`), with multi-line Java stack traces: one event per
/// header line, every `at ...` and `Caused by:` line inside its event, none kept raw.
#[test]
fn java_logs_keep_stack_traces_whole() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("elastic-examples/kafka_logs");
    let mut traces = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = read_maybe_gz(&path);
        let headers = text.split(|b| *b == b'\n').filter(|l| l.starts_with(b"[20")).count();
        for pattern in [Some("[%d] %p %m (%c)%n"), None] {
            let mut source = SourceConfig::adhoc("kafka", FormatName::Logback);
            source.pattern = pattern.map(str::to_owned);
            let events = parse_source(source, &text);
            let name = format!("{} with pattern {pattern:?}", path.display());
            assert_eq!(events.len(), headers, "{name}");
            assert!(events.iter().all(|e| !e.fields.contains_key("parse_error")), "{name}");
            let with_trace: Vec<&Event> = events.iter().filter(|e| e.message.contains("\n\tat ")).collect();
            assert!(with_trace.iter().all(|e| e.fields.contains_key("exception")), "{name}");
            if pattern.is_some() {
                assert!(
                    events.iter().all(|e| e
                        .field_str("logger")
                        .is_some_and(|l| l.starts_with("kafka.") || l.starts_with("org."))),
                    "{name}"
                );
                traces += with_trace.len();
            }
        }
    }
    assert!(traces > 0, "the Kafka logs hold stack traces");
}

/// `--format auto` reads each kind of real log exactly as naming its format does.
#[test]
fn auto_detection_matches_the_named_format() {
    let Some(corpus) = corpus() else { return };
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs");
    let cases = [
        (corpus.join("elastic-examples/apache_logs/apache_logs"), FormatName::Nginx),
        (corpus.join("beats-filebeat/filebeat/module/nginx/access/test/test.log"), FormatName::Nginx),
        (corpus.join("percona-toolkit/t/lib/samples/slowlogs/slow002.txt"), FormatName::MysqlSlow),
        (
            corpus.join("beats-filebeat/filebeat/module/mysql/slowlog/test/mysql-ubuntu-8.0.15.log"),
            FormatName::MysqlSlow,
        ),
        (corpus.join("pgbadger/t/fixtures/light.postgres.log.bz2"), FormatName::Postgres),
        (corpus.join("pgbadger/t/fixtures/weeknumber.log"), FormatName::Postgres),
        (corpus.join("pgbadger/t/fixtures/cnpg.log.gz"), FormatName::Postgres),
        (corpus.join("elastic-examples/kafka_logs/kafka0_server.log.2016-12-19-20"), FormatName::Logback),
        (samples.join("logback/app.log"), FormatName::Logback),
        (samples.join("json/service.log"), FormatName::Json),
        (samples.join("syslog/messages.log"), FormatName::Syslog),
        (samples.join("postgres/postgresql.log"), FormatName::Postgres),
    ];
    for (path, format) in cases {
        let bytes = read_maybe_gz(&path);
        let named: Vec<String> = parse(format, &bytes).into_iter().map(|e| e.message).collect();
        let auto: Vec<String> = parse(FormatName::Auto, &bytes).into_iter().map(|e| e.message).collect();
        assert_eq!(auto.len(), named.len(), "{}", path.display());
        assert!(auto == named, "{}: auto-detected events differ from --format {format}", path.display());
    }
}
