//! `--format auto`: the first non-blank line decides the format of the whole stream.

use sluice_core::{Event, FormatName};

use crate::{FormatParser, ParseContext, timestamp};

pub(crate) struct AutoParser {
    ctx: ParseContext,
    inner: Option<Box<dyn FormatParser>>,
}

impl AutoParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        AutoParser { ctx, inner: None }
    }
}

impl FormatParser for AutoParser {
    fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>) {
        if self.inner.is_none() {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            let format = sniff(line, self.ctx.timezone);
            let source = sluice_core::SourceConfig::adhoc("", format);
            // Built-in formats with no user options always build.
            self.inner = crate::build_format(&source, self.ctx.clone()).ok();
        }
        if let Some(inner) = &mut self.inner {
            inner.push_line(line, offset, out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        if let Some(inner) = &mut self.inner {
            inner.flush(out);
        }
    }

    fn pending_offset(&self) -> Option<u64> {
        self.inner.as_ref().and_then(|i| i.pending_offset())
    }
}

/// Guesses a line's format from its shape.
pub fn sniff(line: &[u8], tz: chrono_tz::Tz) -> FormatName {
    let text = crate::text::as_text(line);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        // PostgreSQL's jsonlog, CloudNativePG and Cloud SQL records have their own mapping.
        let postgres = ["\"error_severity\"", "\"logger\":\"postgres\"", "cloudsql.googleapis.com"];
        return if postgres.iter().any(|k| trimmed.contains(k)) { FormatName::Postgres } else { FormatName::Json };
    }
    if trimmed.starts_with("# Time:")
        || trimmed.starts_with("# User@Host:")
        || (trimmed.contains(", Version: ") && trimmed.contains("started with:"))
    {
        return FormatName::MysqlSlow;
    }
    if trimmed.starts_with('<') || timestamp::syslog_bsd(line, tz, chrono::Utc::now()).is_some() {
        return FormatName::Syslog;
    }
    if crate::nginx::matches_known_layout(line) {
        return FormatName::Nginx;
    }
    let unquoted = line.strip_prefix(b"\"").unwrap_or(line);
    if let Some((_, used)) = timestamp::iso_prefix(unquoted, tz) {
        let has_pg_severity =
            ["LOG:  ", "ERROR:  ", "FATAL:  ", "WARNING:  ", "STATEMENT:  "].iter().any(|s| text.contains(s));
        // csvlog: a timestamp, then a comma.
        let csvlog = unquoted.get(used..).is_some_and(|rest| rest.starts_with(b",") || rest.starts_with(b"\","));
        return if has_pg_severity || csvlog { FormatName::Postgres } else { FormatName::Logback };
    }
    // log4j's `[%d] %p ...` (Kafka, ZooKeeper).
    if line.first() == Some(&b'[') && timestamp::iso_prefix(&line[1..], tz).is_some() {
        return FormatName::Logback;
    }
    FormatName::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format() {
        let tz = chrono_tz::Tz::UTC;
        let cases = [
            (r#"{"msg":"x"}"#, FormatName::Json),
            ("# Time: 2026-11-20T06:00:00Z", FormatName::MysqlSlow),
            ("<13>Nov 20 14:00:00 h app: m", FormatName::Syslog),
            ("Nov 20 14:00:00 h app: m", FormatName::Syslog),
            (r#"1.2.3.4 - - [20/Nov/2026:14:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#, FormatName::Nginx),
            ("2026-11-20 14:00:00.1 UTC [1] LOG:  duration: 1 ms", FormatName::Postgres),
            ("2026-11-20 14:00:00.100 [main] INFO a.B - hi", FormatName::Logback),
            ("[2016-12-19 20:39:48,918] WARN fetch failed (kafka.server.ReplicaFetcherThread)", FormatName::Logback),
            (
                r#"2021-01-01 07:13:44.120 GMT,"u","db",7,"h:1",a.b,1,"SELECT",2021-01-01 07:00:00 GMT,4/1,0,LOG,00000,"m""#,
                FormatName::Postgres,
            ),
            (r#"{"timestamp":"2026-11-20 14:00:00 UTC","error_severity":"LOG","message":"x"}"#, FormatName::Postgres),
            (
                "vhost1.example.com 10.0.0.1 - - [20/Nov/2026:14:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"",
                FormatName::Nginx,
            ),
            ("hello", FormatName::Plain),
        ];
        for (line, format) in cases {
            assert_eq!(sniff(line.as_bytes(), tz), format, "{line}");
        }
    }
}
