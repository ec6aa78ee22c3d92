//! Pure log parsers: bytes in, [`Event`]s out. No I/O happens here.
//!
//! Every format implements [`FormatParser`], a push parser fed one line at a time, so
//! multi-line records (stack traces, slow-log entries, PostgreSQL DETAIL lines) are joined
//! inside the parser and a tailer can resume exactly at [`FormatParser::pending_offset`].
//! [`Parser`] wraps a format with what every event needs: source, host, module routing and
//! the count of lines that did not parse (they are kept raw with a `parse_error` field).

mod auto;
mod json;
mod logback;
mod mysql_slow;
mod nginx;
mod plain;
mod postgres;
mod pushed;
mod route;
mod syslog;
mod text;
pub mod timestamp;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sluice_core::{Config, Event, FormatName, Name, SourceConfig};

use route::NameMemo;

pub use auto::sniff;
pub use nginx::{COMBINED, LogFormat};
pub use pushed::PushedRecord;
pub use route::{ModuleRouter, default_module};
pub use sluice_core::PARSE_ERROR_FIELD;

#[derive(Debug, thiserror::Error)]
pub enum ParserError {
    #[error("invalid nginx log_format: {0}")]
    LogFormat(String),
    #[error("invalid log_line_prefix: {0}")]
    LogLinePrefix(String),
    #[error("invalid pattern: {0}")]
    Pattern(String),
    #[error("invalid module rule `{name}`: {message}")]
    ModuleRule { name: String, message: String },
}

/// What a format parser needs to know about the stream it reads.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// Zone for timestamps that carry no offset.
    pub timezone: Tz,
    /// Time given to events whose text carries none (before any line with a time was seen).
    pub received_at: DateTime<Utc>,
}

/// A push parser for one stream of one format.
pub trait FormatParser: Send {
    /// Feeds one line without its terminator; `offset` is where it starts in the stream.
    /// Complete events are appended to `out`; a multi-line event is held until it ends.
    fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>);
    /// Emits the event still being assembled, if any (end of input or idle timeout).
    fn flush(&mut self, out: &mut Vec<Event>);
    /// Start offset of the oldest line held back, so a reader can resume before it.
    fn pending_offset(&self) -> Option<u64>;
}

/// A source's parser: its format plus source/host/module stamping and error counting.
pub struct Parser {
    format: Box<dyn FormatParser>,
    format_name: FormatName,
    ctx: ParseContext,
    source: Name,
    host: Name,
    module_override: Option<Name>,
    router: ModuleRouter,
    /// The modules of the logger and service names and the paths this source has shown.
    route_memo: NameMemo,
    parse_errors: u64,
}

impl Parser {
    /// Builds the parser for `source` as configured in `config`.
    pub fn for_source(
        config: &Config,
        source: &SourceConfig,
        router: ModuleRouter,
        host: &str,
        received_at: DateTime<Utc>,
    ) -> Result<Parser, ParserError> {
        let ctx = ParseContext { timezone: config.source_timezone(source), received_at };
        Ok(Parser {
            format: build_format(source, ctx.clone())?,
            format_name: source.format,
            ctx,
            source: Name::from(&source.name),
            host: Name::from(host),
            module_override: source.module.as_deref().map(Name::from),
            router,
            route_memo: NameMemo::new(),
            parse_errors: 0,
        })
    }

    pub fn push_line(&mut self, line: &[u8], offset: u64, out: &mut Vec<Event>) {
        let start = out.len();
        self.format.push_line(strip_cr(line), offset, out);
        self.finish(&mut out[start..]);
    }

    pub fn flush(&mut self, out: &mut Vec<Event>) {
        let start = out.len();
        self.format.flush(out);
        self.finish(&mut out[start..]);
    }

    /// Splits `text` into lines and parses them all, flushing at the end.
    pub fn parse_all(&mut self, text: &[u8], out: &mut Vec<Event>) {
        // A final newline ends the last line; it does not start an empty one.
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len())) {
            self.push_line(&text[start..end], start as u64, out);
            start = end + 1;
        }
        self.flush(out);
    }

    pub fn pending_offset(&self) -> Option<u64> {
        self.format.pending_offset()
    }

    /// Lines kept raw because they did not parse, since this parser was built.
    pub fn parse_errors(&self) -> u64 {
        self.parse_errors
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn finish(&mut self, events: &mut [Event]) {
        for event in events {
            if event.fields.contains_key(PARSE_ERROR_FIELD) {
                self.parse_errors += 1;
            }
            event.source = self.source.clone();
            if event.host.is_empty() {
                event.host = self.host.clone();
            }
            event.module = match &self.module_override {
                Some(module) => module.clone(),
                None => self.router.route_remembering(event, &mut self.route_memo),
            };
        }
    }
}

/// Checks a source's format options (`log_format`, `pattern`, `log_line_prefix`) compile.
pub fn validate_source(source: &SourceConfig) -> Result<(), ParserError> {
    let ctx = ParseContext { timezone: chrono_tz::Tz::UTC, received_at: DateTime::UNIX_EPOCH };
    build_format(source, ctx).map(|_| ())
}

/// Builds the bare format parser a source asks for.
pub fn build_format(source: &SourceConfig, ctx: ParseContext) -> Result<Box<dyn FormatParser>, ParserError> {
    Ok(match source.format {
        FormatName::Auto => Box::new(auto::AutoParser::new(ctx)),
        FormatName::Nginx => match &source.log_format {
            Some(directive) => Box::new(nginx::AccessParser::new(LogFormat::compile(directive)?, ctx)),
            None => Box::new(nginx::AccessParser::combined(ctx)),
        },
        FormatName::Apache => Box::new(nginx::AccessParser::combined(ctx)),
        FormatName::MysqlSlow => Box::new(mysql_slow::SlowLogParser::new(ctx)),
        FormatName::Postgres => Box::new(postgres::PostgresParser::new(ctx, source.log_line_prefix.as_deref())?),
        FormatName::Logback => Box::new(logback::LogbackParser::new(ctx, source.pattern.as_deref())?),
        FormatName::Json => Box::new(json::JsonParser::new(ctx)),
        FormatName::Syslog => Box::new(syslog::SyslogParser::new(ctx)),
        FormatName::Plain => Box::new(plain::PlainParser::new(ctx)),
    })
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// An event that keeps an unparseable line whole, marked with the reason.
pub(crate) fn raw_event(line: &[u8], at: DateTime<Utc>, reason: &str) -> Event {
    let mut event = Event::new(at, crate::text::to_text(line));
    event.level = text::sniff_level(&event.message).unwrap_or(sluice_core::Level::Info);
    event.fields.insert_str(PARSE_ERROR_FIELD, reason);
    event
}

#[cfg(test)]
mod tests;

/// Helpers for the format modules' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn ctx() -> ParseContext {
        ParseContext { timezone: chrono_tz::Tz::UTC, received_at: DateTime::UNIX_EPOCH }
    }

    /// Feeds `text` line by line (offsets are line numbers), then flushes.
    pub(crate) fn run(parser: &mut dyn FormatParser, text: &str) -> Vec<Event> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            parser.push_line(line.as_bytes(), i as u64, &mut out);
        }
        parser.flush(&mut out);
        out
    }
}
