use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use serde_json::json;
use sluice_core::{Event, Level};

use super::*;

fn event(secs: i64, module: &str, level: Level, message: &str, fields: serde_json::Value) -> Event {
    let mut e = Event::new(Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap(), message);
    e.module = module.into();
    e.source = "test".into();
    e.level = level;
    e.fields = fields.as_object().unwrap().clone().into();
    e
}

fn index_with(events: &[Event]) -> (tempfile::TempDir, EventIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    for e in events {
        writer.add(42, e).unwrap();
    }
    writer.commit(42).unwrap();
    index.reload().unwrap();
    (dir, index)
}

fn search(index: &EventIndex, query: &str) -> Vec<String> {
    let request = SearchRequest { query: query.into(), ..SearchRequest::default() };
    index.search(&request).unwrap().hits.into_iter().map(|h| h.event.message).collect()
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
fn an_empty_index_answers_with_empty_aggregates() {
    let (_dir, index) = index_with(&[]);
    let from = Utc.timestamp_opt(1_763_600_000, 0).unwrap();
    let request = SearchRequest {
        from: Some(from),
        to: Some(from + chrono::TimeDelta::hours(1)),
        aggregate: true,
        ..SearchRequest::default()
    };
    let response = index.search(&request).unwrap();
    assert_eq!((response.total, response.hits.len()), (0, 0));
    let aggregates = response.aggregates.unwrap();
    assert!(aggregates.histogram.buckets.iter().all(|b| b.count == 0));
    assert!(aggregates.facets.iter().all(|f| f.values.is_empty()));
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
        e.fields.insert("status", status.into());
        events.push(e);
    }
    events[0].fields.insert("http.response.status_code", 504.into());
    events[1].fields.insert("log", serde_json::json!({"file": {"path": "/var/log/app.log"}}));
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

fn at(s: &str) -> chrono::DateTime<Utc> {
    s.parse().unwrap()
}

fn event_at(time: &str, source: &str, message: &str) -> Event {
    let mut e = Event::new(at(time), message);
    e.module = "order".into();
    e.source = source.into();
    e
}

#[test]
fn days_are_partitions_and_a_window_reads_only_its_days() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    for (seq, time) in [(1, "2026-11-20T23:59:59.999Z"), (2, "2026-11-21T00:00:00Z"), (3, "2026-11-22T12:00:00Z")] {
        writer.add(seq, &event_at(time, "web", &format!("event {seq}"))).unwrap();
    }
    writer.commit(3).unwrap();
    let days: Vec<String> = index.days().iter().map(|(d, n)| format!("{d}={n}")).collect();
    assert_eq!(days, ["2026-11-20=1", "2026-11-21=1", "2026-11-22=1"]);
    for day in ["2026-11-20", "2026-11-21", "2026-11-22"] {
        assert!(dir.path().join(day).join("meta.json").exists(), "{day}");
    }
    assert_eq!(index.committed_seq().unwrap(), 3);
    assert_eq!(search(&index, "*"), ["event 3", "event 2", "event 1"]);
    let window = SearchRequest {
        from: Some(at("2026-11-20T12:00:00Z")),
        to: Some(at("2026-11-21T00:00:00.001Z")),
        ..SearchRequest::default()
    };
    let messages: Vec<String> = index.search(&window).unwrap().hits.into_iter().map(|h| h.event.message).collect();
    assert_eq!(messages, ["event 2", "event 1"]);
    assert_eq!(index.oldest().unwrap(), Some(at("2026-11-20T23:59:59.999Z")));
    // A reader in another process sees the same days.
    writer.finish().unwrap();
    let reader = EventIndex::open_existing(dir.path()).unwrap();
    assert_eq!(reader.search(&SearchRequest::default()).unwrap().total, 3);
}

#[test]
fn search_after_pages_through_ties_without_skipping_or_repeating() {
    // 250 events in 10 timestamps (25 share each microsecond), over two days.
    let mut events = Vec::new();
    for i in 0..250 {
        let day = if i % 2 == 0 { "20" } else { "21" };
        let time = format!("2026-11-{day}T10:00:0{}Z", i % 5);
        events.push(event_at(&time, "web", &format!("n{i}")));
    }
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    for (i, e) in events.iter().enumerate() {
        writer.add(1 + i as u64 / 100, e).unwrap();
    }
    writer.commit(3).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut previous: Option<Cursor> = None;
    loop {
        let request = SearchRequest { limit: 40, search_after: after, ..SearchRequest::default() };
        let page = index.search(&request).unwrap();
        assert_eq!(page.total, 250, "the total counts every match on every page");
        for hit in &page.hits {
            assert!(previous.is_none_or(|p| hit.sort < p), "strictly descending: {:?} after {previous:?}", hit.sort);
            assert_eq!(hit.sort.micros, hit.event.timestamp.timestamp_micros());
            previous = Some(hit.sort);
            seen.push(hit.event.message.clone());
        }
        match page.hits.last() {
            Some(last) if page.hits.len() == 40 => after = Some(last.sort),
            _ => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted.len()), (250, 250));
    assert_eq!("1:2".parse::<Cursor>().unwrap(), Cursor { micros: 1, ord: 2 });
    assert!("12".parse::<Cursor>().is_err());
}

