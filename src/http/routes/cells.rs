//! Scored cells, ranked hotspots and exports — all through the role's view.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use h3o::Resolution;
use serde_json::{Map, Value, json};

use super::params;
use super::reports::visible_features;
use crate::domain::{BBox, from_millis};
use crate::http::AppState;
use crate::http::auth::{Caller, Role};
use crate::http::error::ApiError;
use crate::http::views::{self, Viewer, collection};
use crate::service::Service;
use crate::store::ReportQuery;

/// Most hotspots in one list.
const MAX_HOTSPOTS: usize = 500;
/// Most reports in one export.
const MAX_EXPORT_REPORTS: usize = 1_000_000;

/// The resolution and time a viewer gets: suppressed roles get the publication resolution and
/// whole hours (no differencing across resolutions or arbitrary instants).
pub(crate) fn view_params(
    viewer: &Viewer,
    q: &HashMap<String, String>,
    default_res: u8,
) -> Result<(Resolution, i64, Option<BBox>), ApiError> {
    let res = params::res(q.get("res"), default_res)?;
    let at = params::at(q.get("at"))?;
    let bbox = params::bbox(q.get("bbox"))?;
    let mut t = Service::at_ms(at);
    if viewer.role.suppressed() {
        if at.is_some() {
            t -= t.rem_euclid(3_600_000);
        }
        return Ok((viewer.publication_res, t, bbox));
    }
    Ok((res, t, bbox))
}

/// Cell features (suppressed ones omitted) for a viewer.
pub(crate) fn cell_features(
    state: &AppState,
    viewer: &Viewer,
    res: Resolution,
    t: i64,
    bbox: Option<&BBox>,
) -> Vec<Value> {
    let engine = state.service.engine();
    let view = engine.at(t);
    view.cells(res, bbox)
        .iter()
        .filter(|s| views::published(s, viewer))
        .filter_map(|s| views::cell_feature(s, Some(&view.drivers(s.cell)), viewer))
        .collect()
}

fn geojson_response(body: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], body.to_string()).into_response()
}

/// `GET /api/v1/cells?bbox&res&at`.
pub async fn get_cells(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let viewer = state.viewer(&caller);
    let (res, t, bbox) = view_params(&viewer, &q, 9)?;
    let mut body = collection(cell_features(&state, &viewer, res, t, bbox.as_ref()));
    body["at"] = json!(from_millis(t).to_rfc3339());
    body["res"] = json!(u8::from(res));
    Ok(geojson_response(&body))
}

/// Ranked hotspots as JSON objects for a viewer.
pub(crate) fn hotspot_list(
    state: &AppState,
    viewer: &Viewer,
    res: Resolution,
    t: i64,
    bbox: Option<&BBox>,
    limit: usize,
) -> Vec<Map<String, Value>> {
    let engine = state.service.engine();
    let view = engine.at(t);
    // Suppressed viewers: rank everything, then drop unpublished cells, so the list is full.
    let ask = if viewer.role.suppressed() { usize::MAX } else { limit };
    let mut out: Vec<Map<String, Value>> =
        view.hotspots(res, bbox, ask).iter().filter_map(|h| views::hotspot_json(h, viewer)).take(limit).collect();
    for (i, h) in out.iter_mut().enumerate() {
        h.insert("rank".into(), json!(i + 1));
    }
    out
}

/// Neutralises a CSV text cell against formula injection (R15): a leading `=`, `+`, `-`, `@`,
/// tab, CR or NUL gets a `'` in front.
#[must_use]
pub fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r', '\0']) { format!("'{s}") } else { s.to_string() }
}

fn csv_response(name: &str, rows: Vec<Vec<String>>) -> Result<Response, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.write_record(&row).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        bytes,
    )
        .into_response())
}

fn hotspot_csv_rows(list: &[Map<String, Value>]) -> Vec<Vec<String>> {
    let header = [
        "rank",
        "cell",
        "lon",
        "lat",
        "score",
        "level",
        "gi_z",
        "trend",
        "reports",
        "top_categories",
        "last_report_at",
    ];
    let mut rows = vec![header.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()];
    for h in list {
        let num = |k: &str| h.get(k).map_or(String::new(), |v| if v.is_null() { String::new() } else { v.to_string() });
        let text = |k: &str| h.get(k).and_then(Value::as_str).map_or(String::new(), csv_text);
        let cats: Vec<String> = h
            .get("top_categories")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("category").and_then(Value::as_str).map(str::to_string))
            .collect();
        let centroid = h.get("centroid").and_then(Value::as_array);
        let coord = |i: usize| centroid.and_then(|c| c.get(i)).map_or(String::new(), ToString::to_string);
        rows.push(vec![
            num("rank"),
            text("cell"),
            coord(0),
            coord(1),
            num("score"),
            text("level"),
            num("gi_z"),
            text("trend"),
            num("reports"),
            csv_text(&cats.join(";")),
            text("last_report_at"),
        ]);
    }
    rows
}

/// Turns a layer's Features into CSV rows (header first).
type CsvRows = fn(&[Value]) -> Vec<Vec<String>>;

/// Hotspot CSV rows from hotspot Features (their properties are the hotspot objects).
fn hotspot_feature_csv_rows(features: &[Value]) -> Vec<Vec<String>> {
    let list: Vec<Map<String, Value>> = features.iter().filter_map(|f| f["properties"].as_object().cloned()).collect();
    hotspot_csv_rows(&list)
}

fn hotspot_features(list: Vec<Map<String, Value>>) -> Vec<Value> {
    list.into_iter()
        .map(|h| {
            let geometry = json!({ "type": "Point", "coordinates": h.get("centroid").cloned().unwrap_or(Value::Null) });
            json!({ "type": "Feature", "id": h.get("cell").cloned().unwrap_or(Value::Null), "geometry": geometry, "properties": h })
        })
        .collect()
}

