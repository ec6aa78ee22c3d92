//! The web UI: `dashboards/` embedded into the binary at build time (no Node step, no
//! files to ship beside `sluice`).

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../../../dashboards/index.html");
const APP_JS: &str = include_str!("../../../dashboards/app.js");
const APP_CSS: &str = include_str!("../../../dashboards/app.css");

pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    // Assets change with the binary: revalidate rather than cache for long.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}
