//! Alerts: error bursts and latency rises per module, and slow-SQL storms or critical
//! statements, each an
//! episode that opens at the first window over its threshold, updates while it lasts and
//! closes after a quiet period. Time is event time (so an imported log yields the alerts
//! it would have raised live), with a wall-clock fallback to close alerts when a module
//! goes silent.

mod burst;
mod latency;
mod slow;
pub mod store;
mod window;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sluice_core::{AlertsConfig, Config, Event, Severity};

pub use store::{AlertFilter, AlertStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    SlowSql,
    ErrorBurst,
    /// A module's mean request time rose sharply ("performance degraded").
    Latency,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SlowSql => "slow_sql",
            AlertKind::ErrorBurst => "error_burst",
            AlertKind::Latency => "latency",
        }
    }
}

impl std::str::FromStr for AlertKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "slow_sql" => Ok(AlertKind::SlowSql),
            "error_burst" => Ok(AlertKind::ErrorBurst),
            "latency" => Ok(AlertKind::Latency),
            _ => Err(format!("unknown alert kind `{s}` (expected slow_sql, error_burst or latency)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Closed,
}

/// One alert, as stored, listed and sent (CONTRACT.md "Alerts JSON" plus details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable for the episode: the same burst replayed after a crash keeps its id.
    pub id: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub module: String,
    /// First event of the episode.
    pub start: DateTime<Utc>,
    /// Last event counted so far (the episode's end once closed).
    pub end: DateTime<Utc>,
    /// Events counted in the episode.
    pub count: u64,
    pub summary: String,
    pub status: AlertStatus,
    /// Which rule fired: `error_burst`, `slow_sql_storm`, `slow_sql_module_storm`, `slow_sql_critical`.
    pub rule: String,
    /// The threshold the window crossed when the alert opened.
    pub threshold: f64,
    /// The usual count per window at that time (error bursts).
    #[serde(default)]
    pub baseline: f64,
    /// The most events in one window during the episode.
    pub peak: u64,
    /// Seconds in that window.
    pub window_secs: u64,
    /// Events per source.
    #[serde(default)]
    pub sources: BTreeMap<String, u64>,
    /// Share of HTTP requests that failed in the worst window, when the module has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The most frequent error messages (digits folded to `N`), most first.
    #[serde(default)]
    pub top_messages: Vec<MessageCount>,
    /// The first few events of the episode.
    #[serde(default)]
    pub examples: Vec<Event>,
    /// A query for `/api/v1/search` or `sluice search` that finds the episode's events
    /// (between `start` and `end`).
    pub search: String,
    /// Wall-clock time of this version of the alert.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCount {
    pub message: String,
    pub count: u64,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Opened,
    /// More events, or a new peak; sent at most once a second per alert.
    Updated,
    /// Severity went up (e.g. P2 -> P1 as a core flow starts failing outright).
    Escalated,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertUpdate {
    pub change: Change,
    pub alert: Alert,
}

const MAX_EXAMPLES: usize = 3;
const MAX_TOP_MESSAGES: usize = 5;
/// Distinct messages tracked per alert; the rest are counted but not named.
const MAX_DISTINCT_MESSAGES: usize = 200;
const EXAMPLE_MESSAGE_BYTES: usize = 2048;
const UPDATE_EVERY: Duration = Duration::from_secs(1);

/// The shared life of an alert: open, count, escalate, go quiet, close.
#[derive(Debug)]
pub(crate) struct Episode {
    pub(crate) alert: Alert,
    messages: HashMap<String, u64>,
    /// Event time from which the window has stayed under the threshold.
    calm_since: Option<DateTime<Utc>>,
    /// Wall clock of the last event counted.
    last_hit: Instant,
    last_sent: Instant,
    dirty: bool,
}

impl Episode {
    pub(crate) fn open(alert: Alert, seed: &[&Event]) -> Episode {
        let mut episode = Episode {
            alert,
            messages: HashMap::new(),
            calm_since: None,
            last_hit: Instant::now(),
            last_sent: Instant::now(),
            dirty: false,
        };
        for event in seed {
            episode.note(event);
        }
        episode.alert.top_messages = episode.top_messages();
        episode
    }

    /// Counts one more event of the episode.
    pub(crate) fn hit(&mut self, event: &Event) {
        self.alert.count += 1;
        self.alert.end = self.alert.end.max(event.timestamp);
        self.note(event);
        self.last_hit = Instant::now();
        self.dirty = true;
    }

    fn note(&mut self, event: &Event) {
        *self.alert.sources.entry(event.source.to_string()).or_default() += 1;
        let key = message_key(event);
        if self.messages.len() < MAX_DISTINCT_MESSAGES || self.messages.contains_key(&key) {
            *self.messages.entry(key).or_default() += 1;
        }
        if self.alert.examples.len() < MAX_EXAMPLES {
            let mut example = event.clone();
            if example.message.len() > EXAMPLE_MESSAGE_BYTES {
                let mut cut = EXAMPLE_MESSAGE_BYTES;
                while !example.message.is_char_boundary(cut) {
                    cut -= 1;
                }
                example.message.truncate(cut);
            }
            self.alert.examples.push(example);
        }
    }

    fn top_messages(&self) -> Vec<MessageCount> {
        let mut top: Vec<MessageCount> =
            self.messages.iter().map(|(m, n)| MessageCount { message: m.clone(), count: *n }).collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.message.cmp(&b.message)));
        top.truncate(MAX_TOP_MESSAGES);
        top
    }

    /// Tracks whether the window is over the threshold at event time `now`; true when the
    /// episode has been calm for `quiet`.
    pub(crate) fn settle(&mut self, over: bool, now: DateTime<Utc>, quiet: Duration) -> bool {
        if over {
            self.calm_since = None;
            return false;
        }
        let since = *self.calm_since.get_or_insert(now);
        (now - since).to_std().is_ok_and(|d| d >= quiet)
    }

    pub(crate) fn escalate(&mut self, severity: Severity, out: &mut Vec<AlertUpdate>) {
        if severity < self.alert.severity {
            self.alert.severity = severity;
            out.push(self.snapshot(Change::Escalated));
        }
    }

    pub(crate) fn idle_for(&self) -> Duration {
        self.last_hit.elapsed()
    }

    pub(crate) fn snapshot(&mut self, change: Change) -> AlertUpdate {
        self.alert.top_messages = self.top_messages();
        self.alert.updated_at = Utc::now();
        self.last_sent = Instant::now();
        self.dirty = false;
        AlertUpdate { change, alert: self.alert.clone() }
    }

    /// An `Updated` snapshot if something changed and the last one is a second old.
    pub(crate) fn due_update(&mut self, force: bool) -> Option<AlertUpdate> {
        (self.dirty && (force || self.last_sent.elapsed() >= UPDATE_EVERY)).then(|| self.snapshot(Change::Updated))
    }

    pub(crate) fn close(mut self) -> AlertUpdate {
        self.alert.status = AlertStatus::Closed;
        self.snapshot(Change::Closed)
    }
}

