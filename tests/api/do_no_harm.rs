//! Do-no-harm: the canary test (R1) over every read route × every role, suppression and
//! no-differencing (R10–R12), GBV (R4), private deployments (R23), the route inventory (R18).

use axum::http::StatusCode;
use kinga::http::auth::Role;
use kinga::http::routes::ROUTES;
use serde_json::json;

use crate::support::{App, assert_rfc7946, feature, spawn_app, spawn_app_with};

const CANARY_LON: &str = "741234";
const CANARY_LAT: &str = "031234";
const CANARY_PHONE: &str = "555123987";
const GBV_LON: &str = "682345";
const GBV_PHONE: &str = "555777111";

async fn canaries(app: &App) -> (String, String) {
    let mut f = feature(34.741_234, -0.031_234, "armed-clash", 4, 30);
    f["properties"]["reporter"] = json!({ "name": "Canary", "phone": format!("+000{CANARY_PHONE}") });
    let id = app.post_report(&f).await;
    assert!(
        !id.text.contains(CANARY_LON) && !id.text.contains(CANARY_PHONE),
        "the reporter's receipt echoes the location: {}",
        id.text
    );
    let id = id.json()["id"].as_str().unwrap().to_string();
    app.verify(&id, "verified").await;
    let mut g = feature(34.682_345, -0.052_345, "gbv", 4, 30);
    g["properties"]["reporter"] = json!({ "phone": format!("+000{GBV_PHONE}") });
    let gid = app.post_report(&g).await.json()["id"].as_str().unwrap().to_string();
    app.verify(&gid, "verified").await;
    // Enough neighbours that the canaries' cells are published to everyone.
    for i in 0..6 {
        let r = app.post_report(&feature(34.741_1 + f64::from(i) * 1e-4, -0.031_1, "rumour", 2, 40)).await;
        app.verify(r.json()["id"].as_str().unwrap(), "verified").await;
        let r = app.post_report(&feature(34.682_1 + f64::from(i) * 1e-4, -0.052_1, "assault", 2, 40)).await;
        app.verify(r.json()["id"].as_str().unwrap(), "verified").await;
    }
    (id, gid)
}

fn read_routes(id: &str, gid: &str) -> Vec<String> {
    let mut uris = vec![
        "/api/v1/reports".to_string(),
        "/api/v1/reports?limit=5".into(),
        format!("/api/v1/reports/{id}"),
        format!("/api/v1/reports/{gid}"),
        "/api/v1/hotspots".into(),
        "/api/v1/hotspots?format=geojson".into(),
        "/api/v1/hotspots?format=csv".into(),
        "/openapi.json".into(),
        "/metrics".into(),
        "/api/v1/cells?bbox=nonsense".into(),
        "/map/config.json".into(),
    ];
    for res in 5..=9 {
        uris.push(format!("/api/v1/cells?res={res}"));
        uris.push(format!("/api/v1/hotspots?res={res}&format=csv"));
    }
    for layer in ["reports", "cells", "hotspots"] {
        for format in ["geojson", "csv"] {
            uris.push(format!("/api/v1/export?layer={layer}&format={format}"));
        }
    }
    // Tiles at every zoom band over the canaries (Kisumu is tile x=610,y=512 at z=10).
    for z in [8u32, 10, 12, 14, 16] {
        let n = 1u32 << z;
        let x = ((34.7 + 180.0) / 360.0 * f64::from(n)) as u32;
        let lat = -0.04f64.to_radians();
        let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * f64::from(n)) as u32;
        for dx in 0..=1 {
            for dy in 0..=1 {
                uris.push(format!(
                    "/tiles/risk/{z}/{}/{}.geojson",
                    x + dx - u32::from(z > 12),
                    y + dy - u32::from(z > 12)
                ));
                uris.push(format!(
                    "/tiles/reports/{z}/{}/{}.geojson",
                    x + dx - u32::from(z > 12),
                    y + dy - u32::from(z > 12)
                ));
            }
        }
    }
    uris
}

