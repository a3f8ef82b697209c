//! Early warning through the API: rules fire, the lifecycle is recorded with who/when/notes,
//! actions and response times, CAP 1.2, and only responder roles see alerts.

use axum::http::StatusCode;
use kinga::http::auth::Role;
use serde_json::json;

use crate::support::{App, feature, spawn_app};

/// Lets the background monitor catch up with the last change, then evaluates once more.
async fn settle(app: &App) {
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let cells: Vec<h3o::CellIndex> = app.service.engine().entries().map(|e| e.cell).collect();
    app.state.early.evaluate(&cells).await.unwrap();
}

#[tokio::test]
async fn alerts_open_are_acknowledged_acted_on_and_resolved() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let r = app.post_report(&feature(34.7617, -0.0917, "killing", 5, 20)).await;
        app.verify(r.json()["id"].as_str().unwrap(), "verified").await;
    }
    settle(&app).await;
    let list = app.get(Role::Planner, "/api/v1/alerts").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let list = list.json();
    let kinds: Vec<&str> = list["alerts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for expected in ["high_risk", "trigger", "spike"] {
        assert!(kinds.contains(&expected), "{kinds:?}");
    }
    let alert = list["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "high_risk").unwrap().clone();
    assert_eq!(alert["status"], "open");
    let id = alert["id"].as_str().unwrap();
    // Re-evaluating does not open the same alert twice.
    settle(&app).await;
    assert_eq!(app.get(Role::Planner, "/api/v1/alerts").await.json()["alerts"].as_array().unwrap().len(), kinds.len());

    let ack = app
        .send(
            Role::Planner,
            "POST",
            &format!("/api/v1/alerts/{id}/ack"),
            Some("application/json"),
            json!({ "note": "OCS informed" }).to_string(),
        )
        .await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.text);
    let again = app.send(Role::Planner, "POST", &format!("/api/v1/alerts/{id}/ack"), None, String::new()).await;
    assert_eq!((again.status, again.field()), (StatusCode::UNPROCESSABLE_ENTITY, "/status".to_string()));
    let act = app
        .send(
            Role::Analyst,
            "POST",
            &format!("/api/v1/alerts/{id}/actions"),
            Some("application/json"),
            json!({ "action": "peace committee met youth leaders" }).to_string(),
        )
        .await;
    assert_eq!(act.status, StatusCode::CREATED, "{}", act.text);
    let bad = app
        .send(
            Role::Analyst,
            "POST",
            &format!("/api/v1/alerts/{id}/actions"),
            Some("application/json"),
            json!({ "action": "" }).to_string(),
        )
        .await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "/action".to_string()));
    let extra = app
        .send(
            Role::Analyst,
            "POST",
            &format!("/api/v1/alerts/{id}/actions"),
            Some("application/json"),
            json!({ "action": "x", "done_by": "me" }).to_string(),
        )
        .await;
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = app
        .send(
            Role::Admin,
            "POST",
            &format!("/api/v1/alerts/{id}/resolve"),
            Some("application/json"),
            json!({ "note": "calm restored" }).to_string(),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);

    let detail = app.get(Role::Verifier, &format!("/api/v1/alerts/{id}")).await.json();
    let history: Vec<(&str, &str)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(history, [("open", "kinga"), ("acknowledged", "planner-1"), ("resolved", "admin-1")]);
    assert_eq!(detail["history"][1]["note"], "OCS informed");
    assert_eq!(detail["actions"][0]["actor"], "analyst-1");
    let times = &detail["response_times_s"];
    assert!(
        times["to_ack"].as_f64().unwrap() >= 0.0
            && times["to_first_action"].as_f64().unwrap() >= times["to_ack"].as_f64().unwrap()
    );
    assert!(times["to_resolve"].as_f64().is_some());
    let all = app.get(Role::Planner, "/api/v1/alerts?status=all").await.json();
    assert!(all["stats"]["median_time_to_ack_s"].as_f64().is_some());
    assert_eq!(
        app.get(Role::Planner, "/api/v1/alerts").await.json()["alerts"].as_array().unwrap().len(),
        kinds.len() - 1
    );

    // Who may see alerts.
    assert_eq!(app.get(Role::Public, "/api/v1/alerts").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(Role::Reporter, "/api/v1/alerts.cap").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(Role::Planner, "/api/v1/alerts/00000000-0000-0000-0000-000000000000").await.status,
        StatusCode::NOT_FOUND
    );
}

