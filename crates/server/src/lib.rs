//! The ingest pipeline and the HTTP API: `app(state)` is the whole server as an axum Router.

pub mod alerts;
mod api;
pub mod digest;
pub mod export;
mod maintenance;
pub mod metrics;
pub mod pipeline;
mod reports;
mod shippers;
mod tail;
mod ui;
mod webhook;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};

pub use pipeline::{Pipeline, PipelineOptions, TailedEvent};
pub use shippers::IngestState;
pub use shippers::elastic::VERSION as ELASTICSEARCH_VERSION;

/// Largest request body accepted on the wire, and after decompression.
pub const MAX_BODY_BYTES: usize = 64 << 20;
pub const MAX_DECODED_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("data dir {0} is in use by another sluice process (serve or import); stop it or pass another --data-dir")]
    Locked(PathBuf),
    #[error(transparent)]
    Index(#[from] sluice_index::IndexError),
    #[error(transparent)]
    Archive(#[from] sluice_archive::ArchiveError),
    #[error(transparent)]
    Ingest(#[from] sluice_ingest::IngestError),
    #[error(transparent)]
    Parser(#[from] sluice_parsers::ParserError),
    #[error("pipeline stopped: {0}")]
    Stopped(String),
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub ingest: Arc<IngestState>,
}

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>) -> AppState {
        let ingest = Arc::new(IngestState::new(pipeline.config()));
        AppState { pipeline, ingest }
    }
}

pub fn app(state: AppState) -> Router {
    use shippers::elastic;
    // Every route that takes events: token, size and in-flight checks first.
    let ingest = Router::new()
        .route("/api/v1/ingest", post(api::ingest))
        .route("/loki/api/v1/push", post(shippers::loki::push))
        .route("/v1/logs", post(shippers::otlp::logs))
        .merge(
            Router::new()
                .route("/_bulk", post(elastic::bulk_default).put(elastic::bulk_default))
                .route("/{index}/_bulk", post(elastic::bulk_index).put(elastic::bulk_index))
                .route("/{index}/_doc", post(elastic::document))
                .route("/{index}/_doc/{id}", post(elastic::document_with_id).put(elastic::document_with_id))
                .route("/{index}/_create/{id}", post(elastic::document_with_id).put(elastic::document_with_id))
                .layer(from_fn(elastic::product_header)),
        )
        .route_layer(from_fn_with_state(state.clone(), shippers::guard));
    // What Elasticsearch shippers and clients ask at start-up.
    let elastic_probes = Router::new()
        .route("/", get(elastic::root))
        .route("/_license", get(elastic::license))
        .route("/_xpack", get(elastic::xpack))
        .route("/_cluster/health", get(elastic::cluster_health))
        .route("/_index_template/{name}", get(elastic::get_index_template).put(elastic::put_index_template))
        .route("/_template/{name}", get(elastic::get_legacy_template).put(elastic::put_legacy_template))
        .route("/_component_template/{name}", get(elastic::get_component_template).put(elastic::put_component_template))
        .route("/_ilm/policy/{name}", get(elastic::get_ilm_policy).put(elastic::put_ilm_policy))
        .route("/_ingest/pipeline/{name}", get(elastic::get_ingest_pipeline).put(elastic::put_ingest_pipeline))
        .route("/_data_stream/{name}", get(elastic::get_data_stream).put(elastic::put_data_stream))
        .route("/{index}", get(elastic::get_index).put(elastic::put_index))
        .layer(from_fn(elastic::product_header));
    Router::new()
        .merge(ingest)
        .merge(elastic_probes)
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/context", get(api::context))
        .route("/api/v1/tail", get(tail::tail))
        .route("/api/v1/alerts", get(reports::list_alerts))
        .route("/api/v1/alerts/stream", get(reports::stream_alerts))
        .route("/api/v1/alerts/{id}", get(reports::get_alert))
        .route("/api/v1/digest", get(reports::digest))
        .route("/api/v1/export", get(export::http_export))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[cfg(test)]
mod tests;
