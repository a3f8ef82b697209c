//! The route table: path, method, who may call it, its parameters and its handler. The router,
//! the authorisation middleware and `/openapi.json` are all derived from [`ROUTES`].

mod alerts;
mod cells;

pub use cells::csv_text;
mod meta;
mod patrol;
mod reports;
mod stream;

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post};
use chrono::{DateTime, Utc};
use h3o::Resolution;
use serde_json::{Map, Value, json};

use super::AppState;
use super::auth::Role;
use super::error::ApiError;
use crate::domain::{BBox, parse_timestamp};

/// One route of the contract.
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path as in the contract and OpenAPI.
    pub path: &'static str,
    /// Path as registered in the router (differs only where axum cannot capture a suffix).
    pub route: &'static str,
    /// One line for OpenAPI.
    pub summary: &'static str,
    /// Roles allowed (ignored when `open`).
    pub allowed: &'static [Role],
    /// No authentication at all (liveness, the map page).
    pub open: bool,
    /// Query parameters: (name, description).
    pub params: &'static [(&'static str, &'static str)],
    /// The handler.
    pub handler: fn() -> MethodRouter<AppState>,
}

const EVERYONE: &[Role] = &[Role::Public, Role::Reporter, Role::Verifier, Role::Planner, Role::Analyst, Role::Admin];
const SUBMITTERS: &[Role] = &[Role::Reporter, Role::Verifier, Role::Planner, Role::Admin];
const VERIFIERS: &[Role] = &[Role::Verifier, Role::Admin];
const ADMINS: &[Role] = &[Role::Admin];
const PLANNERS: &[Role] = &[Role::Planner, Role::Analyst, Role::Admin];
const RESPONDERS: &[Role] = &[Role::Verifier, Role::Planner, Role::Analyst, Role::Admin];

const P_BBOX: (&str, &str) = ("bbox", "minLon,minLat,maxLon,maxLat (west > east crosses the antimeridian)");
const P_AT: (&str, &str) = ("at", "RFC 3339 time of the view (default now; replays use only reports received by then)");
const P_RES: (&str, &str) = ("res", "H3 resolution 5–9 (suppressed roles get the publication resolution)");
const P_LIMIT: (&str, &str) = ("limit", "page size / list length");

macro_rules! route {
    ($method:ident, $path:literal, $route:literal, $summary:literal, $allowed:expr, $open:expr, [$($p:expr),*], $handler:expr) => {
        RouteSpec {
            method: Method::$method,
            path: $path,
            route: $route,
            summary: $summary,
            allowed: $allowed,
            open: $open,
            params: &[$($p),*],
            handler: || $handler,
        }
    };
}

