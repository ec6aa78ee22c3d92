use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sluice_core::Config;
use tower::ServiceExt;

use super::*;

async fn start() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::start(Arc::new(Config::default()), dir.path(), PipelineOptions::default()).unwrap();
    (dir, AppState { pipeline: Arc::new(pipeline) })
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
