//! `POST /v1/logs`: OTLP/HTTP logs from OpenTelemetry SDKs and collectors, protobuf or
//! JSON. Each resource is a source (its `service.name`, or `?source=`); record bodies are
//! taken as the message unless `?format=` (or a configured source of that name) asks for
//! them to be parsed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sluice_core::FormatName;
use sluice_ingest::protocol::otlp;

use super::{Refusal, SourceParsers, blocking, decoded_body, format_param, is_protobuf, submit};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct LogsParams {
    source: Option<String>,
    format: Option<String>,
}

pub(crate) async fn logs(
    State(state): State<AppState>,
    Query(params): Query<LogsParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let protobuf = is_protobuf(&headers);
    match receive(&state, params, headers, raw).await {
        // An empty ExportLogsServiceResponse: full success.
        Ok(()) if protobuf => {
            (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"))], Bytes::new())
                .into_response()
        }
        Ok(()) => Json(json!({})).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn receive(state: &AppState, params: LogsParams, headers: HeaderMap, raw: Bytes) -> Result<(), Refusal> {
    let format = format_param(params.format.as_deref())?;
    let pipeline = state.pipeline.clone();
    let events = blocking(move || {
        let body = decoded_body(&raw, &headers)?;
        let resources = otlp::decode(&body, is_protobuf(&headers))?;
        let mut parsers = SourceParsers::new(pipeline.clone(), FormatName::Plain, format);
        let mut events = Vec::new();
        for resource in resources {
            let source = params
                .source
                .clone()
                .filter(|s| !s.is_empty())
                .or(resource.service)
                .unwrap_or_else(|| "otlp".to_owned());
            parsers.push_records(&source, resource.records, &mut events)?;
        }
        parsers.finish();
        Ok(events)
    })
    .await?;
    if !events.is_empty() {
        submit(&state.pipeline, events).await?;
    }
    Ok(())
}
