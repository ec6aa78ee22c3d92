//! MySQL / Percona Server / MariaDB slow query logs.
//!
//! An entry is a run of `# ` header lines followed by statement lines:
//! ```text
//! # Time: 2026-11-20T06:00:00.123456Z
//! # User@Host: shop[shop] @ app-1 [10.0.0.5]  Id:    42
//! # Query_time: 1.234  Lock_time: 0.000 Rows_sent: 1  Rows_examined: 100
//! use shop;
//! SET timestamp=1763618400;
//! SELECT * FROM orders WHERE id = 7;
//! ```
//! As in pt-query-digest, an entry without `# Time` inherits the previous entry's time,
//! and one without `use` inherits the previous database.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::Event;
use sluice_core::{FieldName, Fields};

use crate::text::{find_short, split_short};
use crate::timestamp::{self, IsoClock};
use crate::{FormatParser, PARSE_ERROR_FIELD, ParseContext};

#[derive(Default)]
struct Entry {
    start: u64,
    time: Option<DateTime<Utc>>,
    saw_user_host: bool,
    saw_metrics: bool,
    db: Option<String>,
    /// A `use db;` line names the database the statement ran in; it outranks `Schema:`.
    db_from_use: bool,
    set_timestamp: Option<i64>,
    fields: Fields,
    /// The statement, as read: every line after the headers, each with its newline.
    query: String,
    /// Whether the last statement line ended in `;`: only then does a `#` line start the
    /// next entry (pt-query-digest splits entries on `;\n#`).
    ended_with_semicolon: bool,
    admin: bool,
    /// `#` lines that are not headers this parser knows, kept for an entry that has nothing else.
    unknown_headers: String,
}

impl Entry {
    fn in_statement(&self) -> bool {
        !self.query.is_empty()
    }
}

pub(crate) struct SlowLogParser {
    ctx: ParseContext,
    entry: Option<Entry>,
    last_time: Option<DateTime<Utc>>,
    last_db: Option<String>,
    clock: IsoClock,
}

impl SlowLogParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        SlowLogParser { clock: IsoClock::new(ctx.timezone), ctx, entry: None, last_time: None, last_db: None }
    }

    fn entry(&mut self, offset: u64) -> &mut Entry {
        // Room for the headers' fields (user, host, id, the times and row counts, and the
        // extra ones of Percona and `log_slow_extra`) and their text: the list used to
        // grow four times per entry.
        self.entry.get_or_insert_with(|| Entry {
            start: offset,
            fields: Fields::with_capacity(16, 256),
            ..Entry::default()
        })
    }

    fn emit(&mut self, out: &mut Vec<Event>) {
        let Some(entry) = self.entry.take() else { return };
        let has_header = entry.saw_user_host || entry.saw_metrics || entry.time.is_some();
        if entry.query.is_empty() && !has_header && entry.db.is_none() {
            // `#` lines outside any entry: noise, but never dropped silently.
            if entry.unknown_headers.is_empty() && entry.fields.is_empty() {
                return;
            }
            let at = self.last_time.unwrap_or(self.ctx.received_at);
            let text = match entry.unknown_headers.trim_end() {
                "" => serde_json::to_string(&entry.fields).unwrap_or_default(),
                text => text.to_owned(),
            };
            let mut event = crate::raw_event(text.as_bytes(), at, "slow log comment outside any entry");
            event.fields.extend_from(&entry.fields);
            out.push(event);
            return;
        }
        let mut query = entry.query;
        pt_trim(&mut query);
        // pt-query-digest's order: `# Time`, else the previous entry's, else `SET timestamp`.
        let time = entry
            .time
            .or(self.last_time)
            .or_else(|| entry.set_timestamp.and_then(|t| DateTime::from_timestamp(t, 0)))
            .unwrap_or(self.ctx.received_at);
        self.last_time = Some(time);
        if entry.db.is_some() {
            self.last_db.clone_from(&entry.db);
        }
        let mut event = Event::new(time, String::new());
        event.fields = entry.fields;
        if let Some(db) = entry.db.or_else(|| self.last_db.clone()) {
            event.fields.insert_str("db", &db);
        }
        if entry.admin {
            event.fields.insert_str("command", "admin");
        }
        if query.is_empty() {
            event.fields.insert_str(PARSE_ERROR_FIELD, "slow log entry without a statement");
        } else if !entry.saw_metrics {
            event.fields.insert_str(PARSE_ERROR_FIELD, "slow log entry without # Query_time");
        }
        event.fields.reserve_text(query.len());
        event.fields.insert_str("query", &query);
        event.fields.insert_str("db_system", "mysql");
        // The message is the statement without its trailing white space: the entry's own
        // text, not a third copy of it.
        query.truncate(query.trim_end().len());
        event.message = query;
        out.push(event);
    }

    /// A header (`#`) line before the statement.
    fn header(&mut self, line: &str, offset: u64, out: &mut Vec<Event>) {
        let body = line[1..].trim_start();
        if let Some(time) = body.strip_prefix("Time:") {
            if self.entry.as_ref().is_some_and(|e| e.time.is_some() || e.saw_user_host || e.saw_metrics) {
                self.emit(out);
            }
            let time = time.trim_start();
            // Old servers append the User@Host header to the Time line.
            let (time, user_host) = match split_short(time, "# User@Host:") {
                Some((t, rest)) => (t.trim_end(), Some(rest)),
                None => (time.trim_end(), None),
            };
            let parsed = self
                .clock
                .read(time.as_bytes())
                .map(|(t, _)| t)
                .or_else(|| timestamp::mysql_short(time, self.ctx.timezone));
            let entry = self.entry(offset);
            entry.time = parsed;
            if let Some(rest) = user_host {
                entry.saw_user_host = true;
                parse_user_host(rest, &mut entry.fields);
            }
            return;
        }
        if let Some(rest) = body.strip_prefix("User@Host:") {
            if self.entry.as_ref().is_some_and(|e| e.saw_user_host || e.saw_metrics) {
                self.emit(out);
            }
            let entry = self.entry(offset);
            entry.saw_user_host = true;
            parse_user_host(rest, &mut entry.fields);
            return;
        }
        if let Some(command) = body.strip_prefix("administrator command:") {
            // `# administrator command: Quit;` is the entry's statement, not a header.
            let entry = self.entry(offset);
            entry.admin = true;
            entry.query = format!("administrator command:{command}\n");
            entry.ended_with_semicolon = command.ends_with(';');
            return;
        }
        let entry = self.entry(offset);
        if body.starts_with("Query_time:") {
            entry.saw_metrics = true;
        }
        if !parse_attributes(body, entry) {
            entry.unknown_headers.push_str(line);
            entry.unknown_headers.push('\n');
        }
    }
}

