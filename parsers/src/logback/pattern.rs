//! A logback / log4j layout pattern (`%d{yyyy-MM-dd HH:mm:ss.SSS} [%thread] %-5level
//! %logger{36} - %msg%n`), compiled into a matcher for the header line of each event.
//! Padding and truncation modifiers (`%-5level`, `%15.15t`) are allowed: values are
//! trimmed and runs of spaces in the pattern match any run of spaces in the line.

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use sluice_core::Fields;
use sluice_core::Level;
use sluice_core::time::local_to_utc;

use crate::{ParserError, timestamp};

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Literal(String),
    /// `%d{...}`: the Java date pattern translated to strftime (None: ISO 8601), and the
    /// zone the pattern names, if any.
    Date(Option<String>, Option<Tz>),
    Level,
    Message,
    /// Any other conversion word, stored under this field name.
    Field(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    items: Vec<Item>,
}

/// The header of an event, as the pattern reads it.
pub(crate) struct Header {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub message: String,
    pub fields: Fields,
}

impl Pattern {
    pub(crate) fn compile(pattern: &str) -> Result<Pattern, ParserError> {
        let bad = |message: String| ParserError::Pattern(format!("{message} in `{pattern}`"));
        let mut items = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '$' && chars.get(i + 1) == Some(&'{') {
                // Spring placeholders: `${PID}` (or `${PID:- }`), `${LOG_LEVEL_PATTERN:-%5p}`.
                let close = chars[i..].iter().position(|c| *c == '}').ok_or_else(|| bad("unclosed ${".into()))?;
                let inner: String = chars[i + 2..i + close].iter().collect();
                let (name, default) = inner.split_once(":-").unwrap_or((&inner, ""));
                flush(&mut literal, &mut items);
                if default.contains('%') {
                    items.extend(Pattern::compile(default)?.items);
                } else {
                    items.push(Item::Field(name.to_ascii_lowercase()));
                }
                i += close + 1;
                continue;
            }
            if c != '%' {
                literal.push(c);
                i += 1;
                continue;
            }
            i += 1;
            // Format modifiers: `-5`, `.30`, `20.30`.
            while i < chars.len() && (chars[i] == '-' || chars[i] == '.' || chars[i].is_ascii_digit()) {
                i += 1;
            }
            if chars.get(i) == Some(&'%') {
                literal.push('%');
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut option = None;
            if chars.get(i) == Some(&'{') {
                let close = chars[i..].iter().position(|c| *c == '}').ok_or_else(|| bad("unclosed {".into()))?;
                option = Some(chars[i + 1..i + close].iter().collect::<String>());
                i += close + 1;
            }
            if word == "clr" && chars.get(i) == Some(&'(') {
                // Spring's colour wrapper `%clr(...){faint}`: keep what is inside.
                let close = matching_paren(&chars, i).ok_or_else(|| bad("unclosed %clr(".into()))?;
                let inner: String = chars[i + 1..close].iter().collect();
                flush(&mut literal, &mut items);
                items.extend(Pattern::compile(&inner)?.items);
                i = close + 1;
                if chars.get(i) == Some(&'{') {
                    i += chars[i..].iter().position(|c| *c == '}').map_or(0, |p| p + 1);
                }
                continue;
            }
            let item = match word.as_str() {
                "d" | "date" => {
                    let (format, zone) = date_format(option.as_deref());
                    Item::Date(format, zone)
                }
                "p" | "le" | "level" => Item::Level,
                "m" | "msg" | "message" => Item::Message,
                "t" | "thread" => Item::Field("thread".into()),
                "c" | "lo" | "logger" => Item::Field("logger".into()),
                "X" | "mdc" => Item::Field(mdc_name(option.as_deref().unwrap_or("mdc"))),
                "C" | "class" => Item::Field("class".into()),
                "M" | "method" => Item::Field("method".into()),
                "L" | "line" => Item::Field("line".into()),
                "F" | "file" => Item::Field("file".into()),
                "r" | "relative" => Item::Field("relative_ms".into()),
                "pid" => Item::Field("pid".into()),
                "marker" => Item::Field("marker".into()),
                "cn" | "contextName" => Item::Field("context".into()),
                // Line breaks and exception renderers produce nothing on the header line.
                "n" | "ex" | "exception" | "throwable" | "xEx" | "xException" | "wEx" | "rEx" | "nopex" => continue,
                "" => return Err(bad(format!("`%` without a conversion word at {start}"))),
                other => return Err(bad(format!("unsupported conversion word %{other}"))),
            };
            flush(&mut literal, &mut items);
            items.push(item);
        }
        flush(&mut literal, &mut items);
        if !items.iter().any(|i| matches!(i, Item::Date(..))) {
            return Err(bad("no %d: events are told apart by their timestamp".into()));
        }
        Ok(Pattern { items })
    }

