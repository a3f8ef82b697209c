//! The live stream: a subscriber receives the `report` and `cells` events of a new report.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use futures_util::StreamExt;
use kinga::http::auth::Role;
use tower::ServiceExt;

use crate::support::{feature, spawn_app};

#[tokio::test]
async fn a_posted_report_reaches_stream_subscribers_as_report_and_cells_events() {
    let app = spawn_app().await;
    let token = app.tokens[&Role::Analyst].clone();
    let req = Request::get("/api/v1/stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    // The public stream too: it must never carry the unverified report.
    let public = app.router.clone().oneshot(Request::get("/api/v1/stream").body(Body::empty()).unwrap()).await.unwrap();
    let mut public_body = public.into_body().into_data_stream();

    let posted = app.post_report(&feature(34.7617, -0.0917, "armed-clash", 4, 1)).await.json();
    let id = posted["id"].as_str().unwrap().to_string();

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(seen.contains("event: report") && seen.contains("event: cells")) {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("events within 5 s").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&id), "{seen}");
    assert!(seen.contains("34.7617"), "an analyst sees the point");

    let mut public_seen = String::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(until, public_body.next()).await {
        public_seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(public_seen.contains("event: hello"));
    assert!(!public_seen.contains(&id) && !public_seen.contains("34.7617"), "{public_seen}");
}
