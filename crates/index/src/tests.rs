use chrono::{TimeZone, Utc};
use serde_json::json;
use sluice_core::{Event, Level};

use super::*;

fn event(secs: i64, module: &str, level: Level, message: &str, fields: serde_json::Value) -> Event {
    let mut e = Event::new(Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap(), message);
    e.module = module.into();
    e.source = "test".into();
    e.level = level;
    e.fields = fields.as_object().unwrap().clone();
    e
}

fn index_with(events: &[Event]) -> (tempfile::TempDir, EventIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    for e in events {
        writer.add(e).unwrap();
    }
    writer.commit(42).unwrap();
    index.reload().unwrap();
    (dir, index)
}

fn search(index: &EventIndex, query: &str) -> Vec<String> {
    let request = SearchRequest { query: query.into(), ..SearchRequest::default() };
    index.search(&request).unwrap().hits.into_iter().map(|e| e.message).collect()
}

#[test]
fn finds_terms_fields_and_filters_newest_first() {
    let (_dir, index) = index_with(&[
        event(
            1,
            "payment",
            Level::Error,
            "POST /api/pay/confirm 502 traceId=abc123def",
            json!({"status": 502, "path": "/api/pay/confirm"}),
        ),
        event(2, "order", Level::Info, "order created orderId=7", json!({"status": 200})),
        event(3, "payment", Level::Info, "payment confirmed", json!({"trace_id": "feedbeef99"})),
    ]);
    assert_eq!(index.committed_seq().unwrap(), 42);
    assert_eq!(
        search(&index, "*"),
        vec!["payment confirmed", "order created orderId=7", "POST /api/pay/confirm 502 traceId=abc123def"]
    );
    assert_eq!(search(&index, "abc123def"), vec!["POST /api/pay/confirm 502 traceId=abc123def"]);
    assert_eq!(search(&index, "traceId=abc123def").len(), 1);
    assert_eq!(search(&index, "status:502").len(), 1);
    assert_eq!(search(&index, "trace_id:feedbeef99"), vec!["payment confirmed"]);
    assert_eq!(search(&index, "module:payment").len(), 2);
    assert_eq!(search(&index, "payment AND NOT confirmed").len(), 0);
    assert_eq!(search(&index, "order AND NOT confirmed"), vec!["order created orderId=7"]);
    assert_eq!(search(&index, "order NOT confirmed"), vec!["order created orderId=7"]);
    assert_eq!(search(&index, "\"order AND NOT x\" OR created").len(), 1, "inside quotes nothing is rewritten");
    assert_eq!(search(&index, "\"api pay confirm\"").len(), 1);

    let request =
        SearchRequest { modules: vec!["payment".into()], levels: vec![Level::Error], ..SearchRequest::default() };
    assert_eq!(index.search(&request).unwrap().total, 1);

    let from = Some(Utc.timestamp_opt(1_763_600_002, 0).unwrap());
    let request = SearchRequest { from, limit: 0, ..SearchRequest::default() };
    let response = index.search(&request).unwrap();
    assert_eq!((response.total, response.hits.len()), (2, 0));
}

#[test]
fn bad_query_is_an_error_that_quotes_it() {
    let (_dir, index) = index_with(&[]);
    let request = SearchRequest { query: "status:(".into(), ..SearchRequest::default() };
    let err = index.search(&request).unwrap_err().to_string();
    assert!(err.contains("status:("), "{err}");
}

#[test]
fn field_names_are_qualified_outside_phrases() {
    assert_eq!(query::qualify_field_names("status:502 AND level:error"), "fields.status:502 AND level:error");
    assert_eq!(query::qualify_field_names("\"a:b\" (trace_id:x)"), "\"a:b\" (fields.trace_id:x)");
    assert_eq!(query::qualify_field_names("fields.path:x -module:order"), "fields.path:x -module:order");
}

