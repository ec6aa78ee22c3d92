//! Latency rises per module: the mean request time (`request_time_ms`, from access logs) in
//! the window against the module's usual mean. The runbook's "performance degraded": P2
//! for a core module, P3 otherwise. Like bursts, windows are per (module, source) and the
//! alert is per module.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_core::{AlertsConfig, Event, Severity};

use super::{Alert, AlertKind, AlertStatus, AlertUpdate, Change, Episode, alert_id};

const BUCKETS_PER_WINDOW: i64 = 6;

pub(crate) struct LatencyRules {
    window_secs: i64,
    bucket_secs: i64,
    /// Weight of each completed bucket in the usual mean.
    alpha: f64,
    min_requests: u64,
    factor: f64,
    min_ms: f64,
    quiet: Duration,
    core_modules: Vec<String>,
    modules: HashMap<String, ModuleLatency>,
}

#[derive(Default)]
struct ModuleLatency {
    streams: HashMap<String, Stream>,
    episode: Option<Episode>,
}

#[derive(Default)]
struct Stream {
    /// (bucket index, requests, summed ms), oldest first, covering one window.
    buckets: Vec<(i64, u64, f64)>,
    /// Usual mean request time, bias-corrected for its zero start.
    usual_raw: f64,
    seen: i32,
    folded: Option<i64>,
    watermark: Option<DateTime<Utc>>,
    last_over: Option<DateTime<Utc>>,
}

impl Stream {
    fn usual(&self, alpha: f64) -> Option<f64> {
        (self.seen > 0).then(|| self.usual_raw / (1.0 - (1.0 - alpha).powi(self.seen)))
    }

    /// Folds completed buckets with requests into the usual mean; drops buckets that left
    /// the window.
    fn advance(&mut self, current: i64, span: i64, alpha: f64) {
        let folded = self.folded.unwrap_or(current - 1);
        for &(index, n, sum) in &self.buckets {
            if index > folded && index < current && n > 0 {
                self.usual_raw += alpha * (sum / n as f64 - self.usual_raw);
                self.seen = self.seen.saturating_add(1);
            }
        }
        self.folded = Some(folded.max(current - 1));
        self.buckets.retain(|(index, _, _)| *index > current - span);
    }

    fn window(&self) -> (u64, f64) {
        self.buckets.iter().fold((0, 0.0), |(n, s), (_, bn, bs)| (n + bn, s + bs))
    }
}

impl LatencyRules {
    pub(crate) fn new(config: &AlertsConfig) -> LatencyRules {
        let window_secs = config.window().as_secs().max(1) as i64;
        let bucket_secs = (window_secs / BUCKETS_PER_WINDOW).max(1);
        let baseline_secs = config.baseline().as_secs().max(1) as f64;
        LatencyRules {
            window_secs,
            bucket_secs,
            alpha: 1.0 - (-(bucket_secs as f64) / baseline_secs).exp(),
            min_requests: config.min_errors.max(1),
            factor: config.latency_factor,
            min_ms: config.latency_min_ms as f64,
            quiet: config.quiet(),
            core_modules: config.core_modules.clone(),
            modules: HashMap::new(),
        }
    }

