//! Report intake, listing, detail, verification and withdrawal.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::params;
use crate::domain::{Category, FieldError, Report, ReportInput, Sensitivity, Verification};
use crate::http::AppState;
use crate::http::auth::{Caller, Role};
use crate::http::error::ApiError;
use crate::http::intake::{self, BulkItem, IntakeError};
use crate::http::views::{self, Viewer, collection, report_feature};
use crate::service::ItemOutcome;
use crate::store::ReportQuery;

/// Largest page for roles that see points.
const MAX_PRIVILEGED_PAGE: usize = 1_000;

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Reads at most `limit` bytes of body as UTF-8 (413 beyond, 400 for invalid UTF-8).
pub(crate) async fn read_text(headers: &HeaderMap, body: Body, limit: usize) -> Result<String, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge(limit))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::BadRequest(vec![FieldError::new("", "malformed_json", "the body is not valid UTF-8")]))
}

fn intake_error(e: IntakeError) -> ApiError {
    match e {
        IntakeError::Syntax(e) => ApiError::BadRequest(e),
        IntakeError::Invalid(e) => ApiError::Unprocessable(e),
    }
}

/// The caller's view of a report, or a receipt when the caller may not see it (e.g. a
/// reporter's own unverified report): id, time received, status — no location.
fn view_or_receipt(r: &Report, viewer: &Viewer) -> Value {
    report_feature(r, viewer).unwrap_or_else(|| {
        json!({
            "type": "Feature",
            "id": r.id().to_string(),
            "geometry": null,
            "properties": {
                "id": r.id().to_string(),
                "received_at": r.received_at().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                "category": r.category().slug(),
                "verification": r.verification().slug(),
                "location_precision": "withheld",
            }
        })
    })
}

fn geojson(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/geo+json")], body.to_string()).into_response()
}