impl FormatParser for SlowLogParser {
    fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>) {
        let text = crate::text::as_text(line);
        let starts_header = text.starts_with('#');
        if let Some(entry) = &mut self.entry
            && entry.in_statement()
        {
            let entry_ends = (starts_header && entry.ended_with_semicolon) || is_banner(&text);
            if !entry_ends {
                entry.query.push_str(&text);
                entry.query.push('\n');
                entry.ended_with_semicolon = text.ends_with(';');
                return;
            }
            self.emit(out);
        }
        if starts_header {
            return self.header(&text, offset, out);
        }
        if is_banner(&text) {
            self.emit(out);
            return;
        }
        if text.trim().is_empty() {
            return;
        }
        if let Some(db) = use_statement(&text) {
            let entry = self.entry(offset);
            if !entry.db_from_use {
                entry.db = Some(db.to_owned());
                entry.db_from_use = true;
            }
            return;
        }
        if let Some(setting) = text.strip_prefix("SET ")
            && ["timestamp", "insert_id", "last_insert_id"].iter().any(|k| setting.starts_with(k))
        {
            if let Some(ts) = set_timestamp(&text) {
                self.entry(offset).set_timestamp = Some(ts);
            }
            return;
        }
        let entry = self.entry(offset);
        entry.query.push_str(&text);
        entry.query.push('\n');
        entry.ended_with_semicolon = text.ends_with(';');
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        self.emit(out);
    }

    fn pending_offset(&self) -> Option<u64> {
        self.entry.as_ref().map(|e| e.start)
    }
}

/// pt-query-digest's `s/;\n#?\Z//`: drops the statement's final `;` and its newline
/// (Perl's `\Z` also matches before a last newline, so `;\n\n` keeps one `\n`).
fn pt_trim(query: &mut String) {
    if query.ends_with(";\n") {
        query.truncate(query.len() - 2);
    } else if query.ends_with(";\n\n") {
        query.truncate(query.len() - 3);
        query.push('\n');
    }
}

/// The lines a server writes when it (re)opens its slow log.
fn is_banner(line: &str) -> bool {
    // Runs on every statement line: the cheap end and start tests go first.
    (line.trim_end().ends_with("started with:") && line.contains(", Version: "))
        || line.starts_with("Tcp port:")
        || line.starts_with("TCP Port:")
        || (line.starts_with("Time") && line.contains("Id") && line.contains("Command") && line.contains("Argument"))
}