    pub(crate) fn observe(&mut self, event: &Event, out: &mut Vec<AlertUpdate>) {
        let Some(ms) = event.field_f64("request_time_ms").filter(|ms| ms.is_finite() && *ms >= 0.0) else {
            return;
        };
        if self.factor <= 0.0 {
            return;
        }
        let (span, bucket_secs, alpha) = (self.window_secs / self.bucket_secs, self.bucket_secs, self.alpha);
        // Look up before inserting: keys are cloned only for a stream's first event.
        if !self.modules.contains_key(event.module.as_str()) {
            self.modules.insert(event.module.to_string(), ModuleLatency::default());
        }
        let Some(module) = self.modules.get_mut(event.module.as_str()) else { return };
        if !module.streams.contains_key(event.source.as_str()) {
            module.streams.insert(event.source.to_string(), Stream::default());
        }
        let Some(stream) = module.streams.get_mut(event.source.as_str()) else { return };
        let now = stream.watermark.map_or(event.timestamp, |w| w.max(event.timestamp));
        stream.watermark = Some(now);
        let current = now.timestamp().div_euclid(bucket_secs);
        stream.advance(current, span, alpha);
        let index = event.timestamp.timestamp().div_euclid(bucket_secs);
        if index > current - span {
            match stream.buckets.iter_mut().find(|(i, _, _)| *i == index) {
                Some(bucket) => {
                    bucket.1 += 1;
                    bucket.2 += ms;
                }
                None => {
                    stream.buckets.push((index, 1, ms));
                    stream.buckets.sort_unstable_by_key(|(i, _, _)| *i);
                }
            }
        }
        if let Some(episode) = &mut module.episode {
            episode.hit(event);
        }

        let (requests, sum) = stream.window();
        let mean = if requests > 0 { sum / requests as f64 } else { 0.0 };
        // A window of history first, as for bursts.
        let usual = stream.usual(alpha).filter(|_| i64::from(stream.seen) >= span);
        let over =
            usual.is_some_and(|u| requests >= self.min_requests && mean >= self.min_ms && mean > self.factor * u);
        if over {
            stream.last_over = Some(now);
        }
        let core = self.core_modules.iter().any(|m| *m == event.module);
        let severity = if core { Severity::P2 } else { Severity::P3 };
        let quiet = self.quiet;
        match &mut module.episode {
            None if over => {
                let usual = usual.unwrap_or(0.0);
                let alert = Alert {
                    id: alert_id(AlertKind::Latency, "latency_rise", &event.module, now),
                    kind: AlertKind::Latency,
                    severity,
                    module: event.module.to_string(),
                    start: now,
                    end: now,
                    count: 0,
                    summary: String::new(),
                    status: AlertStatus::Open,
                    rule: "latency_rise".into(),
                    threshold: (self.factor * usual).max(self.min_ms),
                    baseline: round1(usual),
                    peak: mean.round() as u64,
                    window_secs: self.window_secs as u64,
                    sources: Default::default(),
                    failure_ratio: None,
                    query_id: None,
                    fingerprint: None,
                    top_messages: Vec::new(),
                    examples: Vec::new(),
                    search: format!("module:{} AND request_time_ms:>={:.0}", event.module, self.factor * usual),
                    updated_at: Utc::now(),
                };
                let mut episode = Episode::open(alert, &[]);
                episode.hit(event);
                describe(&mut episode.alert);
                out.push(episode.snapshot(Change::Opened));
                module.episode = Some(episode);
            }
            None => {}
            Some(episode) => {
                if over && mean.round() as u64 > episode.alert.peak {
                    episode.alert.peak = mean.round() as u64;
                    describe(&mut episode.alert);
                }
                let calm = module.streams.values().all(|s| match (s.last_over, s.watermark) {
                    (Some(t), Some(w)) => (w - t).to_std().is_ok_and(|d| d >= quiet),
                    _ => true,
                });
                if calm {
                    let episode = module.episode.take().expect("episode present");
                    out.push(episode.close());
                }
            }
        }
    }

    pub(crate) fn tick(&mut self, force: bool, out: &mut Vec<AlertUpdate>) {
        for module in self.modules.values_mut() {
            let Some(episode) = &mut module.episode else { continue };
            if episode.idle_for() >= self.quiet {
                let episode = module.episode.take().expect("episode present");
                out.push(episode.close());
            } else if let Some(update) = episode.due_update(force) {
                out.push(update);
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<AlertUpdate>) {
        for module in self.modules.values_mut() {
            if let Some(episode) = module.episode.take() {
                out.push(episode.close());
            }
        }
    }

    pub(crate) fn open_alerts(&self) -> usize {
        self.modules.values().filter(|m| m.episode.is_some()).count()
    }
}

fn describe(alert: &mut Alert) {
    alert.summary = format!(
        "{}: latency rise, mean request time {} ms over {}s (usual {:.0} ms)",
        alert.module, alert.peak, alert.window_secs, alert.baseline
    );
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
