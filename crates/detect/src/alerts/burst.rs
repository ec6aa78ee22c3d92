//! Error bursts per module: errors (level error/fatal, HTTP 5xx) in a sliding window,
//! against an absolute floor and `factor` times the usual count, so a noisy module does
//! not page all day and a quiet one pages on its first real spike.
//!
//! Windows and baselines are kept per (module, source): each source's events arrive in
//! time order, while different sources may not (an import reads one file after another).
//! The alert is per module: the first source to cross its threshold opens it, errors of
//! the module from every source count in it, and it closes once every source is calm.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_core::{AlertsConfig, Event, Severity};

use super::window::{Baseline, WindowCounter};
use super::{Alert, AlertKind, AlertStatus, AlertUpdate, Change, Episode, alert_id};

/// Buckets are a sixth of the window (10 s for the default minute).
const BUCKETS_PER_WINDOW: i64 = 6;
/// Recent errors kept per stream to describe an alert when it opens.
const RECENT_ERRORS: usize = 64;

pub(crate) struct BurstRules {
    window_secs: i64,
    bucket_secs: i64,
    baseline_secs: i64,
    min_errors: u64,
    factor: f64,
    quiet: Duration,
    core_modules: Vec<String>,
    p1_failure_ratio: f64,
    modules: HashMap<String, ModuleState>,
}

#[derive(Default)]
struct ModuleState {
    streams: HashMap<String, Stream>,
    episode: Option<Episode>,
    /// The last closed episode: a burst that starts again within the quiet period of its
    /// end (a flapping failure, or the same burst read later from another source's file)
    /// reopens it instead of paging anew.
    closed: Option<Episode>,
}

/// One source's events of one module.
struct Stream {
    errors: WindowCounter,
    requests: WindowCounter,
    failed_requests: WindowCounter,
    baseline: Baseline,
    /// The newest event time seen.
    watermark: DateTime<Utc>,
    /// When this stream was last over its threshold.
    last_over: Option<DateTime<Utc>>,
    recent: VecDeque<Event>,
}

/// What one stream says about its window right now.
struct Reading {
    over: bool,
    errors: u64,
    threshold: f64,
    usual: f64,
    failure_ratio: Option<f64>,
    first_error: Option<DateTime<Utc>>,
}

impl BurstRules {
    pub(crate) fn new(config: &AlertsConfig) -> BurstRules {
        let window_secs = config.window().as_secs().max(1) as i64;
        BurstRules {
            window_secs,
            bucket_secs: (window_secs / BUCKETS_PER_WINDOW).max(1),
            baseline_secs: config.baseline().as_secs().max(1) as i64,
            min_errors: config.min_errors.max(1),
            factor: config.factor,
            quiet: config.quiet(),
            core_modules: config.core_modules.clone(),
            p1_failure_ratio: config.p1_failure_ratio,
            modules: HashMap::new(),
        }
    }

    pub(crate) fn observe(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        let is_request = event.field_f64("status").is_some();
        let failed_request = event.is_failed_request();
        let is_error = event.is_error() || failed_request;
        let (window_secs, bucket_secs, baseline_secs) = (self.window_secs, self.bucket_secs, self.baseline_secs);
        // Look up before inserting: keys are cloned only for a module's first event.
        if !self.modules.contains_key(event.module.as_str()) {
            self.modules.insert(event.module.to_string(), ModuleState::default());
        }
        let Some(module) = self.modules.get_mut(event.module.as_str()) else { return };
        if !module.streams.contains_key(event.source.as_str()) {
            module.streams.insert(
                event.source.to_string(),
                Stream {
                    errors: WindowCounter::new(window_secs, bucket_secs),
                    requests: WindowCounter::new(window_secs, bucket_secs),
                    failed_requests: WindowCounter::new(window_secs, bucket_secs),
                    baseline: Baseline::new(bucket_secs, baseline_secs),
                    watermark: event.timestamp,
                    last_over: None,
                    recent: VecDeque::new(),
                },
            );
        }
        let Some(stream) = module.streams.get_mut(event.source.as_str()) else { return };
        stream.watermark = stream.watermark.max(event.timestamp);
        let now = stream.watermark;
        stream.baseline.advance(&stream.errors, stream.errors.bucket_of(now));
        if is_request {
            stream.requests.add(event.timestamp, now);
            if failed_request {
                stream.failed_requests.add(event.timestamp, now);
            }
        }
        if is_error {
            stream.errors.add(event.timestamp, now);
            match &mut module.episode {
                Some(episode) => episode.hit(event),
                None => {
                    if stream.recent.len() == RECENT_ERRORS {
                        stream.recent.pop_front();
                    }
                    stream.recent.push_back(event.clone());
                }
            }
        }
        self.evaluate(&event.module, &event.source, out);
    }

    fn read(&self, stream: &Stream) -> Reading {
        let now = stream.watermark;
        let errors = stream.errors.count(now);
        let usual = stream.baseline.per(stream.errors.span());
        // A stream's first window only teaches its usual rate: without it a steady error
        // rate would look like a spike whenever Sluice starts or a log is imported.
        let warmed_up = stream.baseline.knows(stream.errors.span());
        let requests = stream.requests.count(now);
        Reading {
            over: warmed_up && errors >= self.min_errors && errors as f64 > self.factor * usual,
            errors,
            threshold: (self.min_errors as f64).max(self.factor * usual),
            usual,
            failure_ratio: (requests >= self.min_errors)
                .then(|| stream.failed_requests.count(now) as f64 / requests as f64),
            first_error: stream.errors.first(now),
        }
    }

