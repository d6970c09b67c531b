//! The page: one HTML file, its stylesheet and its script, embedded at build time (no CDN, no fetch
//! from anywhere but this server's API).

use super::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::{Arc, OnceLock};

const INDEX: &str = include_str!("../../assets/serve/index.html");
/// The sizing-report form starts from this example workload.
const EXAMPLE_WORKLOAD: &str = include_str!("../../examples/workloads/moe-chat-50-users.yaml");
const SCRIPT: &str = include_str!("../../assets/serve/app.js");
const STYLE: &str = include_str!("../../assets/serve/style.css");

/// The page may load only its own script and stylesheet and call only this server (inline styles:
/// the memory bar's widths and the report's own stylesheet in its frame).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-src 'self' blob:; base-uri 'none'; form-action 'self'";

/// The page with the example workload in the report form.
fn index() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| INDEX.replace("{{WORKLOAD}}", &escape(EXAMPLE_WORKLOAD)))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        (header::CONTENT_SECURITY_POLICY, CSP),
                    ],
                    index(),
                )
                    .into_response()
            }),
        )
        .route(
            "/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response() }),
        )
        .route(
            "/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response() }),
        )
}