/// `GET /api/v1/hotspots?limit&res&bbox&at&format=json|geojson|csv`.
pub async fn get_hotspots(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let viewer = state.viewer(&caller);
    let (res, t, bbox) = view_params(&viewer, &q, 9)?;
    let limit = params::limit(q.get("limit"), 20, MAX_HOTSPOTS)?;
    let list = hotspot_list(&state, &viewer, res, t, bbox.as_ref(), limit);
    match q.get("format").map_or("json", String::as_str) {
        "json" => Ok(axum::Json(json!({ "at": from_millis(t).to_rfc3339(), "res": u8::from(res), "hotspots": list }))
            .into_response()),
        "geojson" => {
            let mut body = collection(hotspot_features(list));
            body["at"] = json!(from_millis(t).to_rfc3339());
            Ok(geojson_response(&body))
        }
        "csv" => csv_response("kinga-hotspots", hotspot_csv_rows(&list)),
        _ => Err(ApiError::bad_param("format", "format must be json, geojson or csv")),
    }
}

/// `GET /api/v1/export?layer=reports|cells|hotspots&format=geojson|csv`: the caller's view,
/// written to the audit log. Point-level reports need a role that sees points.
pub async fn get_export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let viewer = state.viewer(&caller);
    let layer = q.get("layer").map_or("reports", String::as_str).to_string();
    let format = q.get("format").map_or("geojson", String::as_str).to_string();
    if !matches!(format.as_str(), "geojson" | "csv") {
        return Err(ApiError::bad_param("format", "format must be geojson or csv"));
    }
    let filter = {
        let mut keys: Vec<_> =
            q.iter().filter(|(k, _)| k.as_str() != "purpose").map(|(k, v)| format!("{k}={v}")).collect();
        keys.sort();
        keys.join("&")
    };
    let (res, t, bbox) = view_params(&viewer, &q, 9)?;
    let (name, features, rows): (&str, Vec<Value>, CsvRows) = match layer.as_str() {
        "reports" => {
            if !caller.role.sees_points() {
                if caller.role != Role::Public {
                    state.service.audit(&caller.name, "denied", vec!["export:reports".into()], filter, 0).await?;
                }
                return Err(ApiError::Forbidden);
            }
            let reports = export_reports(&state, bbox).await?;
            ("kinga-reports", visible_features(&reports, &viewer), report_csv_rows)
        }
        "cells" => ("kinga-cells", cell_features(&state, &viewer, res, t, bbox.as_ref()), cell_csv_rows),
        "hotspots" => {
            let list = hotspot_list(&state, &viewer, res, t, bbox.as_ref(), MAX_HOTSPOTS);
            ("kinga-hotspots", hotspot_features(list), hotspot_feature_csv_rows)
        }
        _ => return Err(ApiError::bad_param("layer", "layer must be reports, cells or hotspots")),
    };
    let count = features.len();
    let response = if format == "geojson" {
        geojson_response(&collection(features))
    } else {
        csv_response(name, rows(&features))?
    };
    state.service.audit(&caller.name, "export", vec![format!("{layer}:{format}")], filter, count).await?;
    Ok(response)
}

async fn export_reports(state: &AppState, bbox: Option<BBox>) -> Result<Vec<crate::domain::Report>, ApiError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state.service.query(&ReportQuery { bbox, after, limit: 10_000, ..ReportQuery::default() }).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.received_at(), last.id()));
        out.extend(page);
        if out.len() >= MAX_EXPORT_REPORTS {
            break;
        }
    }
    Ok(out)
}

fn report_csv_rows(features: &[Value]) -> Vec<Vec<String>> {
    let header = [
        "id",
        "occurred_at",
        "lon",
        "lat",
        "category",
        "severity",
        "source",
        "verification",
        "location_precision",
        "description",
    ];
    let mut rows = vec![header.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()];
    for f in features {
        let p = &f["properties"];
        let text = |k: &str| p.get(k).and_then(Value::as_str).map_or(String::new(), csv_text);
        let c = &f["geometry"]["coordinates"];
        rows.push(vec![
            text("id"),
            text("occurred_at"),
            c.get(0).map_or(String::new(), ToString::to_string),
            c.get(1).map_or(String::new(), ToString::to_string),
            text("category"),
            p.get("severity").map_or(String::new(), ToString::to_string),
            text("source"),
            text("verification"),
            text("location_precision"),
            text("description"),
        ]);
    }
    rows
}

fn cell_csv_rows(features: &[Value]) -> Vec<Vec<String>> {
    let header =
        ["cell", "res", "score", "level", "intensity", "anomaly_z", "gi_z", "trend", "reports", "top_categories"];
    let mut rows = vec![header.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()];
    for f in features {
        let p = &f["properties"];
        let num = |k: &str| p.get(k).map_or(String::new(), |v| if v.is_null() { String::new() } else { v.to_string() });
        let text = |k: &str| p.get(k).and_then(Value::as_str).map_or(String::new(), csv_text);
        let cats: Vec<&str> = p
            .get("top_categories")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("category").and_then(Value::as_str))
            .collect();
        rows.push(vec![
            text("cell"),
            num("res"),
            num("score"),
            text("level"),
            num("intensity"),
            num("anomaly_z"),
            num("gi_z"),
            text("trend"),
            num("reports"),
            csv_text(&cats.join(";")),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::csv_text;

    #[test]
    fn formula_triggers_are_neutralised() {
        for s in ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\0x"] {
            assert!(csv_text(s).starts_with('\''), "{s:?}");
        }
        assert_eq!(csv_text("peace meeting"), "peace meeting");
    }
}
