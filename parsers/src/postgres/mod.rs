//! PostgreSQL logs: stderr with any `log_line_prefix`, the same wrapped in syslog, csvlog,
//! and the JSON shapes (jsonlog, CloudNativePG, Cloud SQL).
//!
//! Every variant is reduced to [`Message`]s; then one rule groups them into events:
//! DETAIL/HINT/STATEMENT/CONTEXT messages attach to the message they explain, and lines
//! without a prefix (tab-indented SQL) continue the message above.

mod csv;
mod json;
mod prefix;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::{Event, Level};
use sluice_core::{FieldRef, Fields};

use crate::text::{as_text, find_short, split_short};
use crate::timestamp::{self, IsoClock};
use crate::{FormatParser, ParseContext, ParserError, raw_event};
use json::JsonLine;
use prefix::LinePrefix;

const SEVERITIES: [&str; 13] = [
    "LOG", "ERROR", "WARNING", "FATAL", "PANIC", "NOTICE", "INFO", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4",
    "DEBUG5",
];
/// Severities that explain the previous message rather than open a new one.
const ATTACHED: [&str; 6] = ["DETAIL", "HINT", "STATEMENT", "CONTEXT", "QUERY", "LOCATION"];

/// One message as PostgreSQL wrote it, whatever the log format.
pub(crate) struct Message {
    pub at: Option<DateTime<Utc>>,
    pub severity: String,
    pub text: String,
    pub fields: Fields,
}

struct Pending {
    start: u64,
    event: Event,
    pid: Option<u64>,
    /// Where continuation lines go: the message, or an attached field.
    target: Option<&'static str>,
}

pub(crate) struct PostgresParser {
    ctx: ParseContext,
    prefix: Option<LinePrefix>,
    pending: Option<Pending>,
    /// A csvlog record still waiting for its closing quote, and where it started.
    csv_record: Option<(u64, String)>,
    last_time: Option<DateTime<Utc>>,
    clock: IsoClock,
}

impl PostgresParser {
    pub(crate) fn new(ctx: ParseContext, log_line_prefix: Option<&str>) -> Result<Self, ParserError> {
        let prefix = log_line_prefix.map(LinePrefix::compile).transpose()?;
        let clock = IsoClock::new(ctx.timezone);
        Ok(PostgresParser { ctx, prefix, pending: None, csv_record: None, last_time: None, clock })
    }

    fn emit(&mut self, out: &mut Vec<Event>) {
        let Some(Pending { mut event, .. }) = self.pending.take() else { return };
        if event.fields.contains_key("query_time_ms") || event.fields.contains_key("statement_kind") {
            split_statement(&mut event);
        }
        out.push(event);
    }

    /// Groups one message into events.
    fn accept(&mut self, message: Message, offset: u64, out: &mut Vec<Event>) {
        let at = message.at.or(self.last_time).unwrap_or(self.ctx.received_at);
        self.last_time = Some(at);
        let pid = message.fields.get("pid").and_then(FieldRef::as_u64);
        if let Some(attached) = ATTACHED.iter().find(|a| **a == message.severity)
            && let Some(pending) = &mut self.pending
            && (pid.is_none() || pending.pid.is_none() || pid == pending.pid)
        {
            let key = attached_key(attached);
            pending.event.message.push('\n');
            pending.event.message.push_str(&format!("{attached}:  {}", message.text));
            pending.event.fields.insert_str(key, &message.text);
            pending.target = Some(key);
            return;
        }
        self.emit(out);
        let mut event = Event::new(at, message.text);
        event.level = Level::parse_lenient(&message.severity).unwrap_or(Level::Info);
        event.fields = message.fields;
        // csvlog and jsonlog carry DETAIL/HINT/STATEMENT in the same record.
        for (key, label) in [("detail", "DETAIL"), ("hint", "HINT"), ("statement", "STATEMENT")] {
            if let Some(text) = event.field_str(key).map(str::to_owned) {
                event.message.push_str(&format!("\n{label}:  {text}"));
            }
        }
        event.fields.insert_str("severity", &message.severity);
        mark_duration(&mut event);
        self.pending = Some(Pending { start: offset, event, pid, target: None });
    }

    fn continue_message(&mut self, text: &str, line: &[u8], out: &mut Vec<Event>) {
        if let Some(pending) = &mut self.pending {
            append(pending, text);
        } else if !text.trim().is_empty() {
            out.push(raw_event(line, self.last_time.unwrap_or(self.ctx.received_at), "line without a log_line_prefix"));
        }
    }