/// `POST /api/v1/reports`: one Feature → 201 (200 on an identical replay, 422 on a conflicting one).
pub async fn post_report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !matches!(media_type(&headers).as_str(), "application/geo+json" | "application/json") {
        return Err(ApiError::UnsupportedMediaType("application/geo+json or application/json"));
    }
    let text = read_text(&headers, body, state.service.config().limits.report_body_bytes).await?;
    let input = intake::parse_feature(&text).map_err(intake_error)?;
    let outcome = state.service.submit(vec![input], false).await?.into_iter().next();
    let viewer = state.viewer(&caller);
    match outcome {
        Some(ItemOutcome::Created(r)) => {
            state.metrics.reports_accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(report = %r.id(), "report accepted");
            let mut resp = geojson(StatusCode::CREATED, &view_or_receipt(&r, &viewer));
            if let Ok(v) = format!("/api/v1/reports/{}", r.id()).parse() {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        Some(ItemOutcome::Duplicate(r)) => Ok(geojson(StatusCode::OK, &view_or_receipt(&r, &viewer))),
        Some(ItemOutcome::Rejected(e)) => {
            state.metrics.reports_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(ApiError::from(e))
        }
        None => Err(ApiError::Internal("no outcome for a submitted report".into())),
    }
}

/// `POST /api/v1/reports/bulk`: FeatureCollection, NDJSON or CSV; per-item results.
pub async fn post_reports_bulk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let backfill = match q.get("backfill").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_param("backfill", "backfill must be true or false")),
    };
    if backfill && caller.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let kind = media_type(&headers);
    let csv = kind == "text/csv";
    if !matches!(
        kind.as_str(),
        "application/geo+json"
            | "application/json"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/geo+json-seq"
            | "text/csv"
    ) {
        return Err(ApiError::UnsupportedMediaType(
            "application/geo+json (FeatureCollection), application/x-ndjson or text/csv",
        ));
    }
    let text = read_text(&headers, body, state.service.config().limits.bulk_body_bytes).await?;
    let items: Vec<BulkItem> = match kind.as_str() {
        "text/csv" => intake::parse_csv(&text).map_err(intake_error)?,
        "application/geo+json" | "application/json" => intake::parse_collection(&text).map_err(intake_error)?,
        _ => intake::parse_ndjson(&text),
    };
    let mut rejected: Vec<(usize, Vec<FieldError>)> = Vec::new();
    let mut inputs: Vec<ReportInput> = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
    for (index, item) in items {
        match item {
            Ok(input) => {
                inputs.push(input);
                positions.push(index);
            }
            Err(e) => rejected.push((index, e.errors().to_vec())),
        }
    }
    let outcomes = if inputs.is_empty() { Vec::new() } else { state.service.submit(inputs, backfill).await? };
    let (mut accepted, mut duplicates, mut ids) = (0usize, 0usize, Vec::new());
    for (pos, outcome) in positions.into_iter().zip(outcomes) {
        match outcome {
            ItemOutcome::Created(r) => {
                accepted += 1;
                ids.push(r.id().to_string());
            }
            ItemOutcome::Duplicate(_) => duplicates += 1,
            ItemOutcome::Rejected(e) => rejected.push((pos, e.0)),
        }
    }
    rejected.sort_by_key(|(i, _)| *i);
    state.metrics.reports_accepted.fetch_add(accepted as u64, std::sync::atomic::Ordering::Relaxed);
    state.metrics.reports_rejected.fetch_add(rejected.len() as u64, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(accepted, duplicates, rejected = rejected.len(), "bulk intake");
    let rejected_json: Vec<Value> = rejected
        .iter()
        .map(|(index, errors)| {
            let errors: Vec<FieldError> = errors
                .iter()
                .map(|e| if csv { FieldError { field: intake::csv_column(&e.field), ..e.clone() } } else { e.clone() })
                .collect();
            json!({ "index": index, "errors": errors })
        })
        .collect();
    let mut body = json!({ "accepted": accepted, "duplicates": duplicates, "rejected": rejected_json, "ids": ids });
    let status = if accepted + duplicates == 0 && !rejected.is_empty() {
        // Nothing usable: a 422 whose `errors` point into the body.
        let errors: Vec<FieldError> = rejected
            .iter()
            .flat_map(|(index, errs)| {
                errs.iter().map(move |e| FieldError {
                    field: if csv {
                        format!("row {}: {}", index + 1, intake::csv_column(&e.field))
                    } else {
                        format!("/features/{index}{}", e.field)
                    },
                    ..e.clone()
                })
            })
            .collect();
        body["errors"] = json!(errors);
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(body)).into_response())
}

