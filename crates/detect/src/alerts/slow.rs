//! Slow-SQL alerts: a storm of slow statements of one fingerprint or in one module within a
//! window, or a single statement over the critical duration.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_core::{AlertsConfig, Event, Severity};

use super::window::{Baseline, WindowCounter};
use super::{Alert, AlertKind, AlertStatus, AlertUpdate, Change, Episode, alert_id};

const BUCKETS_PER_WINDOW: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rule {
    Storm,
    ModuleStorm,
    Critical,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Storm => "slow_sql_storm",
            Rule::ModuleStorm => "slow_sql_module_storm",
            Rule::Critical => "slow_sql_critical",
        }
    }
}

struct Track {
    counter: WindowCounter,
    /// The usual count per bucket, so a busy database's steady trickle of slow
    /// statements is not a storm; a storm is both over the count and unusual.
    baseline: Baseline,
    episode: Option<Episode>,
}

pub(crate) struct SlowSqlRules {
    window_secs: i64,
    storm_count: u64,
    module_storm_count: u64,
    storm_severity: Severity,
    critical_ms: f64,
    critical_severity: Severity,
    quiet: Duration,
    factor: f64,
    baseline_secs: i64,
    /// Per source: the first and newest statement time. Each source's statements arrive
    /// in time order; different sources need not (an import reads one file after another).
    clocks: HashMap<String, Clock>,
    /// (rule, source, fingerprint id or module) -> its window and alert.
    tracks: HashMap<Key, Track>,
}

type Key = (Rule, String, String);

#[derive(Debug, Clone, Copy)]
struct Clock {
    first_seen: DateTime<Utc>,
    watermark: DateTime<Utc>,
}

impl SlowSqlRules {
    pub(crate) fn new(config: &AlertsConfig) -> SlowSqlRules {
        SlowSqlRules {
            window_secs: config.slow_storm_window().as_secs().max(1) as i64,
            storm_count: config.slow_storm_count.max(1),
            module_storm_count: config.slow_module_storm_count,
            storm_severity: config.slow_storm_severity,
            critical_ms: config.slow_critical_ms as f64,
            critical_severity: config.slow_critical_severity,
            quiet: config.quiet(),
            factor: config.factor,
            baseline_secs: config.baseline().as_secs().max(1) as i64,
            clocks: HashMap::new(),
            tracks: HashMap::new(),
        }
    }

    /// Moves the source's clock to `event`'s time.
    fn clock(&mut self, event: &Event) -> Clock {
        let clock = self
            .clocks
            .entry(event.source.to_string())
            .or_insert(Clock { first_seen: event.timestamp, watermark: event.timestamp });
        clock.watermark = clock.watermark.max(event.timestamp);
        *clock
    }

