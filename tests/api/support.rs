//! `spawn_app`: a service over a fresh SQLite store, tokens for every role, request helpers,
//! and a strict RFC 7946 checker.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kinga::config::{Config, FileConfig, Overrides};
use kinga::http::auth::{Role, create_token};
use kinga::http::{AppState, router};
use kinga::service::Service;
use kinga::store::{Store, sqlite::SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Kisumu County, as in the demo.
pub const REGION: &str = "34.40,-0.45,35.40,0.05";

pub struct App {
    pub router: Router,
    pub state: AppState,
    #[allow(dead_code, reason = "kept for tests that drive the service directly")]
    pub service: Arc<Service>,
    pub store: Arc<dyn Store>,
    pub tokens: HashMap<Role, String>,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The `field` of the first error.
    pub fn field(&self) -> String {
        self.json()["errors"][0]["field"].as_str().unwrap_or_default().to_string()
    }

    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or_default().to_string()
    }
}

pub async fn spawn_app_with(public_read: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let overrides = Overrides { region: Some(REGION.into()), public_read: Some(public_read), ..Overrides::default() };
    let config = Config::from_layers(FileConfig::default(), &overrides).unwrap();
    let service = Service::start(store.clone(), config).await.unwrap();
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        if role != Role::Public {
            tokens.insert(role, create_token(store.as_ref(), role, &format!("{}-1", role.slug())).await.unwrap());
        }
    }
    let state = AppState::start(service.clone()).await.unwrap();
    App { router: router(state.clone()), state, service, store, tokens, _dir: dir }
}

pub async fn spawn_app() -> App {
    spawn_app_with(true).await
}

impl App {
    pub async fn send(
        &self,
        role: Role,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(token) = self.tokens.get(&role) {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let response = self.router.clone().oneshot(req.body(body.into()).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap();
        Reply { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, role: Role, uri: &str) -> Reply {
        self.send(role, "GET", uri, None, Body::empty()).await
    }

    pub async fn post_geojson(&self, role: Role, uri: &str, body: &str) -> Reply {
        self.send(role, "POST", uri, Some("application/geo+json"), body.to_string()).await
    }

    pub async fn post_report(&self, body: &Value) -> Reply {
        self.post_geojson(Role::Reporter, "/api/v1/reports", &body.to_string()).await
    }

    pub async fn verify(&self, id: &str, status: &str) -> Reply {
        let body = json!({ "status": status, "note": "checked by phone" }).to_string();
        self.send(
            Role::Verifier,
            "PATCH",
            &format!("/api/v1/reports/{id}/verification"),
            Some("application/json"),
            body,
        )
        .await
    }

    pub async fn count(&self) -> u64 {
        self.store.count_reports().await.unwrap()
    }
}

/// A valid report Feature near Kisumu CBD, `minutes_ago` before now.
pub fn feature(lon: f64, lat: f64, category: &str, severity: i64, minutes_ago: i64) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [lon, lat] },
        "properties": {
            "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "category": category,
            "severity": severity,
            "source": "monitor",
            "description": "Youths gathering near the market",
        }
    })
}

/// Checks RFC 7946 rules on any GeoJSON value: positions [lon, lat] in range, closed rings of
/// ≥ 4 positions with a counter-clockwise exterior, no `crs` member.
pub fn assert_rfc7946(v: &Value) {
    fn position(p: &Value) {
        let a = p.as_array().unwrap_or_else(|| panic!("position is not an array: {p}"));
        assert!((2..=3).contains(&a.len()), "position size: {p}");
        let (lon, lat) = (a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
        assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat), "out of range: {p}");
    }
    fn ring(r: &Value, exterior: bool) {
        let pts = r.as_array().unwrap();
        assert!(pts.len() >= 4 && pts.first() == pts.last(), "ring not closed: {r}");
        pts.iter().for_each(position);
        let area2: f64 = pts
            .windows(2)
            .map(|w| {
                w[0][0].as_f64().unwrap() * w[1][1].as_f64().unwrap()
                    - w[1][0].as_f64().unwrap() * w[0][1].as_f64().unwrap()
            })
            .sum();
        assert!(if exterior { area2 > 0.0 } else { area2 < 0.0 }, "wrong winding: {r}");
    }
    fn geometry(g: &Value) {
        if g.is_null() {
            return;
        }
        assert!(g.get("crs").is_none());
        match g["type"].as_str().unwrap() {
            "Point" => position(&g["coordinates"]),
            "Polygon" => {
                for (i, r) in g["coordinates"].as_array().unwrap().iter().enumerate() {
                    ring(r, i == 0);
                }
            }
            other => panic!("unexpected geometry {other}"),
        }
    }
    assert!(v.get("crs").is_none(), "crs member present");
    match v["type"].as_str().unwrap() {
        "FeatureCollection" => v["features"].as_array().unwrap().iter().for_each(assert_rfc7946),
        "Feature" => {
            assert!(v.get("properties").is_some());
            geometry(&v["geometry"]);
        }
        _ => geometry(v),
    }
}