/// Every route of the v1 contract.
pub static ROUTES: &[RouteSpec] = &[
    route!(
        POST,
        "/api/v1/reports",
        "/api/v1/reports",
        "Submit one report (GeoJSON Feature)",
        SUBMITTERS,
        false,
        [],
        post(reports::post_report)
    ),
    route!(
        GET,
        "/api/v1/reports",
        "/api/v1/reports",
        "Reports as the caller may see them (paged)",
        EVERYONE,
        false,
        [
            P_BBOX,
            ("from", "occurred_at ≥ (privileged roles)"),
            ("to", "occurred_at < (privileged roles)"),
            ("category", "comma-separated slugs"),
            ("verification", "comma-separated states"),
            P_LIMIT,
            ("cursor", "from the previous page's next_cursor")
        ],
        get(reports::get_reports)
    ),
    route!(
        POST,
        "/api/v1/reports/bulk",
        "/api/v1/reports/bulk",
        "Submit many reports: FeatureCollection, NDJSON or CSV",
        SUBMITTERS,
        false,
        [("backfill", "true: received_at = occurred_at (admin)")],
        post(reports::post_reports_bulk)
    ),
    route!(
        GET,
        "/api/v1/reports/{id}",
        "/api/v1/reports/{id}",
        "One report as the caller may see it",
        EVERYONE,
        false,
        [],
        get(reports::get_report)
    ),
    route!(
        DELETE,
        "/api/v1/reports/{id}",
        "/api/v1/reports/{id}",
        "Withdraw a report",
        ADMINS,
        false,
        [],
        delete(reports::delete_report)
    ),
    route!(
        PATCH,
        "/api/v1/reports/{id}/verification",
        "/api/v1/reports/{id}/verification",
        "Set verification status (recorded with who/when/note)",
        VERIFIERS,
        false,
        [],
        patch(reports::patch_verification)
    ),
    route!(
        GET,
        "/api/v1/cells",
        "/api/v1/cells",
        "Scored hexagons (FeatureCollection)",
        EVERYONE,
        false,
        [P_BBOX, P_RES, P_AT],
        get(cells::get_cells)
    ),
    route!(
        GET,
        "/api/v1/hotspots",
        "/api/v1/hotspots",
        "Ranked hotspot cells with drivers",
        EVERYONE,
        false,
        [P_BBOX, P_RES, P_AT, P_LIMIT, ("format", "json | geojson | csv")],
        get(cells::get_hotspots)
    ),
    route!(
        GET,
        "/api/v1/export",
        "/api/v1/export",
        "Export a layer as the caller may see it (audited)",
        EVERYONE,
        false,
        [("layer", "reports | cells | hotspots"), ("format", "geojson | csv"), P_BBOX, P_RES, P_AT],
        get(cells::get_export)
    ),
    route!(
        GET,
        "/api/v1/patrol-plan",
        "/api/v1/patrol-plan",
        "Patrol positions maximising covered risk (GBV never places a patrol)",
        PLANNERS,
        false,
        [
            ("units", "number of patrols, 1–50 (default 5)"),
            ("radius_m", "coverage radius in metres, 50–20000 (default 1000)"),
            P_RES,
            P_BBOX,
            P_AT,
            ("format", "json | geojson | csv")
        ],
        get(patrol::get_patrol_plan)
    ),
    route!(
        GET,
        "/api/v1/alerts",
        "/api/v1/alerts",
        "Early warnings with response times",
        RESPONDERS,
        false,
        [("status", "active (default) | all"), P_LIMIT],
        get(alerts::get_alerts)
    ),
    route!(
        GET,
        "/api/v1/alerts.cap",
        "/api/v1/alerts.cap",
        "Open alerts as CAP 1.2 XML",
        RESPONDERS,
        false,
        [],
        get(alerts::get_cap)
    ),
    route!(
        GET,
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}",
        "One alert with its lifecycle and actions",
        RESPONDERS,
        false,
        [],
        get(alerts::get_alert)
    ),
    route!(
        POST,
        "/api/v1/alerts/{id}/ack",
        "/api/v1/alerts/{id}/ack",
        "Acknowledge an alert (optional note)",
        RESPONDERS,
        false,
        [],
        post(alerts::post_ack)
    ),
    route!(
        POST,
        "/api/v1/alerts/{id}/resolve",
        "/api/v1/alerts/{id}/resolve",
        "Resolve an alert (optional note)",
        RESPONDERS,
        false,
        [],
        post(alerts::post_resolve)
    ),
    route!(
        POST,
        "/api/v1/alerts/{id}/actions",
        "/api/v1/alerts/{id}/actions",
        "Record an action taken about an alert",
        RESPONDERS,
        false,
        [],
        post(alerts::post_action)
    ),
    route!(
        GET,
        "/api/v1/stream",
        "/api/v1/stream",
        "Server-Sent Events: report, cells, alert",
        EVERYONE,
        false,
        [],
        get(stream::get_stream)
    ),
    route!(
        GET,
        "/tiles/{layer}/{z}/{x}/{y}.geojson",
        "/tiles/{layer}/{z}/{x}/{y}",
        "GeoJSON tile of the risk or reports layer (ETag)",
        EVERYONE,
        false,
        [P_AT],
        get(super::tiles::get_tile)
    ),
    route!(GET, "/openapi.json", "/openapi.json", "This contract", EVERYONE, false, [], get(meta::get_openapi)),
    route!(GET, "/healthz", "/healthz", "Liveness", EVERYONE, true, [], get(meta::get_healthz)),
    route!(GET, "/readyz", "/readyz", "Readiness (the store answers)", EVERYONE, true, [], get(meta::get_readyz)),
    route!(GET, "/metrics", "/metrics", "Prometheus metrics", EVERYONE, false, [], get(meta::get_metrics)),
    route!(GET, "/", "/", "The live risk map", EVERYONE, true, [], get(meta::get_map)),
    route!(GET, "/map/{file}", "/map/{file}", "The map's static files", EVERYONE, true, [], get(meta::get_map_file)),
];

/// The spec a matched route belongs to.
#[must_use]
pub fn spec_for(method: &Method, route: &str) -> Option<&'static RouteSpec> {
    ROUTES
        .iter()
        .find(|s| s.route == route && (s.method == method || (method == Method::HEAD && s.method == Method::GET)))
}

