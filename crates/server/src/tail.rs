//! `GET /api/v1/tail`: live tail over server-sent events. Each event the sink stores is
//! sent once as an `event` SSE message (the search API's hit JSON, with `sort`), filtered by
//! `module`, `level`, `source` (comma lists) and `q`: words that must all appear in the
//! message, case-insensitively (the full query language is for search; a tail filters
//! each event as it passes). A client that falls behind gets a `lagged` message with the
//! number of events it missed. Streams end when `serve` shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sluice_core::{Event, Level};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::api::{error, levels_param, list_param};

#[derive(Debug, Deserialize)]
pub(crate) struct TailParams {
    q: Option<String>,
    module: Option<String>,
    level: Option<String>,
    source: Option<String>,
}

#[derive(Debug, Default)]
struct TailFilter {
    words: Vec<String>,
    modules: Vec<String>,
    levels: Vec<Level>,
    sources: Vec<String>,
}

impl TailFilter {
    fn new(params: TailParams) -> Result<TailFilter, String> {
        let words =
            params.q.unwrap_or_default().split_whitespace().filter(|w| *w != "*").map(str::to_lowercase).collect();
        Ok(TailFilter {
            words,
            modules: list_param(params.module),
            levels: levels_param(params.level)?,
            sources: list_param(params.source),
        })
    }

    fn matches(&self, event: &Event) -> bool {
        (self.modules.is_empty() || self.modules.iter().any(|m| *m == event.module))
            && (self.levels.is_empty() || self.levels.contains(&event.level))
            && (self.sources.is_empty() || self.sources.iter().any(|s| *s == event.source))
            && (self.words.is_empty() || {
                let message = event.message.to_lowercase();
                self.words.iter().all(|w| message.contains(w.as_str()))
            })
    }
}

pub(crate) async fn tail(State(state): State<AppState>, Query(params): Query<TailParams>) -> Response {
    let filter = match TailFilter::new(params) {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let events = state.pipeline.tail();
    let closing = state.pipeline.alerts().closing();
    let stream =
        futures_util::stream::unfold((events, closing, filter), |(mut events, mut closing, filter)| async move {
            loop {
                let received = tokio::select! {
                    received = events.recv() => received,
                    _ = closing.wait_for(|closed| *closed) => return None,
                };
                let message = match received {
                    Ok(tailed) if filter.matches(&tailed.event) => {
                        let mut json = serde_json::to_value(&tailed.event).ok()?;
                        if let Some(sort) = tailed.sort {
                            json["sort"] = serde_json::Value::String(sort.to_string());
                        }
                        SseEvent::default().event("event").json_data(json).ok()?
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => SseEvent::default().event("lagged").data(missed.to_string()),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(message), (events, closing, filter)));
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}
