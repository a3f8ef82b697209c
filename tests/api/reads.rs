//! Reads: cells, hotspots, exports, tiles (`ETag`, 304, gzip), OpenAPI.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kinga::http::auth::Role;
use tower::ServiceExt;

use crate::support::{App, assert_rfc7946, feature, spawn_app};

async fn seed(app: &App) {
    for (i, (cat, sev)) in
        [("armed-clash", 4), ("mobilisation", 3), ("rumour", 2), ("hate-speech", 3), ("roadblock", 3), ("assault", 3)]
            .iter()
            .enumerate()
    {
        let mut f = feature(34.7617 + i as f64 * 2e-4, -0.0917, cat, *sev, 60 + i as i64);
        f["properties"]["description"] = serde_json::json!(format!("=HYPERLINK(\"http://x\",\"{i}\")"));
        let id = app.post_report(&f).await.json()["id"].as_str().unwrap().to_string();
        app.verify(&id, "verified").await;
    }
    app.post_report(&feature(34.90, -0.17, "cattle-raid", 3, 120)).await;
}

#[tokio::test]
async fn cells_and_hotspots_carry_the_contract_fields() {
    let app = spawn_app().await;
    seed(&app).await;
    let cells = app.get(Role::Analyst, "/api/v1/cells?res=8&bbox=34.7,-0.2,34.8,0").await;
    assert_eq!(cells.headers[header::CONTENT_TYPE], "application/geo+json");
    let cells = cells.json();
    assert_rfc7946(&cells);
    let f = &cells["features"][0]["properties"];
    for key in ["cell", "res", "score", "level", "intensity", "anomaly_z", "gi_z", "trend", "reports", "top_categories"]
    {
        assert!(f.get(key).is_some(), "cells lack {key}: {f}");
    }
    assert_eq!(f["reports"], 6);
    assert_eq!(cells["features"].as_array().unwrap().len(), 1, "the bbox keeps the cattle raid out");
    let hot = app.get(Role::Planner, "/api/v1/hotspots?limit=5").await.json();
    let first = &hot["hotspots"][0];
    for key in ["rank", "cell", "centroid", "score", "level", "gi_z", "trend", "top_categories", "last_report_at"] {
        assert!(first.get(key).is_some(), "hotspots lack {key}: {first}");
    }
    assert_eq!(first["rank"], 1);
    assert!(first.get("top_reports").is_none(), "planners get no report ids");
    // Hate speech is published no finer than resolution 6: not named in a res-7 hotspot.
    let names: Vec<&str> =
        first["top_categories"].as_array().unwrap().iter().map(|c| c["category"].as_str().unwrap()).collect();
    assert!(!names.contains(&"hate-speech"), "{names:?}");
    let geo = app.get(Role::Analyst, "/api/v1/hotspots?format=geojson&res=9").await.json();
    assert_rfc7946(&geo);
    let csv = app.get(Role::Analyst, "/api/v1/hotspots?format=csv&res=9").await;
    assert!(csv.text.starts_with("rank,cell,lon,lat,score"), "{}", csv.text);
}

