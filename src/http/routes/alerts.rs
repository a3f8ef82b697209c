//! Early warnings: the list, one alert with its lifecycle, acknowledge / resolve / actions, and
//! the open alerts as a CAP 1.2 message.

use std::collections::HashMap;
use std::fmt::Write;
use std::str::FromStr;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use h3o::CellIndex;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::params;
use super::reports::read_text;
use crate::domain::FieldError;
use crate::early_warning::{alert_json, response_times};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::views;
use crate::index::grid;
use crate::service::Service;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { f64::midpoint(v[n / 2 - 1], v[n / 2]) })
}

/// `GET /api/v1/alerts?status=active|all&limit`: alerts newest first, with response times
/// per alert and their medians over the list.
///
/// # Errors
/// 400 for a bad parameter; 503 when the store is unavailable.
pub async fn get_alerts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let viewer = state.viewer(&caller);
    let active = match q.get("status").map_or("active", String::as_str) {
        "active" => true,
        "all" => false,
        _ => return Err(ApiError::bad_param("status", "status must be active or all")),
    };
    let limit = params::limit(q.get("limit"), 100, 1_000)?;
    let store = state.service.store();
    let mut items = Vec::new();
    let (mut to_ack, mut to_action, mut to_resolve) = (Vec::new(), Vec::new(), Vec::new());
    for listed in store.list_alerts(active, limit).await? {
        let (alert, events, taken) = store.get_alert(listed.id).await?.ok_or(ApiError::NotFound)?;
        let t = response_times(&alert, &events, &taken);
        to_ack.extend(t.to_ack);
        to_action.extend(t.to_first_action);
        to_resolve.extend(t.to_resolve);
        let mut v = alert_json(&alert, "state", Some(t));
        v["actions"] = json!(taken.len());
        items.push(v);
    }
    let items: Vec<Value> = {
        let engine = state.service.engine();
        let view = engine.at(Service::now_ms());
        items.iter().map(|v| views::alert_for(v, &viewer, &view)).collect()
    };
    let summary = json!({
        "alerts": items.len(),
        "median_time_to_ack_s": median(to_ack),
        "median_time_to_first_action_s": median(to_action),
        "median_time_to_resolve_s": median(to_resolve),
    });
    Ok(axum::Json(json!({ "alerts": items, "stats": summary })).into_response())
}

fn alert_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound)
}

/// `GET /api/v1/alerts/{id}`: one alert, its lifecycle steps and the actions taken.
///
/// # Errors
/// 404 when missing.
pub async fn get_alert(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (a, events, actions) = state.service.store().get_alert(alert_id(&id)?).await?.ok_or(ApiError::NotFound)?;
    let mut v = alert_json(&a, "state", Some(response_times(&a, &events, &actions)));
    v["history"] = json!(
        events
            .iter()
            .map(|e| json!({ "status": e.status, "actor": e.actor, "at": e.at.to_rfc3339(), "note": e.note }))
            .collect::<Vec<_>>()
    );
    v["actions"] = json!(
        actions
            .iter()
            .map(|x| json!({ "action": x.action, "actor": x.actor, "at": x.at.to_rfc3339() }))
            .collect::<Vec<_>>()
    );
    let v = views::alert_for(&v, &state.viewer(&caller), &state.service.engine().at(Service::now_ms()));
    Ok(axum::Json(v).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NoteIn {
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionIn {
    action: String,
}

pub(crate) async fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: Body,
    empty: Option<T>,
) -> Result<T, ApiError> {
    let text = read_text(headers, body, 16 * 1024).await?;
    if text.trim().is_empty()
        && let Some(v) = empty
    {
        return Ok(v);
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = format!("/{}", e.path()).replace('.', "/");
        let message = e.inner().to_string().split(" at line ").next().unwrap_or("invalid").to_string();
        if e.inner().is_data() {
            ApiError::Unprocessable(vec![FieldError::new(field, "invalid", message)])
        } else {
            ApiError::BadRequest(vec![FieldError::new(field, "malformed_json", message)])
        }
    })
}

/// A free-text note or action: at most 2000 characters, and no NUL (which PostgreSQL cannot
/// store in `text`, so both backends refuse it here, before anything is written).
pub(crate) fn check_text(field: &str, text: Option<&str>) -> Result<(), ApiError> {
    match text {
        Some(t) if t.contains('\0') => Err(ApiError::invalid(field, "nul_byte", "must not contain NUL (U+0000)")),
        Some(t) if t.chars().count() > 2_000 => {
            Err(ApiError::invalid(field, "too_long", "must be at most 2000 characters"))
        }
        _ => Ok(()),
    }
}

async fn step(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    body: Body,
    status: &'static str,
) -> Result<Response, ApiError> {
    let id = alert_id(id)?;
    let input: NoteIn = json_body(headers, body, Some(NoteIn::default())).await?;
    check_text("/note", input.note.as_deref())?;
    let a = state.early.step(id, status, &caller.name, input.note).await?;
    Ok(axum::Json(alert_json(&a, status, None)).into_response())
}

/// `POST /api/v1/alerts/{id}/ack` with an optional `{"note": "…"}`.
///
/// # Errors
/// 404 when missing; 422 when the alert is not open.
pub async fn post_ack(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    step(&state, &caller, &id, &headers, body, "acknowledged").await
}

/// `POST /api/v1/alerts/{id}/resolve` with an optional `{"note": "…"}`.
///
/// # Errors
/// 404 when missing; 422 when already resolved.
pub async fn post_resolve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    step(&state, &caller, &id, &headers, body, "resolved").await
}

