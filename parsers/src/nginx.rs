//! nginx and Apache access logs. Any nginx `log_format` compiles into a [`LogFormat`]:
//! literals and variables, matched left to right by searching for each literal, so the
//! stock `combined` format and a user's custom one share one fast engine.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::{Event, Level};
use sluice_core::{FieldName, Fields};

use crate::timestamp::{self, IsoClock, LastStamp};
use crate::{FormatParser, ParseContext, ParserError, raw_event};

/// nginx's predefined `combined` format (also Apache's combined).
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// The layouts tried when no `log_format` is configured, most common first: combined (and
/// common, which it accepts), nginx's stock `main`, Apache's vhost_combined, and a proxy's
/// X-Forwarded-For written before the address.
const KNOWN_LAYOUTS: [&str; 4] = [
    COMBINED,
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#,
    r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
    r#""$http_x_forwarded_for" $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
];

#[derive(Debug, Clone)]
enum Item {
    Literal(Vec<u8>),
    Var(Variable),
}

/// A `$variable` of the format and what its value becomes, decided when the format
/// compiles rather than by comparing names on every line.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    name: String,
    role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    TimeLocal,
    TimeIso8601,
    /// Seconds since the epoch with milliseconds (`$msec`).
    Msec,
    /// `GET /path?query HTTP/1.1`, split into its parts.
    Request,
    /// The client address, or a list of them, or a vhost and an address.
    RemoteAddr,
    /// A string under a field name of its own.
    Text(&'static str),
    /// A number (`$status`, `$body_bytes_sent`), kept as text when it is not one.
    Count(&'static str),
    /// Seconds with millisecond resolution (`$request_time`), as milliseconds.
    Seconds(&'static str),
    /// Any other variable: a field named after it, a number or text.
    Other,
}

impl Variable {
    fn new(name: &str) -> Variable {
        let role = match name {
            "time_local" => Role::TimeLocal,
            "time_iso8601" => Role::TimeIso8601,
            "msec" => Role::Msec,
            "request" => Role::Request,
            "remote_addr" => Role::RemoteAddr,
            "remote_user" => Role::Text("user"),
            "status" => Role::Count("status"),
            "body_bytes_sent" | "bytes_sent" => Role::Count("bytes"),
            "http_referer" => Role::Text("referer"),
            "http_user_agent" => Role::Text("user_agent"),
            "http_x_forwarded_for" => Role::Text("forwarded_for"),
            "request_time" => Role::Seconds("request_time_ms"),
            "upstream_response_time" => Role::Seconds("upstream_time_ms"),
            "upstream_connect_time" => Role::Seconds("upstream_connect_ms"),
            "upstream_header_time" => Role::Seconds("upstream_header_ms"),
            "request_id" | "http_x_request_id" => Role::Text("request_id"),
            "http_x_b3_traceid" | "http_traceparent" | "http_x_trace_id" | "trace_id" => Role::Text("trace_id"),
            "host" | "server_name" | "http_host" => Role::Text("vhost"),
            _ => Role::Other,
        };
        Variable { name: name.to_owned(), role }
    }
}

/// A compiled nginx `log_format`.
#[derive(Debug, Clone)]
pub struct LogFormat {
    items: Vec<Item>,
    /// Index of the item after which a line may end early (Apache "common" lines
    /// read with the combined format end after the byte count).
    may_end_after: Option<usize>,
    /// The fields a line usually yields: one per variable but the time, four from
    /// `$request`. (A proxy's address list yields two more, and grows the list once.)
    usual_fields: usize,
}

impl LogFormat {
    /// Compiles either the bare format string or the whole directive as pasted from
    /// nginx.conf: `log_format main '$remote_addr ...' '"$http_user_agent"';`.
    pub fn compile(directive: &str) -> Result<LogFormat, ParserError> {
        let text = unwrap_directive(directive.trim());
        let mut items = Vec::new();
        let mut literal = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            let (name, next) = if bytes.get(i + 1) == Some(&b'{') {
                let close =
                    text[i..].find('}').ok_or_else(|| ParserError::LogFormat(format!("unclosed `${{` at byte {i}")))?;
                (&text[i + 2..i + close], i + close + 1)
            } else {
                let len = bytes[i + 1..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
                (&text[i + 1..i + 1 + len], i + 1 + len)
            };
            if name.is_empty() {
                return Err(ParserError::LogFormat(format!("`$` without a variable name at byte {i}")));
            }
            if !literal.is_empty() {
                items.push(Item::Literal(std::mem::take(&mut literal)));
            }
            if let Some(Item::Var(prev)) = items.last() {
                return Err(ParserError::LogFormat(format!(
                    "variables `${}` and `${name}` touch: nothing separates them",
                    prev.name
                )));
            }
            items.push(Item::Var(Variable::new(name)));
            i = next;
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        if !items.iter().any(|i| matches!(i, Item::Var(_))) {
            return Err(ParserError::LogFormat("no `$variable` in the format".into()));
        }
        let may_end_after = items.iter().position(|i| matches!(i, Item::Var(v) if v.role == Role::Count("bytes")));
        let usual_fields = items
            .iter()
            .map(|i| match i {
                Item::Var(Variable { role: Role::Request, .. }) => 4,
                Item::Var(Variable { role: Role::TimeLocal | Role::TimeIso8601 | Role::Msec, .. }) => 0,
                Item::Var(_) => 1,
                Item::Literal(_) => 0,
            })
            .sum();
        Ok(LogFormat { items, may_end_after, usual_fields })
    }

    /// Matches one line, yielding each variable with its value; false when the line does not fit.
    pub(crate) fn parse<'a>(&'a self, line: &'a [u8], mut visit: impl FnMut(&'a Variable, &'a [u8])) -> bool {
        let mut pos = 0;
        for (idx, item) in self.items.iter().enumerate() {
            match item {
                Item::Literal(lit) => {
                    if !starts_with_short(&line[pos..], lit) {
                        // A line may stop early after the optional tail (common vs combined).
                        return pos == line.len() && self.may_end_after.is_some_and(|e| idx > e);
                    }
                    pos += lit.len();
                }
                Item::Var(variable) => {
                    let end = match self.items.get(idx + 1) {
                        None => line.len(),
                        Some(Item::Literal(next)) => {
                            let rest = &line[pos..];
                            match find_unescaped(rest, next) {
                                Some(n) => pos + n,
                                // A line that ends early may be a shorter variant (common vs combined).
                                None if self.may_end_after == Some(idx) => line.len(),
                                // A line cut off before its final closing quote keeps what it has.
                                None if idx + 2 == self.items.len() && next.as_slice() == b"\"" => line.len(),
                                None => return false,
                            }
                        }
                        Some(Item::Var(_)) => return false,
                    };
                    visit(variable, &line[pos..end]);
                    pos = end;
                }
            }
        }
        pos == line.len()
    }
}

/// The first `literal` in `haystack` that is not a backslash-escaped quote (`\"` inside a
/// quoted user agent, as Apache writes it). Literals between variables are a few bytes
/// (`" "`, `] "`, ` `): a SIMD search for the first byte and a comparison is faster than
/// `memmem`'s searcher, whose dispatch costs more than the search on needles this short.
fn find_unescaped(haystack: &[u8], literal: &[u8]) -> Option<usize> {
    let (&first, rest) = literal.split_first()?;
    let quote = first == b'"';
    // `memchr` per candidate rather than `memchr_iter`, whose searcher costs more to set
    // up than the few candidates a value has.
    let mut from = 0;
    while let Some(n) = memchr::memchr(first, &haystack[from..]) {
        let at = from + n;
        if starts_with_short(&haystack[at + 1..], rest) && !(quote && at > 0 && haystack[at - 1] == b'\\') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `haystack.starts_with(needle)` for the few-byte literals of a log format, compared in
/// place: the slice comparison calls `memcmp`, which costs more than the bytes it compares.
fn starts_with_short(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack.iter().zip(needle).all(|(a, b)| a == b)
}

fn unwrap_directive(text: &str) -> String {
    let (body, directive) = match text.strip_prefix("log_format") {
        // `log_format name [escape=json] '...' '...';`
        Some(rest) => (rest.trim_start().split_once(char::is_whitespace).map_or("", |(_, r)| r), true),
        None => (text, false),
    };
    let body = body.trim().trim_end_matches(';').trim();
    let body = body
        .strip_prefix("escape=")
        .map_or(body, |r| r.split_once(char::is_whitespace).map_or("", |(_, rest)| rest.trim_start()));
    // A bare format may itself start with a double quote (`"$http_x_forwarded_for" ...`);
    // only a directive, or single-quoted pieces as pasted from nginx.conf, are unwrapped.
    if !(directive && body.starts_with(['\'', '"']) || body.starts_with('\'')) {
        return body.to_owned();
    }
    // Concatenate the quoted pieces, as nginx does.
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(quote) = chars.by_ref().find(|c| *c == '\'' || *c == '"') {
        for c in chars.by_ref() {
            if c == quote {
                break;
            }
            out.push(c);
        }
    }
    out
}

/// Whether a line is an access-log line in one of the well-known layouts (for `auto`).
pub(crate) fn matches_known_layout(line: &[u8]) -> bool {
    KNOWN_LAYOUTS.iter().filter_map(|f| LogFormat::compile(f).ok()).any(|f| f.parse(line, |_, _| {}))
}

pub(crate) struct AccessParser {
    /// Tried in order; the one that matched last moves to the front.
    formats: Vec<LogFormat>,
    ctx: ParseContext,
    last_time: Option<DateTime<Utc>>,
    /// `$time_local` as last read.
    local: LastStamp,
    /// `$time_iso8601`, read as every ISO timestamp is.
    iso: IsoClock,
}

/// What one line yielded while matching a format.
#[derive(Default)]
struct Matched {
    fields: Fields,
    time: Option<DateTime<Utc>>,
    bad_time: bool,
    status: Option<u64>,
}

/// Where a line's values go: for a valid UTF-8 line, whose copy starts the fields' text
/// buffer, a value that is a piece of the line is recorded by its position instead of
/// being copied again.
struct Pieces<'a> {
    fields: &'a mut Fields,
    /// The line, when the buffer starts with it.
    line: Option<&'a str>,
}

impl Pieces<'_> {
    fn put(&mut self, key: impl Into<FieldName>, value: &str) {
        match self.line {
            Some(line) => self.fields.insert_piece(key, value, line),
            None => self.fields.insert_str(key, value),
        }
    }
}

impl AccessParser {
    pub(crate) fn new(format: LogFormat, ctx: ParseContext) -> Self {
        AccessParser::with_formats(vec![format], ctx)
    }

    /// The parser for access logs of unknown layout: every well-known layout.
    pub(crate) fn combined(ctx: ParseContext) -> Self {
        let formats = KNOWN_LAYOUTS.iter().map(|f| LogFormat::compile(f).expect("built-in layouts compile")).collect();
        AccessParser::with_formats(formats, ctx)
    }

    fn with_formats(formats: Vec<LogFormat>, ctx: ParseContext) -> Self {
        let iso = IsoClock::new(ctx.timezone);
        AccessParser { formats, ctx, last_time: None, local: LastStamp::default(), iso }
    }

    pub(crate) fn parse_line(&mut self, line: &[u8]) -> Event {
        // Validated once here; the values are slices of it and need no second check.
        let valid = std::str::from_utf8(line).ok();
        let found = (0..self.formats.len()).find_map(|i| self.parse_with(i, line, valid).map(|m| (i, m)));
        let Some((index, matched)) = found else {
            let at = self.last_time.unwrap_or(self.ctx.received_at);
            return raw_event(line, at, "line does not match the log format");
        };
        if index > 0 {
            self.formats.swap(0, index);
        }
        if matched.bad_time {
            return raw_event(line, self.last_time.unwrap_or(self.ctx.received_at), "bad timestamp");
        }
        let at = matched.time.or(self.last_time).unwrap_or(self.ctx.received_at);
        self.last_time = Some(at);
        let mut event = Event::new(at, valid.map_or_else(|| crate::text::to_text(line), str::to_owned));
        event.level = matched.status.map_or(Level::Info, |s| Level::from_http_status(s as u16));
        event.fields = matched.fields;
        event
    }

    fn parse_with(&mut self, index: usize, line: &[u8], valid: Option<&str>) -> Option<Matched> {
        // Room for the fields the format usually yields, and no more: an access log's
        // events are held by the million.
        let usual = self.formats[index].usual_fields;
        let fields = match valid {
            Some(text) => Fields::with_text(usual, text),
            None => Fields::with_capacity(usual, line.len()),
        };
        let mut m = Matched { fields, ..Matched::default() };
        let (local, iso) = (&mut self.local, &mut self.iso);
        let whole = self.formats[index].parse(line, |variable, value| {
            if value == b"-" || value.is_empty() {
                return;
            }
            let text = crate::text::slice_as_text(valid, line, value);
            let mut fields = Pieces { fields: &mut m.fields, line: valid };
            match variable.role {
                Role::TimeLocal => {
                    m.time = local.read(value, timestamp::common_log);
                    m.bad_time = m.time.is_none();
                }
                Role::TimeIso8601 => {
                    m.time = iso.read(value).map(|(t, _)| t);
                    m.bad_time = m.time.is_none();
                }
                Role::Msec => {
                    m.time = timestamp::epoch_seconds(&text);
                    m.bad_time = m.time.is_none();
                }
                Role::Request => split_request(&text, &mut fields),
                Role::RemoteAddr => split_addresses(&text, &mut fields),
                // Known variables get static names: no allocation per field.
                Role::Text(key) => fields.put(key, &text),
                Role::Count(key) => {
                    let number = insert_number_or_text(&mut fields, key, &text);
                    if key == "status" {
                        m.status = number;
                    }
                }
                Role::Seconds(key) => match seconds_to_ms(&text) {
                    Some(ms) => {
                        fields.fields.insert(key, Value::from(ms));
                    }
                    None => fields.put(key, &text),
                },
                Role::Other => {
                    insert_number_or_text(&mut fields, variable.name.clone(), &text);
                }
            }
        });
        whole.then_some(m)
    }
}

/// Whether `text` is an IPv4 or IPv6 address. Dotted quads, almost every line's client,
/// are checked in one pass here; anything else goes to the standard library's parser.
fn is_ip_address(text: &str) -> bool {
    let (mut octets, mut digits, mut value) = (0, 0, 0u32);
    for &b in text.as_bytes() {
        match b {
            // A leading zero (`010.0.0.1`) is no dotted quad to std either, but may begin
            // an IPv6 address (`00::1`): std decides.
            b'0'..=b'9' if digits < 3 && !(digits == 1 && value == 0) => {
                value = value * 10 + u32::from(b - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && value <= 255 && octets < 3 => {
                (octets, digits, value) = (octets + 1, 0, 0);
            }
            _ => return text.parse::<std::net::IpAddr>().is_ok(),
        }
    }
    (octets == 3 && digits > 0 && value <= 255) || text.parse::<std::net::IpAddr>().is_ok()
}

/// The address field as servers and proxies leave it: one address, a host name, a list
/// (`10.0.0.2, 10.0.0.1, 127.0.0.1`) whose first entry is the original client, or
/// Apache's vhost_combined `vhost1.example.com 123.123.123.123`.
fn split_addresses(text: &str, fields: &mut Pieces<'_>) {
    let is_ip = |w: &str| is_ip_address(w.trim_end_matches(','));
    // Almost every line has one plain address: no copies for it.
    if !text.contains([' ', '"', ',']) {
        let key = if is_ip(text) { "client_ip" } else { "client_host" };
        fields.put(key, text);
        return;
    }
    // `"10.5.102.222, 199.96.1.1" 10.2.1.185`: a proxy's quoted X-Forwarded-For first.
    let unquoted = text.replace('"', " ");
    let words: Vec<&str> = unquoted.split(' ').filter(|w| !w.is_empty()).collect();
    let (vhost, addresses) = match words.split_first() {
        Some((first, rest)) if !rest.is_empty() && !is_ip(first) && !first.ends_with(',') => (Some(*first), rest),
        _ => (None, &words[..]),
    };
    if let Some(vhost) = vhost {
        fields.put("vhost", vhost);
    }
    let Some(first) = addresses.first().map(|a| a.trim_end_matches(',')) else { return };
    let key = if is_ip(first) { "client_ip" } else { "client_host" };
    fields.put(key, first);
    if addresses.len() > 1 {
        fields.put("forwarded_for", &addresses.join(" "));
    }
}

impl FormatParser for AccessParser {
    fn push_line(&mut self, line: &[u8], _offset: u64, out: &mut Vec<Event>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        out.push(self.parse_line(line));
    }

    fn flush(&mut self, _out: &mut Vec<Event>) {}

    fn pending_offset(&self) -> Option<u64> {
        None
    }
}

/// `GET /api/order/1?x=1 HTTP/1.1` -> method, path, query, protocol.
fn split_request(request: &str, fields: &mut Pieces<'_>) {
    // memchr rather than `str::splitn`: this runs for every line.
    let Some(space) = memchr::memchr(b' ', request.as_bytes()) else {
        fields.put("request", request);
        return;
    };
    let (method, rest) = (&request[..space], &request[space + 1..]);
    let (target, protocol) = match memchr::memchr(b' ', rest.as_bytes()) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    fields.put("method", method);
    let (path, query) = match memchr::memchr(b'?', target.as_bytes()) {
        Some(at) => (&target[..at], &target[at + 1..]),
        None => (target, ""),
    };
    fields.put("path", path);
    if !query.is_empty() {
        fields.put("query_string", query);
    }
    if let Some(protocol) = protocol {
        fields.put("protocol", protocol);
    }
}

/// Returns the number, if it was one.
fn insert_number_or_text(fields: &mut Pieces<'_>, key: impl Into<FieldName>, text: &str) -> Option<u64> {
    match text.parse::<u64>() {
        Ok(n) => {
            fields.fields.insert(key, Value::from(n));
            Some(n)
        }
        Err(_) => {
            fields.put(key, text);
            None
        }
    }
}

/// nginx prints seconds with millisecond resolution; a request that went through several
/// upstreams lists each (`0.010, 0.020` or `0.010 : 0.020`): they add up. `None` when the
/// text is not such a list.
fn seconds_to_ms(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for part in text.split([',', ':']) {
        match part.trim().parse::<f64>() {
            Ok(secs) => total += secs,
            Err(_) if part.trim() == "-" => {}
            Err(_) => return None,
        }
    }
    Some((total * 1000.0 * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::ctx;

    #[test]
    fn combined_line() {
        let mut p = AccessParser::combined(ctx());
        let e = p.parse_line(br#"10.0.0.1 - alice [20/Nov/2026:14:00:00 +0800] "POST /api/pay/confirm?id=7 HTTP/1.1" 502 157 "-" "curl/8.0""#);
        assert_eq!(e.timestamp.to_rfc3339(), "2026-11-20T06:00:00+00:00");
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.fields.value("path"), "/api/pay/confirm");
        assert_eq!(e.fields.value("query_string"), "id=7");
        assert_eq!(e.fields.value("status"), 502);
        assert_eq!(e.fields.value("user"), "alice");
        assert!(!e.fields.contains_key("referer"));
    }

    #[test]
    fn common_line_with_combined_format() {
        let mut p = AccessParser::combined(ctx());
        let e = p.parse_line(br#"127.0.0.1 - - [20/Nov/2026:14:00:00 +0000] "GET / HTTP/1.0" 200 12"#);
        assert_eq!(e.fields.value("bytes"), 12);
        assert!(!e.fields.contains_key("parse_error"));
    }

    #[test]
    fn custom_directive_with_timings() {
        let format = LogFormat::compile(
            r#"log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                  '$status $body_bytes_sent "$http_referer" "$http_user_agent" '
                  'rt=$request_time urt="$upstream_response_time" rid=$request_id';"#,
        )
        .unwrap();
        let mut p = AccessParser::new(format, ctx());
        let e = p.parse_line(br#"10.0.0.2 - - [20/Nov/2026:14:00:01 +0000] "GET /api/order/9 HTTP/2.0" 200 5 "-" "Mozilla/5.0 (X11)" rt=0.612 urt="0.300, 0.310" rid=ab12"#);
        assert_eq!(e.fields.value("request_time_ms"), 612.0);
        assert_eq!(e.fields.value("upstream_time_ms"), 610.0);
        assert_eq!(e.fields.value("request_id"), "ab12");
        assert_eq!(e.fields.value("user_agent"), "Mozilla/5.0 (X11)");
    }

    #[test]
    fn every_kind_of_variable_lands_in_its_field() {
        let format = LogFormat::compile(
            "$time_iso8601 $remote_addr $status $body_bytes_sent $request_time $upstream_response_time $connection $ssl_protocol $http_host",
        )
        .unwrap();
        let mut p = AccessParser::new(format, ctx());
        let e = p.parse_line(b"2026-11-20T14:00:01+08:00 10.0.0.7 499 abc 0.250 - 1234 TLSv1.3 shop.example");
        assert_eq!(e.timestamp.to_rfc3339(), "2026-11-20T06:00:01+00:00");
        assert_eq!(e.fields.value("client_ip"), "10.0.0.7");
        assert_eq!(e.fields.value("status"), 499);
        assert_eq!(e.fields.value("bytes"), "abc", "a count that is not a number stays text");
        assert_eq!(e.fields.value("request_time_ms"), 250.0);
        assert!(!e.fields.contains_key("upstream_time_ms"), "`-` is no value");
        assert_eq!(e.fields.value("connection"), 1234, "other variables keep their name, as numbers");
        assert_eq!(e.fields.value("ssl_protocol"), "TLSv1.3", "or as text");
        assert_eq!(e.fields.value("vhost"), "shop.example");
        let e = p.parse_line(b"2026-11-20T14:00:02Z 10.0.0.7 200 5 n/a 0.1 1 - -");
        assert_eq!(e.fields.value("request_time_ms"), "n/a", "seconds that do not parse stay text");
        assert_eq!(e.fields.value("upstream_time_ms"), 100.0);
    }

    #[test]
    fn truncated_user_agent_is_kept() {
        let mut p = AccessParser::combined(ctx());
        let e = p.parse_line(br#"1.2.3.4 - - [20/May/2015:12:05:17 +0000] "GET / HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1"#);
        assert_eq!(e.fields.value("user_agent"), "Mozilla/5.0 (compatible; Googlebot/2.1");
    }

    #[test]
    fn addresses_are_told_from_host_names() {
        for text in ["10.0.0.1", "255.255.255.255", "0.0.0.0", "::1", "2001:db8::7", "::ffff:10.0.0.1"] {
            assert!(is_ip_address(text), "{text}");
        }
        assert!(is_ip_address("00::1"));
        for text in [
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "01.2.3.4",
            "1.00.3.4",
            "1.2.3.",
            "shop.example",
            "",
            "1234.1.1.1",
        ] {
            assert!(!is_ip_address(text), "{text}");
            assert_eq!(is_ip_address(text), text.parse::<std::net::IpAddr>().is_ok(), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn addresses_are_checked_as_std_checks_them(text in "[0-9.:af]{0,18}", quad in "[0-9]{1,4}(\\.[0-9]{0,4}){2,4}") {
            proptest::prop_assert_eq!(is_ip_address(&text), text.parse::<std::net::IpAddr>().is_ok(), "{}", text);
            proptest::prop_assert_eq!(is_ip_address(&quad), quad.parse::<std::net::IpAddr>().is_ok(), "{}", quad);
        }
    }

    #[test]
    fn repeated_timestamps_read_the_same() {
        let mut p = AccessParser::combined(ctx());
        let line = |t: &str| format!(r#"10.0.0.1 - - [{t}] "GET / HTTP/1.1" 200 1 "-" "-""#);
        let times: Vec<_> = [
            "20/Nov/2026:14:00:00 +0800",
            "20/Nov/2026:14:00:00 +0800",
            "20/Nov/2026:14:00:00 +0000",
            "20/Nov/2026:14:00:00 +0800",
        ]
        .iter()
        .map(|t| p.parse_line(line(t).as_bytes()).timestamp.to_rfc3339())
        .collect();
        assert_eq!(
            times,
            [
                "2026-11-20T06:00:00+00:00",
                "2026-11-20T06:00:00+00:00",
                "2026-11-20T14:00:00+00:00",
                "2026-11-20T06:00:00+00:00"
            ]
        );
        let bad = p.parse_line(line("31/Feb/2026:14:00:00 +0800").as_bytes());
        assert!(bad.fields.contains_key("parse_error"));
    }

    #[test]
    fn mismatch_is_kept_raw() {
        let mut p = AccessParser::combined(ctx());
        let e = p.parse_line(b"garbage \xff\x00 line");
        assert_eq!(e.fields.value("parse_error"), "line does not match the log format");
        assert!(e.message.starts_with("garbage"));
    }

    #[test]
    fn bad_directives_are_errors() {
        assert!(LogFormat::compile("no variables").is_err());
        assert!(LogFormat::compile("$a$b").is_err());
        assert!(LogFormat::compile("${unclosed").is_err());
    }
}