    /// Reads a header line; `None` means the line continues the event above.
    pub(crate) fn parse(&self, line: &str, tz: Tz, today: DateTime<Utc>) -> Option<Header> {
        let mut pos = 0;
        let mut header = Header { at: today, level: Level::Info, message: String::new(), fields: Fields::new() };
        let mut saw_date = false;
        for (index, item) in self.items.iter().enumerate() {
            let rest = &line[pos..];
            match item {
                Item::Literal(text) => pos += match_literal(rest, text)?,
                Item::Date(format, zone) => {
                    let skip = rest.len() - rest.trim_start().len();
                    let (at, used) = parse_date(&rest[skip..], format.as_deref(), zone.unwrap_or(tz), today)?;
                    header.at = at;
                    saw_date = true;
                    pos += skip + used;
                }
                Item::Level => {
                    let skip = rest.len() - rest.trim_start().len();
                    let len = rest[skip..].find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len() - skip);
                    header.level = Level::parse_lenient(&rest[skip..skip + len])?;
                    pos += skip + len;
                }
                Item::Message | Item::Field(_) => {
                    let next = self.items[index + 1..].iter().find_map(|i| match i {
                        Item::Literal(text) => Some(text.as_str()),
                        _ => None,
                    });
                    let is_message = matches!(item, Item::Message);
                    let len = match next {
                        // The message may contain the literal that follows it: take the last one.
                        Some(text) if is_message => rest.rfind(text.trim_end()).unwrap_or(rest.len()),
                        Some(text) if text.starts_with(' ') => rest
                            .trim_start()
                            .find(' ')
                            .map(|p| p + rest.len() - rest.trim_start().len())
                            .unwrap_or(rest.len()),
                        Some(text) => rest.find(text)?,
                        None if is_message => rest.len(),
                        None => rest
                            .trim_start()
                            .find(char::is_whitespace)
                            .map_or(rest.len(), |p| p + rest.len() - rest.trim_start().len()),
                    };
                    let value = rest[..len].trim();
                    match item {
                        Item::Message => header.message = value.to_owned(),
                        Item::Field(name) if !value.is_empty() => {
                            header.fields.insert_str(name.clone(), value);
                        }
                        _ => {}
                    }
                    pos += len;
                }
            }
        }
        saw_date.then_some(header)
    }
}

fn flush(literal: &mut String, items: &mut Vec<Item>) {
    if !literal.is_empty() {
        items.push(Item::Literal(std::mem::take(literal)));
    }
}

fn matching_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `%X{traceId}` -> trace_id, so Sleuth/OpenTelemetry MDC keys line up with other formats.
fn mdc_name(key: &str) -> String {
    match key {
        "traceId" | "trace_id" | "X-B3-TraceId" => "trace_id".into(),
        "spanId" | "span_id" | "X-B3-SpanId" => "span_id".into(),
        other => other.to_owned(),
    }
}

/// A literal: its runs of spaces match any run of spaces (padding), the rest exactly.
fn match_literal(rest: &str, literal: &str) -> Option<usize> {
    let mut used = 0;
    let mut pieces = literal.split(' ').peekable();
    while let Some(piece) = pieces.next() {
        if !rest[used..].starts_with(piece) {
            return None;
        }
        used += piece.len();
        if pieces.peek().is_some() {
            let spaces = rest[used..].len() - rest[used..].trim_start_matches(' ').len();
            used += spaces;
        }
    }
    Some(used)
}

