//! Report POST → `alert` at an SSE client (issue 6, DESIGN.md §8: ≤ 250 ms).
//!
//! Starts the real `kinga serve` (bench profile) on a fresh embedded store loaded with a synthetic
//! scenario, opens `/api/v1/stream` as a responder, and for each sample posts the third
//! mobilisation report within 1 km of two earlier ones — the report that makes the `cluster`
//! rule hold — timing from just before that POST is sent to the arrival of the cluster alert for
//! its cell on the stream. Each sample uses a fresh place, so no alert is already open there.
//!
//! Usage: `cargo bench --bench alert_latency [-- SAMPLES [BACKGROUND_PER_DAY]]`
//! (defaults 60 and 5000 ≈ 100 k reports loaded).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, reason = "a benchmark program")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kinga");

async fn post(addr: &str, token: &str, body: &Value) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post("/api/v1/reports")
        .header("host", addr)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/geo+json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

fn mobilisation(lon: f64, lat: f64) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [lon, lat] },
        "properties": {
            "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "category": "mobilisation", "severity": 3, "source": "monitor"
        }
    })
}

/// Reads the stream, sending each `alert` event's JSON with its arrival time.
async fn listen(addr: String, token: String, tx: tokio::sync::mpsc::UnboundedSender<(Instant, Value)>) {
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/api/v1/stream")
        .header("host", &addr)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let mut buf = String::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break }; // the server was stopped
        let Ok(data) = frame.into_data() else { continue };
        let now = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if event.lines().any(|l| l == "event: alert") {
                let data = event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("{}");
                let _ = tx.send((now, serde_json::from_str(data).unwrap_or(Value::Null)));
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let samples: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
    let per_day: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let region = "34.40,-0.45,35.40,0.05";
    let scenario = dir.path().join("scenario.ndjson");
    let end = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let ok = |c: &mut Command| assert!(c.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success());
    ok(Command::new(BIN)
        .args(["demo", "--seed", "7", "--background-per-day", &per_day.to_string(), "--end", &end])
        .arg("--write-scenario")
        .arg(&scenario));
    ok(Command::new(BIN).args(["--database-url", &db, "--region", region, "import"]).arg(&scenario).arg("--backfill"));
    let loaded = std::fs::read_to_string(&scenario).unwrap().lines().count();
    let token = String::from_utf8(
        Command::new(BIN).args(["--database-url", &db, "token", "create", "--role", "admin"]).output().unwrap().stdout,
    )
    .unwrap()
    .trim()
    .to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(BIN)
        .args(["--database-url", &db, "--addr", &addr, "serve"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(listen(addr.clone(), token.clone(), tx));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut ms = Vec::with_capacity(samples);
    let mut skipped = 0;
    for i in 0..samples {
        // A fresh place on a 0.03° lattice (≈ 3.3 km apart) across the region.
        #[allow(clippy::cast_precision_loss)]
        let (lon, lat) = (34.45 + (i % 30) as f64 * 0.03, -0.42 + (i / 30) as f64 * 0.03);
        for d in [0.0, 0.001] {
            assert_eq!(post(&addr, &token, &mobilisation(lon + d, lat)).await, 201);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        while rx.try_recv().is_ok() {}
        let cell = h3o::LatLng::new(lat, lon + 0.002).unwrap().to_cell(h3o::Resolution::Eight).to_string();
        let start = Instant::now();
        assert_eq!(post(&addr, &token, &mobilisation(lon + 0.002, lat)).await, 201);
        let deadline = start + Duration::from_secs(3);
        let arrived = loop {
            let Ok(Some((at, alert))) = tokio::time::timeout_at(deadline.into(), rx.recv()).await else { break None };
            if alert["kind"] == "cluster" && alert["cell"] == cell.as_str() {
                break Some(at);
            }
        };
        // A place where the scenario already holds an open cluster alert raises no new one:
        // counted as skipped, not timed.
        match arrived {
            Some(at) => ms.push(at.duration_since(start).as_secs_f64() * 1e3),
            None => skipped += 1,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    ms.sort_by(f64::total_cmp);
    println!(
        "alert latency (POST → SSE alert), {} samples ({skipped} places skipped: no new alert in 3 s), \
         {loaded} reports loaded: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    );
}
