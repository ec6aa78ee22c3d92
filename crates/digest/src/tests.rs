use chrono::{TimeZone, Utc};
use serde_json::json;
use sluice_core::Event;

use super::*;

fn statement(secs: i64, query: &str, ms: f64, module: &str) -> Event {
    let mut e = Event::new(Utc.timestamp_opt(1_763_596_800 + secs, 0).unwrap(), query);
    e.module = module.into();
    e.fields = json!({"query": query, "query_time_ms": ms, "db": "shop", "rows_examined": 10, "lock_time_ms": 0.5})
        .as_object()
        .unwrap()
        .clone()
        .into();
    e
}

fn digest(events: &[Event], options: DigestOptions) -> Digest {
    let mut builder = DigestBuilder::new(options);
    for e in events {
        builder.add(e);
    }
    builder.finish()
}

#[test]
fn groups_by_fingerprint_and_sorts_by_total_time() {
    let events = vec![
        statement(0, "SELECT * FROM orders WHERE id = 1", 600.0, "order"),
        statement(10, "SELECT * FROM orders WHERE id = 22", 900.0, "order"),
        statement(20, "SELECT * FROM orders WHERE id = 333", 700.0, "order"),
        statement(30, "UPDATE stock SET n = n - 1 WHERE sku = 'a'", 2500.0, "inventory"),
        statement(40, "SELECT 1", 20.0, "other"),
    ];
    let d = digest(&events, DigestOptions::default());
    assert_eq!((d.total_queries, d.slow_queries), (5, 4));
    assert_eq!(d.queries.len(), 2);
    let first = &d.queries[0];
    // pt-query-digest 3.2.1 turns a lone `-` into `?` too.
    assert_eq!(first.fingerprint, "update stock set n = n ? ? where sku = ?");
    assert_eq!(first.id, sluice_detect::fingerprint::query_id(&first.fingerprint));
    let orders = &d.queries[1];
    assert_eq!((orders.count, orders.total_ms, orders.max_ms, orders.p95_ms), (3, 2200.0, 900.0, 900.0));
    assert_eq!(orders.example, "SELECT * FROM orders WHERE id = 22");
    assert_eq!((orders.rows_examined, orders.lock_ms, orders.module.as_str()), (30, 1.5, "order"));
    assert_eq!(orders.db.as_deref(), Some("shop"));
    assert_eq!(orders.last_seen - orders.first_seen, chrono::TimeDelta::seconds(20));
    assert_eq!(d.histogram.iter().map(|b| b.count).sum::<u64>(), 4);
    assert_eq!(d.per_hour.len(), 1);
}

#[test]
fn window_and_threshold() {
    let events: Vec<Event> = (0..10).map(|i| statement(i * 3600, "SELECT 1", 100.0 * i as f64, "other")).collect();
    let from = Utc.timestamp_opt(1_763_596_800 + 3600, 0).unwrap();
    let to = Utc.timestamp_opt(1_763_596_800 + 5 * 3600, 0).unwrap();
    let d = digest(&events, DigestOptions { from: Some(from), to: Some(to), min_ms: 200.0, ..Default::default() });
    // Hours 1..=4 are in the window; 300 and 400 ms are over 200 ms (strictly).
    assert_eq!((d.total_queries, d.slow_queries), (4, 2));
    assert_eq!(d.from, Some(from));
    let all = digest(&events, DigestOptions { min_ms: 0.0, ..Default::default() });
    assert_eq!(all.slow_queries, 10);
    assert_eq!(all.queries[0].p95_ms, 900.0);
}

#[test]
fn postgres_statements_use_pgbadger_normalisation_and_skip_parse_steps() {
    let mut execute = statement(0, "SELECT * FROM t WHERE a IN (1, 2)", 800.0, "order");
    execute.fields.insert("db_system", json!("postgresql"));
    execute.fields.insert("statement_kind", json!("execute"));
    let mut parse = execute.clone();
    parse.fields.insert("statement_kind", json!("parse"));
    let d = digest(&[execute, parse], DigestOptions::default());
    assert_eq!(d.total_queries, 1);
    assert_eq!(d.queries[0].fingerprint, "select * from t where a in (...);", "ended with `;` as pgBadger does");
    assert_eq!(d.queries[0].dbms, "postgresql");
}

#[test]
fn merge_equals_one_pass() {
    let events: Vec<Event> = (0..50)
        .map(|i| statement(i * 60, &format!("SELECT * FROM t{} WHERE x = {i}", i % 3), 501.0 + i as f64, "o"))
        .collect();
    let whole = digest(&events, DigestOptions::default());
    let mut left = DigestBuilder::new(DigestOptions::default());
    let mut right = DigestBuilder::new(DigestOptions::default());
    for (i, e) in events.iter().enumerate() {
        if i % 2 == 0 { left.add(e) } else { right.add(e) }
    }
    left.merge(right);
    assert_eq!(left.finish(), whole);
}

#[test]
fn regressions_name_new_and_slower_fingerprints() {
    let yesterday = digest(
        &[
            statement(0, "SELECT * FROM a WHERE x = 1", 600.0, "o"),
            statement(1, "SELECT * FROM b WHERE x = 1", 600.0, "o"),
        ],
        DigestOptions::default(),
    );
    let mut today = digest(
        &[
            statement(0, "SELECT * FROM a WHERE x = 2", 1300.0, "o"),
            statement(1, "SELECT * FROM b WHERE x = 2", 700.0, "o"),
            statement(2, "SELECT * FROM c WHERE x = 2", 700.0, "o"),
        ],
        DigestOptions::default(),
    );
    today.compare_with(&yesterday);
    let kinds: Vec<(&str, &str)> =
        today.regressions.iter().map(|r| (r.fingerprint.as_str(), r.kind.as_str())).collect();
    assert_eq!(kinds, vec![("select * from a where x = ?", "p95_doubled"), ("select * from c where x = ?", "new")]);
}

#[test]
fn reports_render_and_escape_log_text() {
    let events = vec![statement(0, "SELECT '<script>alert(1)</script>' FROM t WHERE id = 1", 900.0, "order")];
    let d = digest(&events, DigestOptions { timezone: "Asia/Shanghai".into(), ..Default::default() });
    let html = render_html(&d);
    assert!(!html.contains("<script>alert"), "log text must not become markup");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains(&d.queries[0].id));
    let text = render_text(&d, 20);
    assert!(text.contains(&format!("0x{}", d.queries[0].id)), "{text}");
    assert!(text.contains("Asia/Shanghai"), "{text}");
    assert!(text.contains("# Exec time"), "{text}");
    let json = serde_json::to_value(&d).unwrap();
    for key in ["from", "to", "threshold_ms", "total_queries", "slow_queries", "queries"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    for key in [
        "id",
        "fingerprint",
        "count",
        "total_ms",
        "avg_ms",
        "p95_ms",
        "max_ms",
        "lock_ms",
        "rows_examined",
        "rows_sent",
        "db",
        "module",
        "first_seen",
        "last_seen",
        "example",
    ] {
        assert!(json["queries"][0].get(key).is_some(), "{key}");
    }
}
