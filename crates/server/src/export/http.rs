//! `GET /api/v1/export?from=&to=&module=&query=`: the bundle as a zip, streamed while it
//! is built (a bounded channel between the building thread and the socket, so a slow
//! client slows the export down instead of growing memory).

use std::io::{self, Write};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use sluice_archive::ArchiveReader;
use sluice_detect::alerts::AlertFilter;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{ExportRequest, ExportSources, ZipBundle, write_bundle};
use crate::AppState;
use crate::api::{error, list_param, time_param};

/// Chunks in flight between the builder and the socket (each up to 256 KiB).
const CHUNKS_IN_FLIGHT: usize = 8;

#[derive(Debug, Deserialize)]
pub(crate) struct ExportParams {
    from: Option<String>,
    to: Option<String>,
    /// One module or a comma-separated list.
    module: Option<String>,
    query: Option<String>,
    q: Option<String>,
}

pub(crate) async fn export(State(state): State<AppState>, Query(params): Query<ExportParams>) -> Response {
    let config = state.pipeline.config().clone();
    let now = Utc::now();
    let tz = config.timezone();
    let (from, to) = match (time_param(params.from, "from", now, tz), time_param(params.to, "to", now, tz)) {
        (Ok(Some(from)), Ok(Some(to))) if from < to => (from, to),
        (Ok(Some(_)), Ok(Some(_))) => return error(StatusCode::BAD_REQUEST, "`from` must be before `to`"),
        (Ok(None), _) | (_, Ok(None)) => {
            return error(StatusCode::BAD_REQUEST, "`from` and `to` are required (RFC 3339 or relative like -1h)");
        }
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let query = params.query.or(params.q).unwrap_or_else(|| "*".into());
    let index = state.pipeline.index().clone();
    if let Err(e) = index.check_query(&query) {
        return error(StatusCode::BAD_REQUEST, format!("`query`: {e}"));
    }
    let request = ExportRequest { from, to, modules: list_param(params.module), query };
    let sources = ExportSources {
        index: Some(index),
        archive: Some(ArchiveReader::from_handle(state.pipeline.archive())),
        alerts: state.pipeline.alerts().list(&AlertFilter { from: Some(from), to: Some(to), ..AlertFilter::default() }),
        slow_sql_ms: config.slow_sql_ms() as f64,
        timezone: tz,
    };
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let name = format!("sluice-export-{}-{}.zip", from.format("%Y%m%dT%H%M%SZ"), to.format("%Y%m%dT%H%M%SZ"));
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let out = io::BufWriter::with_capacity(256 << 10, ChannelWriter { tx: tx.clone() });
        match write_bundle(&sources, &request, ZipBundle::new(out)) {
            Ok(stats) => info!(events = stats.events, took_ms = started.elapsed().as_millis() as u64, "export sent"),
            Err(e) => {
                warn!(error = %e, "export stopped");
                // Abort the response so the client sees a broken transfer, not a short zip.
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// Hands written bytes to the response body; fails once the client has gone.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client closed the export download"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
