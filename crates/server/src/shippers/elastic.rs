//! Enough of Elasticsearch's API that Filebeat, Logstash, Fluent Bit, Vector, syslog-ng,
//! rsyslog and the official clients ship to Sluice unchanged: `GET /` (the version check),
//! `_bulk`, single-document `_doc`/`_create`, and the start-up probes (license, xpack,
//! cluster health, index/legacy/component templates, ILM policies, ingest pipelines, data
//! streams: what
//! a client `PUT`s is kept in memory and read back, so "create if missing" logic settles).
//! Every answer carries `X-Elastic-Product: Elasticsearch`, which the official clients
//! check before trusting a response.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_core::FormatName;
use sluice_ingest::protocol::bulk::{self, BulkItem};

use super::{Refusal, SourceParsers, blocking, decoded_body, submit};
use crate::AppState;

/// The version `GET /` reports. Shippers pick their request format from the major
/// version; 8 is what current Beats, Logstash and clients expect.
pub const VERSION: &str = "8.17.0";

/// Templates, policies and pipelines clients stored at start-up, by kind and name.
#[derive(Default)]
pub struct Probes {
    stored: Mutex<HashMap<(String, String), Value>>,
}

/// Adds the product header Elasticsearch clients require on every response.
pub(crate) async fn product_header(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    response
}

fn es_error(status: StatusCode, kind: &str, reason: impl Into<String>) -> Response {
    let reason = reason.into();
    let cause = json!({ "type": kind, "reason": reason });
    (
        status,
        Json(json!({ "error": { "root_cause": [cause], "type": kind, "reason": reason }, "status": status.as_u16() })),
    )
        .into_response()
}

fn refusal_response(refusal: Refusal) -> Response {
    let Refusal(status, message) = refusal;
    let kind = if status == StatusCode::BAD_REQUEST { "illegal_argument_exception" } else { "status_exception" };
    es_error(status, kind, message)
}

/// `GET /`: the web UI for browsers, the node banner for everyone else.
pub(crate) async fn root(headers: HeaderMap) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return crate::ui::index().await.into_response();
    }
    Json(json!({
        "name": "sluice",
        "cluster_name": "sluice",
        "cluster_uuid": "c2x1aWNlLWNsdXN0ZXIt",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "sluice",
            "build_date": "2026-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
    .into_response()
}

pub(crate) async fn license() -> Response {
    Json(json!({ "license": {
        "status": "active", "uid": "sluice", "type": "basic", "issue_date_in_millis": 0,
        "max_nodes": 1000, "issued_to": "sluice", "issuer": "sluice", "start_date_in_millis": -1
    }}))
    .into_response()
}

pub(crate) async fn xpack() -> Response {
    Json(json!({
        "build": { "hash": "sluice", "date": "2026-01-01T00:00:00.000Z" },
        "license": { "uid": "sluice", "type": "basic", "mode": "basic", "status": "active" },
        "features": {
            "ilm": { "available": true, "enabled": true },
            "security": { "available": false, "enabled": false },
            "monitoring": { "available": false, "enabled": false }
        },
        "tagline": "You know, for X"
    }))
    .into_response()
}

pub(crate) async fn cluster_health() -> Response {
    Json(json!({
        "cluster_name": "sluice", "status": "green", "timed_out": false, "number_of_nodes": 1,
        "number_of_data_nodes": 1, "active_primary_shards": 1, "active_shards": 1,
        "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0
    }))
    .into_response()
}

/// `GET /{kind}/{name}`: what a client stored, in the shape Elasticsearch answers with.
pub(crate) async fn probe_get(State(state): State<AppState>, Path((kind, name)): Path<(String, String)>) -> Response {
    let stored = state.ingest.elastic.stored.lock().unwrap_or_else(|p| p.into_inner());
    let Some(body) = stored.get(&(kind.clone(), name.clone())).cloned() else {
        return es_error(StatusCode::NOT_FOUND, "resource_not_found_exception", format!("{kind} [{name}] not found"));
    };
    let answer = match kind.as_str() {
        "_index_template" => json!({ "index_templates": [{ "name": name, "index_template": body }] }),
        "_component_template" => json!({ "component_templates": [{ "name": name, "component_template": body }] }),
        "_data_stream" => {
            json!({ "data_streams": [{ "name": name, "status": "GREEN", "template": body.get("template").cloned().unwrap_or(Value::Null) }] })
        }
        "_ilm/policy" => {
            json!({ name: { "version": 1, "modified_date": "2026-01-01T00:00:00.000Z", "policy": body.get("policy").cloned().unwrap_or(body) } })
        }
        _ => json!({ name: body }),
    };
    Json(answer).into_response()
}

/// `PUT /{kind}/{name}`: acknowledged and kept, so the client's next check finds it.
pub(crate) async fn probe_put(
    State(state): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(e) => {
                return es_error(StatusCode::BAD_REQUEST, "x_content_parse_exception", format!("invalid JSON: {e}"));
            }
        }
    };
    state.ingest.elastic.stored.lock().unwrap_or_else(|p| p.into_inner()).insert((kind, name), value);
    Json(json!({ "acknowledged": true })).into_response()
}