#[test]
fn filter_events_judges_archived_events_like_a_search() {
    let mut events = Vec::new();
    for (i, (message, status)) in
        [("payment timeout for order 1", 504), ("order created", 200), ("支付超时 order 2", 502)]
            .into_iter()
            .enumerate()
    {
        let mut e =
            sluice_core::Event::new(chrono::DateTime::from_timestamp(1_763_600_000 + i as i64, 0).unwrap(), message);
        e.module = "payment".into();
        e.fields.insert("status".into(), status.into());
        events.push(e);
    }
    events[0].fields.insert("http.response.status_code".into(), 504.into());
    events[1].fields.insert("log".into(), serde_json::json!({"file": {"path": "/var/log/app.log"}}));
    let pick = |q: &str| -> Vec<String> {
        crate::filter_events(q, events.clone()).unwrap().into_iter().map(|e| e.message).collect()
    };
    assert_eq!(pick("*").len(), 3);
    assert_eq!(pick("status:>=500"), ["payment timeout for order 1", "支付超时 order 2"]);
    // Dotted keys and nested objects are one path either way.
    assert_eq!(pick("http.response.status_code:504"), ["payment timeout for order 1"]);
    assert_eq!(pick("http.response.status_code:>=500"), ["payment timeout for order 1"]);
    assert_eq!(pick("log.file.path:\"/var/log/app.log\""), ["order created"]);
    assert_eq!(pick("支付超时"), ["支付超时 order 2"]);
    assert_eq!(pick("order -timeout"), ["order created", "支付超时 order 2"]);
    assert_eq!(pick("order AND NOT timeout"), ["order created", "支付超时 order 2"]);
    assert!(crate::filter_events("status:[500 TO", events.clone()).is_err(), "a bad query is an error");
}

#[test]
fn aggregates_count_matches_over_time_and_per_facet() {
    let mut events = Vec::new();
    for i in 0..30 {
        let (module, level) = if i % 3 == 0 { ("payment", Level::Error) } else { ("order", Level::Info) };
        events.push(event(i * 60, module, level, &format!("request {i}"), json!({})));
    }
    let (_dir, index) = index_with(&events);
    let from = Utc.timestamp_opt(1_763_600_000, 0).unwrap();
    let request = SearchRequest {
        query: "request".into(),
        from: Some(from),
        to: Some(from + chrono::TimeDelta::minutes(30)),
        limit: 0,
        aggregate: true,
        ..SearchRequest::default()
    };
    let response = index.search(&request).unwrap();
    assert_eq!(response.total, 30);
    assert!(response.hits.is_empty());
    let aggregates = response.aggregates.unwrap();
    assert_eq!(aggregates.histogram.interval_ms, 30_000);
    assert_eq!(aggregates.histogram.buckets.iter().map(|b| b.count).sum::<u64>(), 30);
    // The whole window, empty buckets included (aligned, so one more at the edge).
    assert!((60..=61).contains(&aggregates.histogram.buckets.len()), "{}", aggregates.histogram.buckets.len());
    // Buckets are aligned to their size.
    let first = aggregates.histogram.buckets[0].start;
    assert!(first <= from && from - first < chrono::TimeDelta::seconds(30), "{first}");
    assert_eq!(first.timestamp() % 30, 0);
    let facet = |name: &str| aggregates.facets.iter().find(|f| f.field == name).unwrap().clone();
    let modules = facet("module");
    assert_eq!(modules.values[0], FacetValue { value: "order".into(), count: 20 });
    assert_eq!(modules.values[1], FacetValue { value: "payment".into(), count: 10 });
    assert_eq!(facet("level").values.iter().find(|v| v.value == "error").unwrap().count, 10);
    assert_eq!(facet("source").values, vec![FacetValue { value: "test".into(), count: 30 }]);
}

#[test]
fn chinese_words_are_found_inside_longer_runs() {
    let (_dir, index) = index_with(&[
        event(1, "payment", Level::Error, "订单12支付超时，请重试 orderId=7", json!({})),
        event(2, "payment", Level::Info, "支付成功", json!({})),
        event(3, "logistics", Level::Info, "运单已出库", json!({})),
    ]);
    assert_eq!(search(&index, "支付超时"), vec!["订单12支付超时，请重试 orderId=7"]);
    assert_eq!(search(&index, "超时"), vec!["订单12支付超时，请重试 orderId=7"]);
    assert_eq!(search(&index, "支付").len(), 2);
    assert_eq!(search(&index, "超支").len(), 0, "bigrams match in order only");
    assert_eq!(search(&index, "出库 OR 成功").len(), 2);
    assert_eq!(search(&index, "支付 orderId"), vec!["订单12支付超时，请重试 orderId=7"]);
}
