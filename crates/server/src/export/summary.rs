//! `summary.json`: what happened in the window, minute by minute, and which errors.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use sluice_core::Event;
use sluice_detect::alerts::message_key;
use sluice_digest::Digest;

use super::{BUNDLE_VERSION, ExportRequest, ExportStats};

/// Distinct error messages tracked; beyond this, errors are counted but not grouped
/// (a flood of unique messages must not grow memory without bound).
const MAX_ERROR_KEYS: usize = 10_000;
const TOP_ERRORS: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub bundle_version: u32,
    pub generated_at: DateTime<Utc>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub modules: Vec<String>,
    pub query: String,
    pub events: u64,
    pub errors: u64,
    pub events_from_index: u64,
    pub events_from_archive: u64,
    pub alerts: usize,
    pub slow_queries: u64,
    pub by_module: BTreeMap<String, u64>,
    pub by_level: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, u64>,
    /// Minutes with events, in time order.
    pub per_minute: Vec<Minute>,
    /// The most frequent errors (numbers and ids folded), most frequent first.
    pub top_errors: Vec<ErrorGroup>,
    /// Errors whose message was not grouped (more distinct messages than tracked).
    pub ungrouped_errors: u64,
    pub first_error: Option<Event>,
    pub last_error: Option<Event>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Minute {
    pub minute: DateTime<Utc>,
    pub events: u64,
    pub errors: u64,
    pub by_module: BTreeMap<String, u64>,
    pub errors_by_module: BTreeMap<String, u64>,
    pub by_level: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorGroup {
    pub message: String,
    pub count: u64,
    pub module: String,
    pub source: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// One full event text of the group.
    pub example: String,
}

pub(super) struct SummaryBuilder {
    request: ExportRequest,
    events: u64,
    errors: u64,
    by_module: BTreeMap<String, u64>,
    by_level: BTreeMap<String, u64>,
    by_source: BTreeMap<String, u64>,
    minutes: BTreeMap<DateTime<Utc>, Minute>,
    groups: HashMap<String, ErrorGroup>,
    ungrouped: u64,
    first_error: Option<Event>,
    last_error: Option<Event>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl SummaryBuilder {
    pub(super) fn new(request: &ExportRequest) -> Self {
        SummaryBuilder {
            request: request.clone(),
            events: 0,
            errors: 0,
            by_module: BTreeMap::new(),
            by_level: BTreeMap::new(),
            by_source: BTreeMap::new(),
            minutes: BTreeMap::new(),
            groups: HashMap::new(),
            ungrouped: 0,
            first_error: None,
            last_error: None,
        }
    }

    pub(super) fn observe(&mut self, event: &Event) {
        self.events += 1;
        bump(&mut self.by_module, &event.module);
        bump(&mut self.by_level, event.level.as_str());
        bump(&mut self.by_source, &event.source);
        let minute_start = event.timestamp.duration_trunc(TimeDelta::minutes(1)).unwrap_or(event.timestamp);
        let minute =
            self.minutes.entry(minute_start).or_insert_with(|| Minute { minute: minute_start, ..Minute::default() });
        minute.events += 1;
        bump(&mut minute.by_module, &event.module);
        bump(&mut minute.by_level, event.level.as_str());
        bump(&mut minute.by_source, &event.source);
        if !event.counts_as_error() {
            return;
        }
        self.errors += 1;
        minute.errors += 1;
        bump(&mut minute.errors_by_module, &event.module);
        if self.first_error.as_ref().is_none_or(|e| event.timestamp < e.timestamp) {
            self.first_error = Some(event.clone());
        }
        if self.last_error.as_ref().is_none_or(|e| event.timestamp >= e.timestamp) {
            self.last_error = Some(event.clone());
        }
        let key = message_key(event);
        if let Some(group) = self.groups.get_mut(&key) {
            group.count += 1;
            group.first = group.first.min(event.timestamp);
            group.last = group.last.max(event.timestamp);
        } else if self.groups.len() < MAX_ERROR_KEYS {
            let group = ErrorGroup {
                message: key.clone(),
                count: 1,
                module: event.module.to_string(),
                source: event.source.to_string(),
                first: event.timestamp,
                last: event.timestamp,
                example: event.message.chars().take(4000).collect(),
            };
            self.groups.insert(key, group);
        } else {
            self.ungrouped += 1;
        }
    }

    pub(super) fn finish(self, stats: &ExportStats, alerts: usize, digest: &Digest) -> Summary {
        let mut top_errors: Vec<ErrorGroup> = self.groups.into_values().collect();
        top_errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.first.cmp(&b.first)));
        top_errors.truncate(TOP_ERRORS);
        Summary {
            bundle_version: BUNDLE_VERSION,
            generated_at: Utc::now(),
            from: self.request.from,
            to: self.request.to,
            modules: self.request.modules,
            query: self.request.query,
            events: self.events,
            errors: self.errors,
            events_from_index: stats.from_index,
            events_from_archive: stats.from_archive,
            alerts,
            slow_queries: digest.slow_queries,
            by_module: self.by_module,
            by_level: self.by_level,
            by_source: self.by_source,
            per_minute: self.minutes.into_values().collect(),
            top_errors,
            ungrouped_errors: self.ungrouped,
            first_error: self.first_error,
            last_error: self.last_error,
        }
    }
}
