//! Table (b) of reference/reliability.md: every row that applies to the HTTP API, each asserting
//! the status, the named field and an unchanged store.

use axum::http::StatusCode;
use kinga::http::auth::Role;
use serde_json::{Value, json};

use crate::support::{App, feature, spawn_app};

const OK_AT: &str = "2025-05-01T10:00:00Z";

fn base() -> Value {
    let mut f = feature(34.7617, -0.0917, "rumour", 2, 0);
    f["properties"]["occurred_at"] = json!(OK_AT);
    f
}

async fn rejected(app: &App, body: &str, content_type: &str, status: StatusCode, field: &str) {
    let before = app.count().await;
    let r = app.send(Role::Reporter, "POST", "/api/v1/reports", Some(content_type), body.to_string()).await;
    assert_eq!(r.status, status, "{body:.120} → {}", r.text);
    assert_eq!(r.field(), field, "{body:.120} → {}", r.text);
    assert!(r.json()["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(app.count().await, before, "a rejected request stored something");
}

async fn json_row(app: &App, f: &Value, status: StatusCode, field: &str) {
    rejected(app, &f.to_string(), "application/geo+json", status, field).await;
}

fn with(path: &[&str], value: Value) -> Value {
    let mut f = base();
    let mut slot = &mut f;
    for p in &path[..path.len() - 1] {
        slot = &mut slot[*p];
    }
    slot[path[path.len() - 1]] = value;
    f
}

#[tokio::test]
async fn transport_and_json_rows() {
    let app = spawn_app().await;
    let ok = base().to_string();
    // J1 media type.
    rejected(&app, &ok, "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type").await;
    // J2 over the limit (64 KiB for one report).
    let mut big = base();
    big["properties"]["description"] = json!("x".repeat(3 << 20));
    rejected(&app, &big.to_string(), "application/geo+json", StatusCode::PAYLOAD_TOO_LARGE, "").await;
    // J3 truncated, J4 NaN, J5 1e400, J10 deep nesting, J11 invalid UTF-8: 400.
    rejected(&app, r#"{"type":"Feature","geometry":"#, "application/geo+json", StatusCode::BAD_REQUEST, "/geometry")
        .await;
    rejected(
        &app,
        &ok.replace("34.7617", "NaN"),
        "application/geo+json",
        StatusCode::BAD_REQUEST,
        "/geometry/coordinates/0",
    )
    .await;
    rejected(
        &app,
        &ok.replace("34.7617", "1e400"),
        "application/geo+json",
        StatusCode::BAD_REQUEST,
        "/geometry/coordinates/0",
    )
    .await;
    // 200 levels fit in the body limit and exceed serde_json's depth limit (128): 400.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let r = app.send(Role::Reporter, "POST", "/api/v1/reports", Some("application/geo+json"), deep).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json".to_string()));
    assert!(r.field().starts_with("/0/0/0"), "the pointer shows where the depth ran out");
    // 100 000 levels are over the body limit first: 413, nothing buffered past it.
    let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    rejected(&app, &deeper, "application/geo+json", StatusCode::PAYLOAD_TOO_LARGE, "").await;
    let before = app.count().await;
    let mut bytes = ok.clone().into_bytes();
    let at = ok.find("Youths").unwrap();
    bytes[at] = 0xFF;
    bytes[at + 1] = 0xFE;
    let r = app.send(Role::Reporter, "POST", "/api/v1/reports", Some("application/geo+json"), bytes).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count().await, before);
    // J6 wrong type, J7 missing, J8 mass assignment, J9 duplicate key: 422 naming the field.
    json_row(
        &app,
        &with(&["properties", "severity"], json!("2")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/severity",
    )
    .await;
    let mut missing = base();
    missing["properties"].as_object_mut().unwrap().remove("occurred_at");
    json_row(&app, &missing, StatusCode::UNPROCESSABLE_ENTITY, "/properties/occurred_at").await;
    json_row(
        &app,
        &with(&["properties", "verification"], json!("verified")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/verification",
    )
    .await;
    json_row(
        &app,
        &with(&["properties", "reporter_id"], json!("admin")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/reporter_id",
    )
    .await;
    json_row(&app, &with(&["properties", "score"], json!(99)), StatusCode::UNPROCESSABLE_ENTITY, "/properties/score")
        .await;
    rejected(
        &app,
        &ok.replace(r#""severity":2"#, r#""severity":2,"severity":5"#),
        "application/geo+json",
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/severity",
    )
    .await;
    // J12 NUL, J13 too long, J14 unknown category, J15 bad id.
    json_row(
        &app,
        &with(&["properties", "description"], json!("a\u{0}b")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/description",
    )
    .await;
    json_row(
        &app,
        &with(&["properties", "description"], json!("x".repeat(4001))),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/description",
    )
    .await;
    json_row(
        &app,
        &with(&["properties", "category"], json!("riot2")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/category",
    )
    .await;
    json_row(&app, &with(&["properties", "id"], json!("1")), StatusCode::UNPROCESSABLE_ENTITY, "/properties/id").await;
    json_row(
        &app,
        &with(&["properties", "severity"], json!(0)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/severity",
    )
    .await;
    json_row(
        &app,
        &with(&["properties", "severity"], json!(2.5)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/severity",
    )
    .await;
    json_row(
        &app,
        &with(&["properties", "source"], json!("twitter")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/properties/source",
    )
    .await;
    assert_eq!(app.count().await, 0);
}

#[tokio::test]
async fn coordinate_and_geojson_rows() {
    let app = spawn_app().await;
    let coords = |c: Value| with(&["geometry", "coordinates"], c);
    json_row(&app, &coords(json!([38.74, 91])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates/1").await;
    json_row(&app, &coords(json!([181, 9])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates/0").await;
    json_row(&app, &coords(json!([540, 0])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates/0").await;
    // G3 swapped lat/lon: both in range, outside the region.
    json_row(&app, &coords(json!([-0.0917, 34.7617])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates").await;
    let r = app.post_report(&coords(json!([-0.0917, 34.7617]))).await;
    assert_eq!(r.code(), "location_outside_region");
    json_row(&app, &coords(json!([9.0])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates").await;
    json_row(&app, &coords(json!([])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates").await;
    json_row(&app, &coords(json!([34.7, -0.09, 2300, 17])), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/coordinates")
        .await;
    json_row(&app, &with(&["geometry"], Value::Null), StatusCode::UNPROCESSABLE_ENTITY, "/geometry").await;
    json_row(&app, &with(&["geometry", "type"], json!("Pointz")), StatusCode::UNPROCESSABLE_ENTITY, "/geometry/type")
        .await;
    let line = with(&["geometry"], json!({ "type": "LineString", "coordinates": [[34.7, -0.09], [34.8, -0.1]] }));
    json_row(&app, &line, StatusCode::UNPROCESSABLE_ENTITY, "/geometry/type").await;
    let gc = with(&["geometry"], json!({ "type": "GeometryCollection", "geometries": [] }));
    json_row(&app, &gc, StatusCode::UNPROCESSABLE_ENTITY, "/geometry/type").await;
    json_row(&app, &with(&["type"], json!("FeatureCollection")), StatusCode::UNPROCESSABLE_ENTITY, "/type").await;
    // G16 invalid resolution, bad bbox.
    let r = app.get(Role::Analyst, "/api/v1/cells?res=16").await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "res".to_string()));
    let r = app.get(Role::Analyst, "/api/v1/hotspots?bbox=1,2,3").await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "bbox".to_string()));
    let r = app.get(Role::Analyst, "/api/v1/cells?at=yesterday").await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "at".to_string()));
    // G9: an antimeridian box is a valid query.
    assert_eq!(app.get(Role::Analyst, "/api/v1/reports?bbox=177,-20,-178,-16").await.status, StatusCode::OK);
    assert_eq!(app.count().await, 0);
}

#[tokio::test]
async fn time_rows() {
    let app = spawn_app().await;
    let at = |t: &str| with(&["properties", "occurred_at"], json!(t));
    for bad in [
        "2024-05-01T10:00:00",
        "2024-05-01",
        "2024-02-30T10:00:00Z",
        "2024-05-01T10:00:00+24:00",
        "+10000-01-01T00:00:00Z",
    ] {
        json_row(&app, &at(bad), StatusCode::UNPROCESSABLE_ENTITY, "/properties/occurred_at").await;
    }
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    json_row(&app, &at(&future), StatusCode::UNPROCESSABLE_ENTITY, "/properties/occurred_at").await;
    assert_eq!(app.post_report(&at(&future)).await.code(), "occurred_at_in_future");
    json_row(&app, &at("1969-12-31T23:59:59Z"), StatusCode::UNPROCESSABLE_ENTITY, "/properties/occurred_at").await;
    assert_eq!(app.post_report(&at("1969-12-31T23:59:59Z")).await.code(), "occurred_at_before_deployment");
    // T5 leap second, T6 space separator and lower case, T7 many fractional digits: accepted.
    for ok in ["2016-12-31T23:59:60Z", "2024-05-01 10:00:00z", "2024-05-01t10:00:00.123456789123Z"] {
        let r = app.post_report(&at(ok)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{ok}: {}", r.text);
    }
    let leap = app.get(Role::Analyst, "/api/v1/reports?limit=10").await.json();
    let times: Vec<&str> =
        leap["features"].as_array().unwrap().iter().map(|f| f["properties"]["occurred_at"].as_str().unwrap()).collect();
    assert!(times.contains(&"2016-12-31T23:59:59Z"), "{times:?}");
}

#[tokio::test]
async fn query_rows_for_roles_without_points() {
    let app = spawn_app().await;
    // X2: huge pages are clamped to 100 for the public.
    for i in 0..105 {
        let id = app.post_report(&feature(34.7617 + f64::from(i) * 1e-4, -0.0917, "rumour", 2, 30)).await.json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.verify(&id, "verified").await;
    }
    let page = app.get(Role::Public, "/api/v1/reports?limit=1000000").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json()["features"].as_array().unwrap().len(), 100);
    // X3: ad-hoc windows are refused to roles without points.
    let r = app.get(Role::Planner, "/api/v1/reports?from=2024-01-01T00:00:00Z&to=2024-02-01T00:00:00Z").await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "from".to_string()));
    assert_eq!(app.get(Role::Analyst, "/api/v1/reports?from=2024-01-01T00:00:00Z").await.status, StatusCode::OK);
    // X4: point-level export by a planner is refused and audited.
    let before = app.store.audit_log(0, 1000).await.unwrap().len();
    let r = app.get(Role::Planner, "/api/v1/export?layer=reports&format=geojson").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let log = app.store.audit_log(0, 1000).await.unwrap();
    assert_eq!(log.len(), before + 1);
    assert_eq!((log.last().unwrap().action.as_str(), log.last().unwrap().actor.as_str()), ("denied", "planner-1"));
    // Pages of a privileged listing chain through next_cursor without loss.
    let mut seen = 0;
    let mut uri = "/api/v1/reports?limit=40".to_string();
    loop {
        let page = app.get(Role::Analyst, &uri).await.json();
        seen += page["features"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/reports?limit=40&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, 105);
}

/// NUL in the free text of a verification note or an alert action: 422 naming the field, on
/// both backends alike (PostgreSQL cannot store it), and nothing written.
#[tokio::test]
async fn nul_in_notes_and_actions_is_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let r = app.post_report(&feature(34.7617, -0.0917, "killing", 5, 20)).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let body = json!({ "status": "verified", "note": "ok\u{0}then" }).to_string();
    let path = format!("/api/v1/reports/{id}/verification");
    let bad = app.send(Role::Verifier, "PATCH", &path, Some("application/json"), body).await;
    assert_eq!(
        (bad.status, bad.field(), bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "/note".into(), "nul_byte".into())
    );
    let stored = app.store.get_report(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.verification(), kinga::domain::Verification::Unverified);
    assert!(app.store.verification_history(id.parse().unwrap()).await.unwrap().is_empty());

    app.verify(&id, "verified").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let cells: Vec<h3o::CellIndex> = app.service.engine().entries().map(|e| e.cell).collect();
    app.state.early.evaluate(&cells).await.unwrap();
    let alerts = app.get(Role::Analyst, "/api/v1/alerts").await.json();
    let alert = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    let body = json!({ "action": "patrol\u{0}" }).to_string();
    let path = format!("/api/v1/alerts/{alert}/actions");
    let bad = app.send(Role::Analyst, "POST", &path, Some("application/json"), body).await;
    assert_eq!(
        (bad.status, bad.field(), bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "/action".into(), "nul_byte".into())
    );
    let (_, _, actions) = app.store.get_alert(alert.parse().unwrap()).await.unwrap().unwrap();
    assert!(actions.is_empty());
}