#[test]
fn hits_carry_the_byte_ranges_of_matched_words() {
    let (_dir, index) = index_with(&[
        event(1, "payment", Level::Error, "Payment timeout: 订单12支付超时 after PAYMENT retry", json!({})),
        event(2, "order", Level::Info, "order created", json!({})),
    ]);
    let request = SearchRequest { query: "payment 支付超时".into(), ..SearchRequest::default() };
    let hit = index.search(&request).unwrap().hits.remove(0);
    let words: Vec<&str> = hit.highlights.iter().map(|[a, b]| &hit.event.message[*a..*b]).collect();
    assert_eq!(words, ["Payment", "支付超时", "PAYMENT"]);
    let request = SearchRequest { query: "module:order".into(), ..SearchRequest::default() };
    assert!(index.search(&request).unwrap().hits[0].highlights.is_empty(), "no words, no highlights");
}

#[test]
fn context_is_the_same_source_around_a_hit_across_days() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    let times = ["2026-11-20T23:59:58Z", "2026-11-20T23:59:59Z", "2026-11-21T00:00:00Z", "2026-11-21T00:00:01Z"];
    for (i, time) in times.iter().enumerate() {
        writer.add(1, &event_at(time, "app", &format!("app {i}"))).unwrap();
        writer.add(1, &event_at(time, "web", &format!("web {i}"))).unwrap();
    }
    // Two events in the same microsecond: ordinals keep their order.
    writer.add(2, &event_at("2026-11-21T00:00:00Z", "app", "app 2b")).unwrap();
    writer.commit(2).unwrap();
    let request = SearchRequest { query: "\"app 2\"".into(), ..SearchRequest::default() };
    let hit = index.search(&request).unwrap().hits.into_iter().find(|h| h.event.message == "app 2").unwrap();
    let context = index.context("app", None, hit.sort, 5, 5).unwrap();
    let names = |hits: &[Hit]| hits.iter().map(|h| h.event.message.clone()).collect::<Vec<_>>();
    assert_eq!(names(&context.before), ["app 0", "app 1"]);
    assert_eq!(names(&context.after), ["app 2b", "app 3"]);
    let context = index.context("app", None, hit.sort, 1, 1).unwrap();
    assert_eq!((names(&context.before), names(&context.after)), (vec!["app 1".into()], vec!["app 2b".into()]));
}

#[test]
fn replay_after_a_crash_between_two_days_commits_adds_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    writer.add(1, &event_at("2026-11-20T10:00:00Z", "web", "a")).unwrap();
    writer.add(1, &event_at("2026-11-21T10:00:00Z", "web", "b")).unwrap();
    writer.commit(1).unwrap();
    writer.add(2, &event_at("2026-11-20T11:00:00Z", "web", "c")).unwrap();
    writer.commit(2).unwrap();
    writer.finish().unwrap();
    // As if the crash came after day 20 committed record 3 but before day 21 and
    // `commit.json` did: day 20 is ahead of the index's position.
    writer::write_commit_file(dir.path(), 2).unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    writer.add(3, &event_at("2026-11-20T12:00:00Z", "web", "d")).unwrap();
    writer.commit(3).unwrap();
    writer.finish().unwrap();
    writer::write_commit_file(dir.path(), 2).unwrap();

    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let writer = index.writer(20_000_000).unwrap();
    assert_eq!(writer.committed_seq(), 2);
    // Record 3 again: day 20 has it, day 21 does not.
    assert!(!writer.is_new(3, at("2026-11-20T12:00:00Z")));
    assert!(writer.is_new(3, at("2026-11-21T12:00:00Z")));
    assert!(!writer.is_new(2, at("2026-11-21T12:00:00Z")), "every day holds what commit.json covers");
    assert!(writer.is_new(4, at("2026-11-20T12:00:00Z")));
}

#[test]
fn retention_deletes_whole_old_days_and_skips_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    let today = Utc::now();
    let old = today - chrono::TimeDelta::days(40);
    writer.add(1, &event_at(&old.to_rfc3339(), "web", "old")).unwrap();
    writer.add(1, &event_at(&today.to_rfc3339(), "web", "new")).unwrap();
    writer.commit(1).unwrap();
    assert_eq!(index.days().len(), 2);
    writer.set_retention_days(Some(30));
    writer.commit(1).unwrap();
    assert_eq!(index.days().len(), 1, "the old day is gone");
    assert!(!dir.path().join(partition::dir_name(old.date_naive())).exists());
    assert_eq!(search(&index, "*"), ["new"]);
    assert!(writer.add(2, &event_at(&old.to_rfc3339(), "web", "late")).unwrap().is_none(), "not indexed");
    assert_eq!(writer.expired(), 1);
}