/// Routes `/_index_template/{name}` and the like to the probe handlers with their kind.
macro_rules! probe_kind {
    ($get:ident, $put:ident, $kind:literal) => {
        pub(crate) async fn $get(state: State<AppState>, Path(name): Path<String>) -> Response {
            probe_get(state, Path(($kind.to_owned(), name))).await
        }
        pub(crate) async fn $put(state: State<AppState>, Path(name): Path<String>, body: Bytes) -> Response {
            probe_put(state, Path(($kind.to_owned(), name)), body).await
        }
    };
}
probe_kind!(get_index_template, put_index_template, "_index_template");
probe_kind!(get_legacy_template, put_legacy_template, "_template");
probe_kind!(get_component_template, put_component_template, "_component_template");
probe_kind!(get_ilm_policy, put_ilm_policy, "_ilm/policy");
probe_kind!(get_ingest_pipeline, put_ingest_pipeline, "_ingest/pipeline");
probe_kind!(get_data_stream, put_data_stream, "_data_stream");

/// `GET|HEAD /{index}`: every index exists (documents go to any name), so clients that
/// check before writing (or create on 404) go on to write. Names starting with `_` are
/// APIs Sluice does not have.
pub(crate) async fn get_index(Path(index): Path<String>) -> Response {
    if index.starts_with('_') {
        return es_error(StatusCode::NOT_FOUND, "illegal_argument_exception", format!("no handler for [{index}]"));
    }
    Json(json!({ index: { "aliases": {}, "mappings": {}, "settings": { "index": { "number_of_shards": "1" } } } }))
        .into_response()
}

/// `PUT /{index}`: acknowledged (there is nothing to create).
pub(crate) async fn put_index(Path(index): Path<String>) -> Response {
    if index.starts_with('_') {
        return es_error(StatusCode::NOT_FOUND, "illegal_argument_exception", format!("no handler for [{index}]"));
    }
    Json(json!({ "acknowledged": true, "shards_acknowledged": true, "index": index })).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulkParams {
    refresh: Option<String>,
}

impl BulkParams {
    /// `refresh`, `refresh=true` and `refresh=wait_for` all wait until searchable.
    fn waits(&self) -> bool {
        self.refresh.as_deref().is_some_and(|r| r != "false")
    }
}

pub(crate) async fn bulk_default(
    state: State<AppState>,
    params: Query<BulkParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    bulk_request(state, None, params, headers, raw).await
}

pub(crate) async fn bulk_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Query<BulkParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    bulk_request(state, Some(index), params, headers, raw).await
}

async fn bulk_request(
    State(state): State<AppState>,
    index: Option<String>,
    Query(params): Query<BulkParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let started = Instant::now();
    let pipeline = state.pipeline.clone();
    let parsed = blocking(move || {
        let body = decoded_body(&raw, &headers)?;
        let items = bulk::parse(&body, index.as_deref())?;
        let mut parsers = SourceParsers::new(pipeline.clone(), FormatName::Json, None);
        let mut events = Vec::with_capacity(items.len());
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            outcomes.push(store_item(&mut parsers, item, &mut events)?);
        }
        parsers.finish();
        Ok((events, outcomes))
    })
    .await;
    let (events, outcomes) = match parsed {
        Ok(parsed) => parsed,
        Err(refusal) => return refusal_response(refusal),
    };
    let seq = if events.is_empty() {
        0
    } else {
        match submit(&state.pipeline, events).await {
            Ok(seq) => seq,
            Err(refusal) => return refusal_response(refusal),
        }
    };
    if params.waits() && seq > 0 {
        let _ = state.pipeline.wait_searchable(seq).await;
    }
    let errors = outcomes.iter().any(|o| o.error.is_some());
    let items: Vec<Value> = outcomes.into_iter().enumerate().map(|(i, o)| o.into_json(seq, i)).collect();
    Json(json!({ "took": started.elapsed().as_millis() as u64, "errors": errors, "items": items })).into_response()
}

