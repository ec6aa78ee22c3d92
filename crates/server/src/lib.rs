//! The ingest pipeline and the HTTP API: `app(state)` is the whole server as an axum Router.

pub mod alerts;
mod api;
pub mod digest;
pub mod export;
mod maintenance;
pub mod metrics;
pub mod pipeline;
mod reports;
mod tail;
mod ui;
mod webhook;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use pipeline::{Pipeline, PipelineOptions};

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
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/ingest", post(api::ingest))
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
