//! What each parser would be written with the `regex` crate, building the same events, so
//! the parser bench compares like with like. Not used by Sluice itself.

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use serde_json::Value;
use sluice_core::{Event, Fields, Level};

pub struct RegexParsers {
    nginx: Regex,
    logback: Regex,
    mysql_time: Regex,
    mysql_user: Regex,
    mysql_metrics: Regex,
    postgres: Regex,
}

impl Default for RegexParsers {
    fn default() -> Self {
        let re = |p: &str| Regex::new(p).expect("baseline regex compiles");
        RegexParsers {
            nginx: re(r#"^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$"#),
            logback: re(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \[([^\]]+)\] (\w+)\s+(\S+) - (.*)$"),
            mysql_time: re(r"^# Time: (\S+)"),
            mysql_user: re(r"^# User@Host: ([^\[]+)\[[^\]]*\] @ (\S*) \[([^\]]*)\]"),
            mysql_metrics: re(
                r"^# Query_time: ([\d.]+)\s+Lock_time: ([\d.]+)\s+Rows_sent: (\d+)\s+Rows_examined: (\d+)",
            ),
            postgres: re(
                r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \S+ \[(\d+)\] (?:(\S+)@(\S+) )?(\w+):  (?:duration: ([\d.]+) ms  statement: )?(.*)$",
            ),
        }
    }
}

fn event(at: DateTime<Utc>, message: &str, fields: Fields) -> Event {
    let mut e = Event::new(at, message);
    e.fields = fields;
    e
}

fn naive(text: &str, format: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, format).map(|t| t.and_utc()).unwrap_or_default()
}

impl RegexParsers {
    pub fn parse(&self, format: &str, input: &[u8], out: &mut Vec<Event>) {
        let text = std::str::from_utf8(input).unwrap_or("");
        match format {
            "nginx" => self.nginx_lines(text, out),
            "logback" => self.logback_lines(text, out),
            "json" => json_lines(text, out),
            "mysql-slow" => self.mysql_entries(text, out),
            _ => self.postgres_lines(text, out),
        }
    }

    fn nginx_lines(&self, text: &str, out: &mut Vec<Event>) {
        for line in text.lines() {
            let Some(c) = self.nginx.captures(line) else { continue };
            let mut f = Fields::new();
            f.insert("client_ip", c[1].into());
            f.insert("method", c[4].into());
            let (path, query) = c[5].split_once('?').unwrap_or((&c[5], ""));
            f.insert("path", path.into());
            if !query.is_empty() {
                f.insert("query_string", query.into());
            }
            f.insert("protocol", c[6].into());
            let status: u64 = c[7].parse().unwrap_or(0);
            f.insert("status", status.into());
            f.insert("bytes", c[8].parse::<u64>().map_or(Value::Null, Value::from));
            f.insert("referer", c[9].into());
            f.insert("user_agent", c[10].into());
            let at = DateTime::parse_from_str(&c[3], "%d/%b/%Y:%H:%M:%S %z").map(|t| t.to_utc()).unwrap_or_default();
            let mut e = event(at, line, f);
            e.level = Level::from_http_status(status as u16);
            out.push(e);
        }
    }

    fn logback_lines(&self, text: &str, out: &mut Vec<Event>) {
        for line in text.lines() {
            match self.logback.captures(line) {
                Some(c) => {
                    let mut f = Fields::new();
                    f.insert("thread", c[2].into());
                    f.insert("logger", c[4].into());
                    let mut e = event(naive(&c[1], "%Y-%m-%d %H:%M:%S%.3f"), &c[5], f);
                    e.level = Level::parse_lenient(&c[3]).unwrap_or(Level::Info);
                    out.push(e);
                }
                None => {
                    if let Some(last) = out.last_mut() {
                        last.message.push('\n');
                        last.message.push_str(line);
                    }
                }
            }
        }
    }