fn parse_list<T>(name: &str, v: Option<&String>, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, ApiError> {
    v.map_or(Ok(Vec::new()), |s| {
        s.split(',')
            .map(|p| parse(p.trim()).ok_or_else(|| ApiError::bad_param(name, format!("unknown {name} value"))))
            .collect()
    })
}

fn cursor(v: Option<&String>) -> Result<Option<(chrono::DateTime<chrono::Utc>, Uuid)>, ApiError> {
    let bad = || ApiError::bad_param("cursor", "cursor must be the next_cursor of a previous page");
    v.map(|c| {
        let (t, id) = c.split_once('_').ok_or_else(bad)?;
        let micros = t.parse::<i64>().map_err(|_| bad())?;
        Ok((chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?, Uuid::parse_str(id).map_err(|_| bad())?))
    })
    .transpose()
}

/// `GET /api/v1/reports`: a page of reports, filtered in the query itself by what the caller
/// may see (so pages are full and counts honest).
pub async fn get_reports(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let privileged = caller.role.sees_points();
    if !privileged && (q.contains_key("from") || q.contains_key("to")) {
        let name = if q.contains_key("from") { "from" } else { "to" };
        return Err(ApiError::bad_param(
            name,
            "ad-hoc time windows are not available to this role; use the published time bins",
        ));
    }
    let max = if privileged { MAX_PRIVILEGED_PAGE } else { state.service.config().limits.max_page };
    let mut categories = parse_list("category", q.get("category"), Category::from_slug)?;
    let mut verification = parse_list("verification", q.get("verification"), Verification::from_slug)?;
    if !privileged {
        // Only verified, non-restricted reports exist for these roles.
        if verification.is_empty() {
            verification = vec![Verification::Verified];
        }
        verification.retain(|v| *v == Verification::Verified);
        if categories.is_empty() {
            categories = Category::ALL.to_vec();
        }
        categories.retain(|c| c.sensitivity() != Sensitivity::Restricted);
        if verification.is_empty() || categories.is_empty() {
            return Ok(geojson(StatusCode::OK, &collection(Vec::new())));
        }
    }
    let query = ReportQuery {
        bbox: params::bbox(q.get("bbox"))?,
        from: params::time("from", q.get("from"))?,
        to: params::time("to", q.get("to"))?,
        categories,
        verification,
        after: cursor(q.get("cursor"))?,
        limit: params::limit(q.get("limit"), 100.min(max), max)?,
    };
    let page = state.service.query(&query).await?;
    let viewer = state.viewer(&caller);
    let features: Vec<Value> = page.iter().filter_map(|r| report_feature(r, &viewer)).collect();
    let mut body = collection(features);
    if page.len() == query.limit
        && let Some(last) = page.last()
    {
        body["next_cursor"] = json!(format!("{}_{}", last.received_at().timestamp_micros(), last.id()));
    }
    if privileged {
        state.service.audit(&caller.name, "read_points", Vec::new(), "GET /api/v1/reports".into(), page.len()).await?;
    }
    Ok(geojson(StatusCode::OK, &body))
}

/// `GET /api/v1/reports/{id}`: 404 for a missing report and for one the caller may not see.
pub async fn get_report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let report = state.service.get(id).await?.ok_or(ApiError::NotFound)?;
    let viewer = state.viewer(&caller);
    let mut feature = report_feature(&report, &viewer).ok_or(ApiError::NotFound)?;
    if matches!(caller.role, Role::Verifier | Role::Admin) {
        let history: Vec<Value> = state
            .service
            .verification_history(id)
            .await?
            .into_iter()
            .map(|c| json!({ "status": c.status.slug(), "actor": c.actor, "at": c.at.to_rfc3339(), "note": c.note }))
            .collect();
        feature["properties"]["verification_history"] = json!(history);
    }
    if caller.role.sees_points() {
        state.service.audit(&caller.name, "read_restricted", vec![id.to_string()], String::new(), 1).await?;
    }
    Ok(geojson(StatusCode::OK, &feature))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationIn {
    status: String,
    note: Option<String>,
}

/// `PATCH /api/v1/reports/{id}/verification`: `{"status": "verified", "note": "…"}`.
pub async fn patch_verification(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let input: VerificationIn = super::alerts::json_body(&headers, body, None).await?;
    let status = Verification::from_slug(&input.status).ok_or_else(|| {
        ApiError::invalid("/status", "unknown_status", "status must be unverified, verified, disputed or debunked")
    })?;
    super::alerts::check_text("/note", input.note.as_deref())?;
    let report = state.service.verify(id, status, input.note, &caller.name).await?;
    tracing::info!(report = %id, status = status.slug(), "verification changed");
    Ok(geojson(StatusCode::OK, &view_or_receipt(&report, &state.viewer(&caller))))
}

/// `DELETE /api/v1/reports/{id}`: withdraw (204; 404 when missing).
pub async fn delete_report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    state.service.withdraw(id, &caller.name).await?;
    tracing::info!(report = %id, "report withdrawn");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks a role's own view is what the chokepoint says (used by the export of reports).
pub(crate) fn visible_features(reports: &[Report], viewer: &Viewer) -> Vec<Value> {
    reports.iter().filter_map(|r| views::report_feature(r, viewer)).collect()
}
