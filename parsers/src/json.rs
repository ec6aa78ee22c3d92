//! JSON lines: one object per line. The usual timestamp, level and message keys are
//! recognised; every other key is kept as a field.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sluice_core::{Event, FieldName, FieldRef, Fields, Level};

use crate::timestamp::{self, IsoClock};
use crate::{FormatParser, ParseContext, raw_event};

const TIME_KEYS: [&str; 7] = ["@timestamp", "timestamp", "time", "ts", "datetime", "date", "@t"];
const LEVEL_KEYS: [&str; 9] =
    ["level", "severity", "lvl", "log.level", "levelname", "loglevel", "severity_text", "@l", "priority"];
const MESSAGE_KEYS: [&str; 6] = ["message", "msg", "log", "text", "@m", "body"];
const HOST_KEYS: [&str; 3] = ["host", "hostname", "host.name"];
/// The alias lists by role, as [`key_role`] numbers them.
const ALIASES: [&[&str]; 4] = [&TIME_KEYS, &LEVEL_KEYS, &MESSAGE_KEYS, &HOST_KEYS];

pub(crate) struct JsonParser {
    ctx: ParseContext,
    last_time: Option<DateTime<Utc>>,
    clock: IsoClock,
}

impl JsonParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        JsonParser { clock: IsoClock::new(ctx.timezone), ctx, last_time: None }
    }
}

