//! The JSON API: each handler reads typed parameters (the command line's own argument structs,
//! deserialized with the same value parsers), calls the function the command line calls, and renders
//! with the same `report` code.

use crate::app::{self, Resolver};
use crate::cli::{CompareArgs, FitArgs, MatrixArgs};
use crate::import;
use crate::plan::{self, workload::Workload};
use crate::report;
use crate::spec::Catalog;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State as Extract;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::path::Path;
use std::sync::Arc;

/// What every request shares: the catalog, and the answers that never change (catalog listings).
pub struct State {
    catalog: Catalog,
    models_json: String,
    gpus_json: String,
    formats_json: String,
    fit_fields: Vec<String>,
    matrix_fields: Vec<String>,
    compare_fields: Vec<String>,
}

impl State {
    pub fn new(catalog: Catalog) -> anyhow::Result<State> {
        Ok(State {
            models_json: report::json::render(&plan::catalog::models(catalog.model_specs()))?,
            gpus_json: report::json::render(&plan::catalog::gpus(catalog.gpu_specs()))?,
            formats_json: report::json::render(&plan::catalog::formats())?,
            fit_fields: fields::<FitArgs>(),
            matrix_fields: fields::<MatrixArgs>(),
            compare_fields: fields::<CompareArgs>(),
            catalog,
        })
    }

    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            catalog: &self.catalog,
            files: false,
        }
    }
}

/// The parameter names of a command: the ids clap gives its arguments (the struct's field names,
/// which are also the JSON keys).
fn fields<A: clap::Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("api"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/api/models",
            get(|s: Extract<Arc<State>>| async move { json(s.models_json.clone()) }),
        )
        .route(
            "/api/gpus",
            get(|s: Extract<Arc<State>>| async move { json(s.gpus_json.clone()) }),
        )
        .route(
            "/api/formats",
            get(|s: Extract<Arc<State>>| async move { json(s.formats_json.clone()) }),
        )
        .route("/api/fit", post(fit))
        .route("/api/matrix", post(matrix))
        .route("/api/compare", post(compare))
        .route("/api/report", post(sizing_report))
        .route("/api/import", post(import_config))
        .route("/api/openapi.json", get(|| async { json(OPENAPI.to_string()) }))
}

/// The OpenAPI 3.1 description of the routes above (`tests/serve_api.rs` checks they agree).
pub const OPENAPI: &str = include_str!("../../assets/serve/openapi.json");

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// The request was understood but its values are wrong (unknown id, context too long, ...).
    fn invalid(e: anyhow::Error) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The body, or 413 past the size limit.
fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {} bytes (1 MiB)", super::MAX_BODY_BYTES),
        ),
        status => ApiError::new(status, format!("reading the request body: {e}")),
    })
}

/// Parses a JSON object of parameters: malformed JSON, an unknown key and a bad value are 400s that
/// name the line and column, the key, or the field.
fn params<T: DeserializeOwned>(bytes: &[u8], known: &[String]) -> Result<T, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(bad("the body must be a JSON object of parameters".into()));
    };
    if let Some(unknown) = object.keys().find(|k| !known.contains(k)) {
        return Err(bad(format!(
            "unknown parameter `{unknown}` (known: {})",
            known.join(", ")
        )));
    }
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { culprit::<T>(object) } else { Some(path) };
        bad(match path {
            Some(p) => format!("{p}: {}", e.inner()),
            None => e.inner().to_string(),
        })
    })
}

/// The key whose value failed: a flattened struct (the estimate options) loses the path, so find the
/// one key without which the object parses (only on the error path).
fn culprit<T: DeserializeOwned>(object: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    object
        .keys()
        .find(|&k| {
            let mut rest = object.clone();
            rest.remove(k);
            serde_json::from_value::<T>(serde_json::Value::Object(rest)).is_ok()
        })
        .cloned()
}

/// The command line's `--format json` of a result.
fn rendered<T: serde::Serialize>(value: &T) -> Result<Response, ApiError> {
    report::json::render(value).map(json).map_err(ApiError::invalid)
}

async fn fit(s: Extract<Arc<State>>, b: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let a: FitArgs = params(&body(b)?, &s.fit_fields)?;
    rendered(&app::fit(&s.resolver(), &a).map_err(ApiError::invalid)?)
}

async fn matrix(s: Extract<Arc<State>>, b: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let a: MatrixArgs = params(&body(b)?, &s.matrix_fields)?;
    rendered(&app::matrix(&s.resolver(), &a).map_err(ApiError::invalid)?)
}

async fn compare(s: Extract<Arc<State>>, b: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let a: CompareArgs = params(&body(b)?, &s.compare_fields)?;
    rendered(&app::compare(&s.resolver(), &a).map_err(ApiError::invalid)?)
}

/// A workload YAML in, the self-contained HTML report out (`gpuplan report --format html`).
async fn sizing_report(s: Extract<Arc<State>>, b: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let bytes = body(b)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the workload must be UTF-8 text (YAML)"))?;
    refuse_paths(text)?;
    let workload =
        Workload::from_yaml(Path::new("workload.yaml"), text, &s.catalog).map_err(|e| ApiError::invalid(e.into()))?;
    let html = report::sizing::html(&plan::sizing::size(&workload)).map_err(ApiError::invalid)?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// A workload names models and GPUs by catalog id; the command line also takes YAML paths there, the
/// API does not (no request makes the server read its files).
fn refuse_paths(text: &str) -> Result<(), ApiError> {
    let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Ok(()); // the workload parser reports the syntax error with its line
    };
    let ids = value
        .get("models")
        .and_then(|m| m.as_sequence())
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("id"))
        .chain(value.get("gpus").and_then(|g| g.as_sequence()).into_iter().flatten());
    for id in ids.filter_map(|v| v.as_str()) {
        let lower = id.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") || id.starts_with('/') || id.starts_with('.') {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("`{id}`: the API takes catalog ids, not file paths"),
            ));
        }
    }
    Ok(())
}

/// A config.json body in, the imported spec out (`gpuplan import config.json --format json`).
async fn import_config(b: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let bytes = body(b)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "config.json must be UTF-8 text"))?;
    let imported = import::hf_config::import_text(Path::new("config.json"), text)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    rendered(&imported)
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no such route: {}", uri.path()))
}

/// A handler that panicked: 500 with the panic's message; the server goes on.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error (a bug in gpuplan, please report it): {what}"),
    )
    .into_response()
}