/// A stable id for an episode: the same rule, key and start give the same id.
pub(crate) fn alert_id(kind: AlertKind, rule: &str, key: &str, start: DateTime<Utc>) -> String {
    let digest = Md5::digest(format!("{}|{rule}|{key}|{}", kind.as_str(), start.timestamp_micros()).as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What an error "says", with digits folded so `order 123 failed` and `order 456 failed`
/// count as one: the request and status for access logs, else the message's first line.
pub fn message_key(event: &Event) -> String {
    if let (Some(path), Some(status)) = (event.field_str("path"), event.field_f64("status")) {
        let path = path.split('?').next().unwrap_or(path);
        let method = event.field_str("method").unwrap_or("");
        return format!("{method} {} -> {status}", fold_digits(path));
    }
    fold_digits(event.message.lines().next().unwrap_or(""))
}

/// Numbers become `N` and ids (hex runs of 8+ characters with a digit: trace ids, hashes)
/// become `X`, so messages that differ only in them count as one.
fn fold_digits(line: &str) -> String {
    let line: String = line.chars().take(200).collect();
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..].find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let has_digit = word.bytes().any(|b| b.is_ascii_digit());
        if has_digit && word.len() >= 8 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push('X');
        } else if has_digit {
            let mut last_digit = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        out.push('N');
                    }
                    last_digit = true;
                } else {
                    out.push(c);
                    last_digit = false;
                }
            }
        } else {
            out.push_str(word);
        }
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out
}

/// Everything detection does on the ingest path: marks slow SQL (with fingerprints),
/// and feeds the burst and slow-SQL rules.
pub struct Detector {
    slow_ms: HashMap<String, f64>,
    default_slow_ms: f64,
    bursts: burst::BurstRules,
    latency: latency::LatencyRules,
    slow: slow::SlowSqlRules,
}

impl Detector {
    pub fn new(config: &Config) -> Detector {
        let alerts: &AlertsConfig = &config.alerts;
        Detector {
            slow_ms: config.module_slow_sql_ms.iter().map(|(m, ms)| (m.clone(), *ms as f64)).collect(),
            default_slow_ms: config.slow_sql_ms() as f64,
            bursts: burst::BurstRules::new(alerts),
            latency: latency::LatencyRules::new(alerts),
            slow: slow::SlowSqlRules::new(alerts),
        }
    }

    /// Marks and classifies `event`, then runs the rules. Returns whether it is slow SQL.
    pub fn observe(&mut self, event: &mut Event, out: &mut Vec<AlertUpdate>) -> bool {
        let slow = self.prepare(event);
        self.evaluate(event, out);
        slow
    }

    /// Stamps fingerprint and query id on statements and marks slow ones. Idempotent, so
    /// events replayed from the WAL come out the same. Returns whether it is slow SQL.
    pub fn prepare(&self, event: &mut Event) -> bool {
        crate::sql::enrich(event);
        let threshold = self.slow_ms.get(event.module.as_str()).copied().unwrap_or(self.default_slow_ms);
        crate::SlowSqlMarker::with_threshold(threshold).mark(event)
    }

    /// Runs the alert rules on a prepared event.
    pub fn evaluate(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        self.bursts.observe(event, out);
        self.latency.observe(event, out);
        if event.fields.get("slow").and_then(sluice_core::FieldRef::as_bool) == Some(true) {
            self.slow.observe(event, out);
        } else {
            self.slow.advance(event, out);
        }
    }

    /// Wall-clock housekeeping, every few hundred ms: sends due updates and closes
    /// alerts whose module has been silent for the quiet period.
    pub fn tick(&mut self, out: &mut Vec<AlertUpdate>) {
        self.bursts.tick(false, out);
        self.latency.tick(false, out);
        self.slow.tick(false, out);
    }

    /// Sends every pending update now (before a flush or shutdown).
    pub fn flush(&mut self, out: &mut Vec<AlertUpdate>) {
        self.bursts.tick(true, out);
        self.latency.tick(true, out);
        self.slow.tick(true, out);
    }

    /// The input has ended (an import finished): closes every open alert.
    pub fn finish(&mut self, out: &mut Vec<AlertUpdate>) {
        self.bursts.finish(out);
        self.latency.finish(out);
        self.slow.finish(out);
    }

    /// Alerts currently open.
    pub fn open_alerts(&self) -> usize {
        self.bursts.open_alerts() + self.latency.open_alerts() + self.slow.open_alerts()
    }
}

#[cfg(test)]
mod tests;
