//! PostgreSQL stderr logs. A line opens an event when it starts with the
//! `log_line_prefix` timestamp and carries a severity (`LOG:  `, `ERROR:  `, ...);
//! DETAIL/HINT/STATEMENT/CONTEXT lines attach to the event they explain, and
//! tab-indented lines continue a multi-line statement.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sluice_core::{Event, Level};

use crate::{FormatParser, ParseContext, raw_event, timestamp};

const SEVERITIES: [&str; 17] = [
    "LOG",
    "ERROR",
    "WARNING",
    "FATAL",
    "PANIC",
    "NOTICE",
    "INFO",
    "DEBUG",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
    "DETAIL",
    "HINT",
    "STATEMENT",
    "CONTEXT",
];
/// Severities that explain the previous event rather than open a new one.
const ATTACHED: [&str; 6] = ["DETAIL", "HINT", "STATEMENT", "CONTEXT", "QUERY", "LOCATION"];

struct Pending {
    start: u64,
    event: Event,
    /// Where continuation lines go: the message, or an attached field.
    target: Option<&'static str>,
}

pub(crate) struct PostgresParser {
    ctx: ParseContext,
    pending: Option<Pending>,
    last_time: Option<DateTime<Utc>>,
}

impl PostgresParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        PostgresParser { ctx, pending: None, last_time: None }
    }

    fn emit(&mut self, out: &mut Vec<Event>) {
        let Some(Pending { mut event, .. }) = self.pending.take() else { return };
        if event.fields.contains_key("query_time_ms") || event.fields.contains_key("statement_kind") {
            split_statement(&mut event);
        }
        out.push(event);
    }
}

impl FormatParser for PostgresParser {
    fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(line);
        let prefixed = timestamp::iso_prefix(line, self.ctx.timezone)
            .and_then(|(at, used)| find_severity(&text, used).map(|s| (at, used, s)));
        let Some((at, used, (severity, sev_start, msg_start))) = prefixed else {
            if let Some(pending) = &mut self.pending {
                append(pending, &text);
            } else if !text.trim().is_empty() {
                out.push(raw_event(
                    line,
                    self.last_time.unwrap_or(self.ctx.received_at),
                    "line without a log_line_prefix",
                ));
            }
            return;
        };
        self.last_time = Some(at);
        let message = text[msg_start..].to_owned();
        if let Some(attached) = ATTACHED.iter().find(|a| **a == severity)
            && let Some(pending) = &mut self.pending
        {
            let key = attached_key(attached);
            pending.event.message.push('\n');
            pending.event.message.push_str(&text[sev_start..]);
            pending.event.fields.insert(key.into(), Value::from(message));
            pending.target = Some(key);
            return;
        }
        self.emit(out);
        let mut event = Event::new(at, message);
        event.level = Level::parse_lenient(severity).unwrap_or(Level::Info);
        event.fields = parse_prefix(&text[used..sev_start]);
        event.fields.insert("severity".into(), Value::from(severity));
        mark_duration(&mut event);
        self.pending = Some(Pending { start: offset, event, target: None });
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        self.emit(out);
    }

    fn pending_offset(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.start)
    }
}

fn append(pending: &mut Pending, text: &str) {
    pending.event.message.push('\n');
    pending.event.message.push_str(text);
    if let Some(key) = pending.target
        && let Some(Value::String(value)) = pending.event.fields.get_mut(key)
    {
        value.push('\n');
        value.push_str(text);
    }
}

fn attached_key(severity: &str) -> &'static str {
    match severity {
        "DETAIL" => "detail",
        "HINT" => "hint",
        "STATEMENT" => "statement",
        "CONTEXT" => "context",
        "QUERY" => "internal_query",
        _ => "location",
    }
}

/// Finds `SEVERITY:  ` after the prefix; returns (severity, its start, message start).
fn find_severity(text: &str, from: usize) -> Option<(&str, usize, usize)> {
    let bytes = text.as_bytes();
    let mut search = from;
    while let Some(pos) = text[search..].find(":  ") {
        let colon = search + pos;
        let word_start = bytes[..colon].iter().rposition(|b| !b.is_ascii_alphanumeric()).map_or(0, |p| p + 1);
        let word = &text[word_start..colon];
        if SEVERITIES.contains(&word) || ATTACHED.contains(&word) {
            return Some((word, word_start, colon + 3));
        }
        search = colon + 3;
    }
    None
}