    /// A stderr line: the prefix, then `SEVERITY:  message`. `default_at` is the time a
    /// wrapper (syslog, Cloud SQL) supplies for prefixes without one.
    fn stderr_message(&mut self, text: &str, default_at: Option<DateTime<Utc>>) -> Option<Message> {
        let mut fields = Fields::new();
        let (at, end) = match &self.prefix {
            Some(prefix) => {
                let accept = |end| severity_at(text, end).is_some();
                let m = prefix.parse(text, &mut self.clock, &mut fields, accept)?;
                (m.at.or(default_at), m.end)
            }
            None => {
                let (at, used) = match self.clock.read(text.as_bytes()) {
                    Some((t, used)) => (Some(t), used),
                    None => (default_at, 0),
                };
                let (_, sev_start, _) = find_severity(text, used)?;
                fields = parse_prefix(&text[used..sev_start]);
                (at, sev_start)
            }
        };
        let (severity, msg_start) = severity_at(text, end)?;
        at?;
        Some(Message { at, severity: severity.to_owned(), text: text[msg_start..].to_owned(), fields })
    }
}

impl FormatParser for PostgresParser {
    fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>) {
        let text = as_text(line);
        if let Some((start, mut record)) = self.csv_record.take() {
            record.push('\n');
            record.push_str(&text);
            return self.finish_csv(start, record, out);
        }
        if text.starts_with('{') {
            match json::parse(&text, &self.ctx) {
                Some(JsonLine::Record(message)) => self.accept(message, offset, out),
                Some(JsonLine::Text { at, text }) => self.wrapped_line(&text, at, offset, line, out),
                Some(JsonLine::Other(event)) => {
                    self.emit(out);
                    out.push(event);
                }
                None => out.push(raw_event(
                    line,
                    self.last_time.unwrap_or(self.ctx.received_at),
                    "not a PostgreSQL JSON log record",
                )),
            }
            return;
        }
        let reference = self.last_time.unwrap_or(self.ctx.received_at).max(self.ctx.received_at);
        if let Some((at, used)) = timestamp::syslog_bsd(line, self.ctx.timezone, reference)
            && let Some(body) = syslog_body(&text[used..])
        {
            let body = body.replace("#011", "\t");
            return self.wrapped_line(&body, Some(at), offset, line, out);
        }
        if csv::starts_record(&text, &mut self.clock) {
            return self.finish_csv(offset, text.into_owned(), out);
        }
        match self.stderr_message(&text, None) {
            Some(message) => self.accept(message, offset, out),
            None => self.continue_message(&text, line, out),
        }
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        if let Some((_, record)) = self.csv_record.take() {
            let at = self.last_time.unwrap_or(self.ctx.received_at);
            out.push(raw_event(record.as_bytes(), at, "csvlog record without its closing quote"));
        }
        self.emit(out);
    }

    fn pending_offset(&self) -> Option<u64> {
        let csv = self.csv_record.as_ref().map(|(start, _)| *start);
        let pending = self.pending.as_ref().map(|p| p.start);
        csv.into_iter().chain(pending).min()
    }
}

impl PostgresParser {
    fn finish_csv(&mut self, start: u64, record: String, out: &mut Vec<Event>) {
        if !csv::complete(&record) {
            self.csv_record = Some((start, record));
            return;
        }
        match csv::message(&record, &mut self.clock) {
            Some(message) => self.accept(message, start, out),
            None => out.push(raw_event(
                record.as_bytes(),
                self.last_time.unwrap_or(self.ctx.received_at),
                "not a csvlog record",
            )),
        }
    }

    /// A line from syslog or Cloud SQL: `[line-part] rest`, where part 2+ continues the
    /// message (a long statement split into several syslog lines).
    fn wrapped_line(&mut self, body: &str, at: Option<DateTime<Utc>>, offset: u64, line: &[u8], out: &mut Vec<Event>) {
        let (part, rest) = line_part(body);
        if part > 1 && self.pending.is_some() && self.stderr_message(rest, at).is_none() {
            return self.continue_message(rest, line, out);
        }
        match self.stderr_message(rest, at) {
            Some(message) => self.accept(message, offset, out),
            None => self.continue_message(rest, line, out),
        }
    }
}

/// After the syslog timestamp: `host postgres[pid]: body` -> body (with pid prepended as
/// `[pid]: ` so the prefix heuristics see it).
fn syslog_body(rest: &str) -> Option<&str> {
    let rest = rest.trim_start();
    let (_, after_host) = rest.split_once(' ')?;
    let (_, body) = split_short(after_host, ": ")?;
    Some(body)
}

/// `[7-2] text` -> (2, "text"); lines without the counter are part 1.
fn line_part(body: &str) -> (u32, &str) {
    let Some(rest) = body.strip_prefix('[') else { return (1, body) };
    let Some((counter, text)) = split_short(rest, "] ") else { return (1, body) };
    let part = counter.split_once('-').and_then(|(_, p)| p.parse().ok()).unwrap_or(1);
    (part, text)
}

/// `SEVERITY:  ` exactly at `at` (one or more spaces, as pgBadger accepts): (severity, message start).
fn severity_at(text: &str, at: usize) -> Option<(&str, usize)> {
    let rest = text.get(at..)?;
    let colon = find_short(rest, ": ")?;
    let word = &rest[..colon];
    if !(SEVERITIES.contains(&word) || ATTACHED.contains(&word)) {
        return None;
    }
    let spaces = rest[colon + 1..].len() - rest[colon + 1..].trim_start_matches(' ').len();
    Some((word, at + colon + 1 + spaces))
}

