use chrono::{TimeDelta, TimeZone};
use serde_json::json;
use sluice_core::Level;

use super::*;

const T0: i64 = 1_763_600_000;

fn at(secs: f64) -> DateTime<Utc> {
    Utc.timestamp_opt(T0, 0).unwrap() + TimeDelta::milliseconds((secs * 1000.0) as i64)
}

fn log(secs: f64, module: &str, level: Level, message: &str) -> Event {
    let mut e = Event::new(at(secs), message);
    e.module = module.into();
    e.source = "app".into();
    e.level = level;
    e
}

fn request(secs: f64, module: &str, status: u16) -> Event {
    let mut e = log(secs, module, Level::from_http_status(status), "GET /api/pay/submit");
    e.source = "nginx".into();
    e.fields.insert("status", json!(status));
    e
}

fn statement(secs: f64, module: &str, query: &str, ms: f64) -> Event {
    let mut e = log(secs, module, Level::Info, query);
    e.source = "mysql".into();
    e.fields = json!({"query": query, "query_time_ms": ms, "db_system": "mysql"}).as_object().unwrap().clone().into();
    e
}

/// Five minutes of healthy traffic before `until`, so the module's usual rate is known.
fn calm(module: &str, until: f64) -> Vec<Event> {
    (1..=300).rev().map(|i| log(until - i as f64, module, Level::Info, "ok")).collect()
}

/// Five minutes of fast statements before `until`: SQL has been watched for a window.
fn fast_sql(module: &str, until: f64) -> Vec<Event> {
    (1..=30).rev().map(|i| statement(until - 10.0 * i as f64, module, "SELECT 1", 2.0)).collect()
}

fn config() -> Config {
    Config::default()
}

fn run(detector: &mut Detector, events: impl IntoIterator<Item = Event>) -> Vec<AlertUpdate> {
    let mut out = Vec::new();
    for mut event in events {
        detector.observe(&mut event, &mut out);
    }
    out
}

fn changes(updates: &[AlertUpdate], change: Change) -> Vec<&Alert> {
    updates.iter().filter(|u| u.change == change).map(|u| &u.alert).collect()
}

#[test]
fn a_quiet_module_pages_on_its_first_spike_once_and_closes_when_calm() {
    let mut detector = Detector::new(&config());
    let mut events = Vec::new();
    // An hour of calm traffic with the odd error.
    for s in (0..3600).step_by(10) {
        events.push(log(s as f64, "inventory", Level::Info, "stock reserved"));
        if s % 900 == 0 {
            events.push(log(s as f64 + 1.0, "inventory", Level::Error, "sku 1 not found"));
        }
    }
    // 40 errors in 20 s, then calm again for 15 minutes.
    for i in 0..40 {
        events.push(log(3600.0 + i as f64 * 0.5, "inventory", Level::Error, &format!("Deadlock on sku {i}")));
    }
    for s in (3620..4520).step_by(5) {
        events.push(log(s as f64, "inventory", Level::Info, "stock reserved"));
    }
    let updates = run(&mut detector, events);
    let opened = changes(&updates, Change::Opened);
    assert_eq!(opened.len(), 1, "{updates:#?}");
    let alert = opened[0];
    assert_eq!((alert.kind, alert.severity, alert.module.as_str()), (AlertKind::ErrorBurst, Severity::P3, "inventory"));
    assert_eq!(alert.start, at(3600.0));
    assert_eq!(alert.count, 10, "opens as the 10th error of the window arrives");
    let closed = changes(&updates, Change::Closed);
    assert_eq!(closed.len(), 1);
    let closed = closed[0];
    assert_eq!(closed.id, alert.id);
    assert_eq!((closed.count, closed.end, closed.status), (40, at(3619.5), AlertStatus::Closed));
    assert_eq!(closed.top_messages[0], MessageCount { message: "Deadlock on sku N".into(), count: 40 });
    assert_eq!(closed.examples.len(), 3);
    assert_eq!(closed.sources["app"], 40);
    assert!(closed.search.contains("module:inventory"));
    assert_eq!(detector.open_alerts(), 0);
}

#[test]
fn a_noisy_module_stops_paging_once_its_baseline_catches_up_but_still_pages_on_a_real_spike() {
    let mut detector = Detector::new(&config());
    let mut events = Vec::new();
    // 20 errors a minute, steadily, for three hours.
    for i in 0..(3 * 60 * 20) {
        events.push(log(i as f64 * 3.0, "user", Level::Error, "token expired"));
    }
    let updates = run(&mut detector, events);
    let opened = changes(&updates, Change::Opened);
    assert!(opened.len() <= 1, "a steady error rate pages at most while the baseline learns it: {opened:#?}");
    let last_two_hours = opened.iter().filter(|a| a.start > at(3600.0)).count();
    assert_eq!(last_two_hours, 0);
    assert_eq!(detector.open_alerts(), 0, "the learning-phase alert has closed");

    // Ten times the usual rate for a minute.
    let spike: Vec<Event> =
        (0..200).map(|i| log(3.0 * 3600.0 + i as f64 * 0.3, "user", Level::Error, "login failed")).collect();
    let updates = run(&mut detector, spike);
    let opened = changes(&updates, Change::Opened);
    assert_eq!(opened.len(), 1);
    assert!(opened[0].baseline > 15.0, "the usual rate is known: {}", opened[0].baseline);
}