/// Reads what common prefixes carry: `[pid]`, `user@db`, `user=,db=,app=,client=`.
fn parse_prefix(prefix: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    for token in prefix.split(|c: char| c.is_whitespace() || c == ',') {
        let token = token.trim_matches(|c| c == ':' || c == ' ');
        if let Some(pid) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
            && let Ok(pid) = pid.parse::<u64>()
        {
            fields.insert("pid".into(), Value::from(pid));
        } else if let Some((key, value)) = token.split_once('=') {
            let key = match key {
                "db" | "database" => "db",
                "user" | "usr" => "user",
                "app" | "application" => "application",
                "client" | "host" | "remote" => "client_host",
                other => other,
            };
            if !value.is_empty() && !value.starts_with('[') {
                fields.insert(key.into(), Value::from(value));
            }
        } else if let Some((user, db)) = token.split_once('@')
            && !user.is_empty()
            && !db.is_empty()
        {
            fields.insert("user".into(), Value::from(user));
            fields.insert("db".into(), Value::from(db));
        }
    }
    fields
}

/// `duration: 612.345 ms  statement: SELECT ...` -> query_time_ms and the statement.
fn mark_duration(event: &mut Event) {
    let msg = event.message.as_str();
    if let Some(rest) = msg.strip_prefix("duration: ") {
        let (number, after) = rest.split_once(" ms").unwrap_or((rest, ""));
        if let Ok(ms) = number.trim().parse::<f64>() {
            event.fields.insert("query_time_ms".into(), Value::from(ms));
        }
        if let Some(kind) = statement_kind(after.trim_start()) {
            event.fields.insert("statement_kind".into(), Value::from(kind));
        }
    } else if let Some(kind) = statement_kind(msg) {
        event.fields.insert("statement_kind".into(), Value::from(kind));
    }
}

fn statement_kind(text: &str) -> Option<&'static str> {
    ["statement", "execute", "parse", "bind"]
        .into_iter()
        .find(|k| text.starts_with(k) && text[k.len()..].contains(": "))
}

/// Moves the SQL after `statement: ` / `execute <name>: ` into `query` and the message.
fn split_statement(event: &mut Event) {
    let Some(kind) = event.field_str("statement_kind").map(str::to_owned) else { return };
    let Some(at) = event.message.find(&kind) else { return };
    let Some(colon) = event.message[at..].find(": ") else { return };
    let sql = event.message[at + colon + 2..].trim().to_owned();
    event.fields.insert("query".into(), Value::from(sql.clone()));
    event.message = sql;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Event> {
        let ctx = ParseContext { timezone: chrono_tz::Tz::UTC, received_at: DateTime::UNIX_EPOCH };
        let mut parser = PostgresParser::new(ctx);
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            parser.push_line(line.as_bytes(), i as u64, &mut out);
        }
        parser.flush(&mut out);
        out
    }

    #[test]
    fn duration_statement_multi_line() {
        let events = parse(
            "2026-11-20 14:00:00.123 UTC [4242] shop@shopdb LOG:  duration: 612.345 ms  statement: SELECT *\n\
             \tFROM orders\n\
             \tWHERE id = 1\n\
             2026-11-20 14:00:01.000 UTC [4243] shop@shopdb LOG:  duration: 1.5 ms  execute <unnamed>: SELECT 1\n",
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].fields["query_time_ms"], 612.345);
        assert_eq!(events[0].fields["pid"], 4242);
        assert_eq!(events[0].fields["user"], "shop");
        assert_eq!(events[0].fields["db"], "shopdb");
        assert_eq!(events[0].message, "SELECT *\n\tFROM orders\n\tWHERE id = 1");
        assert_eq!(events[1].fields["statement_kind"], "execute");
        assert_eq!(events[1].message, "SELECT 1");
    }

    #[test]
    fn error_groups_detail_and_statement() {
        let events = parse(
            "2026-11-20 14:00:00 UTC [1] LOG:  checkpoint starting: time\n\
             2026-11-20 14:00:02.5 UTC [7] app@shop ERROR:  duplicate key value violates unique constraint \"orders_pkey\"\n\
             2026-11-20 14:00:02.5 UTC [7] app@shop DETAIL:  Key (id)=(1) already exists.\n\
             2026-11-20 14:00:02.5 UTC [7] app@shop STATEMENT:  INSERT INTO orders VALUES (1)\n",
        );
        assert_eq!(events.len(), 2);
        let e = &events[1];
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.fields["detail"], "Key (id)=(1) already exists.");
        assert_eq!(e.fields["statement"], "INSERT INTO orders VALUES (1)");
        assert!(e.message.contains("STATEMENT:  INSERT INTO orders"));
    }

    #[test]
    fn stray_lines_are_kept() {
        let events = parse("pg_ctl: server started\n");
        assert_eq!(events[0].fields["parse_error"], "line without a log_line_prefix");
    }
}
