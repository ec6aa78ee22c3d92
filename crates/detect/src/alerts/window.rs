//! Event-time counting in fixed buckets: how many hits fell in the last window, and a
//! slowly moving baseline of the usual count (an exponentially weighted moving average).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
struct Bucket {
    index: i64,
    count: u64,
    first: DateTime<Utc>,
}

/// Hits per bucket for the buckets that make up one window.
#[derive(Debug, Clone)]
pub(crate) struct WindowCounter {
    bucket_secs: i64,
    /// Buckets per window.
    span: i64,
    buckets: VecDeque<Bucket>,
}

impl WindowCounter {
    pub(crate) fn new(window_secs: i64, bucket_secs: i64) -> Self {
        let bucket_secs = bucket_secs.clamp(1, window_secs.max(1));
        WindowCounter { bucket_secs, span: (window_secs / bucket_secs).max(1), buckets: VecDeque::new() }
    }

    pub(crate) fn bucket_of(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.bucket_secs)
    }

    /// Counts a hit; hits older than the window behind `now` are ignored.
    pub(crate) fn add(&mut self, at: DateTime<Utc>, now: DateTime<Utc>) {
        let index = self.bucket_of(at);
        if index <= self.bucket_of(now) - self.span {
            return;
        }
        // Logs arrive nearly in order, so the right bucket is at or near the back.
        let pos = self.buckets.iter().rposition(|b| b.index <= index);
        match pos {
            Some(p) if self.buckets[p].index == index => {
                let b = &mut self.buckets[p];
                b.count += 1;
                b.first = b.first.min(at);
            }
            Some(p) => self.buckets.insert(p + 1, Bucket { index, count: 1, first: at }),
            None => self.buckets.push_front(Bucket { index, count: 1, first: at }),
        }
        self.prune(now);
    }

    /// Hits in the window ending at `now`.
    pub(crate) fn count(&self, now: DateTime<Utc>) -> u64 {
        let oldest = self.bucket_of(now) - self.span;
        self.buckets.iter().filter(|b| b.index > oldest).map(|b| b.count).sum()
    }

    /// The earliest hit inside the window ending at `now`.
    pub(crate) fn first(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let oldest = self.bucket_of(now) - self.span;
        self.buckets.iter().filter(|b| b.index > oldest).map(|b| b.first).min()
    }

    /// Hits in one bucket (0 when it has none or has left the window).
    pub(crate) fn bucket_count(&self, index: i64) -> u64 {
        self.buckets.iter().find(|b| b.index == index).map_or(0, |b| b.count)
    }

    pub(crate) fn span(&self) -> i64 {
        self.span
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    pub(crate) fn prune(&mut self, now: DateTime<Utc>) {
        let oldest = self.bucket_of(now) - self.span;
        while self.buckets.front().is_some_and(|b| b.index <= oldest) {
            self.buckets.pop_front();
        }
    }
}

/// The usual hits per bucket, folded in as buckets complete.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    /// Weight of each new bucket: `1 - exp(-bucket / time_constant)`.
    alpha: f64,
    per_bucket: f64,
    /// Buckets folded in so far: the average is corrected for its zero start
    /// (`per_bucket / (1 - (1 - alpha)^n)`), so the first minutes already know the rate.
    seen: i32,
    /// The last bucket folded in.
    folded: Option<i64>,
}

impl Baseline {
    pub(crate) fn new(bucket_secs: i64, time_constant_secs: i64) -> Self {
        let alpha = 1.0 - (-(bucket_secs as f64) / time_constant_secs.max(1) as f64).exp();
        Baseline { alpha, per_bucket: 0.0, seen: 0, folded: None }
    }

    /// A baseline that already knows the rate is zero: for a fingerprint first seen after
    /// the statement stream has been watched for a while.
    pub(crate) fn known_zero(bucket_secs: i64, time_constant_secs: i64) -> Self {
        Baseline { seen: i32::MAX / 2, ..Baseline::new(bucket_secs, time_constant_secs) }
    }

    /// Folds every bucket before `current` that has completed since the last call.
    pub(crate) fn advance(&mut self, counter: &WindowCounter, current: i64) {
        let Some(folded) = self.folded else {
            self.folded = Some(current - 1);
            return;
        };
        let pending = current - 1 - folded;
        if pending <= 0 {
            return;
        }
        // After ~10 time constants of silence the old baseline has decayed to nothing;
        // skip the loop over empty buckets.
        let decayed = ((pending as f64) * self.alpha) > 10.0;
        if decayed {
            self.per_bucket = 0.0;
        }
        let start = if decayed { (current - counter.span()).max(folded + 1) } else { folded + 1 };
        for index in start..current {
            let c = counter.bucket_count(index) as f64;
            self.per_bucket += self.alpha * (c - self.per_bucket);
        }
        self.seen = self.seen.saturating_add((current - start).min(i64::from(i32::MAX)) as i32);
        self.folded = Some(current - 1);
    }

    /// The usual count over `buckets` buckets.
    pub(crate) fn per(&self, buckets: i64) -> f64 {
        if self.seen == 0 {
            return 0.0;
        }
        let weight = 1.0 - (1.0 - self.alpha).powi(self.seen);
        self.per_bucket / weight * buckets as f64
    }

    /// Whether at least `buckets` complete buckets of history are in.
    pub(crate) fn knows(&self, buckets: i64) -> bool {
        i64::from(self.seen) >= buckets
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap()
    }

    #[test]
    fn counts_inside_the_window_only() {
        let mut w = WindowCounter::new(60, 10);
        for s in [0, 5, 15, 30, 59, 61] {
            w.add(t(s), t(s));
        }
        assert_eq!(w.count(t(61)), 4, "t=0 and t=5 share a bucket that left the window at t=60");
        assert_eq!(w.count(t(200)), 0);
        w.add(t(3), t(61));
        assert_eq!(w.count(t(61)), 4, "a hit older than the window is ignored");
        w.add(t(45), t(61));
        assert_eq!(w.count(t(61)), 5, "a late hit inside the window counts");
        assert_eq!(w.first(t(61)), Some(t(15)));
    }

    #[test]
    fn baseline_follows_a_steady_rate_and_forgets_silence() {
        let mut w = WindowCounter::new(60, 10);
        let mut b = Baseline::new(10, 600);
        for s in 0..3600 {
            if s % 5 == 0 {
                w.add(t(s), t(s));
            }
            b.advance(&w, w.bucket_of(t(s)));
        }
        // Two hits per 10 s bucket: 12 per minute.
        assert!((b.per(6) - 12.0).abs() < 0.5, "{}", b.per(6));
        b.advance(&w, w.bucket_of(t(3600 + 86_400)));
        assert_eq!(b.per(6), 0.0);
    }
}
