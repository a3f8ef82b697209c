//! Intake: single and bulk, idempotency, verification, withdrawal.

use axum::http::StatusCode;
use kinga::http::auth::Role;
use serde_json::json;

use crate::support::{assert_rfc7946, feature, spawn_app};

#[tokio::test]
async fn post_201_identical_replay_200_conflicting_replay_422() {
    let app = spawn_app().await;
    let mut f = feature(34.7617, -0.0917, "mobilisation", 3, 30);
    f["properties"]["id"] = json!("0190a6f2-6a3c-7d4e-9f10-2b3c4d5e6f70");
    let created = app.post_report(&f).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.headers["location"], "/api/v1/reports/0190a6f2-6a3c-7d4e-9f10-2b3c4d5e6f70");
    assert_rfc7946(&created.json());
    let replay = app.post_report(&f).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.json()["id"], created.json()["id"]);
    f["properties"]["description"] = json!("edited");
    let conflict = app.post_report(&f).await;
    assert_eq!(conflict.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(conflict.field(), "/properties/id");
    assert_eq!(app.count().await, 1);
}

#[tokio::test]
async fn bulk_reports_per_item_results_in_three_formats() {
    let app = spawn_app().await;
    let good = feature(34.76, -0.09, "rumour", 2, 10);
    let mut bad = feature(34.76, -0.09, "riot2", 2, 10);
    bad["properties"]["severity"] = json!(9);
    let fc = json!({ "type": "FeatureCollection", "features": [good, bad, feature(34.77, -0.1, "assault", 3, 5)] });
    let r = app.post_geojson(Role::Reporter, "/api/v1/reports/bulk", &fc.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(2), Some(0)));
    assert_eq!(body["rejected"][0]["index"], 1);
    let fields: Vec<&str> =
        body["rejected"][0]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["/properties/category", "/properties/severity"]);

    let nd = format!("{}\n{{\"type\":\n", feature(34.75, -0.08, "threat", 2, 3));
    let r = app.send(Role::Reporter, "POST", "/api/v1/reports/bulk", Some("application/x-ndjson"), nd).await;
    assert_eq!((r.json()["accepted"].as_u64(), r.json()["rejected"][0]["index"].as_u64()), (Some(1), Some(1)));

    let at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let csv = format!(
        "id,occurred_at,lon,lat,category,severity,source,description\n,{at},34.74,-0.07,roadblock,3,sms,\"=cmd|' /C calc'!A0\"\n,{at},200,-0.07,roadblock,3,sms,x\n"
    );
    let r = app.send(Role::Reporter, "POST", "/api/v1/reports/bulk", Some("text/csv"), csv).await;
    assert_eq!(r.json()["accepted"], 1);
    assert_eq!(r.json()["rejected"][0]["errors"][0]["field"], "lon");
    assert_eq!(app.count().await, 4);

    // Nothing usable at all: 422, nothing stored.
    let all_bad = json!({ "type": "FeatureCollection", "features": [feature(0.0, 0.0, "rumour", 2, 1)] });
    let r = app.post_geojson(Role::Reporter, "/api/v1/reports/bulk", &all_bad.to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "/features/0/geometry/coordinates");
    assert_eq!(app.count().await, 4);
    // Backfill is for admins.
    let r = app.post_geojson(Role::Reporter, "/api/v1/reports/bulk?backfill=true", &fc.to_string()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn verification_is_recorded_and_withdrawal_removes_everywhere() {
    let app = spawn_app().await;
    let id = app.post_report(&feature(34.7617, -0.0917, "armed-clash", 4, 20)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = app.get(Role::Analyst, "/api/v1/cells?res=9").await.json();
    assert_eq!(before["features"].as_array().unwrap().len(), 1);
    assert!(before["features"][0]["properties"]["intensity"].as_f64().unwrap() > 5.9);

    assert_eq!(app.verify(&id, "verified").await.status, StatusCode::OK);
    let r = app
        .send(
            Role::Reporter,
            "PATCH",
            &format!("/api/v1/reports/{id}/verification"),
            Some("application/json"),
            r#"{"status":"debunked"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(
            Role::Verifier,
            "PATCH",
            &format!("/api/v1/reports/{id}/verification"),
            Some("application/json"),
            r#"{"status":"fake"}"#,
        )
        .await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "/status".to_string()));
    let detail = app.get(Role::Admin, &format!("/api/v1/reports/{id}")).await.json();
    assert_eq!(detail["properties"]["verification"], "verified");
    assert_eq!(detail["properties"]["verification_history"][0]["actor"], "verifier-1");
    let cell = app.get(Role::Analyst, "/api/v1/cells?res=9").await.json();
    assert!((cell["features"][0]["properties"]["intensity"].as_f64().unwrap() - 9.0).abs() < 0.05);

    assert_eq!(
        app.send(Role::Admin, "DELETE", &format!("/api/v1/reports/{id}"), None, axum::body::Body::empty()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(Role::Admin, &format!("/api/v1/reports/{id}")).await.status, StatusCode::NOT_FOUND);
    assert!(app.get(Role::Analyst, "/api/v1/cells?res=9").await.json()["features"].as_array().unwrap().is_empty());
    assert_eq!(
        app.send(Role::Admin, "DELETE", &format!("/api/v1/reports/{id}"), None, axum::body::Body::empty()).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Concurrent single POSTs share durable transactions (group commit) yet each gets the answer
/// it would get alone: distinct reports 201, replays of one id 201 once then 200, a different
/// body under that id 422 naming `/id` — and the store holds exactly the acknowledged ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_committed_together_keep_their_own_outcomes() {
    let app = spawn_app().await;
    let shared = "7b0cbb6e-2f3a-4c55-9d1e-5a4f0e1c2b3d";
    let mut same = feature(34.7617, -0.0917, "rumour", 2, 30);
    same["properties"]["id"] = json!(shared);
    let mut other = same.clone();
    other["properties"]["severity"] = json!(3);
    let mut bodies: Vec<serde_json::Value> =
        (0..40).map(|i| feature(34.70 + f64::from(i) * 0.002, -0.09, "rumour", 2, 30)).collect();
    bodies.extend(std::iter::repeat_n(same.clone(), 6));
    bodies.push(other);
    let replies = futures_util::future::join_all(bodies.iter().map(|b| app.post_report(b))).await;
    let status = |s: StatusCode| replies.iter().filter(|r| r.status == s).count();
    assert_eq!(status(StatusCode::CREATED), 41, "40 distinct + the first of the shared id");
    assert_eq!(app.count().await, 41);
    // Whichever body of the shared id was stored first, the others are answered against it.
    let stored = app.store.get_report(shared.parse().unwrap()).await.unwrap().unwrap();
    let (replays, conflicts) = if stored.severity().get() == 2 { (5, 1) } else { (0, 6) };
    assert_eq!((status(StatusCode::OK), status(StatusCode::UNPROCESSABLE_ENTITY)), (replays, conflicts));
    for r in replies.iter().filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY) {
        assert_eq!(r.field(), "/properties/id");
    }
}
