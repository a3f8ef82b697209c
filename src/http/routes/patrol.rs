//! `GET /api/v1/patrol-plan`: positions for `units` patrols maximising the risk they cover.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::cells::{csv_text, view_params};
use crate::domain::from_millis;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::views::{self, round6};
use crate::scoring::patrol::{self, Method, RiskCell};

/// `units` (1–50, default 5) and `radius_m` (50–20 000, default 1 000). Out of range is a 400,
/// not clamped like a page size: a plan for fewer patrols than asked would read as complete.
fn plan_params(q: &HashMap<String, String>) -> Result<(usize, f64), ApiError> {
    let units = match q.get("units") {
        None => 5,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|u| (1..=50).contains(u))
            .ok_or_else(|| ApiError::bad_param("units", "units must be an integer 1–50"))?,
    };
    let radius_m = match q.get("radius_m") {
        None => 1_000.0,
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && (50.0..=20_000.0).contains(r))
            .ok_or_else(|| ApiError::bad_param("radius_m", "radius_m must be a number of metres, 50–20000"))?,
    };
    Ok((units, radius_m))
}

/// `GET /api/v1/patrol-plan?units&radius_m&res&bbox&at&format=json|geojson|csv`.
///
/// # Errors
/// 400 naming a bad parameter.
pub async fn get_patrol_plan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let viewer = state.viewer(&caller);
    let (res, t, bbox) = view_params(&viewer, &q, 8)?;
    let (units, radius_m) = plan_params(&q)?;
    let plan = {
        let engine = state.service.engine();
        let view = engine.at(t);
        let cells: Vec<RiskCell> = view
            .patrol_risk(res, bbox.as_ref())
            .into_iter()
            .filter(|(s, _)| views::published(s, &viewer))
            .map(|(s, risk)| RiskCell { cell: s.cell, centre: s.centre, risk })
            .collect();
        patrol::plan(&cells, units, radius_m)
    };
    let positions: Vec<Value> = plan
        .positions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "rank": i + 1,
                "cell": p.cell.to_string(),
                "centroid": [round6(p.centre.0), round6(p.centre.1)],
                "risk_covered": (p.risk_covered * 100.0).round() / 100.0,
                "share": if plan.total_risk > 0.0 { ((p.risk_covered / plan.total_risk) * 1000.0).round() / 1000.0 } else { 0.0 },
                "covers": p.covers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let method = match plan.method {
        Method::Exact => "exact",
        Method::Greedy => "greedy (≥ 1 − 1/e of the optimum)",
    };
    let summary = json!({
        "at": from_millis(t).to_rfc3339(),
        "res": u8::from(res),
        "units": units,
        "radius_m": radius_m,
        "method": method,
        "total_risk": (plan.total_risk * 100.0).round() / 100.0,
        "covered_risk": (plan.covered_risk * 100.0).round() / 100.0,
        "share_covered": (plan.share() * 1000.0).round() / 1000.0,
    });
    match q.get("format").map_or("json", String::as_str) {
        "json" => {
            let mut body = summary;
            body["positions"] = json!(positions);
            Ok(axum::Json(body).into_response())
        }
        "geojson" => {
            let features: Vec<Value> = positions
                .into_iter()
                .map(|p| json!({ "type": "Feature", "id": p["cell"].clone(), "geometry": { "type": "Point", "coordinates": p["centroid"].clone() }, "properties": p }))
                .collect();
            let mut body = views::collection(features);
            body["plan"] = summary;
            Ok(([(header::CONTENT_TYPE, "application/geo+json")], body.to_string()).into_response())
        }
        "csv" => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let header_row = ["rank", "cell", "lon", "lat", "risk_covered", "share", "cells_covered"];
            w.write_record(header_row).map_err(|e| ApiError::Internal(e.to_string()))?;
            for p in &positions {
                w.write_record([
                    p["rank"].to_string(),
                    csv_text(p["cell"].as_str().unwrap_or_default()),
                    p["centroid"][0].to_string(),
                    p["centroid"][1].to_string(),
                    p["risk_covered"].to_string(),
                    p["share"].to_string(),
                    p["covers"].as_array().map_or(0, Vec::len).to_string(),
                ])
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
            let bytes = w.into_inner().map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"kinga-patrol-plan.csv\""),
                ],
                bytes,
            )
                .into_response())
        }
        _ => Err(ApiError::bad_param("format", "format must be json, geojson or csv")),
    }
}
