use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use prost::Message;
use serde_json::{Value, json};
use sluice_core::Config;
use sluice_ingest::protocol::otlp::wire;
use tower::ServiceExt;

use crate::{AppState, MAX_BODY_BYTES, Pipeline, PipelineOptions, app};

async fn start_with(config: Config) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::start(Arc::new(config), dir.path(), PipelineOptions::default()).unwrap();
    (dir, AppState::new(Arc::new(pipeline)))
}

async fn start() -> (tempfile::TempDir, AppState) {
    start_with(Config::default()).await
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(state: &AppState, request: Request<Body>) -> Answer {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    Answer { status: parts.status, headers: parts.headers, body }
}

fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri).header(header::CONTENT_TYPE, content_type).body(body.into()).unwrap()
}

async fn search(state: &AppState, query: &str) -> Value {
    let uri = format!("/api/v1/search?aggs=false&q={}", query.replace(' ', "%20"));
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn root_answers_browsers_with_the_ui_and_clients_as_a_node() {
    let (_dir, state) = start().await;
    let page =
        call(&state, Request::get("/").header(header::ACCEPT, "text/html,*/*").body(Body::empty()).unwrap()).await;
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
    let node =
        call(&state, Request::get("/").header(header::ACCEPT, "application/json").body(Body::empty()).unwrap()).await;
    assert_eq!(node.json()["version"]["number"], crate::ELASTICSEARCH_VERSION);
    assert_eq!(node.json()["tagline"], "You Know, for Search");
    assert_eq!(node.headers["x-elastic-product"], "Elasticsearch");
    let head = call(&state, Request::head("/").body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_stores_documents_and_answers_per_item() {
    let (_dir, state) = start().await;
    let body = concat!(
        r#"{"index":{"_index":"checkout-2026.11.20","_id":"one"}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-20T14:00:00Z","message":"refund failed bulk7","log":{"level":"error"},"service":"payment"}"#,
        "\n",
        r#"{"create":{}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-20T14:00:01Z","message":"stock reserved bulk7","service":"inventory"}"#,
        "\n",
        r#"{"delete":{"_id":"one"}}"#,
        "\n",
        r#"{"index":{}}"#,
        "\n",
        "{broken\n",
    );
    let answer = call(&state, post("/orders/_bulk?refresh=wait_for", "application/x-ndjson", body)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["x-elastic-product"], "Elasticsearch");
    let json = answer.json();
    assert_eq!(json["errors"], true);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!((items[0]["index"]["status"].as_u64(), items[0]["index"]["_id"].as_str()), (Some(201), Some("one")));
    assert_eq!(items[1]["create"]["status"], 201);
    assert_eq!(items[1]["create"]["_index"], "orders");
    assert_eq!(items[2]["delete"]["status"], 400);
    assert_eq!(items[3]["index"]["error"]["type"], "document_parsing_exception");

    // refresh=wait_for: searchable as soon as the answer arrives.
    let hits = search(&state, "bulk7").await;
    assert_eq!(hits["total"], 2, "{hits}");
    let sources: Vec<&str> = hits["hits"].as_array().unwrap().iter().map(|h| h["source"].as_str().unwrap()).collect();
    assert!(sources.contains(&"checkout") && sources.contains(&"orders"), "{sources:?}");
    let refund = &hits["hits"].as_array().unwrap().iter().find(|h| h["source"] == "checkout").unwrap();
    assert_eq!((refund["level"].as_str(), refund["module"].as_str()), (Some("error"), Some("payment")));

    let bad = call(&state, post("/_bulk", "application/x-ndjson", "{\"index\":{}}\n{}\n[1]\n")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["type"], "illegal_argument_exception");
    assert!(bad.json()["error"]["reason"].as_str().unwrap().contains("line [3]"), "{}", bad.json());
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bulk_and_single_documents() {
    let (_dir, state) = start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"{\"index\":{\"_index\":\"web\"}}\n{\"message\":\"zipped doc gz1\"}\n").unwrap();
    let request = Request::post("/_bulk?refresh=true")
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    assert_eq!(call(&state, request).await.json()["errors"], false);
    let answer =
        call(&state, post("/web/_doc?refresh=true", "application/json", r#"{"message":"single doc gz1"}"#)).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.json()["result"], "created");
    assert_eq!(search(&state, "gz1").await["total"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_probes_keep_what_clients_put() {
    let (_dir, state) = start().await;
    let missing = call(&state, Request::get("/_index_template/filebeat-8").body(Body::empty()).unwrap()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let put =
        Request::put("/_index_template/filebeat-8").body(Body::from(r#"{"index_patterns":["filebeat-*"]}"#)).unwrap();
    assert_eq!(call(&state, put).await.json()["acknowledged"], true);
    let found = call(&state, Request::get("/_index_template/filebeat-8").body(Body::empty()).unwrap()).await;
    assert_eq!(found.json()["index_templates"][0]["index_template"]["index_patterns"][0], "filebeat-*");
    let put = Request::put("/_data_stream/logs-web-default").body(Body::empty()).unwrap();
    assert_eq!(call(&state, put).await.json()["acknowledged"], true);
    let found = call(&state, Request::get("/_data_stream/logs-web-default").body(Body::empty()).unwrap()).await;
    assert_eq!(found.json()["data_streams"][0]["name"], "logs-web-default");
    let index = call(&state, Request::head("/logstash-2026.12.04").body(Body::empty()).unwrap()).await;
    assert_eq!(index.status, StatusCode::OK);
    let put = Request::put("/logstash-2026.12.04").body(Body::empty()).unwrap();
    assert_eq!(call(&state, put).await.json()["acknowledged"], true);
    let unknown = call(&state, Request::get("/_nodes").body(Body::empty()).unwrap()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Sluice's own routes still win over the catch-all index name.
    let health = call(&state, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&health.body), "ok\n");
    for probe in ["/_license", "/_xpack", "/_cluster/health"] {
        let answer = call(&state, Request::get(probe).body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK, "{probe}");
        assert_eq!(answer.headers["x-elastic-product"], "Elasticsearch");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn loki_push_in_json_and_snappy_protobuf() {
    let (_dir, state) = start().await;
    let line = r#"10.1.1.1 - - [20/Nov/2026:14:00:00 +0000] "POST /api/pay/confirm HTTP/1.1" 502 9 "-" "curl""#;
    let body =
        json!({"streams": [{"stream": {"job": "edge", "env": "prod"}, "values": [["1763647200000000000", line]]}]});
    let answer = call(&state, post("/loki/api/v1/push", "application/json", body.to_string())).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);

    // Built with prost from the same field numbers Loki's push.proto uses.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Push {
        #[prost(message, repeated, tag = "1")]
        streams: Vec<Stream>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Stream {
        #[prost(string, tag = "1")]
        labels: String,
        #[prost(message, repeated, tag = "2")]
        entries: Vec<Entry>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Entry {
        #[prost(message, optional, tag = "1")]
        timestamp: Option<Ts>,
        #[prost(string, tag = "2")]
        line: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Ts {
        #[prost(int64, tag = "1")]
        seconds: i64,
        #[prost(int32, tag = "2")]
        nanos: i32,
    }
    let push = Push {
        streams: vec![Stream {
            labels: r#"{service_name="inventory-svc", level="warn"}"#.into(),
            entries: vec![Entry {
                timestamp: Some(Ts { seconds: 1_763_647_201, nanos: 0 }),
                line: "stock low lokipb".into(),
            }],
        }],
    };
    let compressed = snap::raw::Encoder::new().compress_vec(&push.encode_to_vec()).unwrap();
    let answer = call(&state, post("/loki/api/v1/push", "application/x-protobuf", compressed)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", String::from_utf8_lossy(&answer.body));
    state.pipeline.flush().await.unwrap();

    let web = search(&state, "status:502").await;
    assert_eq!(web["total"], 1);
    assert_eq!((web["hits"][0]["source"].as_str(), web["hits"][0]["module"].as_str()), (Some("edge"), Some("payment")));
    assert_eq!(web["hits"][0]["fields"]["env"], "prod");
    let pb = search(&state, "lokipb").await;
    assert_eq!(
        (pb["hits"][0]["source"].as_str(), pb["hits"][0]["level"].as_str()),
        (Some("inventory-svc"), Some("warn"))
    );
    assert_eq!(pb["hits"][0]["timestamp"], "2025-11-20T14:00:01.000Z");

    let bad = call(&state, post("/loki/api/v1/push", "application/json", r#"{"streams":[{"values":[[1]]}]}"#)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"].as_str().unwrap().contains("streams[0].values[0]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_logs_in_protobuf_and_json() {
    let (_dir, state) = start().await;
    let kv = |key: &str, value: &str| wire::KeyValue {
        key: key.into(),
        value: Some(wire::AnyValue { value: Some(wire::any_value::Value::StringValue(value.into())) }),
    };
    let request = wire::ExportLogsServiceRequest {
        resource_logs: vec![wire::ResourceLogs {
            resource: Some(wire::Resource { attributes: vec![kv("service.name", "order-svc")] }),
            scope_logs: vec![wire::ScopeLogs {
                scope: None,
                log_records: vec![wire::LogRecord {
                    time_unix_nano: 1_763_647_200_000_000_000,
                    severity_number: 17,
                    body: Some(wire::AnyValue {
                        value: Some(wire::any_value::Value::StringValue("order otlp1 failed".into())),
                    }),
                    trace_id: vec![0x5b; 16],
                    ..Default::default()
                }],
            }],
        }],
    };
    let answer = call(&state, post("/v1/logs", "application/x-protobuf", request.encode_to_vec())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/x-protobuf");
    assert!(answer.body.is_empty());

    let json_body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1763647201000000000", "severityText": "WARN", "body": {"stringValue": "slow otlp1 call"}}]}]}]});
    let answer = call(&state, post("/v1/logs", "application/json", json_body.to_string())).await;
    assert_eq!((answer.status, answer.json()), (StatusCode::OK, json!({})));
    state.pipeline.flush().await.unwrap();

    let hits = search(&state, "otlp1").await;
    assert_eq!(hits["total"], 2);
    let order = hits["hits"].as_array().unwrap().iter().find(|h| h["source"] == "order-svc").unwrap();
    assert_eq!((order["level"].as_str(), order["module"].as_str()), (Some("error"), Some("order")));
    assert_eq!(order["fields"]["trace_id"], "5b".repeat(16));
    let other = hits["hits"].as_array().unwrap().iter().find(|h| h["source"] == "otlp").unwrap();
    assert_eq!(other["level"], "warn");

    let bad = call(&state, post("/v1/logs", "application/x-protobuf", vec![0xffu8, 0xff, 0xff])).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_guard_every_ingest_route() {
    let mut config = Config::default();
    config.auth.ingest_tokens = vec!["s3cret".into()];
    let (_dir, state) = start_with(config).await;
    let routes = ["/api/v1/ingest", "/_bulk", "/loki/api/v1/push", "/v1/logs"];
    for route in routes {
        let answer = call(&state, post(route, "application/json", "{}")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{route}");
        assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let with = |auth: &str| {
        Request::post("/api/v1/ingest?format=plain")
            .header(header::AUTHORIZATION, auth)
            .body(Body::from("hello"))
            .unwrap()
    };
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(call(&state, with("Bearer s3cret")).await.status, StatusCode::OK);
    assert_eq!(call(&state, with(&format!("Basic {}", b64("filebeat:s3cret")))).await.status, StatusCode::OK);
    assert_eq!(call(&state, with(&format!("ApiKey {}", b64("key-id:s3cret")))).await.status, StatusCode::OK);
    assert_eq!(call(&state, with("Bearer wrong")).await.status, StatusCode::UNAUTHORIZED);
    // Reading stays open: tokens guard ingest only.
    assert_eq!(call(&state, Request::get("/api/v1/search").body(Body::empty()).unwrap()).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let (_dir, state) = start().await;
    // A body that fails when read: only an answer given before reading it is a 413.
    let unreadable = || {
        Body::from_stream(futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::other("the body must not be read"))
        }))
    };
    let request = Request::post("/_bulk")
        .header(header::CONTENT_LENGTH, (MAX_BODY_BYTES + 1).to_string())
        .body(unreadable())
        .unwrap();
    assert_eq!(call(&state, request).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let request = Request::post("/_bulk").header(header::CONTENT_LENGTH, "10").body(unreadable()).unwrap();
    assert_ne!(call(&state, request).await.status, StatusCode::PAYLOAD_TOO_LARGE, "a small body is read");
    let metrics = state.pipeline.metrics().render();
    assert!(metrics.contains("sluice_http_throttled_total 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_in_flight_budget_answers_429_with_retry_after() {
    let (_dir, state) = start().await;
    let held = state.ingest.budget.clone().try_acquire_many_owned((super::IN_FLIGHT_BYTES >> 10) as u32).unwrap();
    let answer = call(&state, post("/_bulk", "application/x-ndjson", "{\"index\":{}}\n{}\n")).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
    assert!(state.pipeline.metrics().render().contains("sluice_http_throttled_total 1"));
    drop(held);
    let answer = call(&state, post("/api/v1/ingest?format=plain", "text/plain", "fits again")).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_in_are_counted_per_source() {
    let (_dir, state) = start().await;
    call(&state, post("/api/v1/ingest?source=shop&format=plain", "text/plain", "twelve bytes")).await;
    let body = json!({"streams": [{"stream": {"job": "edge"}, "values": [["1", "four"]]}]});
    call(&state, post("/loki/api/v1/push", "application/json", body.to_string())).await;
    let metrics = state.pipeline.metrics().render();
    assert!(metrics.contains("sluice_ingest_bytes_total{source=\"shop\"} 12"), "{metrics}");
    assert!(metrics.contains("sluice_ingest_bytes_total{source=\"edge\"} 4"), "{metrics}");
}
