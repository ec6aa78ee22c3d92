//! What log shippers push: Elasticsearch `_bulk`, Loki push and OTLP logs, next to Sluice's
//! own `POST /api/v1/ingest`. Every ingest route passes [`guard`] first (token, size, the
//! in-flight budget), decodes on a blocking thread, and answers only once the WAL has
//! made the events durable.

pub(crate) mod elastic;
pub(crate) mod loki;
pub(crate) mod otlp;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value};
use sluice_core::{Event, FormatName, SourceConfig};
use sluice_ingest::{IngestError, WalRecord};
use sluice_parsers::{Parser, PushedRecord};
use tokio::sync::Semaphore;

use crate::api::error;
use crate::pipeline::Pipeline;
use crate::{AppState, MAX_BODY_BYTES, MAX_DECODED_BYTES};

/// Request bodies in flight at once (being decoded, parsed, or waiting for the WAL), in
/// bytes on the wire. Requests within it wait their turn when the pipeline is busy;
/// past it, ingest answers 429 with `Retry-After` instead of holding more in memory. This
/// is what bounds ingest memory whatever the number of connections.
pub const IN_FLIGHT_BYTES: usize = 64 << 20;
/// What a body of unknown length (chunked) is charged against the budget up front.
const UNKNOWN_LENGTH_CHARGE: usize = 1 << 20;

/// Ingest's shared state: the in-flight budget, the accepted tokens, and what
/// Elasticsearch clients stored with `PUT` at start-up.
pub struct IngestState {
    budget: Arc<Semaphore>,
    tokens: Vec<String>,
    pub(crate) elastic: elastic::Probes,
}

impl IngestState {
    pub fn new(config: &sluice_core::Config) -> IngestState {
        IngestState {
            budget: Arc::new(Semaphore::new(IN_FLIGHT_BYTES >> 10)),
            tokens: config.auth.ingest_tokens.clone(),
            elastic: elastic::Probes::default(),
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        if self.tokens.is_empty() {
            return true;
        }
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
        let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value, ""));
        let credential = credential.trim();
        let decoded = || {
            base64::engine::general_purpose::STANDARD
                .decode(credential)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default()
        };
        let matches =
            |candidate: &str| self.tokens.iter().any(|t| constant_time_eq(t.as_bytes(), candidate.as_bytes()));
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => matches(credential),
            // Elasticsearch API keys are sent as base64(`id:key`); accept the key or the whole.
            "apikey" => {
                matches(credential) || {
                    let text = decoded();
                    matches(&text) || text.split_once(':').is_some_and(|(_, key)| matches(key))
                }
            }
            "basic" => decoded().split_once(':').is_some_and(|(_, password)| matches(password)),
            _ => false,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs before every ingest handler: 401 without a valid token (when tokens are set), 413
/// for a declared length over the limit, 429 when the in-flight budget is spent.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.ingest.authorized(request.headers()) {
        let mut response = error(StatusCode::UNAUTHORIZED, "missing or invalid ingest token");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sluice\""));
        return response;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body is larger than {MAX_BODY_BYTES} bytes"));
    }
    let charge = declared.unwrap_or(UNKNOWN_LENGTH_CHARGE).div_ceil(1024).max(1) as u32;
    let Ok(_permit) = state.ingest.budget.clone().try_acquire_many_owned(charge) else {
        return overloaded(&state.pipeline, "ingest is behind: too many request bytes in flight; retry later");
    };
    next.run(request).await
}

fn overloaded(pipeline: &Pipeline, message: &str) -> Response {
    pipeline.metrics().count_429();
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Why a push was not taken: the status and text to answer with.
pub(crate) struct Refusal(pub StatusCode, pub String);

impl From<IngestError> for Refusal {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::TooLarge { limit } => {
                Refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("body inflates past {limit} bytes"))
            }
            IngestError::BadBody(message) => Refusal(StatusCode::BAD_REQUEST, message),
            other => Refusal(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
        }
    }
}

