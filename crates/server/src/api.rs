//! HTTP handlers.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use sluice_core::{FormatName, Level, SourceConfig};
use sluice_index::{Cursor, Hit, SearchRequest};
use sluice_ingest::body;

use crate::AppState;
use crate::shippers::{self, Refusal};

/// A time query parameter (`from`, `to`): RFC 3339 or relative; empty means absent.
pub(crate) fn time_param(
    value: Option<String>,
    name: &str,
    now: chrono::DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<Option<chrono::DateTime<Utc>>, String> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| sluice_core::time::parse_time(&v, now, tz).map_err(|e| format!("`{name}`: {e}")))
        .transpose()
}

/// A comma-separated list parameter (`module=order,payment`); empty items are dropped.
pub(crate) fn list_param(value: Option<String>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The `level` parameter: a comma list of levels.
pub(crate) fn levels_param(value: Option<String>) -> Result<Vec<Level>, String> {
    list_param(value).iter().map(|l| l.parse::<Level>().map_err(|e| format!("`level`: {e}"))).collect()
}

pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.pipeline.metrics().render()).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    module: Option<String>,
    level: Option<String>,
    limit: Option<usize>,
    /// Histogram and facets of the matches (default true; `false` skips them).
    aggs: Option<bool>,
    /// The `sort` of the previous page's last hit (or its `next`): the page after it.
    search_after: Option<String>,
}

pub(crate) async fn search(State(state): State<AppState>, Query(params): Query<SearchParams>) -> Response {
    let started = Instant::now();
    let request = match search_request(&state, params) {
        Ok(r) => r,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let limit = request.limit;
    let index = state.pipeline.index().clone();
    let result = tokio::task::spawn_blocking(move || index.search(&request)).await;
    match result {
        Ok(Ok(response)) => {
            // A full page may have more after it; a short one is the last.
            let next = (limit > 0 && response.hits.len() == limit)
                .then(|| response.hits.last().map(|hit| hit.sort.to_string()))
                .flatten();
            let mut body = json!({
                "total": response.total,
                "took_ms": started.elapsed().as_secs_f64() * 1000.0,
                "hits": response.hits.iter().map(hit_json).collect::<Vec<_>>(),
                "next": next,
            });
            if let Some(aggregates) = response.aggregates {
                body["histogram"] = json!(aggregates.histogram);
                body["facets"] = json!(aggregates.facets);
            }
            Json(body).into_response()
        }
        Ok(Err(sluice_index::IndexError::BadQuery(message))) => error(StatusCode::BAD_REQUEST, message),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn search_request(state: &AppState, params: SearchParams) -> Result<SearchRequest, String> {
    let tz = state.pipeline.config().timezone();
    let now = Utc::now();
    let time = |value: Option<String>, name: &str| time_param(value, name, now, tz);
    Ok(SearchRequest {
        query: params.q.unwrap_or_else(|| "*".into()),
        from: time(params.from, "from")?,
        to: time(params.to, "to")?,
        modules: list_param(params.module),
        levels: levels_param(params.level)?,
        limit: params.limit.unwrap_or(100).min(10_000),
        aggregate: params.aggs.unwrap_or(true),
        search_after: params
            .search_after
            .filter(|c| !c.is_empty())
            .map(|c| c.parse::<Cursor>().map_err(|e| format!("`search_after`: {e}")))
            .transpose()?,
    })
}

/// A hit as the API returns it: the event (the contract's shape) plus `sort`, its place
/// in the order (for `search_after` and `/api/v1/context`), and `highlights`, the byte
/// ranges of `message` that matched the query's words.
fn hit_json(hit: &Hit) -> serde_json::Value {
    let mut value = serde_json::to_value(&hit.event).unwrap_or_default();
    value["sort"] = json!(hit.sort.to_string());
    value["highlights"] = json!(hit.highlights);
    value
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContextParams {
    source: Option<String>,
    host: Option<String>,
    /// The hit's `sort`.
    at: Option<String>,
    before: Option<usize>,
    after: Option<usize>,
}

/// `GET /api/v1/context`: what the same source (and host) logged just before and after
/// a hit, as lnav or Kibana's "surrounding documents" show it.
pub(crate) async fn context(State(state): State<AppState>, Query(params): Query<ContextParams>) -> Response {
    let Some(source) = params.source.filter(|s| !s.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "`source` is required: the hit's source");
    };
    let at = match params.at.as_deref().unwrap_or("").parse::<Cursor>() {
        Ok(at) => at,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("`at`: {e}")),
    };
    let (before, after) = (params.before.unwrap_or(10).min(1000), params.after.unwrap_or(10).min(1000));
    let index = state.pipeline.index().clone();
    let host = params.host;
    let result = tokio::task::spawn_blocking(move || index.context(&source, host.as_deref(), at, before, after)).await;
    match result {
        Ok(Ok(context)) => Json(json!({
            "before": context.before.iter().map(hit_json).collect::<Vec<_>>(),
            "after": context.after.iter().map(hit_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct IngestParams {
    source: Option<String>,
    format: Option<String>,
    module: Option<String>,
}

/// `POST /api/v1/ingest`: NDJSON or raw lines, answered once durable in the WAL.
pub(crate) async fn ingest(
    State(state): State<AppState>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let source = match ingest_source(&state, &params, &headers) {
        Ok(s) => s,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let pipeline = state.pipeline.clone();
    let parsed = shippers::blocking(move || {
        let decoded = shippers::decoded_body(&raw, &headers)?;
        if source.format == FormatName::Json
            && let Some((line, e)) = body::lines(&decoded)
                .find_map(|(n, l)| serde_json::from_slice::<serde::de::IgnoredAny>(l).err().map(|e| (n, e)))
        {
            return Err(Refusal(StatusCode::BAD_REQUEST, format!("line {line}: invalid JSON: {e}")));
        }
        let mut parser = pipeline.parser(&source).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))?;
        let mut events = Vec::new();
        parser.parse_all(&decoded, &mut events);
        pipeline.metrics().count_received(&source.name, decoded.len());
        Ok((events, parser.parse_errors()))
    });
    let outcome = async {
        let (events, parse_errors) = parsed.await?;
        let accepted = events.len();
        shippers::submit(&state.pipeline, events).await?;
        Ok::<_, Refusal>(Json(json!({ "accepted": accepted, "parse_errors": parse_errors })).into_response())
    };
    outcome.await.unwrap_or_else(Refusal::into_response)
}

fn ingest_source(state: &AppState, params: &IngestParams, headers: &HeaderMap) -> Result<SourceConfig, String> {
    let name = params.source.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "http".into());
    let mut source = state
        .pipeline
        .config()
        .source(&name)
        .cloned()
        .unwrap_or_else(|| SourceConfig::adhoc(name.clone(), FormatName::Auto));
    if let Some(format) = params.format.as_deref().filter(|f| !f.is_empty()) {
        source.format = format.parse().map_err(|e| format!("`format`: {e}"))?;
        if source.format != FormatName::Nginx {
            source.log_format = None;
        }
        if source.format != FormatName::Logback {
            source.pattern = None;
        }
        if source.format != FormatName::Postgres {
            source.log_line_prefix = None;
        }
    } else if state.pipeline.config().source(&name).is_none() {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type.contains("ndjson") || content_type.contains("json") {
            source.format = FormatName::Json;
        }
    }
    if let Some(module) = params.module.as_deref().filter(|m| !m.is_empty()) {
        source.module = Some(module.to_owned());
    }
    Ok(source)
}
