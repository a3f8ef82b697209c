//! Liveness, readiness, metrics, the OpenAPI document, and the map's files.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::Digest;

use crate::http::AppState;
use crate::http::error::ApiError;

/// `GET /healthz`: the process answers.
pub async fn get_healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: the store answers (503 otherwise).
pub async fn get_readyz(State(state): State<AppState>) -> Response {
    match state.service.store().ping().await {
        Ok(()) => axum::Json(json!({ "status": "ready", "backend": state.service.store().backend() })).into_response(),
        Err(e) => ApiError::Unavailable(e.to_string()).into_response(),
    }
}

/// `GET /openapi.json`.
pub async fn get_openapi() -> Response {
    axum::Json(super::openapi()).into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let (reports, cells9, version) = {
        let e = state.service.engine();
        (e.len(), e.active_cells(h3o::Resolution::Nine), e.version())
    };
    let outbox = state.service.store().outbox_counts().await.unwrap_or_default();
    let mut out = String::new();
    out.push_str("# HELP kinga_http_responses_total HTTP responses by status class.\n# TYPE kinga_http_responses_total counter\n");
    for (i, c) in m.responses.iter().enumerate().skip(1) {
        let _ = writeln!(out, "kinga_http_responses_total{{class=\"{i}xx\"}} {}", c.load(Ordering::Relaxed));
    }
    let counters = [
        ("kinga_reports_accepted_total", "Reports accepted.", m.reports_accepted.load(Ordering::Relaxed)),
        ("kinga_reports_rejected_total", "Reports rejected.", m.reports_rejected.load(Ordering::Relaxed)),
        ("kinga_requests_shed_total", "Requests shed with 503.", m.shed.load(Ordering::Relaxed)),
        ("kinga_requests_rate_limited_total", "Requests refused with 429.", m.rate_limited.load(Ordering::Relaxed)),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    }
    let gauges = [
        ("kinga_engine_reports", "Reports held by the engine.", reports as u64),
        ("kinga_engine_active_cells_res9", "Resolution-9 cells with reports.", cells9 as u64),
        ("kinga_engine_version", "Engine change counter.", version),
        ("kinga_sse_clients", "Open event streams.", m.sse_clients.load(Ordering::Relaxed)),
        ("kinga_webhook_outbox_pending", "Webhook deliveries waiting (incl. retries).", outbox.pending),
        ("kinga_webhook_outbox_failed", "Webhook deliveries given up.", outbox.failed),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

const INDEX_HTML: &str = include_str!("../../../web-map/index.html");
const APP_JS: &str = include_str!("../../../web-map/app.js");
const APP_CSS: &str = include_str!("../../../web-map/app.css");

/// The map's own file: embedded in the binary, or read afresh from `$KINGA_WEB_DEV_DIR` on each
/// request when that is set, so the map can be edited and reloaded without rebuilding kinga.
async fn map_source(name: &str, embedded: &'static str) -> Vec<u8> {
    if let Some(dir) = std::env::var_os("KINGA_WEB_DEV_DIR")
        && let Ok(bytes) = tokio::fs::read(PathBuf::from(dir).join(name)).await
    {
        return bytes;
    }
    embedded.as_bytes().to_vec()
}

/// Where Leaflet (installed by npm into `web-map/node_modules`) is found.
fn leaflet_dir(state: &AppState) -> PathBuf {
    let base = state
        .service
        .config()
        .web_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web-map")));
    base.join("node_modules/leaflet/dist")
}

/// `GET /`: the map page.
pub async fn get_map() -> Response {
    let page = map_source("index.html", INDEX_HTML).await;
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], page).into_response()
}

/// `GET /map/{file}`: the map's script and style (embedded), its configuration, and Leaflet,
/// each with a strong `ETag` so a reload revalidates instead of downloading again.
pub async fn get_map_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let (kind, body): (&str, Vec<u8>) = match file.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", map_source("app.js", APP_JS).await),
        "app.css" => ("text/css; charset=utf-8", map_source("app.css", APP_CSS).await),
        "config.json" => {
            let config = state.service.config();
            let region = state.service.region();
            let outline: Vec<serde_json::Value> = region
                .polygons()
                .map(|p| {
                    let ring: Vec<[f64; 2]> = p.exterior().coords().map(|c| [c.x, c.y]).collect();
                    json!({ "type": "Feature", "geometry": { "type": "Polygon", "coordinates": [ring] }, "properties": {} })
                })
                .collect();
            let b = region.bounds();
            let attribution =
                if config.basemap_url.contains("openstreetmap.org") { "© OpenStreetMap contributors" } else { "" };
            let body = json!({
                "basemap_url": config.basemap_url,
                "basemap_attribution": attribution,
                "region": { "type": "FeatureCollection", "features": outline },
                "bounds": [[b.south(), b.west()], [b.north(), b.east()]],
                "publication_res": config.publication_res,
                "suppression_k": config.suppression_k,
                "categories": crate::domain::Category::ALL.iter().map(|c| c.slug()).collect::<Vec<_>>(),
            });
            ("application/json", body.to_string().into_bytes())
        }
        "leaflet.js" | "leaflet.css" | "leaflet.js.map" => {
            let path = leaflet_dir(&state).join(&file);
            let bytes = tokio::fs::read(&path).await.map_err(|_| ApiError::NotFound)?;
            (
                if std::path::Path::new(&file).extension().is_some_and(|e| e.eq_ignore_ascii_case("css")) {
                    "text/css"
                } else {
                    "text/javascript"
                },
                bytes,
            )
        }
        _ => return Err(ApiError::NotFound),
    };
    let etag = format!("\"{}\"", crate::store::hex(&sha2::Sha256::digest(&body)[..12]));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CACHE_CONTROL, "no-cache".to_string()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response())
}
