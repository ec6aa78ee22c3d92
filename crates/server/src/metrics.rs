//! Counters for `/metrics`, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_core::Event;
use sluice_ingest::tail::TailStats;
use sluice_parsers::PARSE_ERROR_FIELD;

#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
    tail: std::sync::OnceLock<TailStats>,
    wal_bytes: AtomicU64,
    http_429: AtomicU64,
    http_ingest_bytes: AtomicU64,
    open_alerts: AtomicU64,
}

#[derive(Default)]
struct Counts {
    /// (source, module, level) -> events stored.
    events: BTreeMap<(String, String, String), u64>,
    parse_errors: BTreeMap<String, u64>,
    slow_sql: BTreeMap<String, u64>,
    /// (kind, severity) -> alerts opened.
    alerts: BTreeMap<(String, String), u64>,
    /// result (ok, failed, dropped) -> webhook deliveries.
    webhooks: BTreeMap<String, u64>,
    /// source -> bytes received over HTTP (log text: lines, documents, record bodies).
    received: BTreeMap<String, u64>,
}

/// Counts for one WAL record, gathered without locking and merged once.
#[derive(Default)]
pub struct BatchCounts {
    events: BTreeMap<(String, String, String), u64>,
    parse_errors: BTreeMap<String, u64>,
    slow_sql: BTreeMap<String, u64>,
    last_key: Option<(String, String, String)>,
    last_count: u64,
}

impl BatchCounts {
    pub fn observe(&mut self, event: &Event, slow: bool) {
        // Runs of events from one source, module and level are the common case: count them
        // without building a key per event.
        let same = self
            .last_key
            .as_ref()
            .is_some_and(|(s, m, l)| *s == event.source && *m == event.module && l == event.level.as_str());
        if same {
            self.last_count += 1;
        } else {
            self.close_run();
            self.last_key = Some((event.source.to_string(), event.module.to_string(), event.level.as_str().to_owned()));
            self.last_count = 1;
        }
        if event.fields.contains_key(PARSE_ERROR_FIELD) {
            *self.parse_errors.entry(event.source.to_string()).or_default() += 1;
        }
        if slow {
            *self.slow_sql.entry(event.module.to_string()).or_default() += 1;
        }
    }

    fn close_run(&mut self) {
        if let Some(key) = self.last_key.take() {
            *self.events.entry(key).or_default() += self.last_count;
        }
    }
}

impl Metrics {
    pub fn merge(&self, mut batch: BatchCounts) {
        batch.close_run();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (key, n) in batch.events {
            *counts.events.entry(key).or_default() += n;
        }
        for (source, n) in batch.parse_errors {
            *counts.parse_errors.entry(source).or_default() += n;
        }
        for (module, n) in batch.slow_sql {
            *counts.slow_sql.entry(module).or_default() += n;
        }
    }