/// `use shop;` (case-sensitive, as the server writes it): the database up to the `;`.
fn use_statement(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("use ")?;
    let db = rest.split(';').next().unwrap_or("").trim_end().trim_matches('`');
    (!db.is_empty()).then_some(db)
}

fn set_timestamp(line: &str) -> Option<i64> {
    let rest = line.strip_prefix("SET timestamp=")?;
    rest.trim_end_matches(';').parse().ok()
}

/// ` shop[shop] @ app-1 [10.0.0.5]  Id:    42`
fn parse_user_host(text: &str, fields: &mut Fields) {
    let (who, rest) = split_short(text, " @ ").unwrap_or((text, ""));
    // `shop[shop]` -> shop; replication threads log `[SQL_SLAVE]`, kept whole as pt-query-digest does.
    let who = who.trim();
    let user = match who.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(who, |end| &who[..end + 2]),
        None => who.split('[').next().unwrap_or("").trim(),
    };
    if !user.is_empty() {
        fields.insert_str("user", user);
    }
    let (host_part, id_part) = match find_short(rest, "Id:") {
        Some(i) => (&rest[..i], Some(&rest[i + 3..])),
        None => (rest, None),
    };
    let host_part = host_part.trim();
    let (host, ip) = match host_part.split_once('[') {
        Some((h, ip)) => (h.trim(), ip.trim_end_matches(']').trim()),
        None => (host_part, ""),
    };
    // Servers with skip-name-resolve log `@  [10.0.0.5]`: the address is the host.
    let host = if host.is_empty() { ip } else { host };
    if !host.is_empty() {
        fields.insert_str("client_host", host);
    }
    if !ip.is_empty() {
        fields.insert_str("client_ip", ip);
    }
    if let Some(id) = id_part.and_then(|s| s.trim().parse::<u64>().ok()) {
        fields.insert("thread_id", Value::from(id));
    }
}

/// `Query_time: 1.2  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 9` and the extra
/// `Key: value` lines of Percona/MariaDB/`log_slow_extra`.
/// Returns whether the line stored anything (a `Key: value` attribute or the schema).
fn parse_attributes(body: &str, entry: &mut Entry) -> bool {
    let before = (entry.fields.len(), entry.db.clone());
    let mut tokens = body.split_ascii_whitespace().peekable();
    while let Some(token) = tokens.next() {
        let Some(key) = token.strip_suffix(':') else { continue };
        let value = match tokens.peek() {
            Some(v) if !v.ends_with(':') => tokens.next().unwrap_or_default(),
            _ => "",
        };
        match key {
            "Query_time" | "Lock_time" => {
                let name = if key == "Query_time" { "query_time_ms" } else { "lock_time_ms" };
                if let Ok(secs) = value.parse::<f64>() {
                    entry.fields.insert(name, Value::from(round3(secs * 1000.0)));
                }
            }
            "Schema" if !value.is_empty() && !entry.db_from_use => entry.db = Some(value.to_owned()),
            "Schema" => {}
            "Thread_id" | "Id" => {
                if let Ok(id) = value.parse::<u64>() {
                    entry.fields.insert("thread_id", Value::from(id));
                }
            }
            _ if !value.is_empty() => {
                let name = snake(key);
                let parsed = value
                    .parse::<u64>()
                    .map(Value::from)
                    .or_else(|_| value.parse::<f64>().map(Value::from))
                    .unwrap_or_else(|_| Value::from(value));
                entry.fields.insert(name, parsed);
            }
            _ => {}
        }
    }
    (entry.fields.len(), &entry.db) != (before.0, &before.1)
}