/// Validates a CAP document against the OASIS CAP 1.2 schema (`fixtures/cap/CAP-v1.2.xsd`) with
/// libxml2's `xmllint` (Debian `libxml2-utils`, installed by scripts/test.sh).
fn validate_cap(doc: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.cap.xml");
    std::fs::write(&file, doc).unwrap();
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cap/CAP-v1.2.xsd");
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("xmllint (Debian libxml2-utils) is needed to validate CAP; scripts/test.sh installs it");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[tokio::test]
async fn open_alerts_are_served_as_cap_1_2() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let r = app.post_report(&feature(34.7617, -0.0917, "armed-clash", 5, 20)).await;
        app.verify(r.json()["id"].as_str().unwrap(), "verified").await;
    }
    settle(&app).await;
    // Planners get the alerts with their areas withheld (two reports < k): still valid CAP.
    let planner_cap = app.get(Role::Planner, "/api/v1/alerts.cap").await.text;
    assert_eq!(validate_cap(&planner_cap), Ok(()));
    assert!(!planner_cap.contains("<polygon>") && planner_cap.contains("location withheld"), "{planner_cap}");
    let cap = app.get(Role::Analyst, "/api/v1/alerts.cap").await;
    assert_eq!(cap.status, StatusCode::OK);
    assert!(cap.headers["content-type"].to_str().unwrap().starts_with("application/cap+xml"));
    let doc = &cap.text;
    assert_eq!(validate_cap(doc), Ok(()));
    // The validator is real: a `Z` time (not CAP's form) and a made-up element are refused.
    let sent = doc.split("<sent>").nth(1).unwrap().split("</sent>").next().unwrap();
    assert!(validate_cap(&doc.replacen(sent, "2013-03-04T10:00:00Z", 1)).is_err());
    assert!(validate_cap(&doc.replacen("<info>", "<info><colour>red</colour>", 1)).is_err());
    assert!(doc.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
    ));
    // Required elements in schema order, CAP date-times with an explicit offset.
    let order = [
        "<identifier>",
        "<sender>",
        "<sent>",
        "<status>Actual",
        "<msgType>Alert",
        "<scope>Restricted",
        "<restriction>",
        "<info>",
    ];
    let positions: Vec<usize> =
        order.iter().map(|tag| doc.find(tag).unwrap_or_else(|| panic!("{tag} missing in {doc}"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{doc}");
    let sent = doc.split("<sent>").nth(1).unwrap().split("</sent>").next().unwrap();
    assert!(sent.ends_with("-00:00") && sent.len() == 25, "{sent}");
    let infos = doc.matches("<info>").count();
    assert!(infos >= 2, "{doc}");
    for info in doc.split("<info>").skip(1) {
        let order = [
            "<language>",
            "<category>Security",
            "<event>",
            "<responseType>",
            "<urgency>",
            "<severity>",
            "<certainty>",
            "<effective>",
            "<senderName>",
            "<headline>",
            "<description>",
            "<parameter>",
            "<area>",
        ];
        let pos: Vec<usize> = order.iter().map(|t| info.find(t).unwrap_or_else(|| panic!("{t} missing"))).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{info}");
        let polygon = info.split("<polygon>").nth(1).unwrap().split("</polygon>").next().unwrap();
        let points: Vec<&str> = polygon.split(' ').collect();
        assert!(points.len() >= 4 && points.first() == points.last(), "a closed ring: {polygon}");
        for p in points {
            let (lat, lon) = p.split_once(',').unwrap();
            let (lat, lon): (f64, f64) = (lat.parse().unwrap(), lon.parse().unwrap());
            assert!((-0.2..0.0).contains(&lat) && (34.7..34.8).contains(&lon), "lat,lon order: {p}");
        }
    }
}

/// Planners (police) are a suppressed role: an alert reaches them, but its place only as the
/// publication-resolution cell and only once that cell is backed by k reports (DESIGN.md §5).
#[tokio::test]
async fn planners_see_alert_places_only_at_the_publication_resolution_and_k() {
    let app = spawn_app().await;
    let mut first = None;
    for i in 0..6 {
        let r = app.post_report(&feature(34.7617, -0.0917, "killing", 5, 20 + i)).await;
        let id = r.json()["id"].as_str().unwrap().to_string();
        app.verify(&id, "verified").await;
        if i == 0 {
            settle(&app).await;
            let planner = app.get(Role::Planner, "/api/v1/alerts").await.json();
            let alert = planner["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "trigger").unwrap().clone();
            assert_eq!(alert["location_withheld"], true, "{alert}");
            assert!(alert["cell"].is_null() && alert["centroid"].is_null() && alert["score"].is_null(), "{alert}");
            let detail = app.get(Role::Planner, &format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap())).await;
            assert!(detail.json()["cell"].is_null());
            first = Some(alert["id"].as_str().unwrap().to_string());
        }
    }
    settle(&app).await;
    let id = first.unwrap();
    let exact = app.get(Role::Analyst, &format!("/api/v1/alerts/{id}")).await.json();
    let fine: h3o::CellIndex = exact["cell"].as_str().unwrap().parse().unwrap();
    assert_eq!(exact["res"], 8);
    let shown = app.get(Role::Planner, &format!("/api/v1/alerts/{id}")).await.json();
    let parent = fine.parent(h3o::Resolution::Seven).unwrap();
    assert_eq!(shown["cell"], parent.to_string(), "six reports ≥ k: the res-7 cell");
    assert_eq!((shown["res"].as_u64(), shown["location_withheld"].as_bool()), (Some(7), Some(false)));
    assert!(shown["score"].is_null());
    assert_ne!(shown["centroid"], exact["centroid"]);
}