/// How one bulk item went, for its entry in the response.
struct ItemOutcome {
    op: &'static str,
    index: Option<String>,
    id: Option<String>,
    error: Option<(&'static str, String)>,
}

impl ItemOutcome {
    fn into_json(self, seq: u64, position: usize) -> Value {
        let id = self.id.map_or_else(|| Value::String(format!("sl{seq:x}-{position}")), Value::String);
        let body = match self.error {
            None => json!({
                "_index": self.index, "_id": id, "_version": 1, "result": "created",
                "_shards": { "total": 1, "successful": 1, "failed": 0 },
                "_seq_no": seq, "_primary_term": 1, "status": 201
            }),
            Some((kind, reason)) => json!({
                "_index": self.index, "_id": if self.op == "delete" || self.op == "update" { id } else { Value::Null },
                "status": 400, "error": { "type": kind, "reason": reason }
            }),
        };
        let mut entry = Map::new();
        entry.insert(self.op.to_owned(), body);
        Value::Object(entry)
    }
}

fn store_item(
    parsers: &mut SourceParsers,
    item: BulkItem,
    events: &mut Vec<sluice_core::Event>,
) -> Result<ItemOutcome, Refusal> {
    let op = item.op.as_str();
    let (index, id) = (item.index, item.id);
    let document = match item.document {
        Ok(document) => document,
        Err(e) => return Ok(ItemOutcome { op, index, id, error: Some((e.kind, e.reason)) }),
    };
    let source = bulk::index_source(index.as_deref().unwrap_or_default());
    parsers.push_document(&source, document, item.bytes, events)?;
    Ok(ItemOutcome { op, index, id, error: None })
}

/// `POST /{index}/_doc`, `PUT|POST /{index}/_doc/{id}`, `PUT|POST /{index}/_create/{id}`:
/// one document, as the clients' `index()` and `create()` send it.
pub(crate) async fn document(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Query<BulkParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    one_document(state, index, None, params, headers, raw).await
}

pub(crate) async fn document_with_id(
    state: State<AppState>,
    Path((index, id)): Path<(String, String)>,
    params: Query<BulkParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    one_document(state, index, Some(id), params, headers, raw).await
}

async fn one_document(
    State(state): State<AppState>,
    index: String,
    id: Option<String>,
    Query(params): Query<BulkParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let pipeline = state.pipeline.clone();
    let source = bulk::index_source(&index);
    let parsed = blocking(move || {
        let body = decoded_body(&raw, &headers)?;
        let document = bulk::document(&body, 1).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.reason))?;
        let mut parsers = SourceParsers::new(pipeline, FormatName::Json, None);
        let mut events = Vec::new();
        parsers.push_document(&source, document, body.len(), &mut events)?;
        parsers.finish();
        Ok(events)
    })
    .await;
    let events = match parsed {
        Ok(events) => events,
        Err(refusal) => return refusal_response(refusal),
    };
    let seq = match submit(&state.pipeline, events).await {
        Ok(seq) => seq,
        Err(refusal) => return refusal_response(refusal),
    };
    if params.waits() {
        let _ = state.pipeline.wait_searchable(seq).await;
    }
    let id = id.unwrap_or_else(|| format!("sl{seq:x}-0"));
    (
        StatusCode::CREATED,
        Json(json!({
            "_index": index, "_id": id, "_version": 1, "result": "created",
            "_shards": { "total": 1, "successful": 1, "failed": 0 }, "_seq_no": seq, "_primary_term": 1
        })),
    )
        .into_response()
}