/// The field name of a header key: `Rows_examined` -> `rows_examined`. The keys every
/// entry has get static names, with no allocation.
fn snake(key: &str) -> FieldName {
    const COMMON: [&str; 12] = [
        "rows_sent",
        "rows_examined",
        "rows_affected",
        "bytes_sent",
        "bytes_received",
        "tmp_tables",
        "tmp_disk_tables",
        "tmp_table_sizes",
        "full_scan",
        "full_join",
        "filesort",
        "merge_passes",
    ];
    match COMMON.iter().find(|name| name.eq_ignore_ascii_case(key)) {
        Some(name) => FieldName::Borrowed(name),
        None => FieldName::Owned(key.to_ascii_lowercase().replace(['-', ' '], "_")),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Event> {
        crate::test_support::run(&mut SlowLogParser::new(crate::test_support::ctx()), text)
    }

    #[test]
    fn mysql_57_entries() {
        let events = parse(
            "/usr/sbin/mysqld, Version: 5.7.22-log (MySQL). started with:\n\
             Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n\
             Time                 Id Command    Argument\n\
             # Time: 2026-11-20T06:00:00.123456Z\n\
             # User@Host: shop[shop] @ app-1 [10.0.0.5]  Id:    42\n\
             # Query_time: 1.234567  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 100\n\
             use shop;\n\
             SET timestamp=1763618400;\n\
             SELECT *\n  FROM orders\n WHERE id = 7;\n\
             # User@Host: shop[shop] @ app-1 [10.0.0.5]  Id:    43\n\
             # Query_time: 0.100000  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0\n\
             SET timestamp=1763618401;\n\
             UPDATE stock SET n = n - 1 WHERE sku = 'A';\n",
        );
        assert_eq!(events.len(), 2);
        let first = &events[0];
        // As pt-query-digest reports it: without the final `;`.
        assert_eq!(first.message, "SELECT *\n  FROM orders\n WHERE id = 7");
        assert_eq!(first.fields.value("query_time_ms"), 1234.567);
        assert_eq!(first.fields.value("lock_time_ms"), 0.1);
        assert_eq!(first.fields.value("rows_examined"), 100);
        assert_eq!(first.fields.value("db"), "shop");
        assert_eq!(first.fields.value("user"), "shop");
        assert_eq!(first.fields.value("client_ip"), "10.0.0.5");
        assert_eq!(first.fields.value("thread_id"), 42);
        assert_eq!(first.timestamp.to_rfc3339(), "2026-11-20T06:00:00.123456+00:00");
        // The second entry has no `# Time` and no `use`: both are inherited.
        assert_eq!(events[1].timestamp, first.timestamp);
        assert_eq!(events[1].fields.value("db"), "shop");
    }

    #[test]
    fn mariadb_headers() {
        let events = parse(
            "# Time: 190324 16:03:00\n\
             # User@Host: root[root] @ localhost []\n\
             # Thread_id: 8  Schema: shop  QC_hit: No\n\
             # Query_time: 0.000334  Lock_time: 0.000135  Rows_sent: 1  Rows_examined: 2\n\
             # Rows_affected: 0\n\
             SET timestamp=1553443380;\n\
             select * from users;\n",
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].fields.value("db"), "shop");
        assert_eq!(events[0].fields.value("qc_hit"), "No");
        assert_eq!(events[0].fields.value("thread_id"), 8);
        assert_eq!(events[0].timestamp.to_rfc3339(), "2019-03-24T16:03:00+00:00");
    }

    #[test]
    fn old_formats_and_admin_commands() {
        let events = parse(
            "# Time: 071218 11:48:27 # User@Host: [SQL_SLAVE] @  []\n\
             # Query_time: 0.000012  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n\
             BEGIN;\n\
             # Time: 120315 18:01:58.479076\n\
             # User@Host: app[app] @  [10.42.1.136]\n\
             # Query_time: 0.001084  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n\
             use faidr3;\n\
             # administrator command: Connect;\n\
             # User@Host: app[app] @ web [10.0.0.1]\n\
             # Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n\
             SELECT 1\n\
             # not a header: the statement did not end in ;\n\
             ;\n\n",
        );
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].fields.value("user"), "[SQL_SLAVE]");
        assert_eq!(events[0].fields.value("query"), "BEGIN");
        assert_eq!(events[0].timestamp.to_rfc3339(), "2007-12-18T11:48:27+00:00");
        assert_eq!(events[1].fields.value("query"), "administrator command: Connect");
        assert_eq!(events[1].fields.value("client_host"), "10.42.1.136");
        assert_eq!(events[1].fields.value("db"), "faidr3");
        assert_eq!(events[1].timestamp.to_rfc3339(), "2012-03-15T18:01:58.479076+00:00");
        // Perl's `s/;\n#?\Z//` removes the last `;\n` and keeps the final newline.
        assert_eq!(events[2].fields.value("query"), "SELECT 1\n# not a header: the statement did not end in ;\n\n");
        assert_eq!(events[2].message, "SELECT 1\n# not a header: the statement did not end in ;");
    }

    #[test]
    fn stray_comments_are_kept() {
        let events = parse("#\n# just a note\n# Version: \n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].fields.value("parse_error"), "slow log comment outside any entry");
    }

    #[test]
    fn truncated_entry_is_kept_and_marked() {
        let events = parse("# Time: 2026-11-20T06:00:00Z\n# User@Host: a[a] @ b []\n");
        assert_eq!(events.len(), 1);
        assert!(events[0].fields.contains_key("parse_error"));
    }
}