/// `POST /api/v1/alerts/{id}/actions` with `{"action": "what was done"}` → 201.
///
/// # Errors
/// 404 when missing; 422 for an empty or over-long action.
pub async fn post_action(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = alert_id(&id)?;
    let input: ActionIn = json_body(&headers, body, None).await?;
    if input.action.trim().is_empty() {
        return Err(ApiError::invalid("/action", "empty", "say what was done"));
    }
    check_text("/action", Some(&input.action))?;
    let a = state.early.act(id, input.action, &caller.name).await?;
    Ok((StatusCode::CREATED, axum::Json(alert_json(&a, "action", None))).into_response())
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// CAP date-time: seconds, explicit offset, UTC as `-00:00` (CAP 1.2 §3.3.2).
fn cap_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S-00:00").to_string()
}

/// The open alerts as one CAP 1.2 message, one `<info>` per alert with its hexagon as the area.
#[must_use]
pub fn cap_document(alerts: &[crate::store::AlertRecord], sent: chrono::DateTime<chrono::Utc>, sender: &str) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n",
    );
    let _ = writeln!(out, "  <identifier>kinga-{}</identifier>", sent.timestamp_micros());
    let _ = write!(out, "  <sender>{}</sender>\n  <sent>{}</sent>\n", xml(sender), cap_time(sent));
    out.push_str("  <status>Actual</status>\n  <msgType>Alert</msgType>\n  <scope>Restricted</scope>\n");
    out.push_str(
        "  <restriction>Community security working group, police and authorities of the deployment</restriction>\n",
    );
    for a in alerts {
        let (severity, urgency) = match a.level.as_str() {
            "critical" => ("Extreme", "Immediate"),
            "high" => ("Severe", "Expected"),
            "elevated" => ("Moderate", "Expected"),
            _ => ("Minor", "Future"),
        };
        let event = match a.kind.as_str() {
            "high_risk" => "High risk of violence",
            "spike" => "Spike in incident reports",
            "hotspot" => "New statistically significant hotspot",
            "trigger" => "Verified serious incident",
            "cluster" => "Cluster of mobilisation reports",
            other => other,
        };
        let polygon = CellIndex::from_str(&a.cell).map_or_else(
            |_| String::new(),
            |cell| grid::ring(cell).iter().map(|(lon, lat)| format!("{lat:.6},{lon:.6}")).collect::<Vec<_>>().join(" "),
        );
        out.push_str("  <info>\n    <language>en</language>\n    <category>Security</category>\n");
        let _ = write!(out, "    <event>{}</event>\n    <responseType>Monitor</responseType>\n", xml(event));
        let _ = write!(
            out,
            "    <urgency>{urgency}</urgency>\n    <severity>{severity}</severity>\n    <certainty>Possible</certainty>\n"
        );
        let _ = writeln!(out, "    <effective>{}</effective>", cap_time(a.opened_at));
        let _ = write!(
            out,
            "    <senderName>kinga early warning</senderName>\n    <headline>{} ({})</headline>\n",
            xml(event),
            xml(&a.level)
        );
        let _ = writeln!(out, "    <description>{}</description>", xml(&a.reason));
        let _ = write!(
            out,
            "    <parameter>\n      <valueName>kinga-alert-id</valueName>\n      <value>{}</value>\n    </parameter>\n",
            a.id
        );
        if a.cell.is_empty() {
            out.push_str("    <area>\n      <areaDesc>location withheld (too few reports to publish)</areaDesc>\n");
        } else {
            let _ =
                write!(out, "    <area>\n      <areaDesc>H3 cell {} (resolution {})</areaDesc>\n", xml(&a.cell), a.res);
        }
        if !polygon.is_empty() {
            let _ = writeln!(out, "      <polygon>{polygon}</polygon>");
        }
        out.push_str("    </area>\n  </info>\n");
    }
    out.push_str("</alert>\n");
    out
}

/// `GET /api/v1/alerts.cap`: open alerts as CAP 1.2 XML.
///
/// # Errors
/// 503 when the store is unavailable.
pub async fn get_cap(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let mut alerts = state.service.store().list_alerts(true, 1_000).await?;
    let viewer = state.viewer(&caller);
    if viewer.role.suppressed() {
        // The same generalisation as the JSON: the publication-resolution cell, or no area.
        let engine = state.service.engine();
        let view = engine.at(Service::now_ms());
        for a in &mut alerts {
            let shown = views::published_alert_cell(&a.cell, &viewer, &view);
            a.cell = shown.map(|c| c.to_string()).unwrap_or_default();
            a.res = shown.map_or(0, |c| u8::from(c.resolution()));
        }
    }
    let host = state.service.config().addr.to_string();
    let doc = cap_document(&alerts, chrono::Utc::now(), &format!("kinga@{host}"));
    Ok(([(header::CONTENT_TYPE, "application/cap+xml; charset=utf-8")], doc).into_response())
}
