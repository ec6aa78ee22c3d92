use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sluice_core::Config;
use tower::ServiceExt;

use super::*;

async fn start() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::start(Arc::new(Config::default()), dir.path(), PipelineOptions::default()).unwrap();
    (dir, AppState::new(Arc::new(pipeline)))
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

fn post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri).body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_then_search() {
    let (_dir, state) = start().await;
    let lines = concat!(
        r#"{"time":"2026-11-20T14:00:00Z","level":"error","msg":"card declined traceId=77aa88bb99","service":"payment-api"}"#,
        "\n",
        r#"{"time":"2026-11-20T14:00:01Z","level":"info","msg":"order shipped","service":"logistics"}"#,
        "\n",
    );
    let (status, body) = call(&state, post("/api/v1/ingest?source=svc&format=json", lines)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2);
    state.pipeline.flush().await.unwrap();

    let (status, body) = call(&state, Request::get("/api/v1/search?q=77aa88bb99").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 1);
    assert_eq!(body["hits"][0]["module"], "payment");
    assert_eq!(body["hits"][0]["source"], "svc");
    assert_eq!(body["hits"][0]["level"], "error");

    let (_, body) =
        call(&state, Request::get("/api/v1/search?q=*&module=logistics").body(Body::empty()).unwrap()).await;
    assert_eq!(body["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_follow_next_and_context_shows_the_same_source() {
    let (_dir, state) = start().await;
    // 30 events of one source in 3 timestamps (ties across page boundaries), and another source.
    let mut lines = String::new();
    for i in 0..30 {
        lines.push_str(&format!(
            "{{\"time\":\"2026-11-20T14:00:0{}Z\",\"level\":\"warn\",\"msg\":\"retry payment n{i}\"}}\n",
            i % 3
        ));
    }
    call(&state, post("/api/v1/ingest?source=app&format=json", &lines)).await;
    let other = r#"{"time":"2026-11-20T14:00:01Z","level":"info","msg":"other source"}"#;
    call(&state, post("/api/v1/ingest?source=web&format=json", other)).await;
    state.pipeline.flush().await.unwrap();

    let mut seen = std::collections::BTreeSet::new();
    let mut uri = "/api/v1/search?q=payment&limit=7&aggs=false".to_owned();
    loop {
        let (status, body) = get(&state, &uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["total"], 30);
        for hit in body["hits"].as_array().unwrap() {
            assert!(seen.insert(hit["message"].as_str().unwrap().to_owned()), "repeated: {hit}");
            let message = hit["message"].as_str().unwrap();
            let [a, b] = [hit["highlights"][0][0].as_u64().unwrap(), hit["highlights"][0][1].as_u64().unwrap()];
            assert_eq!(&message[a as usize..b as usize], "payment");
        }
        match body["next"].as_str() {
            Some(next) => uri = format!("/api/v1/search?q=payment&limit=7&aggs=false&search_after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);

    let (_, body) = get(&state, "/api/v1/search?q=other&aggs=false").await;
    let at = body["hits"][0]["sort"].as_str().unwrap().to_owned();
    let (status, context) = get(&state, &format!("/api/v1/context?source=app&at={at}&before=3&after=2")).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    let times = |side: &str| -> Vec<String> {
        context[side].as_array().unwrap().iter().map(|e| e["timestamp"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(times("before").len(), 3);
    assert!(times("before").iter().all(|t| t.as_str() <= "2026-11-20T14:00:01.000Z"));
    assert_eq!(times("after").len(), 2);
    assert!(context["before"].as_array().unwrap().iter().all(|e| e["source"] == "app"));

    for (uri, names) in [
        ("/api/v1/search?search_after=yesterday", "search_after"),
        ("/api/v1/context?source=app&at=x", "`at`"),
        ("/api/v1/context?at=1:2", "source"),
    ] {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(body["error"].as_str().unwrap().contains(names), "{uri}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_name_the_problem() {
    let (_dir, state) = start().await;
    let (status, body) = call(&state, post("/api/v1/ingest?format=json", "{\"ok\":1}\n{broken\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("line 2"), "{body}");

    let (status, body) = call(&state, post("/api/v1/ingest?format=yaml", "x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("yaml"));

    let (status, body) = call(&state, Request::get("/api/v1/search?q=status:(").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("status:("), "{body}");

    let (status, _) =
        call(&state, Request::get("/api/v1/search?from=yesterday-ish").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let (status, _) = call(&state, post("/api/v1/ingest", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_lines_are_kept_and_counted() {
    let (_dir, state) = start().await;
    let (status, body) = call(&state, post("/api/v1/ingest?source=web&format=nginx", "not an access log line\n")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["parse_errors"], 1);
    state.pipeline.flush().await.unwrap();
    let (_, body) = call(&state, Request::get("/api/v1/search?q=parse_error:*").body(Body::empty()).unwrap()).await;
    assert_eq!(body["hits"][0]["message"], "not an access log line");
    let metrics = state.pipeline.metrics().render();
    assert!(metrics.contains("sluice_parse_errors_total{source=\"web\"} 1"), "{metrics}");
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, serde_json::Value) {
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A webhook receiver on a real socket: every body it is sent comes out of the channel.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, String)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = Router::new().route(
        "/{kind}",
        axum::routing::post(move |axum::extract::Path(kind): axum::extract::Path<String>, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((kind, body));
                r#"{"errcode":0,"errmsg":"ok"}"#
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    (base, rx)
}

/// Five quiet minutes of a payment service, then 30 errors in 15 seconds.
fn payment_incident() -> String {
    let mut lines = String::new();
    for i in 0..150 {
        let at = chrono::DateTime::from_timestamp(1_795_183_200 + i * 2, 0).unwrap();
        lines.push_str(&format!(
            "{{\"time\":\"{}\",\"level\":\"info\",\"msg\":\"payment ok\",\"service\":\"payment-api\"}}\n",
            at.to_rfc3339()
        ));
    }
    for i in 0..30 {
        let at = chrono::DateTime::from_timestamp_millis(1_795_183_500_000 + i * 500).unwrap();
        lines.push_str(&format!(
            "{{\"time\":\"{}\",\"level\":\"error\",\"msg\":\"gateway timeout after {}ms traceId=ab{i:06}cd\",\"service\":\"payment-api\"}}\n",
            at.to_rfc3339(),
            3000 + i
        ));
    }
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_burst_is_stored_listed_streamed_sent_and_counted() {
    let (base, mut hooks) = webhook_receiver().await;
    let mut config = Config::default();
    for (kind, format) in [("generic", "generic"), ("dingtalk", "dingtalk"), ("wecom", "wecom")] {
        config.alerts.webhooks.push(sluice_core::WebhookConfig {
            url: format!("{base}/{kind}"),
            format: match format {
                "dingtalk" => sluice_core::WebhookFormat::Dingtalk,
                "wecom" => sluice_core::WebhookFormat::Wecom,
                _ => sluice_core::WebhookFormat::Generic,
            },
            min_severity: sluice_core::Severity::P3,
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::start(Arc::new(config), dir.path(), PipelineOptions::default()).unwrap();
    let state = AppState::new(Arc::new(pipeline));

    // Subscribe to the live stream before the burst.
    let stream = app(state.clone()).oneshot(Request::get("/api/v1/alerts/stream").body(Body::empty()).unwrap());
    let response = stream.await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();

    let (status, body_json) = call(&state, post("/api/v1/ingest?source=api&format=json", &payment_incident())).await;
    assert_eq!(status, StatusCode::OK, "{body_json}");

    use futures_util::StreamExt;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
        .await
        .expect("an alert event on the stream")
        .unwrap()
        .unwrap();
    let frame = String::from_utf8_lossy(&frame).into_owned();
    assert!(frame.contains("event: opened"), "{frame}");
    assert!(frame.contains("\"kind\":\"error_burst\""), "{frame}");

    state.pipeline.flush().await.unwrap();
    let (status, listed) = get(&state, "/api/v1/alerts?kind=error_burst&module=payment").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["total"], 1, "{listed}");
    let alert = &listed["alerts"][0];
    assert_eq!(alert["severity"], "P2", "payment is a core flow; no HTTP requests to call it down");
    assert_eq!(alert["count"], 30);
    assert_eq!(alert["start"], "2026-11-20T14:05:00Z");
    assert_eq!(alert["top_messages"][0]["message"], "gateway timeout after Nms traceId=X");
    let id = alert["id"].as_str().unwrap().to_owned();
    let (status, one) = get(&state, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!((status, one["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    let (status, _) = get(&state, "/api/v1/alerts/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body_json) = get(&state, "/api/v1/alerts?severity=P9").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body_json["error"].as_str().unwrap().contains("severity"), "{body_json}");
    let (_, none) = get(&state, "/api/v1/alerts?kind=slow_sql").await;
    assert_eq!(none["total"], 0);

    // One opening per receiver, each in its own shape.
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 3 {
        let (kind, body) =
            tokio::time::timeout(std::time::Duration::from_secs(15), hooks.recv()).await.expect("webhook").unwrap();
        seen.entry(kind).or_insert(body);
    }
    let generic: serde_json::Value = serde_json::from_str(&seen["generic"]).unwrap();
    assert_eq!((generic["change"].as_str(), generic["alert"]["id"].as_str()), (Some("opened"), Some(id.as_str())));
    assert!(generic["link"].as_str().unwrap().contains("module%3Apayment"), "{generic}");
    let dingtalk: serde_json::Value = serde_json::from_str(&seen["dingtalk"]).unwrap();
    assert_eq!(dingtalk["msgtype"], "markdown");
    assert!(dingtalk["markdown"]["title"].as_str().unwrap().starts_with("[P2] payment error_burst"), "{dingtalk}");
    let wecom: serde_json::Value = serde_json::from_str(&seen["wecom"]).unwrap();
    assert!(wecom["markdown"]["content"].as_str().unwrap().contains("gateway timeout"), "{wecom}");

    let metrics = state.pipeline.metrics().render();
    assert!(metrics.contains("sluice_alerts_total{kind=\"error_burst\",severity=\"P2\"} 1"), "{metrics}");
    assert!(metrics.contains("sluice_alerts_open 1"), "{metrics}");
}

const SLOW_LOG: &str = "# Time: 2026-11-20T01:00:00.000000Z
# User@Host: shop[shop] @ app-1 [10.0.1.2]  Id: 7
# Query_time: 0.812000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 5000
use shop;
SET timestamp=1763600400;
SELECT * FROM orders WHERE id = 42;
# Time: 2026-11-20T01:00:05.000000Z
# User@Host: shop[shop] @ app-1 [10.0.1.2]  Id: 7
# Query_time: 1.500000  Lock_time: 0.000200 Rows_sent: 1  Rows_examined: 9000
SET timestamp=1763600405;
SELECT * FROM orders WHERE id = 7;
# Time: 2026-11-20T01:00:09.000000Z
# User@Host: shop[shop] @ app-1 [10.0.1.2]  Id: 7
# Query_time: 0.020000  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: 1
SET timestamp=1763600409;
SELECT 1;
";

#[tokio::test(flavor = "multi_thread")]
async fn digest_over_http_in_three_formats() {
    let (_dir, state) = start().await;
    let (status, body) = call(&state, post("/api/v1/ingest?source=db&format=mysql-slow", SLOW_LOG)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    state.pipeline.flush().await.unwrap();

    let (status, digest) = get(&state, "/api/v1/digest?date=2026-11-20").await;
    assert_eq!(status, StatusCode::OK, "{digest}");
    assert_eq!((digest["total_queries"].as_u64(), digest["slow_queries"].as_u64()), (Some(3), Some(2)));
    let row = &digest["queries"][0];
    assert_eq!(row["fingerprint"], "select * from orders where id = ?");
    assert_eq!(row["id"], sluice_detect::fingerprint::query_id("select * from orders where id = ?"));
    assert_eq!((row["count"].as_u64(), row["total_ms"].as_f64()), (Some(2), Some(2312.0)));
    assert_eq!(row["example"], "SELECT * FROM orders WHERE id = 7");
    assert_eq!(row["db"], "shop");

    let (_, all) = get(&state, "/api/v1/digest?from=2026-11-20T00:00:00Z&to=2026-11-20T02:00:00Z&min_ms=0").await;
    assert_eq!(all["queries"].as_array().unwrap().len(), 2);

    for (format, content_type, needle) in
        [("text", "text/plain; charset=utf-8", "# Profile"), ("html", "text/html; charset=utf-8", "<svg")]
    {
        let response = app(state.clone())
            .oneshot(
                Request::get(format!("/api/v1/digest?date=2026-11-20&format={format}")).body(Body::empty()).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], content_type);
        let text = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(String::from_utf8_lossy(&text).contains(needle), "{format}");
    }
    for bad in
        ["date=20-11-2026", "date=2026-11-20&from=-1h", "format=pdf", "min_ms=-5", "from=2026-11-21&to=2026-11-20"]
    {
        let (status, body) = get(&state, &format!("/api/v1/digest?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Searchable by what the digest shows.
    let id = row["id"].as_str().unwrap();
    let (_, hits) = get(&state, &format!("/api/v1/search?q=query_id:{id}")).await;
    assert_eq!(hits["total"], 2);
    let (_, slow) = get(&state, "/api/v1/search?q=slow:true").await;
    assert_eq!(slow["total"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn export_streams_a_zip_bundle_of_the_window() {
    let (_dir, state) = start().await;
    let (status, _) = call(&state, post("/api/v1/ingest?source=svc&format=json", &payment_incident())).await;
    assert_eq!(status, StatusCode::OK);
    let lines = concat!(
        r#"{"time":"2026-11-20T14:00:30Z","level":"error","msg":"<script>alert(1)</script> lost","service":"logistics"}"#,
        "\n",
        r#"{"time":"2026-11-21T09:00:00Z","level":"error","msg":"outside the window","service":"payment"}"#,
        "\n",
    );
    call(&state, post("/api/v1/ingest?source=svc&format=json", lines)).await;
    state.pipeline.flush().await.unwrap();

    let uri = "/api/v1/export?from=2026-11-20T13:00:00Z&to=2026-11-20T15:00:00Z";
    let response = app(state.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("sluice-export-20261120T130000Z"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    for name in ["events.ndjson", "events.parquet", "alerts.json", "slow_queries.json", "summary.json", "report.html"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let read = |zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let (_, search) = get(&state, "/api/v1/search?q=*&from=2026-11-20T13:00:00Z&to=2026-11-20T15:00:00Z&limit=0").await;
    let events = read(&mut zip, "events.ndjson");
    assert_eq!(events.lines().count() as u64, search["total"].as_u64().unwrap());
    assert!(!events.contains("outside the window"));
    let summary: serde_json::Value = serde_json::from_str(&read(&mut zip, "summary.json")).unwrap();
    assert_eq!(summary["events"], search["total"]);
    assert!(summary["errors"].as_u64().unwrap() >= 10, "{summary}");
    let alerts: serde_json::Value = serde_json::from_str(&read(&mut zip, "alerts.json")).unwrap();
    assert_eq!(alerts[0]["kind"], "error_burst", "{alerts}");
    let report = read(&mut zip, "report.html");
    assert!(report.contains("&lt;script&gt;alert(N)&lt;/script&gt; lost"), "the error is listed, escaped");
    assert!(!report.contains("<script>"), "log text is escaped");

    for (uri, needle) in [
        ("/api/v1/export?from=2026-11-20T13:00:00Z", "required"),
        ("/api/v1/export?from=2026-11-20T15:00:00Z&to=2026-11-20T13:00:00Z", "before"),
        ("/api/v1/export?from=yesterday&to=now", "from"),
        ("/api/v1/export?from=-1h&to=now&query=status:%5B5%20TO", "query"),
    ] {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{uri}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_streams_new_events_that_match() {
    use futures_util::StreamExt;
    let (_dir, state) = start().await;
    let (status, body) = get(&state, "/api/v1/tail?level=loud").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("level"), "{body}");

    let uri = "/api/v1/tail?module=payment&q=DECLINED";
    let response = app(state.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.into_body().into_data_stream();
    let lines = concat!(
        r#"{"time":"2026-11-20T14:00:00Z","level":"info","msg":"parcel declined","service":"logistics"}"#,
        "\n",
        r#"{"time":"2026-11-20T14:00:01Z","level":"info","msg":"payment ok","service":"payment-api"}"#,
        "\n",
        r#"{"time":"2026-11-20T14:00:02Z","level":"error","msg":"card declined","service":"payment-api"}"#,
        "\n",
    );
    let (status, _) = call(&state, post("/api/v1/ingest?source=svc&format=json", lines)).await;
    assert_eq!(status, StatusCode::OK);
    let mut text = String::new();
    while !text.contains("card declined") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next())
            .await
            .expect("the tail sends the matching event")
            .expect("stream open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(text.matches("event: event").count(), 1, "{text}");
    assert!(!text.contains("parcel") && !text.contains("payment ok"), "{text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!((event["module"].as_str(), event["level"].as_str()), (Some("payment"), Some("error")));
    // Its `sort` is the one search gives it, so a live event opens its context too.
    state.pipeline.flush().await.unwrap();
    let (_, found) = get(&state, "/api/v1/search?q=card&aggs=false").await;
    assert_eq!(event["sort"], found["hits"][0]["sort"], "{event} vs {found}");
}
