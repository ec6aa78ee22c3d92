//! Java application logs (logback, log4j, Spring Boot): a line that starts with a
//! timestamp opens an event; every other line (stack frames, `Caused by:`, `... N more`)
//! belongs to the event above it.
//!
//! The header is read by shape rather than by a fixed pattern, which covers logback's
//! common `%d [%thread] %-5level %logger - %msg` and Spring Boot 2/3's
//! `%d %5p PID --- [app] [thread] logger : msg` alike.

mod pattern;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::Fields;
use sluice_core::{Event, Level};

use crate::text::{exception_class, find_trace_id, sniff_level};
use crate::timestamp::IsoClock;
use crate::{FormatParser, PARSE_ERROR_FIELD, ParseContext, ParserError};
use pattern::Pattern;

struct Pending {
    start: u64,
    event: Event,
    lines: usize,
}

pub(crate) struct LogbackParser {
    ctx: ParseContext,
    /// The configured layout; without one, headers are read by shape.
    pattern: Option<Pattern>,
    pending: Option<Pending>,
    last_time: Option<DateTime<Utc>>,
    clock: IsoClock,
}

impl LogbackParser {
    pub(crate) fn new(ctx: ParseContext, pattern: Option<&str>) -> Result<Self, ParserError> {
        let pattern = pattern.map(Pattern::compile).transpose()?;
        Ok(LogbackParser { clock: IsoClock::new(ctx.timezone), ctx, pattern, pending: None, last_time: None })
    }

    /// A header line opens an event: by the configured pattern, or by shape.
    fn header(&mut self, line: &[u8], text: &str) -> Option<Event> {
        if let Some(pattern) = &self.pattern {
            let h = pattern.parse(text, self.ctx.timezone, self.ctx.received_at)?;
            let mut event = Event::new(h.at, h.message);
            event.level = h.level;
            event.fields = h.fields;
            return Some(event);
        }
        let (at, used) = header_time(&mut self.clock, line)?;
        let mut event = Event::new(at, String::new());
        parse_header(text[used..].trim_ascii_start(), &mut event);
        Some(event)
    }

    fn emit(&mut self, out: &mut Vec<Event>) {
        let Some(Pending { mut event, .. }) = self.pending.take() else { return };
        if !event.fields.contains_key("trace_id")
            && let Some(id) = find_trace_id(&event.message)
        {
            event.fields.insert_str("trace_id", id);
        }
        if !event.fields.contains_key("exception")
            && let Some(class) = event.message.lines().find_map(exception_class)
        {
            event.fields.insert_str("exception", class);
        }
        out.push(event);
    }
}

impl FormatParser for LogbackParser {
    fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>) {
        let text = crate::text::as_text(line);
        if let Some(event) = self.header(line, &text) {
            self.emit(out);
            self.last_time = Some(event.timestamp);
            self.pending = Some(Pending { start: offset, event, lines: 1 });
            return;
        }
        if let Some(pending) = &mut self.pending {
            pending.event.message.push('\n');
            pending.event.message.push_str(&text);
            pending.lines += 1;
            return;
        }
        if text.trim().is_empty() {
            return;
        }
        // Continuation lines before any header (a file that starts mid-trace): keep them
        // together as one raw event.
        let at = self.last_time.unwrap_or(self.ctx.received_at);
        let mut event = Event::new(at, text.into_owned());
        event.level = sniff_level(&event.message).unwrap_or(Level::Info);
        event.fields.insert_str(PARSE_ERROR_FIELD, "line before the first log header");
        self.pending = Some(Pending { start: offset, event, lines: 1 });
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        self.emit(out);
    }

    fn pending_offset(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.start)
    }
}

/// A timestamp at the start of the line, optionally inside `[ ]`.
fn header_time(clock: &mut IsoClock, line: &[u8]) -> Option<(DateTime<Utc>, usize)> {
    if line.first() == Some(&b'[') {
        let (t, used) = clock.read(&line[1..])?;
        let close = usize::from(line.get(used + 1) == Some(&b']'));
        return Some((t, used + 1 + close));
    }
    clock.read(line)
}

/// Reads `[thread] LEVEL logger - message` in any of the usual orders.
fn parse_header(rest: &str, event: &mut Event) {
    // Room for thread, logger, pid, trace and span ids and an exception, whose text is
    // part of the header: one allocation each.
    let mut fields = Fields::with_capacity(8, rest.len().min(256));
    let mut level = None;
    let mut cursor = rest;
    loop {
        // Headers are ASCII (the message's own leading space is trimmed as Unicode below).
        cursor = cursor.trim_ascii_start();
        if let Some(inner) = cursor.strip_prefix('[') {
            let Some(close) = memchr::memchr(b']', inner.as_bytes()) else { break };
            let group = &inner[..close];
            read_bracket(group, &mut fields);
            cursor = &inner[close + 1..];
            continue;
        }
        // Headers are ASCII: bytes, not chars (a non-ASCII byte never equals a space).
        let end = cursor.bytes().position(|b| b.is_ascii_whitespace()).unwrap_or(cursor.len());
        let token = &cursor[..end];
        if token.is_empty() {
            break;
        }
        if level.is_none()
            && let Some(l) = Level::parse_lenient(token)
        {
            level = Some(l);
            cursor = &cursor[end..];
            continue;
        }
        if token == "---" || token == "-" || token == ":" {
            cursor = &cursor[end..];
            if token != "---" {
                break;
            }
            continue;
        }
        if token.bytes().all(|b| b.is_ascii_digit()) && !fields.contains_key("pid") {
            fields.insert("pid", Value::from(token.parse::<u64>().unwrap_or(0)));
            cursor = &cursor[end..];
            continue;
        }
        if level.is_some() && !fields.contains_key("logger") && looks_like_logger(token) {
            fields.insert_str("logger", token);
            cursor = &cursor[end..];
            continue;
        }
        break;
    }
    event.message = cursor.trim_start().to_owned();
    event.level = level.unwrap_or(Level::Info);
    // The last bracket group read is the thread (Spring Boot 3 puts the app name first).
    event.fields = fields;
}