#[test]
fn core_flow_failing_most_requests_is_p1_otherwise_p2() {
    let mut detector = Detector::new(&config());
    // payment: 30% of requests failing -> P2.
    let mut events: Vec<Event> = (1..=300).rev().map(|i| request(-(i as f64), "payment", 200)).collect();
    events.extend((0..100).map(|i| request(i as f64 * 0.5, "payment", if i % 10 < 3 { 502 } else { 200 })));
    let updates = run(&mut detector, events);
    let opened = changes(&updates, Change::Opened);
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].severity, Severity::P2);
    // Then nearly everything fails: escalates to P1 within the same episode.
    let events: Vec<Event> =
        (0..100).map(|i| request(50.0 + i as f64 * 0.3, "payment", if i % 10 == 0 { 200 } else { 503 })).collect();
    let updates = run(&mut detector, events);
    let escalated = changes(&updates, Change::Escalated);
    assert_eq!(escalated.len(), 1, "{updates:#?}");
    assert_eq!(escalated[0].severity, Severity::P1);
    assert!(escalated[0].failure_ratio.unwrap() > 0.5, "{:?}", escalated[0]);
    assert!(changes(&updates, Change::Opened).is_empty(), "one alert per burst");
    assert!(escalated[0].summary.contains("requests failing"), "{}", escalated[0].summary);
}

#[test]
fn slow_sql_storm_and_critical_statement() {
    let mut detector = Detector::new(&config());
    let mut events = fast_sql("order", 0.0);
    for i in 0..12 {
        events.push(statement(i as f64 * 20.0, "order", &format!("SELECT * FROM orders WHERE user_id = {i}"), 800.0));
        events.push(statement(i as f64 * 20.0 + 1.0, "order", "SELECT 1", 2.0));
    }
    events.push(statement(300.0, "inventory", "UPDATE stock SET n = n - 1 WHERE sku = 'x'", 12_500.0));
    let updates = run(&mut detector, events);
    let opened = changes(&updates, Change::Opened);
    let storm = opened.iter().find(|a| a.rule == "slow_sql_storm").expect("storm alert");
    assert_eq!((storm.kind, storm.severity, storm.count), (AlertKind::SlowSql, Severity::P2, 10));
    assert_eq!(storm.fingerprint.as_deref(), Some("select * from orders where user_id = ?"));
    assert_eq!(
        storm.query_id.as_deref(),
        Some(crate::fingerprint::query_id("select * from orders where user_id = ?").as_str())
    );
    let critical = opened.iter().find(|a| a.rule == "slow_sql_critical").expect("critical alert");
    assert_eq!((critical.severity, critical.module.as_str(), critical.count), (Severity::P3, "inventory", 1));
    assert!(critical.summary.contains("12500 ms"), "{}", critical.summary);
    assert_eq!(opened.len(), 2, "12 slow statements stay under the module storm count: {opened:#?}");

    let mut finish = Vec::new();
    detector.finish(&mut finish);
    let closed = changes(&finish, Change::Closed);
    assert_eq!(closed.len(), 2);
    assert_eq!(closed.iter().find(|a| a.rule == "slow_sql_storm").unwrap().count, 12);
}

#[test]
fn the_same_stream_gives_the_same_alert_ids() {
    let stream = || {
        let mut events = calm("order", 0.0);
        events.extend((0..30).map(|i| log(i as f64, "order", Level::Error, "boom")));
        events
    };
    let ids = || run(&mut Detector::new(&config()), stream()).into_iter().map(|u| u.alert.id).collect::<Vec<_>>();
    let first = ids();
    assert!(!first.is_empty());
    assert_eq!(first, ids());
}

#[test]
fn per_module_slow_thresholds() {
    let mut config = config();
    config.module_slow_sql_ms.insert("payment".into(), 100);
    let mut detector = Detector::new(&config);
    let mut out = Vec::new();
    let mut pay = statement(0.0, "payment", "SELECT 1", 150.0);
    let mut order = statement(0.0, "order", "SELECT 1", 150.0);
    assert!(detector.observe(&mut pay, &mut out));
    assert!(!detector.observe(&mut order, &mut out));
    assert_eq!(pay.fields.value("slow"), true);
    assert_eq!(pay.field_str("fingerprint"), Some("select ?"));
}

