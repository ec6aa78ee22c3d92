//! `log_destination = csvlog`: one CSV record per message; quoted fields may span lines.

use serde_json::Value;
use sluice_core::Fields;

use super::Message;
use crate::timestamp::IsoClock;

/// Column names of PostgreSQL's csvlog, in order (13+ adds backend_type, 14+ leader_pid and query_id).
const COLUMNS: [&str; 26] = [
    "log_time",
    "user",
    "db",
    "pid",
    "connection_from",
    "session_id",
    "session_line",
    "command_tag",
    "session_start",
    "vxid",
    "txid",
    "severity",
    "sqlstate",
    "message",
    "detail",
    "hint",
    "internal_query",
    "internal_query_pos",
    "context",
    "statement",
    "query_pos",
    "location",
    "application",
    "backend_type",
    "leader_pid",
    "pg_query_id",
];

/// A record is complete once its double quotes balance (`""` escapes come in pairs).
pub(crate) fn complete(record: &str) -> bool {
    record.bytes().filter(|b| *b == b'"').count() % 2 == 0
}

/// Whether a line opens a csvlog record: a timestamp directly followed by a comma.
/// Asked of every line, so the timestamp goes through the parser's clock.
pub(crate) fn starts_record(line: &str, clock: &mut IsoClock) -> bool {
    // Some exporters quote every field, the timestamp too.
    let (line, quote) = match line.strip_prefix('"') {
        Some(rest) => (rest, "\","),
        None => (line, ","),
    };
    clock.read(line.as_bytes()).is_some_and(|(_, used)| line[used..].starts_with(quote))
}

/// Splits one CSV record, undoing `""` escapes.
fn split(record: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(COLUMNS.len());
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = record.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

pub(crate) fn message(record: &str, clock: &mut IsoClock) -> Option<Message> {
    let values = split(record);
    if values.len() < 14 {
        return None;
    }
    let (at, _) = clock.read(values[0].as_bytes())?;
    let mut fields = Fields::new();
    for (name, value) in COLUMNS.iter().zip(&values).skip(1) {
        if value.is_empty() || matches!(*name, "severity" | "message") {
            continue;
        }
        let value = match *name {
            "pid" | "session_line" | "leader_pid" => {
                value.parse::<u64>().map_or_else(|_| Value::from(value.as_str()), Value::from)
            }
            "connection_from" => {
                let (host, port) = value.rsplit_once(':').unwrap_or((value, ""));
                if let Ok(port) = port.parse::<u64>() {
                    fields.insert("client_port", Value::from(port));
                }
                fields.insert_str("client_host", host);
                continue;
            }
            _ => Value::from(value.as_str()),
        };
        fields.insert(*name, value);
    }
    Some(Message { at: Some(at), severity: values[11].clone(), text: values[13].clone(), fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes_and_commas() {
        let record = r#"2021-01-01 07:13:44.120 GMT,"foobar","db",77962,"10.0.0.1:39364",60e2.1308a,13,"SELECT",2021-07-05 07:13:44 GMT,4/187623,0,LOG,00000,"duration: 0.576 ms  execute s1: select * from ""users"" where a = 1","parameters: $1 = 'x'",,,,,,,,"psql""#;
        let mut clock = IsoClock::new(chrono_tz::Tz::UTC);
        assert!(complete(record) && starts_record(record, &mut clock));
        let m = message(record, &mut clock).unwrap();
        assert_eq!(m.severity, "LOG");
        assert_eq!(m.text, r#"duration: 0.576 ms  execute s1: select * from "users" where a = 1"#);
        assert_eq!(m.fields.value("detail"), "parameters: $1 = 'x'");
        assert_eq!(m.fields.value("client_host"), "10.0.0.1");
        assert_eq!(m.fields.value("pid"), 77962);
        assert_eq!(m.fields.value("application"), "psql");
        assert!(!complete("2021-01-01 00:00:00 GMT,\"a\",\"multi\nline"));
    }
}
