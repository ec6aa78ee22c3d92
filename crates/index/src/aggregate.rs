//! What the search screen shows beside the hits: matches over time (a histogram whose
//! bucket size follows the window) and the counts per module, level, source and host.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector};

use crate::IndexError;

/// The fields faceted on, and how many values of each are listed.
const FACETS: [(&str, u32); 4] = [("module", 20), ("level", 10), ("source", 20), ("host", 20)];
/// Histograms aim for at most this many buckets.
const MAX_BUCKETS: i64 = 120;
const NICE_INTERVALS_S: [i64; 16] = [
    1,
    5,
    10,
    30,
    60,
    300,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    7 * 86_400,
    30 * 86_400,
    365 * 86_400,
];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aggregates {
    pub histogram: Histogram,
    /// Per facet field, its most frequent values, most frequent first.
    pub facets: Vec<Facet>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    pub interval_ms: i64,
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facet {
    pub field: String,
    pub values: Vec<FacetValue>,
    /// Matches with a value not listed.
    pub other: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

/// The smallest "nice" bucket that keeps `[from, to)` within [`MAX_BUCKETS`] buckets.
pub(crate) fn interval_for(from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
    let span = (to - from).num_seconds().max(1);
    let seconds = NICE_INTERVALS_S.into_iter().find(|s| span / s < MAX_BUCKETS).unwrap_or(365 * 86_400);
    TimeDelta::seconds(seconds)
}

/// The aggregation request of one search, run on each day's partition and merged.
pub(crate) struct Request {
    aggs: Aggregations,
    interval: TimeDelta,
    tokenizers: tantivy::tokenizer::TokenizerManager,
}

impl Request {
    /// Buckets cover the whole window `[from, to)`, empty ones included, so the chart's
    /// axis is the window asked for.
    pub(crate) fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tokenizers: tantivy::tokenizer::TokenizerManager,
    ) -> Result<Request, IndexError> {
        let interval = interval_for(from, to);
        let bounds =
            json!({"min": from.timestamp_millis(), "max": (to.timestamp_millis() - 1).max(from.timestamp_millis())});
        let mut request = json!({
            "histogram": {"date_histogram": {
                "field": "timestamp",
                "fixed_interval": format!("{}ms", interval.num_milliseconds()),
                "min_doc_count": 0,
                "extended_bounds": bounds,
                "hard_bounds": bounds,
            }},
        });
        for (field, size) in FACETS {
            request[field] = json!({"terms": {"field": field, "size": size}});
        }
        let aggs: Aggregations =
            serde_json::from_value(request).map_err(|e| IndexError::BadQuery(format!("aggregation request: {e}")))?;
        Ok(Request { aggs, interval, tokenizers })
    }

    /// The collector for one partition; its fruits merge with [`Request::finish`].
    pub(crate) fn collector(&self) -> DistributedAggregationCollector {
        DistributedAggregationCollector::from_aggs(
            self.aggs.clone(),
            AggContextParams::new(AggregationLimitsGuard::default(), self.tokenizers.clone()),
        )
    }

    /// Merges the partitions' results into what the search screen shows.
    pub(crate) fn finish(self, parts: Vec<IntermediateAggregationResults>) -> Result<Aggregates, IndexError> {
        let mut merged = IntermediateAggregationResults::default();
        for part in parts {
            merged.merge_fruits(part)?;
        }
        let results = merged.into_final_result(self.aggs, AggregationLimitsGuard::default())?;
        Ok(read(&serde_json::to_value(&results).unwrap_or_default(), self.interval))
    }
}

/// Reads tantivy's (Elasticsearch-shaped) results.
fn read(results: &Value, interval: TimeDelta) -> Aggregates {
    let buckets = results["histogram"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let start = DateTime::from_timestamp_millis(b["key"].as_f64()? as i64)?;
            Some(Bucket { start, count: b["doc_count"].as_u64().unwrap_or(0) })
        })
        .collect();
    let facets = FACETS
        .iter()
        .map(|(field, _)| Facet {
            field: (*field).to_owned(),
            values: results[*field]["buckets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| {
                    Some(FacetValue {
                        value: b["key"].as_str()?.to_owned(),
                        count: b["doc_count"].as_u64().unwrap_or(0),
                    })
                })
                .filter(|v| !v.value.is_empty())
                .collect(),
            other: results[*field]["sum_other_doc_count"].as_u64().unwrap_or(0),
        })
        .collect();
    Aggregates { histogram: Histogram { interval_ms: interval.num_milliseconds(), buckets }, facets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_size_follows_the_window() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(interval_for(at("2026-11-20T14:00:00Z"), at("2026-11-20T14:15:00Z")), TimeDelta::seconds(10));
        assert_eq!(interval_for(at("2026-11-20T00:00:00Z"), at("2026-11-21T00:00:00Z")), TimeDelta::minutes(30));
        assert_eq!(interval_for(at("2026-11-01T00:00:00Z"), at("2026-11-22T00:00:00Z")), TimeDelta::hours(6));
    }
}