#[test]
fn every_kind_of_json_value_in_fields_is_searchable() {
    let (_dir, index) = index_with(&[
        event(
            1,
            "order",
            Level::Info,
            "checkout",
            json!({"tags": ["vip", "retry"], "paid": true, "amount": 19.5, "delta": -3,
                   "note": null, "big": u64::MAX, "cart": {"items": [{"sku": "SKU-7"}]}}),
        ),
        event(2, "order", Level::Info, "browse", json!({"paid": false, "amount": 2.0, "delta": 4})),
    ]);
    assert_eq!(search(&index, "tags:vip"), ["checkout"]);
    assert_eq!(search(&index, "paid:true"), ["checkout"]);
    assert_eq!(search(&index, "paid:false"), ["browse"]);
    assert_eq!(search(&index, "amount:>10"), ["checkout"]);
    assert_eq!(search(&index, "delta:<0"), ["checkout"]);
    assert_eq!(search(&index, "big:18446744073709551615"), ["checkout"]);
    assert_eq!(search(&index, "cart.items.sku:SKU-7"), ["checkout"]);
    let stored =
        &index.search(&SearchRequest { query: "checkout".into(), ..SearchRequest::default() }).unwrap().hits[0];
    assert_eq!(stored.event.fields.value("note"), serde_json::Value::Null);
    assert_eq!(stored.event.fields.value("tags"), json!(["vip", "retry"]));
}

#[test]
fn a_day_written_with_fieldnorms_keeps_its_schema_and_takes_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let day = |secs| event(secs, "order", Level::Info, &format!("order event {secs}"), json!({"status": 200}));
    let (first_day, next_day) = (day(0), day(86_400));
    let old = crate::partition::Partition::path(root, partition::day_of(first_day.timestamp));
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join(partition::FORMAT_FILE), partition::FORMAT).unwrap();
    drop(tantivy::Index::create_in_dir(&old, schema::build_with_fieldnorms(true)).unwrap());
    let index = EventIndex::open_or_create(root).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    writer.add(1, &first_day).unwrap();
    writer.add(1, &next_day).unwrap();
    writer.commit(1).unwrap();
    index.reload().unwrap();
    assert_eq!(search(&index, "order"), ["order event 86400", "order event 0"]);
    assert_eq!(search(&index, "status:200 AND event").len(), 2);
    let norms = |dir: &Path| {
        let schema = tantivy::Index::open_in_dir(dir).unwrap().schema();
        let message = schema.get_field("message").unwrap();
        schema.get_field_entry(message).has_fieldnorms()
    };
    assert!(norms(&old), "the old day keeps its schema");
    let new = crate::partition::Partition::path(root, partition::day_of(next_day.timestamp));
    assert!(!norms(&new), "new days are written without fieldnorms");
}

