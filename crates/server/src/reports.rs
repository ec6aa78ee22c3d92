//! HTTP handlers for alerts (list, one, live SSE stream) and the slow-query digest.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use sluice_core::Severity;
use sluice_detect::alerts::{AlertFilter, AlertKind, AlertStatus};
use sluice_digest::DigestOptions;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::api::error;

#[derive(Debug, Deserialize)]
pub(crate) struct AlertParams {
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
    severity: Option<String>,
    module: Option<String>,
    status: Option<String>,
    q: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn list_alerts(State(state): State<AppState>, Query(params): Query<AlertParams>) -> Response {
    let filter = match alert_filter(&state, params) {
        Ok(f) => f,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let alerts = state.pipeline.alerts().list(&AlertFilter { limit: None, ..filter.clone() });
    let total = alerts.len();
    let alerts: Vec<_> = alerts.into_iter().take(filter.limit.unwrap_or(100)).collect();
    Json(json!({ "total": total, "alerts": alerts })).into_response()
}

pub(crate) async fn get_alert(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.pipeline.alerts().get(&id) {
        Some(alert) => Json(alert).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no alert with id `{id}`")),
    }
}

/// Server-sent events: one `opened` / `updated` / `escalated` / `closed` event per change,
/// with the alert as JSON.
pub(crate) async fn stream_alerts(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (rx, closing) = state.pipeline.alerts().subscribe();
    let stream = futures_util::stream::unfold((rx, closing), |(mut rx, mut closing)| async move {
        loop {
            let received = tokio::select! {
                received = rx.recv() => received,
                _ = closing.wait_for(|closed| *closed) => return None,
            };
            match received {
                Ok(update) => {
                    let name = serde_json::to_value(update.change).ok()?.as_str()?.to_owned();
                    let event = SseEvent::default().event(name).id(update.alert.id.clone());
                    let event = event.json_data(&update.alert).ok()?;
                    return Some((Ok(event), (rx, closing)));
                }
                // A subscriber that fell behind skips what it missed (the store has it).
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn alert_filter(state: &AppState, params: AlertParams) -> Result<AlertFilter, String> {
    let tz = state.pipeline.config().timezone();
    let now = Utc::now();
    let time = |value: Option<String>, name: &str| crate::api::time_param(value, name, now, tz);
    Ok(AlertFilter {
        from: time(params.from, "from")?,
        to: time(params.to, "to")?,
        kind: params
            .kind
            .filter(|k| !k.is_empty())
            .map(|k| k.parse::<AlertKind>())
            .transpose()
            .map_err(|e| format!("`kind`: {e}"))?,
        severity: params
            .severity
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Severity>().map_err(|e| format!("`severity`: {e}")))
            .transpose()?,
        module: params.module.filter(|m| !m.is_empty()),
        status: match params.status.as_deref() {
            None | Some("") => None,
            Some("open") => Some(AlertStatus::Open),
            Some("closed") => Some(AlertStatus::Closed),
            Some(other) => return Err(format!("`status`: unknown status `{other}` (expected open or closed)")),
        },
        text: params.q.filter(|q| !q.trim().is_empty()),
        limit: params.limit,
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct DigestParams {
    date: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_ms: Option<f64>,
    format: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/digest`: a day (default yesterday in the configured zone) or a window;
/// `format=json` (default), `text` or `html`.
pub(crate) async fn digest(State(state): State<AppState>, Query(params): Query<DigestParams>) -> Response {
    let config = state.pipeline.config().clone();
    let tz = config.timezone();
    let now = Utc::now();
    let window = match (&params.date, &params.from, &params.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return error(StatusCode::BAD_REQUEST, "give either `date` or `from`/`to`, not both");
        }
        (Some(date), None, None) => match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            Ok(date) => crate::digest::day_window(date, tz),
            Err(_) => return error(StatusCode::BAD_REQUEST, format!("`date`: `{date}` is not a date like 2026-11-20")),
        },
        (None, None, None) => crate::digest::day_window(crate::digest::yesterday(tz, now), tz),
        (None, from, to) => {
            let parse = |v: &Option<String>, name: &str, default| match v {
                Some(v) => sluice_core::time::parse_time(v, now, tz).map_err(|e| format!("`{name}`: {e}")),
                None => Ok(default),
            };
            match (parse(from, "from", now - chrono::TimeDelta::days(1)), parse(to, "to", now)) {
                (Ok(f), Ok(t)) if f < t => (f, t),
                (Ok(_), Ok(_)) => return error(StatusCode::BAD_REQUEST, "`from` must be before `to`"),
                (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
            }
        }
    };
    let min_ms = params.min_ms.unwrap_or(config.slow_sql_ms() as f64);
    if !(min_ms.is_finite() && min_ms >= 0.0) {
        return error(StatusCode::BAD_REQUEST, "`min_ms` must be a number of milliseconds, 0 or more");
    }
    let format = params.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "text" | "html") {
        return error(StatusCode::BAD_REQUEST, format!("`format`: `{format}` is not one of json, text, html"));
    }
    let options = DigestOptions { from: Some(window.0), to: Some(window.1), min_ms, timezone: tz.name().to_owned() };
    let index = state.pipeline.index().clone();
    let digest = match tokio::task::spawn_blocking(move || crate::digest::from_index(&index, options, true)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    match format.as_str() {
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            sluice_digest::render_text(&digest, params.limit.unwrap_or(20)),
        )
            .into_response(),
        "html" => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], sluice_digest::render_html(&digest)).into_response()
        }
        _ => Json(digest).into_response(),
    }
}
