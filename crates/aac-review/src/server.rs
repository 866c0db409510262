//! The local web server of `aac review`: the page and its JSON API, behind
//! a token and a Host check. Requests name scans by id only; files are
//! found from the output's table, never from a request's path.

use crate::rescore::Scorer;
use crate::review::{Request as DecisionRequest, Review};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The page: plain HTML and JavaScript, no build step, no network.
const PAGE: &str = include_str!("page.html");

/// What the handlers share.
pub(crate) struct App {
    pub(crate) review: Mutex<Review>,
    pub(crate) scorer: Scorer,
    pub(crate) token: String,
    pub(crate) hosts: Vec<String>,
}

type Shared = Arc<App>;

impl App {
    /// The review, locked. A handler that panicked while holding it left
    /// nothing half-done that matters (decisions are written before the
    /// state changes), so a poisoned lock is taken over, not passed on as
    /// a panic to every later request.
    fn review(&self) -> std::sync::MutexGuard<'_, Review> {
        self.review.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The scan of `id` in the output, or a 404.
fn scan_of<'a>(r: &'a Review, id: &str) -> Result<&'a crate::cohort::Scan, ApiError> {
    r.cohort
        .get(id)
        .ok_or_else(|| not_found(format!("no scan {id:?} in this output")))
}

/// An API error: a status and a message, sent as `{"error": ...}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(e: anyhow::Error) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, format!("{e:#}"))
}

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

/// The token of a request: the `token` query parameter, the `X-AAC-Token`
/// header or the `aac_token` cookie.
fn token_of(req: &Request) -> Option<String> {
    let from_query = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_string)
    });
    let from_header = || {
        req.headers()
            .get("x-aac-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let from_cookie = || {
        req.headers()
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| {
                c.split(';')
                    .find_map(|kv| kv.trim().strip_prefix("aac_token="))
                    .map(str::to_string)
            })
    };
    from_query.or_else(from_header).or_else(from_cookie)
}

/// Equal in time independent of where the strings first differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Refuses a request whose Host is not this server's (DNS rebinding) or
/// that lacks the token.
async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !app.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return ApiError(
            StatusCode::MISDIRECTED_REQUEST,
            format!("Host {host:?} is not this review server's"),
        )
        .into_response();
    }
    match token_of(&req) {
        Some(t) if same_secret(&t, &app.token) => next.run(req).await,
        _ => ApiError(
            StatusCode::FORBIDDEN,
            "the token is missing or wrong: open the URL aac review printed".into(),
        )
        .into_response(),
    }
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(PAGE),
    )
}

async fn summary(State(app): State<Shared>) -> Json<Value> {
    Json(app.review().summary())
}

async fn scans(
    State(app): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = crate::queue::Query::from_params(&params).map_err(bad)?;
    let r = app.review();
    let (total, page) = crate::queue::select(&r.cohort.scans, &r.queue, &query, &*r);
    let rows: Vec<Value> = page
        .iter()
        .map(|&i| r.row_json(&r.cohort.scans[i]))
        .collect();
    Ok(Json(
        json!({ "total": total, "offset": query.offset, "rows": rows }),
    ))
}

async fn scan(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let r = app.review();
    let s = scan_of(&r, &id)?;
    let mut v = r.row_json(s);
    let points = r
        .points(&s.row.id)
        .map(|p| p.iter().map(|q| [q.x, q.y]).collect::<Vec<_>>());
    let readings: Vec<Value> = r
        .readings(&s.row.id)
        .into_iter()
        .chain(r.adjudication(&s.row.id))
        .map(|d| {
            json!({
                "reader": d.reader, "role": d.role.name(), "action": d.action.name(),
                "aac24": d.after.map(|x| x.aac24), "subscores": d.after.map(|x| x.sub),
                "note": d.note, "time_utc": d.time_utc,
            })
        })
        .collect();
    v["points"] = json!(points);
    v["readings"] = json!(readings);
    v["has_image"] = json!(r.cohort.images.contains_key(&s.row.id));
    Ok(Json(v))
}

