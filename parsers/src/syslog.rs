//! Syslog: RFC 5424 (`<34>1 2026-11-20T14:00:00Z host app 123 ID [sd] msg`) and
//! RFC 3164 / BSD (`<34>Nov 20 14:00:00 host sshd[123]: msg`, PRI optional).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::{Event, Level};

use crate::text::sniff_level;
use crate::{FormatParser, ParseContext, raw_event, timestamp};

pub(crate) struct SyslogParser {
    ctx: ParseContext,
    last_time: Option<DateTime<Utc>>,
}

impl SyslogParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        SyslogParser { ctx, last_time: None }
    }

    fn parse_line(&self, line: &[u8]) -> Option<Event> {
        let (pri, rest) = priority(line);
        let (at, rest, rfc5424) = if let Some(body) = rest.strip_prefix(b"1 ") {
            let (t, used) = timestamp::iso_prefix(body, self.ctx.timezone)?;
            (t, &body[used..], true)
        } else {
            let reference = self.last_time.unwrap_or(self.ctx.received_at).max(self.ctx.received_at);
            let (t, used) = timestamp::syslog_bsd(rest, self.ctx.timezone, reference)
                .or_else(|| timestamp::iso_prefix(rest, self.ctx.timezone))?;
            (t, &rest[used..], false)
        };
        let text = crate::text::as_text(rest);
        let mut words = text.trim_start().splitn(2, ' ');
        let host = words.next()?.to_owned();
        let rest = words.next().unwrap_or("");
        let mut event = Event::new(at, String::new());
        event.host = host.into();
        if rfc5424 {
            let mut parts = rest.splitn(4, ' ');
            let app = parts.next().unwrap_or("-");
            let procid = parts.next().unwrap_or("-");
            let msgid = parts.next().unwrap_or("-");
            let mut tail = parts.next().unwrap_or("");
            if tail.starts_with('[') {
                let end = structured_data_end(tail);
                event.fields.insert_str("structured_data", &tail[..end]);
                tail = &tail[end..];
            } else if let Some(r) = tail.strip_prefix('-') {
                tail = r;
            }
            for (key, value) in [("app", app), ("pid", procid), ("msgid", msgid)] {
                if value != "-" {
                    event.fields.insert_str(key, value);
                }
            }
            event.message = tail.trim_start().trim_start_matches('\u{feff}').to_owned();
        } else {
            match rest.split_once(": ") {
                Some((tag, msg)) if !tag.contains(' ') => {
                    let (app, pid) = match tag.split_once('[') {
                        Some((a, p)) => (a, p.trim_end_matches(']')),
                        None => (tag, ""),
                    };
                    event.fields.insert_str("app", app);
                    if !pid.is_empty() {
                        event.fields.insert_str("pid", pid);
                    }
                    event.message = msg.to_owned();
                }
                _ => event.message = rest.to_owned(),
            }
        }
        event.level = match pri {
            Some(p) => {
                event.fields.insert("facility", Value::from(p / 8));
                severity_level(p % 8)
            }
            None => sniff_level(&event.message).unwrap_or(Level::Info),
        };
        Some(event)
    }
}

impl FormatParser for SyslogParser {
    fn push_line(&mut self, line: &[u8], _offset: u64, out: &mut Vec<Event>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let event = self
            .parse_line(line)
            .unwrap_or_else(|| raw_event(line, self.last_time.unwrap_or(self.ctx.received_at), "not a syslog line"));
        self.last_time = Some(event.timestamp);
        out.push(event);
    }

    fn flush(&mut self, _out: &mut Vec<Event>) {}

    fn pending_offset(&self) -> Option<u64> {
        None
    }
}

fn priority(line: &[u8]) -> (Option<u8>, &[u8]) {
    if line.first() != Some(&b'<') {
        return (None, line);
    }
    let Some(close) = line.iter().take(5).position(|b| *b == b'>') else { return (None, line) };
    let pri = std::str::from_utf8(&line[1..close]).ok().and_then(|s| s.parse::<u8>().ok());
    match pri {
        Some(p) if p < 192 => (Some(p), &line[close + 1..]),
        _ => (None, line),
    }
}

fn severity_level(severity: u8) -> Level {
    match severity {
        0..=2 => Level::Fatal,
        3 => Level::Error,
        4 => Level::Warn,
        5 | 6 => Level::Info,
        _ => Level::Debug,
    }
}

/// End of RFC 5424 structured data: consecutive `[...]` groups, honouring `\]` escapes.
fn structured_data_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        i += 1;
        while i < bytes.len() && bytes[i] != b']' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i = (i + 1).min(bytes.len());
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Event {
        let received_at = DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z").unwrap().to_utc();
        let ctx = ParseContext { timezone: chrono_tz::Tz::UTC, received_at };
        let mut out = Vec::new();
        SyslogParser::new(ctx).push_line(line.as_bytes(), 0, &mut out);
        out.pop().unwrap()
    }

    #[test]
    fn bsd_line() {
        let e = parse("<38>Nov 20 14:00:00 web-1 sshd[2101]: Accepted publickey for deploy");
        assert_eq!(e.host, "web-1");
        assert_eq!(e.fields.value("app"), "sshd");
        assert_eq!(e.fields.value("pid"), "2101");
        assert_eq!(e.message, "Accepted publickey for deploy");
        assert_eq!(e.level, Level::Info);
        assert_eq!(e.timestamp.to_rfc3339(), "2026-11-20T14:00:00+00:00");
        let e = parse("Nov  2 01:02:03 db-1 kernel: Out of memory: Killed process 4242");
        assert_eq!(e.fields.value("app"), "kernel");
    }

    #[test]
    fn rfc5424_line() {
        let e = parse(r#"<11>1 2026-11-20T14:00:00.123Z pay-1 payment 77 TX [meta k="v\]"] card declined"#);
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.fields.value("app"), "payment");
        assert_eq!(e.fields.value("structured_data"), r#"[meta k="v\]"]"#);
        assert_eq!(e.message, "card declined");
    }

    #[test]
    fn garbage_is_kept() {
        assert!(parse("<999>nonsense").fields.contains_key("parse_error"));
    }
}