    /// A statement that was not slow still moves SQL time on (and may close storms).
    pub(crate) fn advance(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        if !event.fields.contains_key("query_time_ms") {
            return;
        }
        let before = self.clocks.get(event.source.as_str()).map(|c| c.watermark);
        let now = self.clock(event).watermark;
        if before.is_some_and(|w| now - w < chrono::TimeDelta::seconds(1)) {
            return;
        }
        let keys: Vec<Key> = self
            .tracks
            .iter()
            .filter(|(k, t)| t.episode.is_some() && k.1 == event.source)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.evaluate(&key, None, out);
        }
    }

    pub(crate) fn observe(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        let clock = self.clock(event);
        // Once a source's statements have been watched for a window, a fingerprint or
        // module with no slow history so far has a usual count of zero, not an unknown one.
        let watched = (clock.watermark - clock.first_seen).num_seconds() >= self.window_secs;
        let now = clock.watermark;
        let query_id = event.field_str("query_id").unwrap_or("").to_owned();
        let ms = event.field_f64("query_time_ms").unwrap_or(0.0);
        let source = event.source.to_string();
        let mut keys = vec![(Rule::Storm, source.clone(), query_id.clone())];
        if self.module_storm_count > 0 {
            keys.push((Rule::ModuleStorm, source.clone(), event.module.to_string()));
        }
        if self.critical_ms > 0.0 && ms >= self.critical_ms {
            keys.push((Rule::Critical, source, query_id));
        }
        for key in keys {
            let (window_secs, baseline_secs) = (self.window_secs, self.baseline_secs);
            let bucket_secs = (window_secs / BUCKETS_PER_WINDOW).max(1);
            let track = self.tracks.entry(key.clone()).or_insert_with(|| Track {
                counter: WindowCounter::new(window_secs, bucket_secs),
                baseline: if watched {
                    Baseline::known_zero(bucket_secs, baseline_secs)
                } else {
                    Baseline::new(bucket_secs, baseline_secs)
                },
                episode: None,
            });
            // Fold completed buckets before the new hit can push old ones out of the window.
            track.baseline.advance(&track.counter, track.counter.bucket_of(now));
            track.counter.add(event.timestamp, now);
            if let Some(episode) = &mut track.episode {
                episode.hit(event);
            }
            self.evaluate(&key, Some(event), out);
        }
    }

    fn evaluate(&mut self, key: &Key, event: Option<&Event>, out: &mut Vec<AlertUpdate>) {
        let Some(now) = self.clocks.get(&key.1).map(|c| c.watermark) else { return };
        let (rule, subject) = (key.0, &key.2);
        let threshold = match rule {
            Rule::Storm => self.storm_count,
            Rule::ModuleStorm => self.module_storm_count,
            Rule::Critical => 1,
        };
        let severity = if rule == Rule::Critical { self.critical_severity } else { self.storm_severity };
        let (window_secs, quiet, critical_ms, factor) = (self.window_secs, self.quiet, self.critical_ms, self.factor);
        let Some(track) = self.tracks.get_mut(key) else { return };
        track.baseline.advance(&track.counter, track.counter.bucket_of(now));
        let count = track.counter.count(now);
        let usual = track.baseline.per(track.counter.span());
        let over = count >= threshold
            && (rule == Rule::Critical
                || (track.baseline.knows(track.counter.span()) && count as f64 > factor * usual));
        match (&mut track.episode, event) {
            (None, Some(event)) if over => {
                let start =
                    if rule == Rule::Critical { event.timestamp } else { track.counter.first(now).unwrap_or(now) };
                let query_id = event.field_str("query_id").map(str::to_owned);
                let fingerprint = event.field_str("fingerprint").map(str::to_owned);
                let search = match rule {
                    Rule::ModuleStorm => format!("module:{subject} AND slow:true"),
                    _ => format!("query_id:{subject} AND slow:true"),
                };
                let alert = Alert {
                    id: alert_id(AlertKind::SlowSql, rule.name(), subject, start),
                    kind: AlertKind::SlowSql,
                    severity,
                    module: event.module.to_string(),
                    start,
                    end: event.timestamp,
                    count,
                    summary: String::new(),
                    status: AlertStatus::Open,
                    rule: rule.name().into(),
                    // The count a storm reached, or the duration a critical statement crossed.
                    threshold: if rule == Rule::Critical { critical_ms } else { threshold as f64 },
                    baseline: 0.0,
                    peak: count,
                    window_secs: window_secs as u64,
                    sources: Default::default(),
                    failure_ratio: None,
                    query_id: if rule == Rule::ModuleStorm { None } else { query_id },
                    fingerprint: if rule == Rule::ModuleStorm { None } else { fingerprint },
                    top_messages: Vec::new(),
                    examples: Vec::new(),
                    search,
                    updated_at: Utc::now(),
                };
                let mut episode = Episode::open(alert, &[event]);
                describe(&mut episode.alert, event);
                out.push(episode.snapshot(Change::Opened));
                track.episode = Some(episode);
            }
            (None, _) => {}
            (Some(episode), _) => {
                if count > episode.alert.peak {
                    episode.alert.peak = count;
                }
                if let Some(event) = event {
                    describe(&mut episode.alert, event);
                }
                if episode.settle(over, now, quiet) {
                    let episode = track.episode.take().expect("episode present");
                    out.push(episode.close());
                }
            }
        }
    }

    pub(crate) fn tick(&mut self, force: bool, out: &mut Vec<AlertUpdate>) {
        let quiet = self.quiet;
        for track in self.tracks.values_mut() {
            let Some(episode) = &mut track.episode else { continue };
            if episode.idle_for() >= quiet {
                let episode = track.episode.take().expect("episode present");
                out.push(episode.close());
            } else if let Some(update) = episode.due_update(force) {
                out.push(update);
            }
        }
        let clocks = &self.clocks;
        self.tracks.retain(|key, t| {
            if let Some(now) = clocks.get(&key.1).map(|c| c.watermark) {
                t.baseline.advance(&t.counter, t.counter.bucket_of(now));
                t.counter.prune(now);
            }
            t.episode.is_some() || !t.counter.is_empty() || t.baseline.per(1) > 1e-3
        });
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<AlertUpdate>) {
        for track in self.tracks.values_mut() {
            if let Some(episode) = track.episode.take() {
                out.push(episode.close());
            }
        }
    }

    pub(crate) fn open_alerts(&self) -> usize {
        self.tracks.values().filter(|t| t.episode.is_some()).count()
    }
}

fn describe(alert: &mut Alert, latest: &Event) {
    let what = alert.fingerprint.as_deref().map(|f| f.chars().take(120).collect::<String>()).unwrap_or_default();
    alert.summary = match alert.rule.as_str() {
        "slow_sql_critical" => format!(
            "{}: critical slow SQL, {} statement(s) at or over {:.0} ms (latest {:.0} ms): {what}",
            alert.module,
            alert.count,
            alert.threshold,
            latest.field_f64("query_time_ms").unwrap_or(0.0)
        ),
        "slow_sql_module_storm" => format!(
            "{}: slow SQL storm, {} slow statements in {}m across the module",
            alert.module,
            alert.peak,
            alert.window_secs / 60
        ),
        _ => format!(
            "{}: slow SQL storm, {} slow statements in {}m: {what}",
            alert.module,
            alert.peak,
            alert.window_secs / 60
        ),
    };
}
