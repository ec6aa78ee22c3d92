//! `POST /loki/api/v1/push`: what Promtail, Grafana Alloy, the Docker driver and Loki
//! client libraries send. Each stream is a source (its `job` or `service_name` label, or
//! `?source=`); its lines are parsed with that source's format (`auto` by default), and
//! its labels and structured metadata become fields.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use sluice_core::FormatName;
use sluice_ingest::protocol::loki;

use super::{Refusal, SourceParsers, blocking, decoded_body, format_param, is_protobuf, no_content, submit};
use crate::{AppState, MAX_DECODED_BYTES};

#[derive(Debug, Deserialize)]
pub(crate) struct PushParams {
    source: Option<String>,
    format: Option<String>,
}

pub(crate) async fn push(
    State(state): State<AppState>,
    Query(params): Query<PushParams>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match receive(&state, params, headers, raw).await {
        Ok(()) => no_content(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn receive(state: &AppState, params: PushParams, headers: HeaderMap, raw: Bytes) -> Result<(), Refusal> {
    let format = format_param(params.format.as_deref())?;
    let pipeline = state.pipeline.clone();
    let events = blocking(move || {
        // Protobuf pushes are snappy-compressed inside; a Content-Encoding comes on top,
        // and `Content-Encoding: snappy` is that same layer, undone already.
        let snappy_outside = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("snappy"));
        let encoding = match (is_protobuf(&headers), snappy_outside) {
            (false, _) => loki::Encoding::Json,
            (true, false) => loki::Encoding::SnappyProtobuf,
            (true, true) => loki::Encoding::Protobuf,
        };
        let body = decoded_body(&raw, &headers)?;
        let streams = loki::decode(&body, encoding, MAX_DECODED_BYTES)?;
        let mut parsers = SourceParsers::new(pipeline.clone(), FormatName::Auto, format);
        let mut events = Vec::new();
        for stream in streams {
            let source = params.source.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| stream.source().to_owned());
            parsers.push_records(&source, stream.entries, &mut events)?;
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
