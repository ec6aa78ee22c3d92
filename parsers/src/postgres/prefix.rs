//! PostgreSQL's `log_line_prefix`, compiled: `%m [%p] %q%u@%d ` becomes a matcher that
//! reads each escape by its shape (timestamps with their zone, numbers) or up to the next
//! literal text, and honours `%q` (non-session processes stop the prefix there).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::Fields;

use crate::ParserError;
use crate::timestamp::{self, IsoClock};

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Literal(String),
    Escape(char),
    /// `%q`: what follows is absent for background processes.
    SessionOnly,
}

#[derive(Debug, Clone)]
pub(crate) struct LinePrefix {
    items: Vec<Item>,
}

/// Where matching stood at `%q`, to fall back to when the session-only part is absent.
struct Checkpoint {
    pos: usize,
    at: Option<DateTime<Utc>>,
    fields: Fields,
}

/// What a prefix match yields: the time if the prefix has one, and where the prefix ends.
pub(crate) struct PrefixMatch {
    pub at: Option<DateTime<Utc>>,
    pub end: usize,
}

const KNOWN: &str = "aAudrhLbpPtmncslvxeiqQ%";

impl LinePrefix {
    pub(crate) fn compile(text: &str) -> Result<LinePrefix, ParserError> {
        let mut items = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            // `%-10u`-style padding is allowed by PostgreSQL; the value is then space-padded.
            let mut escape = chars.next();
            while escape.is_some_and(|e| e == '-' || e.is_ascii_digit()) {
                escape = chars.next();
            }
            let Some(escape) = escape else {
                return Err(ParserError::LogLinePrefix(format!("`{text}` ends with a lone %")));
            };
            if !KNOWN.contains(escape) {
                return Err(ParserError::LogLinePrefix(format!("unknown escape %{escape} in `{text}`")));
            }
            if escape == '%' {
                literal.push('%');
                continue;
            }
            if !literal.is_empty() {
                items.push(Item::Literal(std::mem::take(&mut literal)));
            }
            items.push(if escape == 'q' { Item::SessionOnly } else { Item::Escape(escape) });
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(LinePrefix { items })
    }

    /// Matches the prefix at the start of `line`, filling `fields`. `accept(end)` tells
    /// whether what follows the prefix is a real message (a severity); with `%q`, the
    /// shortened prefix is tried when the full one is not accepted.
    pub(crate) fn parse(
        &self,
        line: &str,
        clock: &mut IsoClock,
        fields: &mut Fields,
        accept: impl Fn(usize) -> bool,
    ) -> Option<PrefixMatch> {
        let mut at = None;
        let mut pos = 0;
        let mut session_checkpoint = None;
        for (i, item) in self.items.iter().enumerate() {
            let step = match item {
                Item::SessionOnly => {
                    session_checkpoint = Some(Checkpoint { pos, at, fields: fields.clone() });
                    continue;
                }
                Item::Literal(text) => line[pos..].starts_with(text.as_str()).then_some(text.len()),
                Item::Escape(escape) => self.escape(*escape, i, &line[pos..], clock, &mut at, fields),
            };
            match step {
                Some(len) => pos += len,
                None => return self.fall_back(session_checkpoint, fields, &accept),
            }
        }
        if accept(pos) {
            return Some(PrefixMatch { at, end: pos });
        }
        self.fall_back(session_checkpoint, fields, &accept)
    }

    fn fall_back(
        &self,
        checkpoint: Option<Checkpoint>,
        fields: &mut Fields,
        accept: &impl Fn(usize) -> bool,
    ) -> Option<PrefixMatch> {
        let checkpoint = checkpoint?;
        *fields = checkpoint.fields;
        accept(checkpoint.pos).then_some(PrefixMatch { at: checkpoint.at, end: checkpoint.pos })
    }

