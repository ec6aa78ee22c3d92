//! Error bursts per module: errors (level error/fatal, HTTP 5xx) in a sliding window,
//! against an absolute floor and `factor` times the module's usual count, so a noisy
//! module does not page all day and a quiet one pages on its first real spike.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_core::{AlertsConfig, Event, Severity};

use super::window::{Baseline, WindowCounter};
use super::{Alert, AlertKind, AlertStatus, AlertUpdate, Change, Episode, alert_id};

/// Buckets are a sixth of the window (10 s for the default minute).
const BUCKETS_PER_WINDOW: i64 = 6;
/// Recent errors kept per module to describe an alert when it opens.
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

struct ModuleState {
    errors: WindowCounter,
    requests: WindowCounter,
    failed_requests: WindowCounter,
    baseline: Baseline,
    /// The newest event time seen in this module.
    watermark: DateTime<Utc>,
    recent: VecDeque<Event>,
    episode: Option<Episode>,
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
        let status = event.field_f64("status");
        let failed_request = status.is_some_and(|s| (500.0..600.0).contains(&s));
        let is_error = event.is_error() || failed_request;
        let (window_secs, bucket_secs, baseline_secs) = (self.window_secs, self.bucket_secs, self.baseline_secs);
        if !self.modules.contains_key(&event.module) {
            self.modules.insert(
                event.module.clone(),
                ModuleState {
                    errors: WindowCounter::new(window_secs, bucket_secs),
                    requests: WindowCounter::new(window_secs, bucket_secs),
                    failed_requests: WindowCounter::new(window_secs, bucket_secs),
                    baseline: Baseline::new(bucket_secs, baseline_secs),
                    watermark: event.timestamp,
                    recent: VecDeque::new(),
                    episode: None,
                },
            );
        }
        let Some(state) = self.modules.get_mut(&event.module) else { return };
        state.watermark = state.watermark.max(event.timestamp);
        let now = state.watermark;
        state.baseline.advance(&state.errors, state.errors.bucket_of(now));
        if status.is_some() {
            state.requests.add(event.timestamp, now);
            if failed_request {
                state.failed_requests.add(event.timestamp, now);
            }
        }
        if is_error {
            state.errors.add(event.timestamp, now);
            match &mut state.episode {
                Some(episode) => episode.hit(event),
                None => {
                    if state.recent.len() == RECENT_ERRORS {
                        state.recent.pop_front();
                    }
                    state.recent.push_back(event.clone());
                }
            }
        }
        let module = event.module.clone();
        self.evaluate(&module, out);
    }

    /// Opens, escalates or closes the module's alert at its current event time.
    fn evaluate(&mut self, module: &str, out: &mut Vec<AlertUpdate>) {
        let core = self.core_modules.iter().any(|m| m == module);
        let Some(state) = self.modules.get_mut(module) else { return };
        let now = state.watermark;
        let errors = state.errors.count(now);
        let usual = state.baseline.per(state.errors.span());
        let threshold = (self.min_errors as f64).max(self.factor * usual);
        let over = errors >= self.min_errors && errors as f64 > self.factor * usual;
        let requests = state.requests.count(now);
        let failure_ratio =
            (requests >= self.min_errors).then(|| state.failed_requests.count(now) as f64 / requests as f64);
        let severity = if core && failure_ratio.is_some_and(|r| r > self.p1_failure_ratio) {
            Severity::P1
        } else if core {
            Severity::P2
        } else {
            Severity::P3
        };

        match &mut state.episode {
            None if over => {
                let start = state.errors.first(now).unwrap_or(now);
                let seed: Vec<&Event> = state.recent.iter().filter(|e| e.timestamp >= start).collect();
                let alert = Alert {
                    id: alert_id(AlertKind::ErrorBurst, "error_burst", module, start),
                    kind: AlertKind::ErrorBurst,
                    severity,
                    module: module.to_owned(),
                    start,
                    end: seed.iter().map(|e| e.timestamp).max().unwrap_or(now),
                    count: seed.len() as u64,
                    summary: String::new(),
                    status: AlertStatus::Open,
                    rule: "error_burst".into(),
                    threshold,
                    baseline: round2(usual),
                    peak: errors,
                    window_secs: self.window_secs as u64,
                    sources: Default::default(),
                    failure_ratio: failure_ratio.map(round3),
                    query_id: None,
                    fingerprint: None,
                    top_messages: Vec::new(),
                    examples: Vec::new(),
                    search: format!("module:{module} AND (level:error OR level:fatal OR status:[500 TO 599])"),
                    updated_at: Utc::now(),
                };
                let mut episode = Episode::open(alert, &seed);
                state.recent.clear();
                describe(&mut episode.alert, self.window_secs);
                out.push(episode.snapshot(Change::Opened));
                state.episode = Some(episode);
            }
            None => {}
            Some(episode) => {
                let worse_ratio = failure_ratio.filter(|r| episode.alert.failure_ratio.is_none_or(|w| round3(*r) > w));
                if errors > episode.alert.peak || worse_ratio.is_some() {
                    episode.alert.peak = episode.alert.peak.max(errors);
                    if let Some(ratio) = worse_ratio {
                        episode.alert.failure_ratio = Some(round3(ratio));
                    }
                    describe(&mut episode.alert, self.window_secs);
                }
                if over {
                    episode.escalate(severity, out);
                }
                if episode.settle(over, now, self.quiet) {
                    let episode = state.episode.take().expect("episode present");
                    out.push(episode.close());
                }
            }
        }
    }

    pub(crate) fn tick(&mut self, force: bool, out: &mut Vec<AlertUpdate>) {
        let quiet = self.quiet;
        for state in self.modules.values_mut() {
            let Some(episode) = &mut state.episode else { continue };
            if episode.idle_for() >= quiet {
                // No errors arrived for the whole quiet period on the wall clock: the
                // module went silent, so its event time will not move on by itself.
                let episode = state.episode.take().expect("episode present");
                out.push(episode.close());
            } else if let Some(update) = episode.due_update(force) {
                out.push(update);
            }
        }
        // Forget modules with nothing left in their window and no alert.
        self.modules.retain(|_, s| {
            s.episode.is_some() || !s.errors.is_empty() || !s.requests.is_empty() || s.baseline.per(1) > 1e-3
        });
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<AlertUpdate>) {
        for state in self.modules.values_mut() {
            if let Some(episode) = state.episode.take() {
                out.push(episode.close());
            }
        }
    }

    pub(crate) fn open_alerts(&self) -> usize {
        self.modules.values().filter(|s| s.episode.is_some()).count()
    }
}

fn describe(alert: &mut Alert, window_secs: i64) {
    let window = if window_secs % 60 == 0 { format!("{}m", window_secs / 60) } else { format!("{window_secs}s") };
    let mut summary =
        format!("{}: error burst, {} errors in {window} (usual {:.1})", alert.module, alert.peak, alert.baseline);
    if let Some(ratio) = alert.failure_ratio {
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