#[tokio::test]
async fn exports_are_the_roles_view_neutralised_and_audited() {
    let app = spawn_app().await;
    seed(&app).await;
    let csv = app.get(Role::Analyst, "/api/v1/export?layer=reports&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let mut rows = csv::Reader::from_reader(csv.text.as_bytes());
    let descriptions: Vec<String> = rows.records().map(|r| r.unwrap()[9].to_string()).collect();
    assert_eq!(descriptions.len(), 7);
    assert_eq!(descriptions.iter().filter(|d| d.starts_with("'=HYPERLINK")).count(), 6, "{descriptions:?}");
    assert!(!descriptions.iter().any(|d| d.starts_with('=')), "{descriptions:?}");
    let geo = app.get(Role::Public, "/api/v1/export?layer=cells&format=geojson").await.json();
    assert_rfc7946(&geo);
    assert!(geo["features"].as_array().unwrap().iter().all(|f| f["properties"]["reports"].as_u64().unwrap() >= 5));
    let log = app.store.audit_log(0, 100).await.unwrap();
    let exports: Vec<_> = log.iter().filter(|e| e.action == "export").collect();
    assert_eq!(exports.len(), 2);
    assert_eq!((exports[0].actor.as_str(), exports[0].count), ("analyst-1", 7));
    assert!(kinga::store::verify_audit_chain(&log).is_ok());
}

#[tokio::test]
async fn tiles_are_cached_with_strong_etags() {
    let app = spawn_app().await;
    seed(&app).await;
    let uri = "/tiles/risk/12/2443/2049.geojson";
    let first = app.get(Role::Analyst, uri).await;
    assert_eq!(first.status, StatusCode::OK);
    let tile = first.json();
    assert_rfc7946(&tile);
    assert!(!tile["features"].as_array().unwrap().is_empty(), "the seeded cells are in this tile: {}", first.text);
    let etag = first.headers[header::ETAG].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"));
    let token = app.tokens[&Role::Analyst].clone();
    let conditional = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    let r = app.router.clone().oneshot(conditional).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let gz = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let r = app.router.clone().oneshot(gz).await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
    // A report far away leaves this tile's bytes (and ETag) alone; one inside changes them.
    app.post_report(&feature(35.30, -0.40, "threat", 2, 1)).await;
    assert_eq!(app.get(Role::Analyst, uri).await.headers[header::ETAG].to_str().unwrap(), etag);
    app.post_report(&feature(34.7619, -0.0917, "killing", 5, 1)).await;
    assert_ne!(app.get(Role::Analyst, uri).await.headers[header::ETAG].to_str().unwrap(), etag);
    // Bad tile addresses.
    assert_eq!(app.get(Role::Analyst, "/tiles/risk/12/2443/2049.png").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(Role::Analyst, "/tiles/heat/12/2443/2049.geojson").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(Role::Analyst, "/tiles/risk/3/9/0.geojson").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let doc = app.get(Role::Public, "/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/reports",
        "/api/v1/cells",
        "/api/v1/hotspots",
        "/tiles/{layer}/{z}/{x}/{y}.geojson",
        "/api/v1/stream",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}

#[tokio::test]
async fn patrol_plans_cover_risk_and_gbv_never_places_a_patrol() {
    let app = spawn_app().await;
    seed(&app).await;
    // A heavy cluster of GBV reports far from everything else.
    for i in 0..8 {
        let r = app.post_report(&feature(35.20 + f64::from(i) * 1e-4, -0.15, "gbv", 5, 30)).await;
        app.verify(r.json()["id"].as_str().unwrap(), "verified").await;
    }
    let plan = app.get(Role::Analyst, "/api/v1/patrol-plan?units=3&radius_m=800&res=8").await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    let plan = plan.json();
    let positions = plan["positions"].as_array().unwrap();
    assert!(!positions.is_empty() && positions.len() <= 3);
    for p in positions {
        assert!(p["centroid"][0].as_f64().unwrap() < 35.1, "a patrol was placed at the GBV cluster: {p}");
    }
    let share = plan["share_covered"].as_f64().unwrap();
    assert!(share > 0.0 && share <= 1.0);
    assert_eq!(plan["method"], "exact");
    assert_rfc7946(&app.get(Role::Planner, "/api/v1/patrol-plan?format=geojson").await.json());
    assert!(app.get(Role::Planner, "/api/v1/patrol-plan?format=csv").await.text.starts_with("rank,cell,lon,lat"));
    assert_eq!(app.get(Role::Public, "/api/v1/patrol-plan").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(Role::Reporter, "/api/v1/patrol-plan").await.status, StatusCode::FORBIDDEN);
    for bad in ["0", "51", "2.5", "many"] {
        let r = app.get(Role::Planner, &format!("/api/v1/patrol-plan?units={bad}")).await;
        assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "units".to_string()), "units={bad}");
    }
    let r = app.get(Role::Planner, "/api/v1/patrol-plan?radius_m=-5").await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "radius_m".to_string()));
}
