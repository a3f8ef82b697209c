//! Webhooks end to end (issue 6): the real `kinga serve` posts alert changes to a receiver in
//! this test, signed with HMAC-SHA256, from a persisted outbox. The server is killed with
//! SIGKILL between enqueue and delivery, and at random moments after acknowledging a change; at
//! the end the receiver has seen every alert change at least once, each repeat carrying the same
//! idempotency key and the same bytes, every signature valid.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, Response, StatusCode};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "kisumu-task-team-shared-secret";

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    key: String,
    signature: String,
    body: Bytes,
}

/// A webhook receiver: answers 503 while `accepting` is false, else 200; records every attempt.
struct Receiver {
    url: String,
    accepting: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Delivery, bool)>>>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/kinga", listener.local_addr().unwrap());
    let accepting = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(Delivery, bool)>>> = Arc::default();
    let (acc, log) = (accepting.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (acc, log) = (acc.clone(), log.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (acc, log) = (acc.clone(), log.clone());
                    async move {
                        let header =
                            |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                        let (key, signature) = (header("idempotency-key"), header("kinga-signature"));
                        assert_eq!(req.uri().path(), "/hooks/kinga");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let ok = acc.load(Ordering::SeqCst);
                        log.lock().unwrap().push((Delivery { key, signature, body }, ok));
                        let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                        Ok::<_, Infallible>(Response::builder().status(status).body(Full::new(Bytes::new())).unwrap())
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Receiver { url, accepting, seen }
}

/// A minimal HTTP/1 client for the test's calls to kinga.
async fn call(addr: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("authorization", format!("Bearer {token}"));
    let bytes = match body {
        Some(v) => {
            let ct = if v.get("type").is_some() { "application/geo+json" } else { "application/json" };
            req = req.header("content-type", ct);
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    let resp = sender.send_request(req.body(Full::new(bytes)).unwrap()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

struct Server {
    child: Child,
    addr: String,
}

fn kinga(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kinga"));
    c.current_dir(dir).env_remove("KINGA_DATABASE_URL").env("RUST_LOG", "warn");
    c
}

fn sigkill(mut s: Server) {
    s.child.kill().unwrap(); // SIGKILL on Unix
    s.child.wait().unwrap();
}

fn verify_signature(d: &Delivery) {
    let (t, v1) = d.signature.split_once(",v1=").expect("t=…,v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&d.body);
    assert_eq!(kinga::store::hex(&mac.finalize().into_bytes()), v1, "signature of {}", d.key);
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..120).contains(&age), "signed {age} s ago");
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn killing(minutes_ago: i64, n: u32) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [34.7617 + f64::from(n) * 0.02, -0.0917] },
        "properties": {
            "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "category": "killing", "severity": 5, "source": "police"
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_survives_sigkill_and_every_alert_change_arrives_signed() {
    let rx = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kinga.toml"),
        format!(
            "database_url = \"sqlite://k.db\"\nregion = \"34.40,-0.45,35.40,0.05\"\n\
             [[webhooks]]\nurl = \"{}\"\nsecret_env = \"KINGA_TEST_HOOK_SECRET\"\n",
            rx.url
        ),
    )
    .unwrap();
    let token_out = kinga(dir.path())
        .env("KINGA_TEST_HOOK_SECRET", SECRET)
        .args(["token", "create", "--config", "kinga.toml", "--role", "admin", "--name", "ocs"])
        .output()
        .unwrap();
    assert!(token_out.status.success(), "{}", String::from_utf8_lossy(&token_out.stderr));
    let token = String::from_utf8(token_out.stdout).unwrap().trim().to_string();
    let serve = || async {
        let mut c = kinga(dir.path());
        c.env("KINGA_TEST_HOOK_SECRET", SECRET);
        start_with(c).await
    };

    // 1. Between enqueue and delivery: the receiver refuses, alerts open, kinga is killed.
    let s = serve().await;
    for n in 0..2 {
        for _ in 0..2 {
            let (status, body) = call(&s.addr, "POST", "/api/v1/reports", &token, Some(killing(10, n))).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let id = body["id"].as_str().unwrap().to_string();
            let v = json!({ "status": "verified", "note": "confirmed by OCS" });
            let path = format!("/api/v1/reports/{id}/verification");
            assert_eq!(call(&s.addr, "PATCH", &path, &token, Some(v)).await.0, StatusCode::OK);
        }
    }
    wait_for("a refused first attempt", || !rx.seen.lock().unwrap().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigkill(s);
    {
        let seen = rx.seen.lock().unwrap();
        assert!(seen.iter().all(|(_, ok)| !ok), "nothing was accepted before the kill");
        // While the receiver is down its other messages wait behind the oldest (held in order,
        // no attempt spent on each).
        let keys: std::collections::HashSet<&str> = seen.iter().map(|(d, _)| d.key.as_str()).collect();
        assert_eq!(keys.len(), 1, "{seen:?}");
    }

    // 2. Restarts: each acknowledged change is followed by a SIGKILL after a random short wait,
    //    with the receiver accepting.
    rx.accepting.store(true, Ordering::SeqCst);
    let mut rng = 0x9e37_79b9_u32;
    for cycle in 0..6 {
        let s = serve().await;
        let (status, list) = call(&s.addr, "GET", "/api/v1/alerts", &token, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let alerts = list["alerts"].as_array().unwrap();
        assert!(alerts.len() >= 2, "{list}");
        let id = alerts[cycle % alerts.len()]["id"].as_str().unwrap().to_string();
        let (path, body) = if cycle == 0 {
            (format!("/api/v1/alerts/{id}/ack"), json!({ "note": "OCS Kondele informed" }))
        } else {
            (format!("/api/v1/alerts/{id}/actions"), json!({ "action": format!("patrol {cycle} sent") }))
        };
        let (status, answer) = call(&s.addr, "POST", &path, &token, Some(body)).await;
        assert!(status.is_success(), "{status} {answer}");
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        tokio::time::sleep(Duration::from_millis(u64::from(rng % 40))).await;
        sigkill(s);
    }

    // 3. A last start drains the outbox; every change in the store reached the receiver.
    let s = serve().await;
    let expected = changes_in_store(&s.addr, &token).await;
    let want: usize = expected.values().sum();
    let delivered = || {
        let seen = rx.seen.lock().unwrap();
        let mut keys: HashMap<String, Bytes> = HashMap::new();
        for (d, _) in seen.iter().filter(|(_, ok)| *ok) {
            keys.insert(d.key.clone(), d.body.clone());
        }
        keys
    };
    wait_for("every change delivered", || delivered().len() >= want).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // anything extra would show now
    sigkill(s);

    let got = check_deliveries(&rx, &expected);
    let seen = rx.seen.lock().unwrap().clone();
    let accepted = seen.iter().filter(|(_, ok)| *ok).count();
    eprintln!(
        "webhooks: {} attempts ({accepted} accepted) for {want} changes; {} accepted repeats",
        seen.len(),
        accepted - got.values().sum::<usize>()
    );
}

/// Every attempt is validly signed and repeats carry the same bytes; the accepted deliveries,
/// one per idempotency key, are exactly the expected changes (returned as counted).
fn check_deliveries(rx: &Receiver, expected: &BTreeMap<(String, String), usize>) -> BTreeMap<(String, String), usize> {
    let seen = rx.seen.lock().unwrap().clone();
    let mut by_key: HashMap<String, Bytes> = HashMap::new();
    for (d, _) in &seen {
        verify_signature(d);
        let first = by_key.entry(d.key.clone()).or_insert_with(|| d.body.clone());
        assert_eq!(first, &d.body, "a repeat of {} must carry the same bytes", d.key);
    }
    let accepted: HashMap<&String, &Bytes> =
        seen.iter().filter(|(_, ok)| *ok).map(|(d, _)| (&d.key, &d.body)).collect();
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (key, body) in accepted {
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["idempotency_key"], key.as_str());
        let alert = &v["alert"];
        *got.entry((alert["id"].as_str().unwrap().into(), alert["event"].as_str().unwrap().into())).or_default() += 1;
    }
    assert_eq!(&got, expected, "each change delivered once per idempotency key");
    assert!(expected.keys().any(|(_, e)| e == "acknowledged"), "{expected:?}");
    assert!(expected.keys().filter(|(_, e)| e == "opened").count() >= 2, "{expected:?}");
    got
}

/// Every alert change the store holds, as (alert id, event) → count.
async fn changes_in_store(addr: &str, token: &str) -> BTreeMap<(String, String), usize> {
    let (_, list) = call(addr, "GET", "/api/v1/alerts", token, None).await;
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in list["alerts"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        let (_, detail) = call(addr, "GET", &format!("/api/v1/alerts/{id}"), token, None).await;
        for e in detail["history"].as_array().unwrap() {
            let event = match e["status"].as_str().unwrap() {
                "open" => "opened",
                other => other,
            };
            *expected.entry((id.to_string(), event.to_string())).or_default() += 1;
        }
        let actions = detail["actions"].as_array().unwrap().len();
        if actions > 0 {
            expected.insert((id.to_string(), "action".into()), actions);
        }
    }
    expected
}

async fn start_with(mut c: Command) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = c
        .args(["serve", "--config", "kinga.toml", "--addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, addr };
    let until = Instant::now() + Duration::from_mins(1);
    while Instant::now() < until {
        if tokio::net::TcpStream::connect(&server.addr).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    panic!("kinga serve did not listen on {}", server.addr);
}