impl Refusal {
    pub(crate) fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// The request's body without its `Content-Encoding`, within the decoded-size cap.
pub(crate) fn decoded_body(raw: &[u8], headers: &HeaderMap) -> Result<Vec<u8>, IngestError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    sluice_ingest::body::decode(raw, encoding, MAX_DECODED_BYTES)
}

/// Whether the body is protobuf (`application/x-protobuf`, `application/protobuf`).
pub(crate) fn is_protobuf(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("protobuf"))
}

/// Hands parsed events to the WAL and waits until they are durable (waiting for room in
/// its queue first: the in-flight budget, not the queue, decides when to answer 429);
/// the WAL sequence number of their record.
pub(crate) async fn submit(pipeline: &Pipeline, events: Vec<Event>) -> Result<u64, Refusal> {
    Ok(pipeline.wal().submit(WalRecord { events, checkpoints: vec![] }).await?)
}

/// One parser per source a request names, built from the configured source of that name
/// or, for a name the config does not know, a source of `default_format`. It also adds up
/// the bytes each source sent, for `/metrics` once per request ([`SourceParsers::finish`])
/// rather than once per document.
pub(crate) struct SourceParsers {
    pipeline: Arc<Pipeline>,
    default_format: FormatName,
    format_override: Option<FormatName>,
    parsers: HashMap<String, Parser>,
    received: HashMap<String, usize>,
}

impl SourceParsers {
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        default_format: FormatName,
        format_override: Option<FormatName>,
    ) -> Self {
        SourceParsers { pipeline, default_format, format_override, parsers: HashMap::new(), received: HashMap::new() }
    }

    fn get(&mut self, name: &str) -> Result<&mut Parser, Refusal> {
        if !self.parsers.contains_key(name) {
            let config = self.pipeline.config();
            let mut source = config
                .source(name)
                .cloned()
                .unwrap_or_else(|| SourceConfig::adhoc(name.to_owned(), self.default_format));
            if let Some(format) = self.format_override {
                source = SourceConfig { module: source.module.clone(), ..SourceConfig::adhoc(name.to_owned(), format) };
            }
            let parser = self.pipeline.parser(&source).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))?;
            self.parsers.insert(name.to_owned(), parser);
            self.received.insert(name.to_owned(), 0);
        }
        Ok(self.parsers.get_mut(name).expect("inserted above"))
    }

    fn count(&mut self, source: &str, bytes: usize) {
        if let Some(n) = self.received.get_mut(source) {
            *n += bytes;
        }
    }

    /// A JSON document of `bytes` on the wire, for one source.
    pub(crate) fn push_document(
        &mut self,
        source: &str,
        document: Map<String, Value>,
        bytes: usize,
        events: &mut Vec<Event>,
    ) -> Result<(), Refusal> {
        self.get(source)?.push_document(document, events);
        self.count(source, bytes);
        Ok(())
    }

    /// Records a shipper pushed for one source (their text counts as the bytes received).
    pub(crate) fn push_records(
        &mut self,
        source: &str,
        records: Vec<PushedRecord>,
        events: &mut Vec<Event>,
    ) -> Result<(), Refusal> {
        let bytes = records.iter().map(|r| r.text.len()).sum();
        let parser = self.get(source)?;
        for record in records {
            parser.push_record(record, events);
        }
        self.count(source, bytes);
        Ok(())
    }

    /// Adds what each source sent to `/metrics`.
    pub(crate) fn finish(self) {
        for (source, bytes) in &self.received {
            self.pipeline.metrics().count_received(source, *bytes);
        }
    }
}

/// A `format` query parameter, if given.
pub(crate) fn format_param(value: Option<&str>) -> Result<Option<FormatName>, Refusal> {
    value
        .filter(|f| !f.is_empty())
        .map(|f| f.parse::<FormatName>().map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("`format`: {e}"))))
        .transpose()
}

/// Runs blocking decode/parse work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests;
