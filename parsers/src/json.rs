//! JSON lines: one object per line. The usual timestamp, level and message keys are
//! recognised; every other key is kept as a field.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sluice_core::{Event, Level};

use crate::{FormatParser, ParseContext, raw_event, timestamp};

const TIME_KEYS: [&str; 7] = ["@timestamp", "timestamp", "time", "ts", "datetime", "date", "@t"];
const LEVEL_KEYS: [&str; 8] = ["level", "severity", "lvl", "log.level", "levelname", "loglevel", "severity_text", "@l"];
const MESSAGE_KEYS: [&str; 6] = ["message", "msg", "log", "text", "@m", "body"];
const HOST_KEYS: [&str; 3] = ["host", "hostname", "host.name"];

pub(crate) struct JsonParser {
    ctx: ParseContext,
    last_time: Option<DateTime<Utc>>,
}

impl JsonParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        JsonParser { ctx, last_time: None }
    }
}

impl FormatParser for JsonParser {
    fn push_line(&mut self, line: &[u8], _offset: u64, out: &mut Vec<Event>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let fallback = self.last_time.unwrap_or(self.ctx.received_at);
        let event = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(map)) => from_object(map, &self.ctx, fallback),
            Ok(_) => raw_event(line, fallback, "not a JSON object"),
            Err(e) => raw_event(line, fallback, &format!("invalid JSON: {e}")),
        };
        self.last_time = Some(event.timestamp);
        out.push(event);
    }

    fn flush(&mut self, _out: &mut Vec<Event>) {}

    fn pending_offset(&self) -> Option<u64> {
        None
    }
}

/// Builds an event from a decoded JSON object (also used for HTTP-pushed documents).
pub fn from_object(mut map: Map<String, Value>, ctx: &ParseContext, fallback: DateTime<Utc>) -> Event {
    let time = take_first(&mut map, &TIME_KEYS).and_then(|v| time_value(&v, ctx));
    let level = take_first(&mut map, &LEVEL_KEYS).and_then(|v| level_value(&v));
    let message = match take_first(&mut map, &MESSAGE_KEYS) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let host = match take_first(&mut map, &HOST_KEYS) {
        Some(Value::String(s)) => s,
        Some(Value::Object(mut h)) => match h.remove("name") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        },
        _ => String::new(),
    };
    for (alias, canonical) in [("traceId", "trace_id"), ("traceid", "trace_id"), ("spanId", "span_id")] {
        if !map.contains_key(canonical)
            && let Some(v) = map.remove(alias)
        {
            map.insert(canonical.into(), v);
        }
    }
    let mut event = Event::new(time.unwrap_or(fallback), message);
    event.level = level.unwrap_or_else(|| {
        map.get("status").and_then(Value::as_u64).map_or(Level::Info, |s| Level::from_http_status(s as u16))
    });
    event.host = host;
    if event.message.is_empty() {
        // Nothing named message: the whole document is the text to search.
        event.message = Value::Object(map.clone()).to_string();
    }
    event.fields = map;
    event
}

fn take_first(map: &mut Map<String, Value>, keys: &[&str]) -> Option<Value> {
    for key in keys {
        if let Some(v) = map.remove(*key) {
            return Some(v);
        }
        // Dotted keys also match one level of nesting: {"log": {"level": "info"}}.
        if let Some((outer, inner)) = key.split_once('.')
            && let Some(Value::Object(nested)) = map.get_mut(outer)
            && let Some(v) = nested.remove(inner)
        {
            if nested.is_empty() {
                map.remove(outer);
            }
            return Some(v);
        }
    }
    None
}

fn time_value(value: &Value, ctx: &ParseContext) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => timestamp::iso_prefix(s.as_bytes(), ctx.timezone)
            .map(|(t, _)| t)
            .or_else(|| s.parse::<f64>().ok().and_then(timestamp::epoch_guess)),
        Value::Number(n) => n.as_f64().and_then(timestamp::epoch_guess),
        _ => None,
    }
}

fn level_value(value: &Value) -> Option<Level> {
    match value {
        Value::String(s) => Level::parse_lenient(s),
        // pino / bunyan numeric levels.
        Value::Number(n) => Some(match n.as_u64()? {
            0..=10 => Level::Trace,
            11..=20 => Level::Debug,
            21..=30 => Level::Info,
            31..=40 => Level::Warn,
            41..=50 => Level::Error,
            _ => Level::Fatal,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Event {
        let ctx = ParseContext { timezone: chrono_tz::Tz::UTC, received_at: DateTime::UNIX_EPOCH };
        let mut out = Vec::new();
        JsonParser::new(ctx).push_line(line.as_bytes(), 0, &mut out);
        out.pop().unwrap()
    }

    #[test]
    fn common_keys() {
        let e = parse(
            r#"{"@timestamp":"2026-11-20T14:00:00.5Z","level":"WARN","msg":"low stock","service":"inventory-svc","traceId":"abc123def","sku":"A1"}"#,
        );
        assert_eq!(e.timestamp.to_rfc3339(), "2026-11-20T14:00:00.500+00:00");
        assert_eq!(e.level, Level::Warn);
        assert_eq!(e.message, "low stock");
        assert_eq!(e.fields["trace_id"], "abc123def");
        assert_eq!(e.fields["sku"], "A1");
        assert!(!e.fields.contains_key("level"));
    }

    #[test]
    fn numeric_and_nested() {
        let e = parse(r#"{"time":1763647200123,"level":50,"log":{"level":"x"},"msg":"boom"}"#);
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.timestamp.timestamp_millis(), 1_763_647_200_123);
        let e = parse(r#"{"log":{"level":"error"},"message":"ecs"}"#);
        assert_eq!(e.level, Level::Error);
        assert!(!e.fields.contains_key("log"));
    }

    #[test]
    fn invalid_json_is_kept() {
        let e = parse(r#"{"level":"error", oops"#);
        assert!(e.fields["parse_error"].as_str().unwrap().starts_with("invalid JSON"));
        assert_eq!(e.level, Level::Info);
        let e = parse("[1,2]");
        assert_eq!(e.fields["parse_error"], "not a JSON object");
    }
}
