//! The slow-query digest: statements grouped by fingerprint with the statistics a DBA
//! reads in pt-query-digest's or pgBadger's report, from any stream of events (files
//! parsed on the spot, or the index), rendered as text, JSON (CONTRACT.md) or HTML.

mod html;
mod text;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sluice_core::Event;
use sluice_detect::sql::{self, Dialect};

pub use html::{STYLE as HTML_STYLE, escape as escape_html, render_html, write_profile as write_profile_html};
pub use text::render_text;

/// Which statements a digest covers.
#[derive(Debug, Clone)]
pub struct DigestOptions {
    /// Inclusive start; statements before it are skipped.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
    /// Statements slower than this are listed; 0 lists every statement (pt-query-digest's view).
    pub min_ms: f64,
    /// IANA zone the reports show hours in.
    pub timezone: String,
}

impl Default for DigestOptions {
    fn default() -> Self {
        DigestOptions { from: None, to: None, min_ms: 500.0, timezone: "UTC".into() }
    }
}

/// The digest, in the shape of CONTRACT.md ("Digest JSON") plus the chart data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub threshold_ms: f64,
    /// Every timed statement in the window.
    pub total_queries: u64,
    /// Those slower than `threshold_ms` (all of them when it is 0).
    pub slow_queries: u64,
    /// Sorted by `total_ms`, largest first.
    pub queries: Vec<QueryRow>,
    #[serde(default)]
    pub timezone: String,
    /// Durations of the listed statements, in fixed buckets.
    #[serde(default)]
    pub histogram: Vec<HistogramBucket>,
    /// Listed statements per hour (UTC hour starts), oldest first.
    #[serde(default)]
    pub per_hour: Vec<HourCount>,
    /// Against the previous period's digest, when there is one.
    #[serde(default)]
    pub regressions: Vec<Regression>,
}