    pub fn set_wal_bytes(&self, bytes: u64) {
        self.wal_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn count_429(&self) {
        self.http_429.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_alert(&self, kind: &str, severity: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.alerts.entry((kind.to_owned(), severity.to_owned())).or_default() += 1;
    }

    pub fn count_webhook(&self, result: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.webhooks.entry(result.to_owned()).or_default() += 1;
    }

    pub fn set_open_alerts(&self, open: u64) {
        self.open_alerts.store(open, Ordering::Relaxed);
    }

    /// Bytes of log text a source pushed over HTTP.
    pub fn count_received(&self, source: &str, bytes: usize) {
        self.http_ingest_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.received.get_mut(source) {
            Some(n) => *n += bytes as u64,
            None => {
                counts.received.insert(source.to_owned(), bytes as u64);
            }
        }
    }

    /// The tailer's per-file positions, rendered as bytes read and lag.
    pub fn watch_tailer(&self, stats: TailStats) {
        let _ = self.tail.set(stats);
    }

    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let _ = writeln!(out, "# HELP sluice_events_total Events stored, by source, module and level.");
        let _ = writeln!(out, "# TYPE sluice_events_total counter");
        for ((source, module, level), n) in &counts.events {
            let _ = writeln!(
                out,
                "sluice_events_total{{source=\"{}\",module=\"{}\",level=\"{level}\"}} {n}",
                escape(source),
                escape(module)
            );
        }
        let mut bytes_in = counts.received.clone();
        let files = self.tail.get().map(TailStats::snapshot).unwrap_or_default();
        for file in &files {
            *bytes_in.entry(file.source.clone()).or_default() += file.bytes_read;
        }
        let _ =
            writeln!(out, "# HELP sluice_ingest_bytes_total Bytes of log received, by source (tailed files and HTTP).");
        let _ = writeln!(out, "# TYPE sluice_ingest_bytes_total counter");
        for (source, n) in &bytes_in {
            let _ = writeln!(out, "sluice_ingest_bytes_total{{source=\"{}\"}} {n}", escape(source));
        }
        let _ = writeln!(out, "# HELP sluice_tail_lag_bytes Bytes of a tailed file not yet read.");
        let _ = writeln!(out, "# TYPE sluice_tail_lag_bytes gauge");
        for file in &files {
            let (source, path) = (escape(&file.source), escape(&file.path));
            let _ = writeln!(out, "sluice_tail_lag_bytes{{source=\"{source}\",path=\"{path}\"}} {}", file.lag_bytes);
        }
        let _ = writeln!(
            out,
            "# HELP sluice_tail_lag_seconds How long a tailed file has had unread data (0 when caught up)."
        );
        let _ = writeln!(out, "# TYPE sluice_tail_lag_seconds gauge");
        for file in &files {
            let (source, path) = (escape(&file.source), escape(&file.path));
            let _ =
                writeln!(out, "sluice_tail_lag_seconds{{source=\"{source}\",path=\"{path}\"}} {:.3}", file.lag_seconds);
        }
        let _ = writeln!(out, "# HELP sluice_parse_errors_total Lines kept raw because they did not parse, by source.");
        let _ = writeln!(out, "# TYPE sluice_parse_errors_total counter");
        for (source, n) in &counts.parse_errors {
            let _ = writeln!(out, "sluice_parse_errors_total{{source=\"{}\"}} {n}", escape(source));
        }
        let _ = writeln!(out, "# HELP sluice_slow_sql_total Statements over slow_sql_ms, by module.");
        let _ = writeln!(out, "# TYPE sluice_slow_sql_total counter");
        for (module, n) in &counts.slow_sql {
            let _ = writeln!(out, "sluice_slow_sql_total{{module=\"{}\"}} {n}", escape(module));
        }
        let _ = writeln!(out, "# HELP sluice_alerts_total Alerts opened, by kind and severity.");
        let _ = writeln!(out, "# TYPE sluice_alerts_total counter");
        for ((kind, severity), n) in &counts.alerts {
            let _ = writeln!(out, "sluice_alerts_total{{kind=\"{kind}\",severity=\"{severity}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP sluice_webhook_deliveries_total Alert webhook deliveries, by result.");
        let _ = writeln!(out, "# TYPE sluice_webhook_deliveries_total counter");
        for (result, n) in &counts.webhooks {
            let _ = writeln!(out, "sluice_webhook_deliveries_total{{result=\"{result}\"}} {n}");
        }
        let gauges = [
            ("sluice_alerts_open", "gauge", "Alerts open now.", self.open_alerts.load(Ordering::Relaxed)),
            ("sluice_wal_bytes", "gauge", "Bytes in write-ahead log segments.", self.wal_bytes.load(Ordering::Relaxed)),
            (
                "sluice_http_throttled_total",
                "counter",
                "Ingest requests answered 429.",
                self.http_429.load(Ordering::Relaxed),
            ),
            (
                "sluice_http_ingest_bytes_total",
                "counter",
                "Bytes of log text received by HTTP ingest.",
                self.http_ingest_bytes.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