    /// Reads one escape's value at the start of `rest`; returns its length.
    fn escape(
        &self,
        escape: char,
        index: usize,
        rest: &str,
        clock: &mut IsoClock,
        at: &mut Option<DateTime<Utc>>,
        fields: &mut Fields,
    ) -> Option<usize> {
        match escape {
            't' | 'm' | 's' => {
                let (t, used) = clock.read(rest.as_bytes())?;
                if escape == 's' {
                    fields.insert_str("session_start", &t.to_rfc3339());
                } else {
                    *at = Some(t);
                }
                Some(used)
            }
            'n' => {
                let len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
                *at = Some(timestamp::epoch_seconds(&rest[..len])?);
                Some(len)
            }
            'p' | 'l' | 'P' | 'x' => {
                let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
                if len > 0 {
                    let name = match escape {
                        'p' => "pid",
                        'l' => "session_line",
                        'P' => "leader_pid",
                        _ => "txid",
                    };
                    fields.insert(name, Value::from(rest[..len].parse::<u64>().unwrap_or(0)));
                }
                (len > 0 || escape == 'x' || escape == 'P').then_some(len)
            }
            _ => {
                let len = match self.items.get(index + 1) {
                    Some(Item::Literal(next)) => rest.find(next.as_str())?,
                    _ => rest.find(char::is_whitespace).unwrap_or(rest.len()),
                };
                let value = rest[..len].trim();
                if !value.is_empty() && value != "[unknown]" {
                    store_text(escape, value, fields);
                }
                Some(len)
            }
        }
    }
}

fn store_text(escape: char, value: &str, fields: &mut Fields) {
    let name = match escape {
        'a' => "application",
        'u' => "user",
        'd' => "db",
        'h' => "client_host",
        'r' => {
            // `10.0.0.1(5432)`: host and port.
            let (host, port) = value.split_once('(').unwrap_or((value, ""));
            fields.insert_str("client_host", host);
            if let Ok(port) = port.trim_end_matches(')').parse::<u64>() {
                fields.insert("client_port", Value::from(port));
            }
            return;
        }
        'L' => "local_address",
        'b' => "backend_type",
        'c' => "session_id",
        'v' => "vxid",
        'e' => "sqlstate",
        'i' => "command_tag",
        'Q' => "pg_query_id",
        _ => "prefix",
    };
    fields.insert_str(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(prefix: &str, line: &str) -> Option<(Option<String>, usize, Fields)> {
        let compiled = LinePrefix::compile(prefix).unwrap();
        let mut fields = Fields::new();
        let accept = |end: usize| line[end..].starts_with("LOG:  ") || line[end..].starts_with("ERROR:  ");
        compiled
            .parse(line, &mut IsoClock::new(chrono_tz::Tz::UTC), &mut fields, accept)
            .map(|m| (m.at.map(|t| t.to_rfc3339()), m.end, fields))
    }

    #[test]
    fn common_prefixes() {
        let (at, end, f) = parse("%m [%p] %q%u@%d ", "2026-11-20 14:00:00.123 UTC [42] shop@shopdb LOG:  x").unwrap();
        assert_eq!(at.unwrap(), "2026-11-20T14:00:00.123+00:00");
        assert_eq!(
            (f.value("pid").as_u64(), f.value("user").as_str(), f.value("db").as_str()),
            (Some(42), Some("shop"), Some("shopdb"))
        );
        assert_eq!(end, "2026-11-20 14:00:00.123 UTC [42] shop@shopdb ".len());

        // A background process: everything after %q is absent.
        let (_, _, f) = parse("%m [%p] %q%u@%d ", "2026-11-20 14:00:00.123 UTC [7] LOG:  checkpoint starting").unwrap();
        assert!(!f.contains_key("user"));

        let line =
            "2017-09-06 08:41:41 UTC [36]: [121-1] user=postgres,db=pgbench,app=pgbench,client=172.23.0.1 LOG:  x";
        let (_, _, f) = parse("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ", line).unwrap();
        assert_eq!(f.value("session_line"), 121);
        assert_eq!(f.value("client_host"), "172.23.0.1");
        assert_eq!(f.value("application"), "pgbench");

        let line = "2019-01-01 00:00:00 UTC:10.0.0.9(51234):app@shop:[88]:ERROR:  boom";
        let (_, _, f) = parse("%t:%r:%u@%d:[%p]:", line).unwrap();
        assert_eq!((f.value("client_host").as_str(), f.value("client_port").as_u64()), (Some("10.0.0.9"), Some(51234)));

        assert!(parse("%m [%p] ", "pg_ctl: could not start server").is_none());
    }

    #[test]
    fn bad_prefixes_are_errors() {
        assert!(LinePrefix::compile("%m %Z").is_err());
        assert!(LinePrefix::compile("%m %").is_err());
        assert!(LinePrefix::compile("100%% [%p] ").is_ok());
    }
}
