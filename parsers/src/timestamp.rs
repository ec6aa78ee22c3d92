//! Fixed-layout timestamp scanners. Log timestamps come in a handful of layouts, and
//! scanning digits at known positions is an order of magnitude faster than strptime.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use sluice_core::time::local_to_utc;

pub(crate) fn digits(b: &[u8], start: usize, n: usize) -> Option<u32> {
    let slice = b.get(start..start + n)?;
    let mut v = 0u32;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Reads `.123` / `,123456` fractional seconds at `b[0]`; returns (nanos, bytes read).
fn fraction(b: &[u8]) -> (u32, usize) {
    if !matches!(b.first(), Some(b'.' | b',')) {
        return (0, 0);
    }
    let mut nanos = 0u32;
    let mut n = 0;
    for &c in &b[1..] {
        if !c.is_ascii_digit() {
            break;
        }
        if n < 9 {
            nanos = nanos * 10 + u32::from(c - b'0');
        }
        n += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..9 {
        nanos *= 10;
    }
    (nanos, n + 1)
}

/// Reads a zone designator: `Z`, `+08:00`, `+0800`, `+08`, or ` UTC`/` GMT`.
/// Returns the offset in seconds and bytes read.
fn zone(b: &[u8]) -> Option<(i32, usize)> {
    match b.first()? {
        b'Z' => Some((0, 1)),
        sign @ (b'+' | b'-') => {
            let hours = digits(b, 1, 2)? as i32;
            let (minutes, len) = if b.get(3) == Some(&b':') {
                (digits(b, 4, 2)? as i32, 6)
            } else if let Some(m) = digits(b, 3, 2) {
                (m as i32, 5)
            } else {
                (0, 3)
            };
            let secs = hours * 3600 + minutes * 60;
            Some((if *sign == b'-' { -secs } else { secs }, len))
        }
        _ => None,
    }
}

/// A zone abbreviation after a space (` UTC`, ` CET`, ` MSK`): its length, if it is one.
fn abbreviation(b: &[u8]) -> Option<&str> {
    if b.first() != Some(&b' ') {
        return None;
    }
    let len = b[1..].iter().take_while(|c| c.is_ascii_uppercase()).count();
    let ends = b.get(1 + len).is_none_or(|c| !c.is_ascii_alphanumeric());
    ((2..=5).contains(&len) && ends).then(|| std::str::from_utf8(&b[1..1 + len]).unwrap_or(""))
}

/// Offsets of the zone abbreviations servers print (PostgreSQL's `%t`/`%m`), in seconds.
/// Ambiguous ones (CST, IST) are read in the configured zone first, see [`abbreviated`].
fn abbreviation_offset(name: &str) -> Option<i32> {
    let hours = match name {
        "UTC" | "GMT" | "UT" | "Z" | "WET" => 0.0,
        "BST" | "CET" | "WEST" | "MET" => 1.0,
        "CEST" | "EET" | "SAST" | "MEST" => 2.0,
        "EEST" | "MSK" | "IDT" => 3.0,
        "IST" => 5.5,
        "ICT" | "WIB" => 7.0,
        "CST" | "HKT" | "SGT" | "AWST" | "PHT" => 8.0,
        "JST" | "KST" => 9.0,
        "AEST" => 10.0,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        "AST" | "EDT" => -4.0,
        "EST" | "CDT" => -5.0,
        "MDT" => -6.0,
        "MST" | "PDT" => -7.0,
        "PST" => -8.0,
        "HST" => -10.0,
        _ => return None,
    };
    Some((hours * 3600.0) as i32)
}

/// Resolves `naive` written with abbreviation `name`: the configured zone wins when it uses
/// that abbreviation at that time (so CST means China in Asia/Shanghai), else the table.
fn abbreviated(naive: NaiveDateTime, name: &str, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::offset::Offset;
    use chrono_tz::OffsetName;
    if let Some(offset) = tz.offset_from_local_datetime(&naive).earliest()
        && offset.abbreviation() == Some(name)
    {
        return offset_to_utc(naive, offset.fix().local_minus_utc());
    }
    offset_to_utc(naive, abbreviation_offset(name)?)
}

fn date_time(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_nano_opt(h, mi, s.min(59), nanos)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][zone]` at the start of `b`. Without a zone the time is
/// read in `tz`. Returns the instant and the bytes consumed.
pub fn iso_prefix(b: &[u8], tz: Tz) -> Option<(DateTime<Utc>, usize)> {
    if !iso_layout(b) {
        return None;
    }
    let (nanos, flen) = fraction(&b[19..]);
    iso_resolve(b, digits(b, 17, 2)?, nanos, 19 + flen, tz)
}

/// The fixed punctuation of `YYYY-MM-DD[T ]HH:MM:SS`.
fn iso_layout(b: &[u8]) -> bool {
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && matches!(b[10], b'T' | b' ') && b[13] == b':' && b[16] == b':'
}

/// The instant of an ISO timestamp whose seconds, fraction and length up to the zone are
/// already read, with the bytes used through its zone.
fn iso_resolve(b: &[u8], s: u32, nanos: u32, mut used: usize, tz: Tz) -> Option<(DateTime<Utc>, usize)> {
    let naive = date_time(
        digits(b, 0, 4)?,
        digits(b, 5, 2)?,
        digits(b, 8, 2)?,
        digits(b, 11, 2)?,
        digits(b, 14, 2)?,
        s,
        nanos,
    )?;
    if let Some((offset, zlen)) = zone(&b[used..]) {
        used += zlen;
        return Some((offset_to_utc(naive, offset)?, used));
    }
    if let Some(name) = abbreviation(&b[used..])
        && let Some(t) = abbreviated(naive, name, tz)
    {
        return Some((t, used + 1 + name.len()));
    }
    Some((local_to_utc(naive, tz)?, used))
}

fn offset_to_utc(naive: NaiveDateTime, offset_secs: i32) -> Option<DateTime<Utc>> {
    let offset = FixedOffset::east_opt(offset_secs)?;
    offset.from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc))
}

pub(crate) fn month(b: &[u8]) -> Option<u32> {
    let m = b.get(..3)?;
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    MONTHS.iter().position(|name| *name == m).map(|i| i as u32 + 1)
}

/// nginx/apache `$time_local`: `20/Nov/2026:14:00:00 +0800`.
pub fn common_log(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let naive = date_time(
        digits(b, 7, 4)?,
        month(&b[3..])?,
        digits(b, 0, 2)?,
        digits(b, 12, 2)?,
        digits(b, 15, 2)?,
        digits(b, 18, 2)?,
        0,
    )?;
    let (offset, _) = zone(&b[21..])?;
    offset_to_utc(naive, offset)
}

/// Reads [`iso_prefix`] timestamps, remembering the instant the last one's minute began.
/// Application logs write many lines a minute, each with its own milliseconds: the text
/// differs, but up to the minute, and the zone after the fraction, it is the same, and
/// only the seconds are added to the minute's instant. The date checks and the time-zone
/// rules (the costly part with a configured zone) then run once a minute. Zone offsets
/// change on whole minutes, so an instant within the minute is its start plus seconds.
#[derive(Debug)]
pub(crate) struct IsoClock {
    /// The zone of timestamps written without one.
    tz: Tz,
    last: Option<Minute>,
}

#[derive(Debug)]
struct Minute {
    /// `YYYY-MM-DD HH:MM` as written.
    head: [u8; 16],
    /// The bytes after the fraction, which hold the zone if there is one (up to ` NZST`
    /// and the byte that ends it).
    tail: [u8; 7],
    tail_len: usize,
    /// The minute's start in UTC: its day and second of the day.
    day: NaiveDate,
    second_of_day: u32,
    zone_len: usize,
}

impl IsoClock {
    pub(crate) fn new(tz: Tz) -> IsoClock {
        IsoClock { tz, last: None }
    }

    /// As [`iso_prefix`] in the clock's zone.
    pub(crate) fn read(&mut self, b: &[u8]) -> Option<(DateTime<Utc>, usize)> {
        let tz = self.tz;
        if !iso_layout(b) {
            return None;
        }
        let s = digits(b, 17, 2)?;
        let (nanos, flen) = fraction(&b[19..]);
        let after = 19 + flen;
        if s > 59 {
            // A leap second, read as :59 (see `date_time`): the slow way.
            return iso_resolve(b, s, nanos, after, tz);
        }
        let tail = &b[after..b.len().min(after + 7)];
        let hit = self.last.as_ref().filter(|m| m.head == b[..16] && m.tail[..m.tail_len] == *tail);
        let minute = match hit {
            Some(minute) => minute,
            None => {
                let (start, used) = iso_resolve(b, 0, 0, after, tz)?;
                let mut minute = Minute {
                    head: [0; 16],
                    tail: [0; 7],
                    tail_len: tail.len(),
                    day: start.date_naive(),
                    second_of_day: start.num_seconds_from_midnight(),
                    zone_len: used - after,
                };
                minute.head.copy_from_slice(&b[..16]);
                minute.tail[..tail.len()].copy_from_slice(tail);
                self.last.insert(minute)
            }
        };
        match NaiveTime::from_num_seconds_from_midnight_opt(minute.second_of_day + s, nanos) {
            Some(time) => Some((minute.day.and_time(time).and_utc(), after + minute.zone_len)),
            // Only a historical offset with seconds (local mean time) crosses midnight.
            None => iso_resolve(b, s, nanos, after, tz),
        }
    }
}

/// The last timestamp text a parser read, and the instant it gave. Consecutive lines of
/// an access log mostly share their second, so the text usually compares equal and the
/// date arithmetic is skipped; only successful reads are kept.
#[derive(Debug, Default)]
pub(crate) struct LastStamp {
    text: [u8; 32],
    len: usize,
    time: Option<DateTime<Utc>>,
}

impl LastStamp {
    pub(crate) fn read(
        &mut self,
        text: &[u8],
        parse: impl FnOnce(&[u8]) -> Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        if self.time.is_some() && self.text.get(..self.len) == Some(text) {
            return self.time;
        }
        let time = parse(text);
        if time.is_some() && text.len() <= self.text.len() {
            self.text[..text.len()].copy_from_slice(text);
            self.len = text.len();
            self.time = time;
        }
        time
    }
}

/// Epoch seconds with an optional fraction (`1763647200.123`), as nginx's `$msec`.
pub fn epoch_seconds(text: &str) -> Option<DateTime<Utc>> {
    let secs: f64 = text.parse().ok()?;
    from_epoch_nanos((secs * 1e9) as i64)
}

/// An epoch number of unknown unit, guessed from its magnitude (s, ms, us or ns).
pub fn epoch_guess(value: f64) -> Option<DateTime<Utc>> {
    let abs = value.abs();
    let nanos = if abs < 1e11 {
        value * 1e9
    } else if abs < 1e14 {
        value * 1e6
    } else if abs < 1e17 {
        value * 1e3
    } else {
        value
    };
    from_epoch_nanos(nanos as i64)
}

fn from_epoch_nanos(nanos: i64) -> Option<DateTime<Utc>> {
    let t = DateTime::from_timestamp_nanos(nanos);
    // Reject absurd years a stray number would produce.
    (1990..=2200).contains(&t.year()).then_some(t)
}

/// MySQL before 5.7 and MariaDB: `190324 16:03:00` / `071015  1:43:52` (local time).
pub fn mysql_short(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let b = text.trim().as_bytes();
    if b.len() < 13 || b[6] != b' ' {
        return None;
    }
    let time = std::str::from_utf8(&b[7..]).ok()?.trim();
    let mut parts = time.split(':');
    let h: u32 = parts.next()?.trim().parse().ok()?;
    let mi: u32 = parts.next()?.parse().ok()?;
    // Percona Server adds microseconds: `120315 18:01:58.479076`.
    let seconds = parts.next()?;
    let (whole, _) = seconds.split_once('.').unwrap_or((seconds, ""));
    let s: u32 = whole.parse().ok()?;
    let (nanos, _) = fraction(&seconds.as_bytes()[whole.len()..]);
    let naive = date_time(2000 + digits(b, 0, 2)?, digits(b, 2, 2)?, digits(b, 4, 2)?, h, mi, s, nanos)?;
    local_to_utc(naive, tz)
}

/// BSD syslog `Nov 20 14:00:00` (no year: the year of `reference`, or the previous year
/// when that would put the time more than a month in the future).
pub fn syslog_bsd(b: &[u8], tz: Tz, reference: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let mo = month(b)?;
    let day = if b[4] == b' ' { digits(b, 5, 1)? } else { digits(b, 4, 2)? };
    let (h, mi, s) = (digits(b, 7, 2)?, digits(b, 10, 2)?, digits(b, 13, 2)?);
    let year = u32::try_from(reference.year()).ok()?;
    let t = local_to_utc(date_time(year, mo, day, h, mi, s, 0)?, tz)?;
    if t > reference + Duration::days(31) {
        let earlier = local_to_utc(date_time(year - 1, mo, day, h, mi, s, 0)?, tz)?;
        return Some((earlier, 15));
    }
    Some((t, 15))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str, tz: Tz) -> Option<String> {
        iso_prefix(s.as_bytes(), tz).map(|(t, n)| format!("{} {n}", t.to_rfc3339()))
    }

    proptest::proptest! {
        /// Lines in order, as a log writes them, around the DST changes of 2026 in New
        /// York (8 March, 1 November: 01:00-01:59 twice) and in zones, offsets and
        /// abbreviations that vary line to line: the clock reads each as `iso_prefix` does.
        #[test]
        fn the_clock_reads_as_iso_prefix_does(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["2026-03-08", "2026-11-01", "2026-02-29"]),
                    0u32..4, proptest::sample::select(vec![0u32, 30, 59, 61]), proptest::sample::select(vec![0u32, 29, 59, 60, 99]),
                    proptest::sample::select(vec!["", ".5", ",123", ".123456789", "."]),
                    proptest::sample::select(vec!["", "Z", "+08:00", "-0530", "+03", " UTC", " CST", " EST INFO", " INFO [main]", "+25:00"]),
                ),
                1..40,
            ),
            zone in proptest::sample::select(vec![Tz::UTC, Tz::America__New_York, Tz::Asia__Shanghai, Tz::Australia__Lord_Howe]),
        ) {
            let mut clock = IsoClock::new(zone);
            for (day, hour, minute, second, fraction, suffix) in lines {
                let line = format!("{day}T{hour:02}:{minute:02}:{second:02}{fraction}{suffix}");
                proptest::prop_assert_eq!(clock.read(line.as_bytes()), iso_prefix(line.as_bytes(), zone), "{}", line);
            }
        }
    }

    #[test]
    fn the_clock_reuses_the_minute_and_notices_a_new_one() {
        let mut clock = IsoClock::new(Tz::Europe__Berlin);
        let read = |clock: &mut IsoClock, s: &str| clock.read(s.as_bytes()).map(|(t, n)| (t.to_rfc3339(), n));
        assert_eq!(
            read(&mut clock, "2026-11-20 14:00:01.250 INFO x"),
            Some(("2026-11-20T13:00:01.250+00:00".into(), 23))
        );
        assert_eq!(
            read(&mut clock, "2026-11-20 14:00:59.999 INFO x"),
            Some(("2026-11-20T13:00:59.999+00:00".into(), 23))
        );
        assert_eq!(read(&mut clock, "2026-11-20 14:01:00.000 INFO x"), Some(("2026-11-20T13:01:00+00:00".into(), 23)));
        assert_eq!(read(&mut clock, "2026-11-20 14:01:00.000Z INFO"), Some(("2026-11-20T14:01:00+00:00".into(), 24)));
        assert_eq!(read(&mut clock, "2026-11-20 14:01:7x"), None);
    }

    #[test]
    fn iso_layouts() {
        let utc = Tz::UTC;
        assert_eq!(iso("2026-11-20T14:00:00Z x", utc).unwrap(), "2026-11-20T14:00:00+00:00 20");
        assert_eq!(
            iso("2026-11-20 14:00:00,123 INFO", chrono_tz::Asia::Shanghai).unwrap(),
            "2026-11-20T06:00:00.123+00:00 23"
        );
        assert_eq!(iso("2026-11-20T14:00:00.5+08:00", utc).unwrap(), "2026-11-20T06:00:00.500+00:00 27");
        assert_eq!(iso("2026-11-20 14:00:00 UTC [1]", utc).unwrap(), "2026-11-20T14:00:00+00:00 23");
        assert!(iso("2026-13-20 14:00:00", utc).is_none());
        // Zone abbreviations; a level word is not one.
        assert_eq!(iso("2025-01-21 18:32:48.288 CET [77898]", utc).unwrap(), "2025-01-21T17:32:48.288+00:00 27");
        assert_eq!(iso("2019-10-21 12:03:31 MSK x", utc).unwrap(), "2019-10-21T09:03:31+00:00 23");
        assert_eq!(iso("2026-11-20 14:00:00 CST", chrono_tz::Asia::Shanghai).unwrap(), "2026-11-20T06:00:00+00:00 23");
        assert_eq!(iso("2026-11-20 14:00:00 INFO x", utc).unwrap(), "2026-11-20T14:00:00+00:00 19");
        assert!(iso("hello world, not a time", utc).is_none());
    }

    #[test]
    fn other_layouts() {
        let t = common_log(b"20/Nov/2026:14:00:00 +0800").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-20T06:00:00+00:00");
        let t = mysql_short("190324 16:03:00", Tz::UTC).unwrap();
        assert_eq!(t.to_rfc3339(), "2019-03-24T16:03:00+00:00");
        let t = mysql_short("071015  1:43:52", Tz::UTC).unwrap();
        assert_eq!(t.to_rfc3339(), "2007-10-15T01:43:52+00:00");
        assert_eq!(epoch_guess(1_763_647_200_123.0).unwrap().timestamp_millis(), 1_763_647_200_123);
        assert!(epoch_guess(42.0).is_none());
        let reference = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z").unwrap().to_utc();
        let (t, _) = syslog_bsd(b"Dec 31 23:59:59 host", Tz::UTC, reference).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-12-31T23:59:59+00:00");
    }
}
