//! Detection on the ingest path: statements get their fingerprint and query id and slow
//! ones are marked before events are stored (so `slow:true` and `query_id:...` are
//! searchable); the alert rules (error bursts, slow-SQL storms) run on the same stream.

pub mod alerts;
pub mod fingerprint;
pub mod pg_normalize;
pub mod sql;

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

    pub fn with_threshold(threshold_ms: f64) -> Self {
        SlowSqlMarker { threshold_ms }
    }

    /// "Slower than 500 ms" is strict: a 500.0 ms statement is not slow.
    /// Returns whether the event was marked.
    pub fn mark(&self, event: &mut Event) -> bool {
        let Some(ms) = event.field_f64("query_time_ms") else { return false };
        let slow = ms > self.threshold_ms;
        event.fields.insert("slow", Value::Bool(slow));
        slow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use sluice_core::Level;

    fn event(secs: i64, module: &str, level: Level, fields: serde_json::Value) -> Event {
        let mut e = Event::new(Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap(), "x");
        e.module = module.into();
        e.level = level;
        e.fields = fields.as_object().unwrap().clone().into();
        e
    }

    #[test]
    fn slow_is_strictly_over_the_threshold() {
        let marker = SlowSqlMarker::new(500);
        let mut at = event(0, "order", Level::Info, serde_json::json!({"query_time_ms": 500.0}));
        assert!(!marker.mark(&mut at));
        assert_eq!(at.fields.value("slow"), false);
        let mut over = event(0, "order", Level::Info, serde_json::json!({"query_time_ms": 500.001}));
        assert!(marker.mark(&mut over));
        let mut not_sql = event(0, "order", Level::Info, serde_json::json!({}));
        assert!(!marker.mark(&mut not_sql));
        assert!(!not_sql.fields.contains_key("slow"));
    }
}