    fn mysql_entries(&self, text: &str, out: &mut Vec<Event>) {
        let mut fields = Fields::new();
        let mut at = DateTime::<Utc>::default();
        let mut query = String::new();
        for line in text.lines() {
            if let Some(c) = self.mysql_time.captures(line) {
                if !query.is_empty() {
                    out.push(event(at, &std::mem::take(&mut query), std::mem::take(&mut fields)));
                }
                at = DateTime::parse_from_rfc3339(&c[1]).map(|t| t.to_utc()).unwrap_or_default();
            } else if let Some(c) = self.mysql_user.captures(line) {
                fields.insert("user", c[1].into());
                fields.insert("client_host", c[2].into());
                fields.insert("client_ip", c[3].into());
            } else if let Some(c) = self.mysql_metrics.captures(line) {
                let ms = |s: &str| Value::from((s.parse::<f64>().unwrap_or(0.0) * 1_000_000.0).round() / 1000.0);
                fields.insert("query_time_ms", ms(&c[1]));
                fields.insert("lock_time_ms", ms(&c[2]));
                fields.insert("rows_sent", c[3].parse::<u64>().unwrap_or(0).into());
                fields.insert("rows_examined", c[4].parse::<u64>().unwrap_or(0).into());
            } else if let Some(db) = line.strip_prefix("use ") {
                fields.insert("db", db.trim_end_matches(';').into());
            } else if !line.starts_with("SET timestamp=")
                && !line.starts_with('#')
                && !line.starts_with('/')
                && !line.starts_with("Tcp port")
                && !line.starts_with("Time ")
            {
                query.push_str(line);
                query.push('\n');
            }
        }
        if !query.is_empty() {
            out.push(event(at, &query, fields));
        }
    }

    fn postgres_lines(&self, text: &str, out: &mut Vec<Event>) {
        for line in text.lines() {
            match self.postgres.captures(line) {
                Some(c) if matches!(&c[5], "DETAIL" | "HINT" | "STATEMENT" | "CONTEXT") && !out.is_empty() => {
                    if let Some(last) = out.last_mut() {
                        last.message.push('\n');
                        last.message.push_str(&c[7]);
                    }
                }
                Some(c) => {
                    let mut f = Fields::new();
                    f.insert("pid", c[2].parse::<u64>().unwrap_or(0).into());
                    if let (Some(user), Some(db)) = (c.get(3), c.get(4)) {
                        f.insert("user", user.as_str().into());
                        f.insert("db", db.as_str().into());
                    }
                    if let Some(ms) = c.get(6) {
                        f.insert("query_time_ms", ms.as_str().parse::<f64>().unwrap_or(0.0).into());
                    }
                    let mut e = event(naive(&c[1], "%Y-%m-%d %H:%M:%S%.3f"), &c[7], f);
                    e.level = Level::parse_lenient(&c[5]).unwrap_or(Level::Info);
                    out.push(e);
                }
                None => {
                    if let Some(last) = out.last_mut() {
                        last.message.push('\n');
                        last.message.push_str(line);
                    }
                }
            }
        }
    }
}

/// The naive JSON-lines parser: decode each line into a `serde_json` object.
fn json_lines(text: &str, out: &mut Vec<Event>) {
    for line in text.lines() {
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(line) else { continue };
        let at = map
            .remove("time")
            .and_then(|t| t.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()))
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let message = map.remove("msg").and_then(|m| m.as_str().map(str::to_owned)).unwrap_or_default();
        let level = map.remove("level").and_then(|l| l.as_str().and_then(Level::parse_lenient));
        let mut e = event(at, &message, map.into());
        e.level = level.unwrap_or(Level::Info);
        out.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Budget, generate};
    use sluice_core::{Config, FormatName, SourceConfig};
    use sluice_parsers::{ModuleRouter, Parser};

    /// The baselines do the same work: same number of events, same key fields.
    #[test]
    fn baselines_agree_with_sluice_on_generated_logs() {
        let start = DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc();
        let baselines = RegexParsers::default();
        for (name, format, key) in [
            ("nginx", FormatName::Nginx, "status"),
            ("logback", FormatName::Logback, "logger"),
            ("json", FormatName::Json, "trace_id"),
            ("mysql-slow", FormatName::MysqlSlow, "query_time_ms"),
            ("postgres", FormatName::Postgres, "pid"),
        ] {
            let mut input = Vec::new();
            generate(name, Budget::Events(500), 3, start, &mut input).unwrap();
            let mut ours = Vec::new();
            let source = SourceConfig::adhoc(name, format);
            Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "h", start)
                .unwrap()
                .parse_all(&input, &mut ours);
            let mut theirs = Vec::new();
            baselines.parse(name, &input, &mut theirs);
            assert_eq!(ours.len(), theirs.len(), "{name}");
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(a.timestamp, b.timestamp, "{name}: {}", a.message);
                assert_eq!(a.fields.get(key), b.fields.get(key), "{name}: {}", a.message);
            }
        }
    }
}
