use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fields::{FieldRef, Fields};
use crate::name::Name;

/// The field that marks an event whose text could not be parsed (kept raw, counted).
pub const PARSE_ERROR_FIELD: &str = "parse_error";

/// The modules every shop has; configs may add more.
pub const BUILTIN_MODULES: [&str; 7] = ["product", "order", "payment", "inventory", "user", "logistics", "other"];

/// One log event, in the shape search returns (see CONTRACT.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(serialize_with = "ser_ts", deserialize_with = "de_ts")]
    pub timestamp: DateTime<Utc>,
    pub module: Name,
    pub source: Name,
    pub level: Level,
    #[serde(default)]
    pub host: Name,
    pub message: String,
    #[serde(default)]
    pub fields: Fields,
}

impl Event {
    /// An event with just a message; parsers fill in the rest.
    pub fn new(timestamp: DateTime<Utc>, message: impl Into<String>) -> Self {
        Event {
            timestamp,
            module: Name::default(),
            source: Name::default(),
            level: Level::Info,
            host: Name::default(),
            message: message.into(),
            fields: Fields::new(),
        }
    }

    /// A field as a string slice, if present and a string.
    pub fn field_str(&self, key: &str) -> Option<&str> {
        self.fields.get_str(key)
    }

    /// A field as a number, whether stored as a JSON number or a numeric string.
    pub fn field_f64(&self, key: &str) -> Option<f64> {
        match self.fields.get(key)? {
            FieldRef::Str(s) => s.parse().ok(),
            FieldRef::Other(v) => v.as_f64(),
        }
    }

    /// Whether this event's level is error or fatal.
    pub fn is_error(&self) -> bool {
        self.level >= Level::Error
    }

    /// An HTTP request answered with a 5xx status.
    pub fn is_failed_request(&self) -> bool {
        self.field_f64("status").is_some_and(|s| (500.0..600.0).contains(&s))
    }

    /// An error level or a failed request: what error bursts and incident summaries count.
    pub fn counts_as_error(&self) -> bool {
        self.is_error() || self.is_failed_request()
    }
}

/// RFC 3339 in UTC, always with fractional seconds, at the precision the source had
/// (milliseconds unless finer digits are present).
pub fn format_timestamp(ts: &DateTime<Utc>) -> String {
    let nanos = ts.timestamp_subsec_nanos();
    let precision = if nanos.is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else if nanos.is_multiple_of(1_000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    ts.to_rfc3339_opts(precision, true)
}

fn ser_ts<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(ts))
}

fn de_ts<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
}

/// Severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Maps the many spellings real loggers use (log4j, syslog, PostgreSQL, Python,
    /// OpenTelemetry) onto the six levels. Case-insensitive; `None` when unknown.
    pub fn parse_lenient(text: &str) -> Option<Level> {
        let text = text.trim();
        if text.len() > 12 {
            return None;
        }
        let mut buf = [0u8; 12];
        let lower = &mut buf[..text.len()];
        lower.copy_from_slice(text.as_bytes());
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"trace" | b"trc" | b"finest" | b"finer" => Level::Trace,
            b"debug" | b"dbg" | b"fine" | b"debug1" | b"debug2" | b"debug3" | b"debug4" | b"debug5" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" | b"log" | b"statement" | b"detail"
            | b"hint" | b"context" | b"config" => Level::Info,
            b"warn" | b"warning" | b"wrn" => Level::Warn,
            b"error" | b"err" | b"eror" | b"severe" => Level::Error,
            b"fatal" | b"crit" | b"critical" | b"alert" | b"emerg" | b"emergency" | b"panic" => Level::Fatal,
            _ => return None,
        })
    }

    /// The level an HTTP status implies: 5xx error, 4xx warn, else info.
    pub fn from_http_status(status: u16) -> Level {
        match status {
            500..=599 => Level::Error,
            400..=499 => Level::Warn,
            _ => Level::Info,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::parse_lenient(s)
            .ok_or_else(|| format!("unknown level `{s}` (expected trace, debug, info, warn, error or fatal)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serializes_in_contract_shape() {
        let mut event = Event::new(Utc.timestamp_opt(1_763_647_200, 0).unwrap(), "hello");
        event.module = "order".into();
        event.source = "nginx".into();
        event.level = Level::Error;
        event.fields.insert("status", serde_json::Value::from(502));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["timestamp"], "2025-11-20T14:00:00.000Z");
        assert_eq!(json["level"], "error");
        assert_eq!(json["fields"]["status"], 502);
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn keeps_sub_millisecond_precision() {
        let ts = Utc.timestamp_opt(0, 123_456_000).unwrap();
        assert_eq!(format_timestamp(&ts), "1970-01-01T00:00:00.123456Z");
    }

    #[test]
    fn lenient_levels() {
        assert_eq!(Level::parse_lenient("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse_lenient("severe"), Some(Level::Error));
        assert_eq!(Level::parse_lenient("PANIC"), Some(Level::Fatal));
        assert_eq!(Level::parse_lenient("LOG"), Some(Level::Info));
        assert_eq!(Level::parse_lenient("bogus"), None);
        assert_eq!(Level::parse_lenient("a-very-long-level-name"), None);
        assert!(Level::Fatal > Level::Error && Level::Error > Level::Warn);
    }
}