#[test]
fn store_keeps_the_latest_version_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut detector = Detector::new(&config());
    let mut updates = run(&mut detector, calm("order", 0.0));
    updates.extend(run(&mut detector, (0..30).map(|i| log(i as f64, "order", Level::Error, "boom"))));
    updates.extend(run(&mut detector, fast_sql("user", 0.0)));
    updates.extend(run(&mut detector, (0..12).map(|i| statement(i as f64, "user", "SELECT 2", 900.0))));
    detector.flush(&mut updates);
    {
        let mut store = AlertStore::open(dir.path()).unwrap();
        for u in &updates {
            store.upsert(&u.alert).unwrap();
        }
        assert_eq!(store.len(), 2);
    }
    let store = AlertStore::open(dir.path()).unwrap();
    let all = store.list(&AlertFilter::default());
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|a| a.status == AlertStatus::Closed), "left open by a previous run: closed on open");
    let burst = store.list(&AlertFilter { kind: Some(AlertKind::ErrorBurst), ..Default::default() });
    assert_eq!((burst.len(), burst[0].count), (1, 30));
    assert_eq!(store.list(&AlertFilter { severity: Some(Severity::P2), ..Default::default() }).len(), 2);
    assert_eq!(store.list(&AlertFilter { module: Some("user".into()), ..Default::default() }).len(), 1);
    assert_eq!(store.list(&AlertFilter { text: Some("ERROR burst".into()), ..Default::default() }).len(), 1);
    assert_eq!(store.list(&AlertFilter { from: Some(at(100.0)), ..Default::default() }).len(), 0);
    let lines = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 2, "superseded versions are compacted away");
}

#[test]
fn a_steady_trickle_of_slow_statements_is_not_a_storm() {
    let mut detector = Detector::new(&config());
    // Three slow statements a minute, every minute for two hours: over the storm count of
    // 10 per 5 minutes, but usual for this database.
    let trickle: Vec<Event> = (0..360)
        .map(|i| statement(i as f64 * 20.0, "order", &format!("SELECT * FROM t WHERE id = {i}"), 700.0))
        .collect();
    let updates = run(&mut detector, trickle);
    assert!(changes(&updates, Change::Opened).is_empty(), "{:#?}", changes(&updates, Change::Opened));
    // Then a real storm: 200 in two minutes.
    let storm: Vec<Event> = (0..200)
        .map(|i| statement(7200.0 + i as f64 * 0.6, "order", &format!("SELECT * FROM t WHERE id = {i}"), 2500.0))
        .collect();
    let updates = run(&mut detector, storm);
    let opened = changes(&updates, Change::Opened);
    assert_eq!(opened.iter().filter(|a| a.rule == "slow_sql_storm").count(), 1, "{opened:#?}");
}

#[test]
fn messages_are_grouped_without_their_numbers_and_ids() {
    assert_eq!(
        fold_digits("timeout after 3000ms traceId=19d750a0b7e636bd order 42"),
        "timeout after Nms traceId=X order N"
    );
    assert_eq!(fold_digits("支付超时 订单 123"), "支付超时 订单 N");
    assert_eq!(fold_digits("deadbeef cafe"), "deadbeef cafe", "hex words without digits are words");
}

fn timed_request(secs: f64, module: &str, ms: f64) -> Event {
    let mut e = request(secs, module, 200);
    e.fields.insert("request_time_ms", json!(ms));
    e
}

#[test]
fn a_sharp_latency_rise_in_a_core_module_is_p2_and_jitter_is_not() {
    let mut detector = Detector::new(&config());
    // Ten minutes of 20-120 ms requests, two a second: jitter, not a rise.
    let jitter: Vec<Event> =
        (0..1200).map(|i| timed_request(i as f64 * 0.5, "payment", 20.0 + ((i * 37) % 100) as f64)).collect();
    let updates = run(&mut detector, jitter);
    assert!(changes(&updates, Change::Opened).is_empty(), "{updates:#?}");
    // Two minutes at 900 ms, then normal again for ten minutes.
    let mut events: Vec<Event> = (0..240).map(|i| timed_request(600.0 + i as f64 * 0.5, "payment", 900.0)).collect();
    events.extend((0..1200).map(|i| timed_request(720.0 + i as f64 * 0.5, "payment", 60.0)));
    let updates = run(&mut detector, events);
    let opened = changes(&updates, Change::Opened);
    assert_eq!(opened.len(), 1, "{opened:#?}");
    assert_eq!(
        (opened[0].kind, opened[0].severity, opened[0].rule.as_str()),
        (AlertKind::Latency, Severity::P2, "latency_rise")
    );
    assert!(opened[0].summary.contains("latency rise"), "{}", opened[0].summary);
    let closed = changes(&updates, Change::Closed);
    assert_eq!(closed.len(), 1);
    assert!(closed[0].peak >= 600, "peak mean {} ms", closed[0].peak);
}