#[tokio::test]
async fn canary_digits_appear_only_where_the_role_may_see_them() {
    let app = spawn_app().await;
    let (id, gid) = canaries(&app).await;
    let mut coordinates_seen_by = std::collections::BTreeSet::new();
    for role in Role::ALL {
        for uri in read_routes(&id, &gid) {
            let r = app.get(role, &uri).await;
            assert!(r.status.as_u16() < 500, "{role:?} {uri}: {}", r.status);
            let text = &r.text;
            let point = text.contains(CANARY_LON) && text.contains(CANARY_LAT);
            if point {
                coordinates_seen_by.insert(role);
            }
            assert!(role.sees_points() || !text.contains(CANARY_LON), "{role:?} sees the canary longitude in {uri}");
            assert!(role.sees_points() || !text.contains(CANARY_LAT), "{role:?} sees the canary latitude in {uri}");
            assert!(role == Role::Admin || !text.contains(CANARY_PHONE), "{role:?} sees the canary phone in {uri}");
            assert!(role == Role::Admin || !text.contains(GBV_LON), "{role:?} sees the GBV location in {uri}");
            assert!(role == Role::Admin || !text.contains(GBV_PHONE), "{role:?} sees the GBV phone in {uri}");
            if r.status == StatusCode::OK && r.headers.get("content-type").is_some_and(|c| c == "application/geo+json")
            {
                assert_rfc7946(&r.json());
            }
        }
    }
    // The test can fail: the privileged roles do get the exact point somewhere.
    assert_eq!(coordinates_seen_by.into_iter().collect::<Vec<_>>(), [Role::Verifier, Role::Analyst, Role::Admin]);
    // GBV is never a point outside the case-handling role: 404 on its detail for everyone else
    // who cannot see it, and only a coarse cell for roles that see points.
    assert_eq!(app.get(Role::Public, &format!("/api/v1/reports/{gid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(Role::Planner, &format!("/api/v1/reports/{gid}")).await.status, StatusCode::NOT_FOUND);
    let analyst = app.get(Role::Analyst, &format!("/api/v1/reports/{gid}")).await.json();
    assert_eq!(analyst["properties"]["location_precision"], "h3:5");
    // Generalisation is deterministic: the same bytes every time.
    let a = app.get(Role::Public, &format!("/api/v1/reports/{id}")).await.text;
    for _ in 0..20 {
        assert_eq!(app.get(Role::Public, &format!("/api/v1/reports/{id}")).await.text, a);
    }
}

#[tokio::test]
async fn small_cells_are_suppressed_and_parents_cannot_be_differenced() {
    let app = spawn_app().await;
    // Res-7 cells ~10 km apart holding 1, 4, 5 and 6 reports.
    let sites = [(34.55, -0.30, 1), (34.65, -0.30, 4), (34.75, -0.30, 5), (34.85, -0.30, 6)];
    for (lon, lat, n) in sites {
        for i in 0..n {
            assert_eq!(
                app.post_report(&feature(lon + f64::from(i) * 1e-4, lat, "land-dispute", 3, 60)).await.status,
                StatusCode::CREATED
            );
        }
    }
    for role in [Role::Public, Role::Planner, Role::Reporter] {
        for res in 5..=9 {
            let cells = app.get(role, &format!("/api/v1/cells?res={res}")).await.json();
            let counts: Vec<u64> = cells["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["properties"]["reports"].as_u64().unwrap())
                .collect();
            let mut sorted = counts.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [5, 6], "{role:?} res={res}");
            assert!(
                cells["features"].as_array().unwrap().iter().all(|f| f["properties"]["res"] == 7),
                "one resolution per product"
            );
        }
        let hot = app.get(role, "/api/v1/hotspots?limit=10").await.json();
        assert_eq!(hot["hotspots"].as_array().unwrap().len(), 2);
    }
    // Privileged roles see every cell at the resolution they ask for.
    let all = app.get(Role::Analyst, "/api/v1/cells?res=7").await.json();
    assert_eq!(all["features"].as_array().unwrap().len(), 4);
    let coarse = app.get(Role::Analyst, "/api/v1/cells?res=5").await.json();
    let total: u64 =
        coarse["features"].as_array().unwrap().iter().map(|f| f["properties"]["reports"].as_u64().unwrap()).sum();
    assert_eq!(total, 16);
    // Public time travel is to whole hours only (no differencing across instants).
    let at = chrono::Utc::now() - chrono::Duration::minutes(10);
    let r = app.get(Role::Public, &format!("/api/v1/cells?at={}", urlencode(&at.to_rfc3339()))).await.json();
    assert!(r["at"].as_str().unwrap().contains(":00:00"), "{}", r["at"]);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_private_deployment_answers_401_without_credentials() {
    let app = spawn_app_with(false).await;
    for uri in [
        "/api/v1/cells",
        "/api/v1/reports",
        "/api/v1/hotspots",
        "/tiles/risk/10/610/512.geojson",
        "/api/v1/export?layer=cells",
        "/openapi.json",
        "/metrics",
    ] {
        assert_eq!(app.get(Role::Public, uri).await.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(app.get(Role::Planner, uri).await.status, StatusCode::OK, "{uri}");
    }
    for uri in ["/healthz", "/readyz"] {
        assert_eq!(app.get(Role::Public, uri).await.status, StatusCode::OK);
    }
    let mut req = feature(34.76, -0.09, "rumour", 2, 5);
    req["properties"]["id"] = json!("0190a6f2-6a3c-7d4e-9f10-2b3c4d5e6f71");
    let r = app.send(Role::Public, "POST", "/api/v1/reports", Some("application/geo+json"), req.to_string()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count().await, 0);
}

#[tokio::test]
async fn every_route_in_the_table_is_served_and_guarded() {
    let app = spawn_app().await;
    let id = app.post_report(&feature(34.76, -0.09, "rumour", 2, 5)).await.json()["id"].as_str().unwrap().to_string();
    // A real alert for the alert routes: two verified killings.
    for _ in 0..2 {
        let k = app.post_report(&feature(34.7617, -0.0917, "killing", 5, 5)).await.json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.verify(&k, "verified").await;
    }
    let cells: Vec<h3o::CellIndex> = app.service.engine().entries().map(|e| e.cell).collect();
    app.state.early.evaluate(&cells).await.unwrap();
    let alert = app.get(Role::Admin, "/api/v1/alerts").await.json()["alerts"][0]["id"].as_str().unwrap().to_string();
    for spec in ROUTES {
        let object = if spec.path.starts_with("/api/v1/alerts/") { &alert } else { &id };
        let uri = spec
            .path
            .replace("{id}", object)
            .replace("{layer}", "risk")
            .replace("{z}", "10")
            .replace("{x}", "610")
            .replace("{y}", "512")
            .replace("{file}", "config.json");
        if spec.path.ends_with("/stream") || spec.method == "DELETE" {
            continue;
        }
        let (ct, body) = match spec.path {
            "/api/v1/reports/{id}/verification" => {
                (Some("application/json"), json!({ "status": "verified" }).to_string())
            }
            "/api/v1/reports" => (Some("application/geo+json"), feature(34.76, -0.09, "rumour", 2, 5).to_string()),
            "/api/v1/reports/bulk" => (
                Some("application/geo+json"),
                json!({ "type": "FeatureCollection", "features": [feature(34.76, -0.09, "rumour", 2, 5)] }).to_string(),
            ),
            "/api/v1/alerts/{id}/actions" => (Some("application/json"), json!({ "action": "patrol sent" }).to_string()),
            _ => (None, String::new()),
        };
        let r = app.send(Role::Admin, spec.method.as_str(), &uri, ct, body.clone()).await;
        assert!(r.status.is_success(), "{} {uri}: {} {}", spec.method, r.status, r.text);
        if !spec.open && !spec.allowed.contains(&Role::Public) {
            let r = app.send(Role::Public, spec.method.as_str(), &uri, ct, body).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{} {uri}", spec.method);
        }
    }
    assert_eq!(app.get(Role::Admin, "/api/v1/nothing-here").await.status, StatusCode::NOT_FOUND);
    let r = app.send(Role::Reporter, "DELETE", &format!("/api/v1/reports/{id}"), None, String::new()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let req = axum::http::Request::get("/api/v1/cells")
        .header("authorization", "Bearer kinga_not_a_token")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
