//! Times as users type them on the command line and in query strings.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::CoreError;

/// Parses RFC 3339 (`2026-11-20T14:00:00Z`), a zone-less date or date-time read in `tz`
/// (`2026-11-20`, `2026-11-20 14:00:00`), or a time relative to `now`
/// (`now`, `-15m`, `-2h`, `-7d`, `-30s`, `-1w`).
pub fn parse_time(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, CoreError> {
    let text = input.trim();
    let invalid = || CoreError::InvalidTime { input: input.to_owned() };
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(rest) = text.strip_prefix('-') {
        return relative(rest).map(|d| now - d).ok_or_else(invalid);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return local_to_utc(naive, tz).ok_or_else(invalid);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return local_to_utc(date.and_hms_opt(0, 0, 0).ok_or_else(invalid)?, tz).ok_or_else(invalid);
    }
    Err(invalid())
}

fn relative(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(unit_at);
    let n: i64 = digits.parse().ok()?;
    match unit {
        "s" => Duration::try_seconds(n),
        "m" | "min" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
}

/// Resolves a wall-clock time in `tz`; in a DST fold the earlier instant wins, and a
/// time inside a DST gap is read as if the clock had not jumped yet.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive - Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc) + Duration::hours(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T14:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn parse(s: &str) -> String {
        parse_time(s, now(), chrono_tz::Asia::Shanghai).unwrap().to_rfc3339()
    }

    #[test]
    fn absolute_and_relative() {
        assert_eq!(parse("2026-11-20T22:00:00+08:00"), "2026-11-20T14:00:00+00:00");
        assert_eq!(parse("now"), "2026-11-20T14:00:00+00:00");
        assert_eq!(parse("-15m"), "2026-11-20T13:45:00+00:00");
        assert_eq!(parse("-2h"), "2026-11-20T12:00:00+00:00");
        assert_eq!(parse("-7d"), "2026-11-13T14:00:00+00:00");
        assert_eq!(parse("2026-11-20"), "2026-11-19T16:00:00+00:00");
        assert_eq!(parse("2026-11-20 08:00:00"), "2026-11-20T00:00:00+00:00");
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "-", "-5y", "yesterday-ish", "2026-13-01", "-99999999999999d"] {
            assert!(parse_time(bad, now(), Tz::UTC).is_err(), "{bad}");
        }
    }
}