fn read_bracket(group: &str, fields: &mut Fields) {
    // Sleuth/Micrometer: `[app,traceId,spanId]` or `[app,traceId,spanId,true]`. Most
    // groups are a thread name, with no comma.
    let mut parts = group.split(',').map(str::trim);
    if memchr::memchr(b',', group.as_bytes()).is_some()
        && let (Some(app), Some(trace), Some(span)) = (parts.next(), parts.next(), parts.next())
        && trace.len() >= 16
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
    {
        if !app.is_empty() && !fields.contains_key("app") {
            fields.insert_str("app", app);
        }
        fields.insert_str("trace_id", trace);
        fields.insert_str("span_id", span);
        return;
    }
    // A second group (Spring Boot 3's `[app] [thread]`): the first one was the app.
    if let Some(previous) = fields.get_str("thread").map(str::to_owned) {
        fields.insert_str("app", &previous);
    }
    fields.insert_str("thread", group.trim());
}

fn looks_like_logger(token: &str) -> bool {
    let ascii_name = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'$' | b'_' | b'-');
    if token.bytes().all(|b| ascii_name(&b)) {
        return token.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
    }
    token.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '$' | '_' | '-'))
        && token.chars().next().is_some_and(char::is_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Event> {
        crate::test_support::run(&mut LogbackParser::new(crate::test_support::ctx(), None).unwrap(), text)
    }

    /// The last event stays open (a stack trace may follow) and its first line is where a
    /// reader must resume.
    #[test]
    fn last_event_is_pending_from_its_header() {
        let mut parser = LogbackParser::new(crate::test_support::ctx(), None).unwrap();
        let mut out = Vec::new();
        parser.push_line(b"2026-11-20 14:00:00.000 [main] INFO a.B - one", 0, &mut out);
        parser.push_line(b"2026-11-20 14:00:01.000 [main] ERROR a.B - two", 50, &mut out);
        parser.push_line(b"\tat a.B.c(B.java:1)", 100, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(parser.pending_offset(), Some(50));
        parser.flush(&mut out);
        assert_eq!(parser.pending_offset(), None);
        assert_eq!(out[1].message, "two\n\tat a.B.c(B.java:1)");
    }

    #[test]
    fn logback_pattern_with_stack_trace() {
        let events = parse(
            "2026-11-20 14:00:00.123 [http-nio-8080-exec-1] ERROR com.shop.payment.PayService - payment failed traceId=4bf92f3577b34da6 orderId=77\n\
             java.lang.IllegalStateException: gateway timeout\n\
             \tat com.shop.payment.PayService.pay(PayService.java:42)\n\
             Caused by: java.net.SocketTimeoutException: Read timed out\n\
             \t... 12 more\n\
             2026-11-20 14:00:01.000 [main] INFO  com.shop.order.OrderService - order created\n",
        );
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.fields.value("thread"), "http-nio-8080-exec-1");
        assert_eq!(e.fields.value("logger"), "com.shop.payment.PayService");
        assert_eq!(e.fields.value("trace_id"), "4bf92f3577b34da6");
        assert_eq!(e.fields.value("exception"), "java.lang.IllegalStateException");
        assert!(e.message.starts_with("payment failed traceId="));
        assert!(e.message.ends_with("\t... 12 more"));
        assert_eq!(events[1].message, "order created");
    }

    #[test]
    fn spring_boot_layouts() {
        let events = parse(
            "2026-11-20 14:00:00.123  WARN 12345 --- [nio-8080-exec-3] c.s.inventory.StockService  : stock low sku=A1\n\
             2026-11-20T14:00:00.123+08:00 ERROR 12345 --- [shop] [nio-8080-exec-4] [shop,4bf92f3577b34da6a3ce929d0e0e4736,00f067aa0ba902b7] c.s.o.OrderController : boom\n",
        );
        assert_eq!(events[0].level, Level::Warn);
        assert_eq!(events[0].fields.value("pid"), 12345);
        assert_eq!(events[0].fields.value("logger"), "c.s.inventory.StockService");
        assert_eq!(events[0].message, "stock low sku=A1");
        assert_eq!(events[1].fields.value("app"), "shop");
        assert_eq!(events[1].fields.value("thread"), "nio-8080-exec-4");
        assert_eq!(events[1].fields.value("trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(events[1].timestamp.to_rfc3339(), "2026-11-20T06:00:00.123+00:00");
    }

    #[test]
    fn orphan_continuation_lines_are_kept() {
        let events = parse("\tat com.shop.X.y(X.java:1)\n\tat com.shop.X.z(X.java:2)\n");
        assert_eq!(events.len(), 1);
        assert!(events[0].fields.contains_key("parse_error"));
        assert_eq!(events[0].message.lines().count(), 2);
    }
}