fn append(pending: &mut Pending, text: &str) {
    pending.event.message.push('\n');
    pending.event.message.push_str(text);
    if let Some(key) = pending.target {
        pending.event.fields.append_str(key, '\n', text);
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

/// Finds the first `SEVERITY: ` after `from`; returns (severity, its start, message start).
fn find_severity(text: &str, from: usize) -> Option<(&str, usize, usize)> {
    let bytes = text.as_bytes();
    let mut search = from;
    while let Some(pos) = find_short(text.get(search..)?, ": ") {
        let colon = search + pos;
        let word_start = bytes[..colon].iter().rposition(|b| !b.is_ascii_alphanumeric()).map_or(0, |p| p + 1);
        if let Some((word, msg_start)) = severity_at(text, word_start) {
            return Some((word, word_start, msg_start));
        }
        search = colon + 2;
    }
    None
}

/// Reads what common prefixes carry: `[pid]`, `user@db`, `user=,db=,app=,client=`.
fn parse_prefix(prefix: &str) -> Fields {
    // Room for the prefix's fields and those the message adds (duration, statement, ...):
    // the list used to grow three or four times per event.
    let mut fields = Fields::with_capacity(12, 256);
    for token in prefix.split(|c: char| c.is_whitespace() || c == ',') {
        let token = token.trim_matches(|c| c == ':' || c == ' ');
        if let Some(pid) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
            && let Ok(pid) = pid.parse::<u64>()
        {
            fields.insert("pid", Value::from(pid));
        } else if let Some((key, value)) = token.split_once('=') {
            let key: sluice_core::FieldName = match key {
                "db" | "database" => "db".into(),
                "user" | "usr" => "user".into(),
                "app" | "application" => "application".into(),
                "client" | "host" | "remote" => "client_host".into(),
                other => other.to_owned().into(),
            };
            if !value.is_empty() && !value.starts_with('[') {
                fields.insert_str(key, value);
            }
        } else if let Some((user, db)) = token.split_once('@')
            && !user.is_empty()
            && !db.is_empty()
        {
            fields.insert_str("user", user);
            fields.insert_str("db", db);
        }
    }
    fields
}

/// `duration: 612.345 ms  statement: SELECT ...` -> query_time_ms and the statement.
fn mark_duration(event: &mut Event) {
    let msg = event.message.as_str();
    if let Some(rest) = msg.strip_prefix("duration: ") {
        let (number, after) = split_short(rest, " ms").unwrap_or((rest, ""));
        if let Ok(ms) = number.trim().parse::<f64>() {
            event.fields.insert("query_time_ms", Value::from(ms));
        }
        if let Some(kind) = statement_kind(after.trim_start()) {
            event.fields.insert_str("statement_kind", kind);
        }
    } else if let Some(kind) = statement_kind(msg) {
        event.fields.insert_str("statement_kind", kind);
    }
}

fn statement_kind(text: &str) -> Option<&'static str> {
    ["statement", "execute", "parse", "bind"]
        .into_iter()
        .find(|k| text.starts_with(k) && find_short(&text[k.len()..], ": ").is_some())
}

/// Moves the SQL after `statement: ` / `execute <name>: ` into `query` and the message.
fn split_statement(event: &mut Event) {
    let Some(kind) = event.field_str("statement_kind").map(str::to_owned) else { return };
    let Some(at) = find_short(&event.message, &kind) else { return };
    let Some(colon) = find_short(&event.message[at..], ": ") else { return };
    let sql = event.message[at + colon + 2..].trim().to_owned();
    event.fields.insert_str("query", &sql);
    event.fields.insert_str("db_system", "postgresql");
    event.message = sql;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Event> {
        crate::test_support::run(&mut PostgresParser::new(crate::test_support::ctx(), None).unwrap(), text)
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
        assert_eq!(events[0].fields.value("query_time_ms"), 612.345);
        assert_eq!(events[0].fields.value("pid"), 4242);
        assert_eq!(events[0].fields.value("user"), "shop");
        assert_eq!(events[0].fields.value("db"), "shopdb");
        assert_eq!(events[0].message, "SELECT *\n\tFROM orders\n\tWHERE id = 1");
        assert_eq!(events[1].fields.value("statement_kind"), "execute");
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
        assert_eq!(e.fields.value("detail"), "Key (id)=(1) already exists.");
        assert_eq!(e.fields.value("statement"), "INSERT INTO orders VALUES (1)");
        assert!(e.message.contains("STATEMENT:  INSERT INTO orders"));
    }

    #[test]
    fn stray_lines_are_kept() {
        let events = parse("pg_ctl: server started\n");
        assert_eq!(events[0].fields.value("parse_error"), "line without a log_line_prefix");
    }
}