    /// Opens, escalates or closes the module's alert after an event of `source`.
    fn evaluate(&mut self, module_name: &str, source: &str, out: &mut Vec<AlertUpdate>) {
        let core = self.core_modules.iter().any(|m| m == module_name);
        let Some(module) = self.modules.get(module_name) else { return };
        let Some(stream) = module.streams.get(source) else { return };
        let reading = self.read(stream);
        let severity = if core && reading.failure_ratio.is_some_and(|r| r > self.p1_failure_ratio) {
            Severity::P1
        } else if core {
            Severity::P2
        } else {
            Severity::P3
        };
        let (window_secs, quiet) = (self.window_secs, self.quiet);
        let Some(module) = self.modules.get_mut(module_name) else { return };
        let Some(stream) = module.streams.get_mut(source) else { return };
        let now = stream.watermark;
        if reading.over {
            stream.last_over = Some(now);
        }

        match &mut module.episode {
            None if reading.over => {
                let start = reading.first_error.unwrap_or(now);
                let seed: Vec<&Event> = stream.recent.iter().filter(|e| e.timestamp >= start).collect();
                let window = chrono::TimeDelta::seconds(window_secs);
                let quiet_delta = chrono::TimeDelta::from_std(quiet).unwrap_or(window);
                let revive =
                    module.closed.take_if(|c| start >= c.alert.start - window && start <= c.alert.end + quiet_delta);
                if let Some(mut episode) = revive {
                    episode.alert.status = AlertStatus::Open;
                    episode.alert.start = episode.alert.start.min(start);
                    for event in &seed {
                        episode.hit(event);
                    }
                    episode.alert.peak = episode.alert.peak.max(reading.errors);
                    if severity < episode.alert.severity {
                        episode.alert.severity = severity;
                    }
                    describe(&mut episode.alert);
                    for stream in module.streams.values_mut() {
                        stream.recent.clear();
                    }
                    out.push(episode.snapshot(Change::Opened));
                    module.episode = Some(episode);
                    return;
                }
                let alert = Alert {
                    id: alert_id(AlertKind::ErrorBurst, "error_burst", module_name, start),
                    kind: AlertKind::ErrorBurst,
                    severity,
                    module: module_name.to_owned(),
                    start,
                    end: seed.iter().map(|e| e.timestamp).max().unwrap_or(now),
                    count: seed.len() as u64,
                    summary: String::new(),
                    status: AlertStatus::Open,
                    rule: "error_burst".into(),
                    threshold: reading.threshold,
                    baseline: round2(reading.usual),
                    peak: reading.errors,
                    window_secs: window_secs as u64,
                    sources: Default::default(),
                    failure_ratio: reading.failure_ratio.map(round3),
                    query_id: None,
                    fingerprint: None,
                    top_messages: Vec::new(),
                    examples: Vec::new(),
                    search: format!("module:{module_name} AND (level:error OR level:fatal OR status:[500 TO 599])"),
                    updated_at: Utc::now(),
                };
                let mut episode = Episode::open(alert, &seed);
                for stream in module.streams.values_mut() {
                    stream.recent.clear();
                }
                describe(&mut episode.alert);
                out.push(episode.snapshot(Change::Opened));
                module.episode = Some(episode);
            }
            None => {}
            Some(episode) => {
                let worse_ratio =
                    reading.failure_ratio.filter(|r| episode.alert.failure_ratio.is_none_or(|w| round3(*r) > w));
                if reading.errors > episode.alert.peak || worse_ratio.is_some() {
                    episode.alert.peak = episode.alert.peak.max(reading.errors);
                    if let Some(ratio) = worse_ratio {
                        episode.alert.failure_ratio = Some(round3(ratio));
                    }
                    describe(&mut episode.alert);
                }
                if reading.over {
                    episode.escalate(severity, out);
                }
                // Calm once no source has been over its threshold for the quiet period,
                // each judged by its own clock.
                let calm = module
                    .streams
                    .values()
                    .all(|s| s.last_over.is_none_or(|t| (s.watermark - t).to_std().is_ok_and(|d| d >= quiet)));
                if calm {
                    let episode = module.episode.take().expect("episode present");
                    module.closed = Some(close(episode, out));
                }
            }
        }
    }

    pub(crate) fn tick(&mut self, force: bool, out: &mut Vec<AlertUpdate>) {
        let quiet = self.quiet;
        for module in self.modules.values_mut() {
            let Some(episode) = &mut module.episode else { continue };
            if episode.idle_for() >= quiet {
                // No errors arrived for the whole quiet period on the wall clock: the
                // module went silent, so its event time will not move on by itself.
                let episode = module.episode.take().expect("episode present");
                module.closed = Some(close(episode, out));
            } else if let Some(update) = episode.due_update(force) {
                out.push(update);
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<AlertUpdate>) {
        for module in self.modules.values_mut() {
            if let Some(episode) = module.episode.take() {
                module.closed = Some(close(episode, out));
            }
        }
    }

    pub(crate) fn open_alerts(&self) -> usize {
        self.modules.values().filter(|m| m.episode.is_some()).count()
    }
}

/// Closes `episode`, reporting it, and keeps it in case the burst resumes.
fn close(mut episode: Episode, out: &mut Vec<AlertUpdate>) -> Episode {
    episode.alert.status = AlertStatus::Closed;
    out.push(episode.snapshot(Change::Closed));
    episode
}

fn describe(alert: &mut Alert) {
    let window = if alert.window_secs.is_multiple_of(60) {
        format!("{}m", alert.window_secs / 60)
    } else {
        format!("{}s", alert.window_secs)
    };
    let mut summary =
        format!("{}: error burst, {} errors in {window} (usual {:.1})", alert.module, alert.peak, alert.baseline);
    if let Some(ratio) = alert.failure_ratio.filter(|r| *r > 0.0) {
        summary.push_str(&format!(", {:.0}% of requests failing", ratio * 100.0));
    }
    alert.summary = summary;
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
