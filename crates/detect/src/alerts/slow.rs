//! Slow-SQL alerts: a storm of slow statements of one fingerprint or in one module within a
//! window, or a single statement over the critical duration.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_core::{AlertsConfig, Event, Severity};

use super::window::WindowCounter;
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
    /// Newest time of any SQL statement seen.
    watermark: Option<DateTime<Utc>>,
    tracks: HashMap<(Rule, String), Track>,
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
            watermark: None,
            tracks: HashMap::new(),
        }
    }

    /// A statement that was not slow still moves SQL time on (and may close storms).
    pub(crate) fn advance(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        if !event.fields.contains_key("query_time_ms") {
            return;
        }
        let now = self.watermark.map_or(event.timestamp, |w| w.max(event.timestamp));
        if self.watermark.is_some_and(|w| now - w < chrono::TimeDelta::seconds(1)) {
            return;
        }
        self.watermark = Some(now);
        let keys: Vec<(Rule, String)> =
            self.tracks.iter().filter(|(_, t)| t.episode.is_some()).map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.evaluate(&key, None, out);
        }
    }

    pub(crate) fn observe(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        let now = self.watermark.map_or(event.timestamp, |w| w.max(event.timestamp));
        self.watermark = Some(now);
        let query_id = event.field_str("query_id").unwrap_or("").to_owned();
        let ms = event.field_f64("query_time_ms").unwrap_or(0.0);
        let mut keys = vec![(Rule::Storm, query_id.clone())];
        if self.module_storm_count > 0 {
            keys.push((Rule::ModuleStorm, event.module.clone()));
        }
        if self.critical_ms > 0.0 && ms >= self.critical_ms {
            keys.push((Rule::Critical, query_id));
        }
        for key in keys {
            let window_secs = self.window_secs;
            let track = self.tracks.entry(key.clone()).or_insert_with(|| Track {
                counter: WindowCounter::new(window_secs, (window_secs / BUCKETS_PER_WINDOW).max(1)),
                episode: None,
            });
            track.counter.add(event.timestamp, now);
            if let Some(episode) = &mut track.episode {
                episode.hit(event);
            }
            self.evaluate(&key, Some(event), out);
        }
    }

    fn evaluate(&mut self, key: &(Rule, String), event: Option<&Event>, out: &mut Vec<AlertUpdate>) {
        let Some(now) = self.watermark else { return };
        let (rule, subject) = (key.0, &key.1);
        let threshold = match rule {
            Rule::Storm => self.storm_count,
            Rule::ModuleStorm => self.module_storm_count,
            Rule::Critical => 1,
        };
        let severity = if rule == Rule::Critical { self.critical_severity } else { self.storm_severity };
        let (window_secs, quiet, critical_ms) = (self.window_secs, self.quiet, self.critical_ms);
        let Some(track) = self.tracks.get_mut(key) else { return };
        let count = track.counter.count(now);
        let over = count >= threshold;
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
                    module: event.module.clone(),
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
        if let Some(now) = self.watermark {
            self.tracks.retain(|_, t| {
                t.counter.prune(now);
                t.episode.is_some() || !t.counter.is_empty()
            });
        }
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