impl FormatParser for JsonParser {
    fn push_line(&mut self, line: &[u8], _offset: u64, out: &mut Vec<Event>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let fallback = self.last_time.unwrap_or(self.ctx.received_at);
        // Straight into `Fields`: no intermediate map of the whole document.
        let event = match sluice_core::json::fields_from_bytes(line) {
            Ok(fields) => from_fields(fields, &mut self.clock, fallback),
            Err(e) if e.is_data() => raw_event(line, fallback, "not a JSON object"),
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
pub fn from_object(map: Map<String, Value>, ctx: &ParseContext, fallback: DateTime<Utc>) -> Event {
    from_fields(Fields::from(map), &mut IsoClock::new(ctx.timezone), fallback)
}

fn from_fields(mut map: Fields, clock: &mut IsoClock, fallback: DateTime<Utc>) -> Event {
    // One pass over the keys finds which well-known ones are present (probing every alias
    // with a failed lookup costs more than parsing the line).
    let mut found: [Option<(usize, FieldName)>; 4] = Default::default();
    for (key, value) in &map {
        if let Some((role, rank)) = key_role(key, value)
            && found[role].as_ref().is_none_or(|(best, _)| rank < *best)
        {
            // Almost always the alias as spelled: no copy.
            let alias = ALIASES[role][rank];
            let key = if key == alias { FieldName::Borrowed(alias) } else { FieldName::Owned(key.to_owned()) };
            found[role] = Some((rank, key));
        }
    }
    let [time_key, level_key, message_key, host_key] = found;
    let time = time_key.and_then(|(rank, key)| take_with(&mut map, &key, TIME_KEYS[rank], |v| time_value(v, clock)));
    let level = level_key.and_then(|(rank, key)| take_with(&mut map, &key, LEVEL_KEYS[rank], level_value));
    let mut take = |hit: Option<(usize, FieldName)>, aliases: &[&str]| {
        hit.and_then(|(rank, key)| take_key(&mut map, &key, aliases[rank]))
    };
    let message = match take(message_key, &MESSAGE_KEYS) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let host = match take(host_key, &HOST_KEYS) {
        Some(Value::String(s)) => s,
        // ECS: {"host": {"name": "web-1", ...}}; the rest of the object stays a field.
        Some(Value::Object(mut h)) => {
            let name = match h.remove("name") {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            if !h.is_empty() {
                map.insert("host", Value::Object(h));
            }
            name
        }
        Some(other) => other.to_string(),
        None => String::new(),
    };
    for (alias, canonical) in [("traceId", "trace_id"), ("traceid", "trace_id"), ("spanId", "span_id")] {
        if !map.contains_key(canonical)
            && let Some(v) = map.remove(alias)
        {
            map.insert(canonical, v);
        }
    }
    let mut event = Event::new(time.unwrap_or(fallback), message);
    event.level = level.unwrap_or_else(|| {
        map.get("status").and_then(FieldRef::as_u64).map_or(Level::Info, |s| Level::from_http_status(s as u16))
    });
    event.host = host.into();
    if event.message.is_empty() {
        // Nothing named message: the whole document is the text to search.
        event.message = serde_json::to_string(&map).unwrap_or_default();
    }
    event.fields = map;
    event
}

/// The role (time, level, message, host) a key plays and its rank among that role's
/// aliases (lower wins), as indexes into the alias lists above. Upper-case spellings count
/// too: syslog-ng's JSON templates write `MESSAGE`, `HOST`, `PRIORITY`.
fn key_role(key: &str, value: FieldRef<'_>) -> Option<(usize, usize)> {
    if key.bytes().any(|b| b.is_ascii_uppercase()) && key.len() <= 16 {
        let mut buf = [0u8; 16];
        let lower = &mut buf[..key.len()];
        lower.copy_from_slice(key.as_bytes());
        lower.make_ascii_lowercase();
        return std::str::from_utf8(lower).ok().and_then(|k| lowercase_key_role(k, value));
    }
    lowercase_key_role(key, value)
}

fn lowercase_key_role(key: &str, value: FieldRef<'_>) -> Option<(usize, usize)> {
    Some(match key {
        "@timestamp" => (0, 0),
        "timestamp" => (0, 1),
        "time" => (0, 2),
        "ts" => (0, 3),
        "datetime" => (0, 4),
        "date" => (0, 5),
        "@t" => (0, 6),
        "level" => (1, 0),
        "severity" => (1, 1),
        "lvl" => (1, 2),
        // ECS nests the level: {"log": {"level": "info"}}; a plain "log" string is the message.
        "log" if value.other().is_some_and(Value::is_object) => (1, 3),
        "log.level" => (1, 3),
        "levelname" => (1, 4),
        "loglevel" => (1, 5),
        "severity_text" => (1, 6),
        "@l" => (1, 7),
        "priority" => (1, 8),
        "message" => (2, 0),
        "msg" => (2, 1),
        "log" => (2, 2),
        "text" => (2, 3),
        "@m" => (2, 4),
        "body" => (2, 5),
        "host" => (3, 0),
        "hostname" => (3, 1),
        "host.name" => (3, 2),
        _ => return None,
    })
}

/// Reads `key` with `read` and removes it from `map` (as [`take_key`] does), without
/// copying a plain string value out first.
fn take_with<T>(map: &mut Fields, key: &str, alias: &str, read: impl FnOnce(FieldRef<'_>) -> Option<T>) -> Option<T> {
    if alias.contains('.') && !alias.eq_ignore_ascii_case(key) {
        return match take_key(map, key, alias)? {
            Value::String(s) => read(FieldRef::Str(&s)),
            other => read(FieldRef::Other(&other)),
        };
    }
    let value = read(map.get(key)?);
    map.delete(key);
    value
}

/// Removes `key` from `map`: the value itself for a plain alias, or the inner value of a
/// dotted alias (`log.level` in `{"log": {"level": ...}}`), dropping an emptied parent.
fn take_key(map: &mut Fields, key: &str, alias: &str) -> Option<Value> {
    match alias.split_once('.') {
        Some((_, inner)) if !alias.eq_ignore_ascii_case(key) => {
            let Some(Value::Object(nested)) = map.get_other_mut(key) else { return None };
            let value = nested.remove(inner)?;
            if nested.is_empty() {
                map.remove(key);
            }
            Some(value)
        }
        _ => map.remove(key),
    }
}

fn time_value(value: FieldRef<'_>, clock: &mut IsoClock) -> Option<DateTime<Utc>> {
    match value {
        FieldRef::Str(s) => {
            clock.read(s.as_bytes()).map(|(t, _)| t).or_else(|| s.parse::<f64>().ok().and_then(timestamp::epoch_guess))
        }
        FieldRef::Other(Value::Number(n)) => n.as_f64().and_then(timestamp::epoch_guess),
        FieldRef::Other(_) => None,
    }
}

fn level_value(value: FieldRef<'_>) -> Option<Level> {
    match value {
        FieldRef::Str(s) => Level::parse_lenient(s),
        // pino / bunyan numeric levels.
        FieldRef::Other(Value::Number(n)) => Some(match n.as_u64()? {
            0..=10 => Level::Trace,
            11..=20 => Level::Debug,
            21..=30 => Level::Info,
            31..=40 => Level::Warn,
            41..=50 => Level::Error,
            _ => Level::Fatal,
        }),
        FieldRef::Other(_) => None,
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
        assert_eq!(e.fields.value("trace_id"), "abc123def");
        assert_eq!(e.fields.value("sku"), "A1");
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
    fn ecs_host_object() {
        let e = parse(r#"{"message":"m","host":{"name":"web-1","ip":"10.0.0.1"},"log.level":"warn"}"#);
        assert_eq!(e.host, "web-1");
        assert_eq!(e.fields.value("host")["ip"], "10.0.0.1");
        assert_eq!(e.level, Level::Warn);
    }

    #[test]
    fn upper_case_keys_of_syslog_ng_templates() {
        let e = parse(
            r#"{"@timestamp":"2026-11-20T14:00:00Z","MESSAGE":"disk full","HOST":"db-1","PRIORITY":"err","PROGRAM":"mysqld"}"#,
        );
        assert_eq!((e.message.as_str(), e.host.as_str(), e.level), ("disk full", "db-1", Level::Error));
        assert_eq!(e.fields.value("PROGRAM"), "mysqld");
        assert!(!e.fields.contains_key("MESSAGE"));
    }

    #[test]
    fn invalid_json_is_kept() {
        let e = parse(r#"{"level":"error", oops"#);
        assert!(e.fields.value("parse_error").as_str().unwrap().starts_with("invalid JSON"));
        assert_eq!(e.level, Level::Info);
        let e = parse("[1,2]");
        assert_eq!(e.fields.value("parse_error"), "not a JSON object");
    }
}