#[test]
fn an_index_of_the_single_directory_layout_is_converted_into_days() {
    use tantivy::schema::{STORED, STRING};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("index");
    {
        // The old layout: one tantivy index in `index/` (only `_source` matters to the
        // conversion), its commit carrying the WAL position.
        let mut builder = tantivy::schema::Schema::builder();
        let module = builder.add_text_field("module", STRING);
        let source = builder.add_text_field("_source", STORED);
        std::fs::create_dir_all(&root).unwrap();
        let old = tantivy::Index::create_in_dir(&root, builder.build()).unwrap();
        let mut writer = old.writer_with_num_threads(1, 15_000_000).unwrap();
        for (time, message) in [("2026-11-20T10:00:00Z", "one"), ("2026-11-21T10:00:00Z", "two")] {
            let mut doc = tantivy::TantivyDocument::default();
            doc.add_text(module, "order");
            doc.add_text(source, serde_json::to_string(&event_at(time, "web", message)).unwrap());
            writer.add_document(doc).unwrap();
        }
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload(r#"{"wal_seq": 77}"#);
        prepared.commit().unwrap();
    }
    assert!(matches!(EventIndex::open_existing(&root), Err(IndexError::OldLayout(_))));
    let index = EventIndex::open_or_create(&root).unwrap();
    assert_eq!(index.days().len(), 2);
    assert_eq!(index.committed_seq().unwrap(), 77);
    assert_eq!(search(&index, "*"), ["two", "one"]);
    assert!(!dir.path().join("index-single").exists());
}

/// Copies `testdata/index-fst`: two days (2026-11-20 and -21) of five nginx events, written
/// by Sluice before SSTable term dictionaries (commit 6f39b76, `sluice import --format nginx`),
/// in one WAL record, so their ordinals are `1 << 24` plus their line number from 0.
fn copy_of_fst_index(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/index-fst");
    for entry in walk(&from) {
        let target = to.join(entry.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

fn assert_holds_the_fst_fixture(index: &EventIndex) {
    assert_eq!(index.days().into_iter().map(|(_, n)| n).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(index.committed_seq().unwrap(), 1);
    let request = SearchRequest { query: "order".into(), ..SearchRequest::default() };
    let hits = index.search(&request).unwrap().hits;
    let found: Vec<_> = hits.iter().map(|h| (h.event.message.as_str(), h.sort.ord)).collect();
    assert_eq!(
        found,
        [
            (
                r#"10.0.7.9 - - [21/Nov/2026:00:00:05 +0000] "POST /api/order/create HTTP/1.1" 201 88 "-" "okhttp/4.12.0""#,
                (1 << 24) | 4
            ),
            (
                r#"10.0.7.9 - - [20/Nov/2026:23:59:30 +0000] "POST /api/order/create HTTP/1.1" 502 173 "-" "okhttp/4.12.0""#,
                (1 << 24) | 1
            ),
        ]
    );
    // Term dictionaries of every kind of field are read: a JSON field's number, a keyword
    // column, a phrase in the message.
    assert_eq!(search(index, "status:502").len(), 1);
    assert_eq!(search(index, "module:payment").len(), 1);
    assert_eq!(search(index, "\"api user profile\"").len(), 1);
}

#[test]
fn days_written_with_fst_term_dictionaries_are_indexed_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("index");
    copy_of_fst_index(&root);
    assert!(matches!(EventIndex::open_existing(&root), Err(IndexError::OldLayout(_))));

    let index = EventIndex::open_or_create(&root).unwrap();
    assert_holds_the_fst_fixture(&index);
    for partition in index.partitions.read().unwrap().values() {
        assert_eq!(partition.committed_seq().unwrap(), 1, "{} keeps its own WAL position", partition.day);
    }
    assert!(EventIndex::open_existing(&root).is_ok());
    let mut writer = index.writer(20_000_000).unwrap();
    assert!(!writer.is_new(1, at("2026-11-20T23:59:30Z")), "each day keeps the WAL position it held");
    writer.add(2, &event_at("2026-11-21T00:01:00Z", "web", "after the conversion")).unwrap();
    writer.commit(2).unwrap();
    assert_eq!(search(&index, "conversion").len(), 1);
    drop(writer);
    drop(index);

    // Nothing is converted twice.
    let index = EventIndex::open_or_create(&root).unwrap();
    assert_eq!(index.days().into_iter().map(|(_, n)| n).collect::<Vec<_>>(), [3, 3]);
}

#[test]
fn a_conversion_cut_short_starts_again_from_the_old_copy() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("index");
    copy_of_fst_index(&root);
    // As if the process died while indexing 2026-11-20 again: the old day is aside, and
    // the new directory holds part of it.
    std::fs::rename(root.join("2026-11-20"), root.join("2026-11-20.old-format")).unwrap();
    {
        let partial =
            partition::Partition::open_or_create(&root, chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
                .unwrap();
        let mut writer = partial.index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer.add_document(partial.fields.document(&event_at("2026-11-20T23:58:01Z", "web", "partial"), 9)).unwrap();
        writer.commit().unwrap();
    }
    // And as if an earlier conversion died while deleting its old copy.
    let trash = root.join("2026-11-19.old-format.discarded");
    std::fs::create_dir_all(&trash).unwrap();
    std::fs::write(trash.join("meta.json"), "{").unwrap();
    assert!(matches!(EventIndex::open_existing(&root), Err(IndexError::OldLayout(_))));

    let index = EventIndex::open_or_create(&root).unwrap();
    assert_holds_the_fst_fixture(&index);
    assert!(search(&index, "partial").is_empty());
    assert!(!root.join("2026-11-20.old-format").exists());
    assert!(!trash.exists());
}

#[test]
fn a_day_written_again_after_reopening_is_searchable_through_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = EventIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer(20_000_000).unwrap();
        writer.add(1, &event_at("2026-11-20T10:00:00Z", "web", "before restart")).unwrap();
        writer.commit(1).unwrap();
        writer.finish().unwrap();
    }
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut writer = index.writer(20_000_000).unwrap();
    writer.add(2, &event_at("2026-11-20T11:00:00Z", "web", "after restart")).unwrap();
    writer.commit(2).unwrap();
    assert_eq!(search(&index, "*"), ["after restart", "before restart"]);
}