/// The OpenAPI 3.1 document, generated from [`ROUTES`].
#[must_use]
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for spec in ROUTES {
        let entry = paths.entry(spec.path.to_string()).or_insert_with(|| json!({}));
        let mut params: Vec<Value> = spec
            .params
            .iter()
            .map(|(name, description)| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } }))
            .collect();
        for segment in spec.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.split('}').next()) {
                params.push(json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }));
            }
        }
        let roles: Vec<&str> = if spec.open { vec!["anyone"] } else { spec.allowed.iter().map(|r| r.slug()).collect() };
        let responses = json!({
            "200": { "description": "OK" },
            "400": { "description": "Malformed request", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Errors" } } } },
            "401": { "description": "Token required" },
            "403": { "description": "Role not allowed" },
            "422": { "description": "Invalid input", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Errors" } } } },
            "429": { "description": "Rate limited" },
            "503": { "description": "Overloaded or store unavailable" }
        });
        entry[spec.method.as_str().to_ascii_lowercase()] = json!({
            "summary": spec.summary,
            "operationId": format!("{} {}", spec.method, spec.path),
            "parameters": params,
            "x-kinga-roles": roles,
            "security": if spec.open { json!([]) } else { json!([{ "bearer": [] }, {}]) },
            "responses": responses,
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "kinga", "version": env!("CARGO_PKG_VERSION"), "description": "Early-warning and risk-mapping service for community-security work" },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Errors": { "type": "object", "required": ["errors"], "properties": { "errors": { "type": "array", "items": {
                "type": "object", "required": ["field", "code", "message"],
                "properties": { "field": { "type": "string" }, "code": { "type": "string" }, "message": { "type": "string" } } } } } } }
        }
    })
}

/// Query-string helpers shared by the handlers; every error names its parameter.
pub(crate) mod params {
    use super::{ApiError, BBox, DateTime, Resolution, Utc, parse_timestamp};

    pub fn bbox(v: Option<&String>) -> Result<Option<BBox>, ApiError> {
        v.map(|s| {
            BBox::parse(s).map_err(|e| {
                ApiError::bad_param("bbox", format!("bbox must be minLon,minLat,maxLon,maxLat within range ({e:?})"))
            })
        })
        .transpose()
    }

    pub fn at(v: Option<&String>) -> Result<Option<DateTime<Utc>>, ApiError> {
        v.map(|s| {
            parse_timestamp(s).map_err(|_| ApiError::bad_param("at", "at must be an RFC 3339 timestamp with an offset"))
        })
        .transpose()
    }

    pub fn time(name: &str, v: Option<&String>) -> Result<Option<DateTime<Utc>>, ApiError> {
        v.map(|s| {
            parse_timestamp(s)
                .map_err(|_| ApiError::bad_param(name, format!("{name} must be an RFC 3339 timestamp with an offset")))
        })
        .transpose()
    }

    pub fn res(v: Option<&String>, default: u8) -> Result<Resolution, ApiError> {
        let n = match v {
            None => default,
            Some(s) => s.parse::<u8>().map_err(|_| ApiError::bad_param("res", "res must be an integer 5–9"))?,
        };
        crate::index::grid::resolution(n).ok_or_else(|| ApiError::bad_param("res", "res must be an integer 5–9"))
    }

    pub fn limit(v: Option<&String>, default: usize, max: usize) -> Result<usize, ApiError> {
        match v {
            None => Ok(default.min(max)),
            Some(s) => {
                let n =
                    s.parse::<usize>().map_err(|_| ApiError::bad_param("limit", "limit must be a positive integer"))?;
                if n == 0 {
                    return Err(ApiError::bad_param("limit", "limit must be a positive integer"));
                }
                Ok(n.min(max))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_policy_and_an_openapi_entry() {
        let doc = openapi();
        let paths = doc["paths"].as_object().unwrap();
        for spec in ROUTES {
            assert!(spec.open || !spec.allowed.is_empty(), "{} has no policy", spec.path);
            assert!(
                paths[spec.path][spec.method.as_str().to_ascii_lowercase()].is_object(),
                "{} not in OpenAPI",
                spec.path
            );
            assert_eq!(spec_for(&spec.method, spec.route).map(|s| s.path), Some(spec.path));
        }
        let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(operations, ROUTES.len());
    }
}
