//! Events that arrive already structured: documents from an Elasticsearch `_bulk` request,
//! entries of a Loki push, OTLP log records. They go through the same [`Parser`] as a
//! file's lines, so source, host, module routing and parse-error counting are the same,
//! and a source configured with a text format still gets its lines parsed.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sluice_core::{Event, Fields, FormatName, Level, Name};

use crate::{PARSE_ERROR_FIELD, Parser, json};

/// A line a shipper pushed together with metadata of its own (a Loki entry and its labels,
/// an OTLP log record and its attributes). The shipper's time, level and host win over
/// what the line's text says; its fields are added where the parsed line has none.
#[derive(Debug, Clone, Default)]
pub struct PushedRecord {
    pub text: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub level: Option<Level>,
    pub host: Option<String>,
    pub fields: Fields,
}

impl Parser {
    /// A JSON document (an Elasticsearch `_bulk` source). Its well-known keys become the
    /// event's time, level, message and host, the rest stay fields. When the source is
    /// configured with a text format (nginx, logback, ...), the document's `message` is
    /// parsed with it, the way an ingest pipeline would, and the document's other keys
    /// are added to the parsed fields.
    pub fn push_document(&mut self, document: Map<String, Value>, out: &mut Vec<Event>) {
        let start = out.len();
        // Filebeat and Logstash send the line as `message`, Fluent Bit as `log`, syslog-ng
        // as `MESSAGE`.
        let has_line = document
            .iter()
            .any(|(k, v)| v.is_string() && ["message", "log", "msg"].iter().any(|name| k.eq_ignore_ascii_case(name)));
        let event = json::from_object(document, &self.ctx, self.ctx.received_at);
        if self.parses_text() && has_line {
            let lines = event.message.clone();
            self.parse_text(&lines, out);
            for parsed in &mut out[start..] {
                // A line kept raw has no time of its own: the document's is better than now.
                if parsed.fields.contains_key(PARSE_ERROR_FIELD) {
                    parsed.timestamp = event.timestamp;
                }
                parsed.fields.extend_missing(&event.fields);
                if parsed.host.is_empty() {
                    parsed.host = event.host.clone();
                }
            }
            if out.len() > start {
                self.finish(&mut out[start..]);
                return;
            }
        }
        out.push(event);
        self.finish(&mut out[start..]);
    }

    /// A pushed line with its shipper's metadata; one record is one or more events (more
    /// only when the text holds several complete entries of a multi-line format).
    pub fn push_record(&mut self, record: PushedRecord, out: &mut Vec<Event>) {
        let start = out.len();
        if self.format_name == FormatName::Plain || record.text.is_empty() {
            let mut event = Event::new(record.timestamp.unwrap_or(self.ctx.received_at), record.text);
            event.level = crate::text::sniff_level(&event.message).unwrap_or(Level::Info);
            out.push(event);
        } else {
            self.parse_text(&record.text, out);
        }
        for event in &mut out[start..] {
            if let Some(timestamp) = record.timestamp {
                event.timestamp = timestamp;
            }
            if let Some(level) = record.level {
                event.level = level;
            }
            if let Some(host) = &record.host {
                event.host = Name::from(host);
            }
            event.fields.extend_missing(&record.fields);
        }
        self.finish(&mut out[start..]);
    }

    /// Whether this source's format reads text (as opposed to taking documents as they are).
    fn parses_text(&self) -> bool {
        !matches!(self.format_name, FormatName::Auto | FormatName::Json)
    }

    /// Runs `text` through the format alone (no stamping), as one complete stream.
    fn parse_text(&mut self, text: &str, out: &mut Vec<Event>) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut offset = 0u64;
        for line in text.split('\n') {
            self.format.push_line(line.strip_suffix('\r').unwrap_or(line).as_bytes(), offset, out);
            offset += line.len() as u64 + 1;
        }
        self.format.flush(out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sluice_core::{Config, SourceConfig};

    use super::*;
    use crate::ModuleRouter;

    fn parser(format: FormatName) -> Parser {
        let source = SourceConfig::adhoc("shipped", format);
        Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "sluice-host", DateTime::UNIX_EPOCH)
            .unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test documents are objects"),
        }
    }

    #[test]
    fn a_document_keeps_its_keys_and_is_routed() {
        let mut out = Vec::new();
        parser(FormatName::Auto).push_document(
            object(json!({"@timestamp": "2026-11-20T14:00:00Z", "message": "refund failed",
                "log": {"level": "error"}, "service": "payment-svc", "agent": {"type": "filebeat"}})),
            &mut out,
        );
        let event = &out[0];
        assert_eq!(event.message, "refund failed");
        assert_eq!(event.level, Level::Error);
        assert_eq!(event.module, "payment");
        assert_eq!(event.source, "shipped");
        assert_eq!(event.host, "sluice-host");
        assert_eq!(event.fields.value("agent")["type"], "filebeat");
        assert_eq!(event.timestamp.to_rfc3339(), "2026-11-20T14:00:00+00:00");
    }

    #[test]
    fn a_document_of_a_text_source_has_its_message_parsed() {
        let line = r#"10.0.0.7 - - [20/Nov/2026:14:00:00 +0000] "POST /api/pay/confirm HTTP/1.1" 502 12 "-" "curl/8""#;
        let mut p = parser(FormatName::Nginx);
        let mut out = Vec::new();
        p.push_document(object(json!({"message": line, "host": {"name": "web-1"}, "fileset": "access"})), &mut out);
        let event = &out[0];
        assert_eq!(event.fields.value("status"), 502);
        assert_eq!(event.fields.value("fileset"), "access");
        assert_eq!(event.module, "payment");
        assert_eq!(event.host, "web-1");
        assert_eq!(event.level, Level::Error);

        out.clear();
        p.push_document(
            object(json!({"message": "not an access line", "@timestamp": "2026-11-20T14:00:05Z"})),
            &mut out,
        );
        assert!(out[0].fields.contains_key(PARSE_ERROR_FIELD));
        assert_eq!(out[0].timestamp.to_rfc3339(), "2026-11-20T14:00:05+00:00");
        assert_eq!(p.parse_errors(), 1);
    }

    #[test]
    fn a_record_takes_its_shippers_time_level_and_labels() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T14:00:01.5Z").unwrap().to_utc();
        let mut fields = Fields::new();
        fields.insert("service_name", json!("checkout"));
        fields.insert("status", json!("not overwritten"));
        let line = r#"10.0.0.7 - - [20/Nov/2026:13:59:59 +0000] "GET /api/order/7 HTTP/1.1" 500 1 "-" "-""#;
        let mut out = Vec::new();
        parser(FormatName::Auto).push_record(
            PushedRecord { text: line.into(), timestamp: Some(at), level: None, host: Some("web-2".into()), fields },
            &mut out,
        );
        let event = &out[0];
        assert_eq!(event.timestamp, at);
        assert_eq!(event.fields.value("status"), 500);
        assert_eq!(event.fields.value("service_name"), "checkout");
        assert_eq!(event.host, "web-2");
        assert_eq!(event.level, Level::Error);
        assert_eq!(event.module, "order");

        out.clear();
        parser(FormatName::Plain).push_record(
            PushedRecord { text: "stock low".into(), level: Some(Level::Warn), ..Default::default() },
            &mut out,
        );
        assert_eq!((out[0].message.as_str(), out[0].level), ("stock low", Level::Warn));
    }
}
