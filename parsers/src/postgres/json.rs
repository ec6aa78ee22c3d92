//! The JSON shapes PostgreSQL logs arrive in: `log_destination = jsonlog` (PostgreSQL 15+),
//! CloudNativePG's wrapper (`{"record": {...csvlog names...}}`) and Google Cloud SQL exports
//! (`{"textPayload": "[pid]: [1-1] db=,user= LOG:  ...", "timestamp": ...}`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::Fields;

use super::Message;
use crate::{ParseContext, timestamp};

pub(crate) enum JsonLine {
    /// A whole message with its fields.
    Record(Message),
    /// A stderr-style line (Cloud SQL), with the time the wrapper gives.
    Text { at: Option<DateTime<Utc>>, text: String },
    /// A JSON log record that is not PostgreSQL's (CloudNativePG's own operator logs).
    Other(sluice_core::Event),
}

pub(crate) fn parse(line: &str, ctx: &ParseContext) -> Option<JsonLine> {
    let Value::Object(mut doc) = serde_json::from_str::<Value>(line).ok()? else { return None };
    if let Some(Value::String(text)) = doc.remove("textPayload") {
        let at = doc.get("timestamp").and_then(Value::as_str).and_then(|t| time(t, ctx));
        return Some(JsonLine::Text { at, text });
    }
    if let Some(Value::Object(record)) = doc.get("record") {
        if let Some(message) = record_message(record.clone(), ctx, &CNPG_NAMES) {
            return Some(JsonLine::Record(message));
        }
    } else if doc.contains_key("error_severity")
        && let Some(message) = record_message(doc.clone(), ctx, &JSONLOG_NAMES)
    {
        return Some(JsonLine::Record(message));
    }
    Some(JsonLine::Other(crate::json::from_object(doc, ctx, ctx.received_at)))
}

/// (name in the source, Sluice field name). `time`, `severity` and `message` are special.
const JSONLOG_NAMES: [(&str, &str); 21] = [
    ("timestamp", "time"),
    ("error_severity", "severity"),
    ("message", "message"),
    ("user", "user"),
    ("dbname", "db"),
    ("pid", "pid"),
    ("remote_host", "client_host"),
    ("remote_port", "client_port"),
    ("session_id", "session_id"),
    ("line_num", "session_line"),
    ("ps", "command_tag"),
    ("vxid", "vxid"),
    ("txid", "txid"),
    ("state_code", "sqlstate"),
    ("detail", "detail"),
    ("hint", "hint"),
    ("context", "context"),
    ("statement", "statement"),
    ("application_name", "application"),
    ("backend_type", "backend_type"),
    ("query_id", "pg_query_id"),
];

const CNPG_NAMES: [(&str, &str); 18] = [
    ("log_time", "time"),
    ("error_severity", "severity"),
    ("message", "message"),
    ("user_name", "user"),
    ("database_name", "db"),
    ("process_id", "pid"),
    ("connection_from", "client_host"),
    ("session_id", "session_id"),
    ("session_line_num", "session_line"),
    ("command_tag", "command_tag"),
    ("transaction_id", "txid"),
    ("sql_state_code", "sqlstate"),
    ("detail", "detail"),
    ("hint", "hint"),
    ("query", "statement"),
    ("application_name", "application"),
    ("backend_type", "backend_type"),
    ("query_id", "pg_query_id"),
];

fn record_message(
    mut record: serde_json::Map<String, Value>,
    ctx: &ParseContext,
    names: &[(&str, &'static str)],
) -> Option<Message> {
    let mut message = Message { at: None, severity: String::new(), text: String::new(), fields: Fields::new() };
    for (source, target) in names {
        let Some(value) = record.remove(*source) else { continue };
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        match *target {
            "time" => message.at = time(&text, ctx),
            "severity" => message.severity = text,
            "message" => message.text = text,
            "pid" | "session_line" | "client_port" => {
                let number = text.parse::<u64>().map_or(value, Value::from);
                message.fields.insert(*target, number);
            }
            _ if text.is_empty() || text == "[unknown]" => {}
            _ => {
                message.fields.insert_str(*target, &text);
            }
        }
    }
    (!message.severity.is_empty()).then_some(message)
}

fn time(text: &str, ctx: &ParseContext) -> Option<DateTime<Utc>> {
    timestamp::iso_prefix(text.as_bytes(), ctx.timezone).map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::ctx;

    #[test]
    fn three_shapes() {
        let jsonlog = r#"{"timestamp":"2026-11-20 14:00:00.123 UTC","user":"app","dbname":"shop","pid":42,"error_severity":"LOG","message":"duration: 612.3 ms  statement: SELECT 1","application_name":"api"}"#;
        let Some(JsonLine::Record(m)) = parse(jsonlog, &ctx()) else { panic!() };
        assert_eq!(
            (m.severity.as_str(), m.fields.value("db").as_str(), m.fields.value("pid").as_u64()),
            ("LOG", Some("shop"), Some(42))
        );

        let cnpg = r#"{"level":"info","ts":1669575482.09,"logger":"postgres","msg":"record","record":{"log_time":"2022-11-27 18:58:02.096 UTC","user_name":"postgres","database_name":"postgres","process_id":"600","error_severity":"LOG","message":"disconnection"}}"#;
        let Some(JsonLine::Record(m)) = parse(cnpg, &ctx()) else { panic!() };
        assert_eq!(m.fields.value("pid"), 600);
        assert_eq!(m.at.unwrap().to_rfc3339(), "2022-11-27T18:58:02.096+00:00");

        let cloudsql = r#"{"severity":"INFO","textPayload":"[24667]: [1-1] db=shop,user=app LOG:  connection received","timestamp":"2020-05-02T13:00:20.382318Z"}"#;
        let Some(JsonLine::Text { at, text }) = parse(cloudsql, &ctx()) else { panic!() };
        assert!(text.starts_with("[24667]") && at.is_some());
        assert!(parse("{not json", &ctx()).is_none());
        let operator = r#"{"level":"info","ts":1669575244.9,"logger":"wal-archive","msg":"Backup not configured"}"#;
        let Some(JsonLine::Other(e)) = parse(operator, &ctx()) else { panic!() };
        assert_eq!(e.message, "Backup not configured");
    }
}
