//! Detection on the ingest path: slow SQL is marked before events are stored (so
//! `slow:true` is searchable); errors are counted per module per minute for the
//! error-burst detector (not wired in yet; `/metrics` counts events by level meanwhile).

pub mod fingerprint;
pub mod pg_normalize;
pub mod sql;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use sluice_core::Event;

/// Marks statements slower than the threshold: `fields.slow = true`.
#[derive(Debug, Clone)]
pub struct SlowSqlMarker {
    threshold_ms: f64,
}

impl SlowSqlMarker {
    pub fn new(threshold_ms: u64) -> Self {
        SlowSqlMarker { threshold_ms: threshold_ms as f64 }
    }

    /// "Slower than 500 ms" is strict: a 500.0 ms statement is not slow.
    /// Returns whether the event was marked.
    pub fn mark(&self, event: &mut Event) -> bool {
        let Some(ms) = event.field_f64("query_time_ms") else { return false };
        let slow = ms > self.threshold_ms;
        event.fields.insert("slow".into(), Value::Bool(slow));
        slow
    }
}

/// Error counts per module, in one-minute buckets, kept for a bounded window.
#[derive(Debug, Default)]
pub struct ErrorCounter {
    buckets: HashMap<String, BTreeMap<DateTime<Utc>, u64>>,
    totals: HashMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleErrors {
    pub module: String,
    pub total: u64,
    /// Errors in the most recent minute that has any.
    pub last_minute: u64,
}

/// Minutes of history kept per module.
const RETAIN_MINUTES: i64 = 120;

impl ErrorCounter {
    /// Counts the event if it is an error (error/fatal level, or an HTTP 5xx status).
    pub fn observe(&mut self, event: &Event) {
        let http_5xx = event.field_f64("status").is_some_and(|s| (500.0..600.0).contains(&s));
        if !event.is_error() && !http_5xx {
            return;
        }
        let minute = event.timestamp.duration_trunc(TimeDelta::minutes(1)).unwrap_or(event.timestamp);
        let buckets = self.buckets.entry(event.module.clone()).or_default();
        *buckets.entry(minute).or_default() += 1;
        if let Some(newest) = buckets.keys().next_back().copied() {
            let horizon = newest - TimeDelta::minutes(RETAIN_MINUTES);
            buckets.retain(|t, _| *t >= horizon);
        }
        *self.totals.entry(event.module.clone()).or_default() += 1;
    }

    /// Errors per module, most first.
    pub fn summary(&self) -> Vec<ModuleErrors> {
        let mut out: Vec<ModuleErrors> = self
            .totals
            .iter()
            .map(|(module, total)| ModuleErrors {
                module: module.clone(),
                total: *total,
                last_minute: self.buckets.get(module).and_then(|b| b.values().next_back().copied()).unwrap_or(0),
            })
            .collect();
        out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.module.cmp(&b.module)));
        out
    }

    /// Per-minute counts for one module, oldest first.
    pub fn minutes(&self, module: &str) -> Vec<(DateTime<Utc>, u64)> {
        self.buckets.get(module).map(|b| b.iter().map(|(t, n)| (*t, *n)).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sluice_core::Level;

    fn event(secs: i64, module: &str, level: Level, fields: serde_json::Value) -> Event {
        let mut e = Event::new(Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap(), "x");
        e.module = module.into();
        e.level = level;
        e.fields = fields.as_object().unwrap().clone();
        e
    }

    #[test]
    fn slow_is_strictly_over_the_threshold() {
        let marker = SlowSqlMarker::new(500);
        let mut at = event(0, "order", Level::Info, serde_json::json!({"query_time_ms": 500.0}));
        assert!(!marker.mark(&mut at));
        assert_eq!(at.fields["slow"], false);
        let mut over = event(0, "order", Level::Info, serde_json::json!({"query_time_ms": 500.001}));
        assert!(marker.mark(&mut over));
        let mut not_sql = event(0, "order", Level::Info, serde_json::json!({}));
        assert!(!marker.mark(&mut not_sql));
        assert!(!not_sql.fields.contains_key("slow"));
    }

    #[test]
    fn counts_errors_and_5xx_per_module_and_minute() {
        let mut counter = ErrorCounter::default();
        counter.observe(&event(0, "payment", Level::Error, serde_json::json!({})));
        counter.observe(&event(10, "payment", Level::Info, serde_json::json!({"status": 502})));
        counter.observe(&event(70, "payment", Level::Fatal, serde_json::json!({})));
        counter.observe(&event(5, "order", Level::Warn, serde_json::json!({"status": 404})));
        counter.observe(&event(5, "order", Level::Error, serde_json::json!({})));
        let summary = counter.summary();
        assert_eq!(summary[0], ModuleErrors { module: "payment".into(), total: 3, last_minute: 1 });
        assert_eq!(summary[1].total, 1);
        assert_eq!(counter.minutes("payment").iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![2, 1]);
    }
}