/// Image bytes as a response of `kind`, never cached (a decision can
/// change them).
fn bytes_response(bytes: Vec<u8>, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response()
}

/// A file's bytes as a response of `kind`, found from a scan's id.
fn file_response(path: &std::path::Path, kind: &'static str) -> Result<Response, ApiError> {
    let bytes = std::fs::read(path).map_err(|_| not_found("no such file for this scan".into()))?;
    Ok(bytes_response(bytes, kind))
}

async fn overlay(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let path = {
        let r = app.review();
        let s = scan_of(&r, &id)?;
        let id = &s.row.id;
        let mine = crate::paths::reader_overlay(&r.cohort.out, &r.reader, id);
        let moved = r.has_moved(id);
        if moved && mine.exists() {
            mine
        } else {
            aac_pipeline::predict::overlay_path(&r.cohort.out, id)
        }
    };
    file_response(&path, "image/jpeg")
}

async fn thumb(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let path = {
        let r = app.review();
        let s = scan_of(&r, &id)?;
        aac_pipeline::predict::thumb_path(&r.cohort.out, &s.row.id)
    };
    file_response(&path, "image/png")
}

/// The scan itself, windowed for display (1st-99th percentile) as a
/// grey PNG; the page sets window and level on top of that.
async fn image(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let path = {
        let r = app.review();
        r.cohort
            .get(&id)
            .and_then(|s| r.cohort.images.get(&s.row.id))
            .cloned()
            .ok_or_else(|| not_found(format!("no image of scan {id:?} (start with --images)")))?
    };
    let bytes = tokio::task::spawn_blocking(move || crate::display::scan_png(&path))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    Ok(bytes_response(bytes, "image/png"))
}

async fn decision(
    State(app): State<Shared>,
    Json(req): Json<DecisionRequest>,
) -> Result<Json<Value>, ApiError> {
    let planned = app.review().plan(&req).map_err(bad)?;
    let d = match planned {
        Ok(d) => d,
        Err(rescore) => {
            let app2 = app.clone();
            let (out, reader) = {
                let r = app.review();
                (r.cohort.out.clone(), r.reader.clone())
            };
            let row = tokio::task::spawn_blocking(move || {
                app2.scorer
                    .rescore(&out, &reader, &rescore)
                    .map(|row| (row, rescore))
            })
            .await
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
            let (row, rescore) = row;
            let after = row
                .score_values()
                .and_then(|(_, sub)| crate::decisions::Scores::from_sub(sub).ok());
            if after.is_none() {
                return Err(ApiError(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "with the levels moved the scan could not be scored: {}",
                        row.message
                    ),
                ));
            }
            let r = app.review();
            let s = r.cohort.get(&rescore.id).expect("planned on a known scan");
            let action = crate::decisions::Action::from_name(&req.action).expect("planned");
            let mut d = r.decision(
                &rescore.id,
                action,
                r.current(s),
                after,
                Some(rescore.points),
                req.note.clone().unwrap_or_default(),
            );
            if !row.message.is_empty() {
                d.note = [d.note.as_str(), row.message.as_str()]
                    .iter()
                    .filter(|t| !t.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("; ");
            }
            d
        }
    };
    let mut r = app.review();
    let id = d.id.clone();
    r.record(d)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    let s = r.cohort.get(&id).expect("a known scan");
    Ok(Json(r.row_json(s)))
}

/// The router of a review, guarded.
pub(crate) fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/summary", get(summary))
        .route("/api/scans", get(scans))
        .route("/api/scans/{id}", get(scan))
        .route("/api/scans/{id}/image", get(image))
        .route("/api/scans/{id}/overlay", get(overlay))
        .route("/api/scans/{id}/thumb", get(thumb))
        .route("/api/decision", post(decision))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The Host values a request may carry for a server bound to `addr`.
pub(crate) fn allowed_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    let ip = addr.ip();
    if ip.is_unspecified() {
        hosts.push(format!("{}:{port}", aac_io::lock::host_name()));
    } else if !ip.is_loopback() {
        hosts.push(match ip {
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        });
    }
    hosts
}