/// Java's SimpleDateFormat letters to strftime (`None` for ISO 8601, the default), and the
/// zone of `%d{pattern, zone}`.
fn date_format(option: Option<&str>) -> (Option<String>, Option<Tz>) {
    let Some(option) = option else { return (None, None) };
    let (java, zone) = match option.rsplit_once(',') {
        Some((pattern, zone)) if zone.trim().parse::<Tz>().is_ok() => (pattern.trim(), zone.trim().parse().ok()),
        _ => (option.trim(), None),
    };
    if java.is_empty() || java == "ISO8601" || java.starts_with("yyyy-MM-dd") {
        return (None, zone);
    }
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.peek() == Some(&c) && c.is_ascii_alphabetic() {
            chars.next();
            run += 1;
        }
        let piece = match (c, run) {
            ('y', _) => "%Y",
            ('M', 3) => "%b",
            ('M', _) => "%m",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%.f",
            ('\'', _) => continue,
            _ => {
                for _ in 0..run {
                    out.push(c);
                }
                continue;
            }
        };
        // `ss.SSS` / `ss,SSS`: strftime's `%.f` includes its own separator.
        if piece == "%.f" && (out.ends_with('.') || out.ends_with(',')) {
            out.pop();
        }
        out.push_str(piece);
    }
    (Some(out), zone)
}

fn parse_date(text: &str, format: Option<&str>, tz: Tz, today: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
    let Some(format) = format else { return timestamp::iso_prefix(text.as_bytes(), tz) };
    let normalized = text.replacen(',', ".", 1);
    if let Ok((naive, rest)) = NaiveDateTime::parse_and_remainder(&normalized, format) {
        return Some((local_to_utc(naive, tz)?, text.len() - rest.len()));
    }
    // Time-only layouts (`%d{HH:mm:ss.SSS}`): the day is the day the line was read.
    let (time, rest) = NaiveTime::parse_and_remainder(&normalized, format).ok()?;
    let day = today.with_timezone(&tz).date_naive();
    Some((local_to_utc(day.and_time(time), tz)?, text.len() - rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pattern: &str, line: &str) -> Option<Header> {
        Pattern::compile(pattern).unwrap().parse(line, Tz::UTC, DateTime::UNIX_EPOCH)
    }

    #[test]
    fn contract_preset() {
        let h = header(
            "%d{yyyy-MM-dd HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg%n",
            "2026-11-20 14:00:00.123 [http-nio-8080-exec-1] INFO  com.shop.order.OrderService - created order 7 - ok",
        )
        .unwrap();
        assert_eq!(h.at.to_rfc3339(), "2026-11-20T14:00:00.123+00:00");
        assert_eq!(h.level, Level::Info);
        assert_eq!(h.fields.value("thread"), "http-nio-8080-exec-1");
        assert_eq!(h.fields.value("logger"), "com.shop.order.OrderService");
        assert_eq!(h.message, "created order 7 - ok");
    }

    #[test]
    fn logger_last_and_mdc() {
        let h = header("[%d] %p %m (%c)%n", "[2016-12-19 20:39:48,918] WARN [ReplicaFetcherThread-0-2], Error in fetch (kafka.server.ReplicaFetcherThread)").unwrap();
        assert_eq!(h.level, Level::Warn);
        assert_eq!(h.fields.value("logger"), "kafka.server.ReplicaFetcherThread");
        assert_eq!(h.message, "[ReplicaFetcherThread-0-2], Error in fetch");

        let h = header(
            "%d{dd/MM/yyyy HH:mm:ss,SSS} %5p [%X{traceId}] %c - %m%n",
            "20/11/2026 14:00:00,5  WARN [abc123] c.s.Pay - slow",
        )
        .unwrap();
        assert_eq!(h.at.to_rfc3339(), "2026-11-20T14:00:00.500+00:00");
        assert_eq!(h.fields.value("trace_id"), "abc123");
        assert_eq!(h.message, "slow");

        let h = header("%d{yyyy/MM/dd HH:mm:ss, Asia/Shanghai} %p %m", "2026/11/20 22:00:00 INFO x").unwrap();
        assert_eq!(h.at.to_rfc3339(), "2026-11-20T14:00:00+00:00");

        let h = header("%d{HH:mm:ss.SSS} %-5level %logger - %msg", "14:00:01.250 ERROR a.B - boom").unwrap();
        assert_eq!(h.at.to_rfc3339(), "1970-01-01T14:00:01.250+00:00");
    }

    #[test]
    fn continuation_lines_and_bad_patterns() {
        let pattern = "%d [%thread] %-5level %logger - %msg%n";
        assert!(header(pattern, "\tat com.shop.X.y(X.java:1)").is_none());
        assert!(header(pattern, "java.lang.IllegalStateException: x").is_none());
        assert!(Pattern::compile("%thread %msg").is_err());
        assert!(Pattern::compile("%d %bogus").is_err());
        assert!(Pattern::compile("%d{yyyy %msg").is_err());
    }
}