/// One fingerprint's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRow {
    pub id: String,
    pub fingerprint: String,
    pub count: u64,
    pub total_ms: f64,
    pub avg_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    pub lock_ms: f64,
    pub rows_examined: u64,
    pub rows_sent: u64,
    /// The most frequent database (and the others' count in `dbs`).
    pub db: Option<String>,
    pub module: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The slowest occurrence's statement text.
    pub example: String,
    pub user: Option<String>,
    pub host: Option<String>,
    /// `mysql` or `postgresql`: whose fingerprint rules made this row.
    pub dbms: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramBucket {
    /// Upper bound in ms (exclusive); `None` for the last, open bucket.
    pub lt_ms: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourCount {
    pub hour: DateTime<Utc>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub id: String,
    pub fingerprint: String,
    /// `new` (not seen in the previous period) or `p95_doubled`.
    pub kind: String,
    pub p95_ms: f64,
    pub previous_p95_ms: Option<f64>,
    pub count: u64,
}

const HISTOGRAM_BOUNDS_MS: [f64; 7] = [1.0, 10.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0];
/// The example statement is cut here so one huge multi-row INSERT cannot bloat a report.
const EXAMPLE_MAX_BYTES: usize = 16 * 1024;

/// Accumulates statements; [`DigestBuilder::finish`] computes the rows.
#[derive(Debug)]
pub struct DigestBuilder {
    options: DigestOptions,
    classes: HashMap<String, ClassStats>,
    total_queries: u64,
    slow_queries: u64,
    histogram: [u64; HISTOGRAM_BOUNDS_MS.len() + 1],
    per_hour: BTreeMap<DateTime<Utc>, u64>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct ClassStats {
    id: String,
    dbms: Dialect,
    times: Vec<f64>,
    total: f64,
    max: f64,
    lock: f64,
    rows_examined: u64,
    rows_sent: u64,
    dbs: Tally,
    modules: Tally,
    users: Tally,
    hosts: Tally,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    example: String,
}

/// Value counts for an attribute with few distinct values (db, user, module).
#[derive(Debug, Default)]
struct Tally(Vec<(String, u64)>);

impl Tally {
    fn add(&mut self, value: Option<&str>) {
        let Some(value) = value.filter(|v| !v.is_empty()) else { return };
        match self.0.iter_mut().find(|(v, _)| v == value) {
            Some((_, n)) => *n += 1,
            None => self.0.push((value.to_owned(), 1)),
        }
    }

    /// The most frequent value; ties go to the one seen first.
    fn most(&self) -> Option<String> {
        let mut best: Option<&(String, u64)> = None;
        for entry in &self.0 {
            if best.is_none_or(|b| entry.1 > b.1) {
                best = Some(entry);
            }
        }
        best.map(|(v, _)| v.clone())
    }
}

impl DigestBuilder {
    pub fn new(options: DigestOptions) -> Self {
        DigestBuilder {
            options,
            classes: HashMap::new(),
            total_queries: 0,
            slow_queries: 0,
            histogram: [0; HISTOGRAM_BOUNDS_MS.len() + 1],
            per_hour: BTreeMap::new(),
            first: None,
            last: None,
        }
    }

    /// Counts `event` if it is a timed statement inside the window; others are ignored.
    pub fn add(&mut self, event: &Event) {
        let Some((query, ms)) = sql::timed_statement(event) else { return };
        let at = event.timestamp;
        if self.options.from.is_some_and(|from| at < from) || self.options.to.is_some_and(|to| at >= to) {
            return;
        }
        self.total_queries += 1;
        if !(ms > self.options.min_ms || self.options.min_ms <= 0.0) {
            return;
        }
        self.slow_queries += 1;
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        let bucket = HISTOGRAM_BOUNDS_MS.iter().position(|b| ms < *b).unwrap_or(HISTOGRAM_BOUNDS_MS.len());
        self.histogram[bucket] += 1;
        let hour = at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at);
        *self.per_hour.entry(hour).or_default() += 1;

        let dialect = Dialect::of(event);
        // Events read back from the index carry their class already; the id is computed
        // once per class, not per statement.
        let known = event.field_str("fingerprint").zip(event.field_str("query_id"));
        let fingerprint = match known {
            Some((fingerprint, _)) => fingerprint.to_owned(),
            None => sql::fingerprint_of(query, dialect),
        };
        let stats = self.classes.entry(fingerprint).or_insert_with_key(|fingerprint| ClassStats {
            id: match known {
                Some((_, id)) => id.to_owned(),
                None => sluice_detect::fingerprint::query_id(fingerprint),
            },
            dbms: dialect,
            times: Vec::new(),
            total: 0.0,
            max: f64::NEG_INFINITY,
            lock: 0.0,
            rows_examined: 0,
            rows_sent: 0,
            dbs: Tally::default(),
            modules: Tally::default(),
            users: Tally::default(),
            hosts: Tally::default(),
            first_seen: at,
            last_seen: at,
            example: String::new(),
        });
        stats.times.push(ms);
        stats.total += ms;
        if ms > stats.max {
            stats.max = ms;
            stats.example = truncate(query, EXAMPLE_MAX_BYTES).to_owned();
        }
        stats.lock += event.field_f64("lock_time_ms").unwrap_or(0.0);
        stats.rows_examined += event.field_f64("rows_examined").unwrap_or(0.0) as u64;
        stats.rows_sent += event.field_f64("rows_sent").unwrap_or(0.0) as u64;
        stats.dbs.add(event.field_str("db"));
        stats.modules.add(Some(&event.module));
        stats.users.add(event.field_str("user"));
        stats.hosts.add(event.field_str("client_host").or_else(|| event.field_str("client_ip")));
        stats.first_seen = stats.first_seen.min(at);
        stats.last_seen = stats.last_seen.max(at);
    }

    /// Folds another builder's statements into this one (for parallel digests).
    pub fn merge(&mut self, other: DigestBuilder) {
        self.total_queries += other.total_queries;
        self.slow_queries += other.slow_queries;
        for (mine, theirs) in self.histogram.iter_mut().zip(other.histogram) {
            *mine += theirs;
        }
        for (hour, n) in other.per_hour {
            *self.per_hour.entry(hour).or_default() += n;
        }
        self.first = [self.first, other.first].into_iter().flatten().min();
        self.last = [self.last, other.last].into_iter().flatten().max();
        for (fingerprint, theirs) in other.classes {
            let Some(mine) = self.classes.get_mut(&fingerprint) else {
                self.classes.insert(fingerprint, theirs);
                continue;
            };
            mine.times.extend(theirs.times);
            mine.total += theirs.total;
            if theirs.max > mine.max {
                mine.max = theirs.max;
                mine.example = theirs.example;
            }
            mine.lock += theirs.lock;
            mine.rows_examined += theirs.rows_examined;
            mine.rows_sent += theirs.rows_sent;
            for (tally, other) in [
                (&mut mine.dbs, theirs.dbs),
                (&mut mine.modules, theirs.modules),
                (&mut mine.users, theirs.users),
                (&mut mine.hosts, theirs.hosts),
            ] {
                for (value, n) in other.0 {
                    match tally.0.iter_mut().find(|(v, _)| *v == value) {
                        Some((_, m)) => *m += n,
                        None => tally.0.push((value, n)),
                    }
                }
            }
            mine.first_seen = mine.first_seen.min(theirs.first_seen);
            mine.last_seen = mine.last_seen.max(theirs.last_seen);
        }
    }

    pub fn finish(self) -> Digest {
        let mut queries: Vec<QueryRow> = self
            .classes
            .into_iter()
            .map(|(fingerprint, mut s)| {
                let count = s.times.len() as u64;
                QueryRow {
                    id: s.id,
                    fingerprint,
                    count,
                    total_ms: round_us(s.total),
                    avg_ms: round_us(s.total / count as f64),
                    p95_ms: round_us(nearest_rank(&mut s.times, 0.95)),
                    max_ms: round_us(s.max),
                    lock_ms: round_us(s.lock),
                    rows_examined: s.rows_examined,
                    rows_sent: s.rows_sent,
                    db: s.dbs.most(),
                    module: s.modules.most().unwrap_or_default(),
                    first_seen: s.first_seen,
                    last_seen: s.last_seen,
                    example: s.example,
                    user: s.users.most(),
                    host: s.hosts.most(),
                    dbms: match s.dbms {
                        Dialect::MySql => "mysql".into(),
                        Dialect::Postgres => "postgresql".into(),
                    },
                }
            })
            .collect();
        queries.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then_with(|| a.id.cmp(&b.id)));
        let mut histogram: Vec<HistogramBucket> = HISTOGRAM_BOUNDS_MS
            .iter()
            .zip(self.histogram)
            .map(|(bound, count)| HistogramBucket { lt_ms: Some(*bound), count })
            .collect();
        histogram.push(HistogramBucket { lt_ms: None, count: self.histogram[HISTOGRAM_BOUNDS_MS.len()] });
        Digest {
            from: self.options.from.or(self.first),
            to: self.options.to.or(self.last),
            threshold_ms: self.options.min_ms,
            total_queries: self.total_queries,
            slow_queries: self.slow_queries,
            queries,
            timezone: self.options.timezone,
            histogram,
            per_hour: self.per_hour.into_iter().map(|(hour, count)| HourCount { hour, count }).collect(),
            regressions: Vec::new(),
        }
    }
}

impl Digest {
    /// Day-over-day (or period-over-period) changes: fingerprints the previous digest did
    /// not have, and those whose p95 at least doubled. Largest total time first.
    pub fn compare_with(&mut self, previous: &Digest) {
        let before: HashMap<&str, &QueryRow> = previous.queries.iter().map(|q| (q.id.as_str(), q)).collect();
        self.regressions = self
            .queries
            .iter()
            .filter_map(|q| {
                let (kind, previous_p95_ms) = match before.get(q.id.as_str()) {
                    None => ("new", None),
                    Some(p) if p.p95_ms > 0.0 && q.p95_ms >= 2.0 * p.p95_ms => ("p95_doubled", Some(p.p95_ms)),
                    Some(_) => return None,
                };
                Some(Regression {
                    id: q.id.clone(),
                    fingerprint: q.fingerprint.clone(),
                    kind: kind.into(),
                    p95_ms: q.p95_ms,
                    previous_p95_ms,
                    count: q.count,
                })
            })
            .collect();
    }
}

/// The value at or below which `q` of the samples fall (nearest-rank definition).
fn nearest_rank(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
    *samples.select_nth_unstable_by(rank, f64::total_cmp).1
}

fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
