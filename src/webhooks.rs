//! Webhook delivery of alert changes through a transactional outbox.
//!
//! Every alert change (opened, acknowledged, resolved, closed, action) is written to the store
//! together with one outbox message per configured webhook, in the same transaction
//! ([`crate::store::Announce`]). The [`Dispatcher`] posts due messages, signs each attempt with
//! HMAC-SHA256, and records the outcome: delivered, retried later with exponential backoff, or
//! given up after [`MAX_ATTEMPTS`]. A crash between the change and its delivery loses nothing: the
//! message is still in the outbox at the next start. Delivery is at least once; a receiver
//! recognises a repeat by the `Idempotency-Key` header (also `idempotency_key` in the body), which
//! stays the same on every attempt.
//!
//! Signature: header `Kinga-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
//! HMAC-SHA256(secret, `"<t>." + body`). A receiver recomputes it over the raw body and rejects
//! stale `t` to stop replays.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::WebhookTarget;
use crate::store::{Announce, OutboxMessage, Store};

/// Attempts before a delivery is given up (about six hours of retries).
pub const MAX_ATTEMPTS: u32 = 30;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_mins(15);
/// Time allowed for one attempt (connect, send, answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the outbox is polled when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);

/// The `Kinga-Signature` value of a body sent at `unix_s`.
///
/// ```
/// // A receiver checks it the same way, over the raw bytes it received.
/// let sig = kinga::webhooks::signature(b"a-long-shared-secret", 1_700_000_000, br#"{"a":1}"#);
/// assert!(sig.starts_with("t=1700000000,v1="));
/// assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
/// ```
#[must_use]
pub fn signature(secret: &[u8], unix_s: i64, body: &[u8]) -> String {
    format!("t={unix_s},v1={}", crate::store::hex(&hmac_sha256(secret, unix_s, body)))
}

fn hmac_sha256(secret: &[u8], unix_s: i64, body: &[u8]) -> Vec<u8> {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(unix_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The wait before the attempt after `attempts` failed ones: 1 s, 2 s, 4 s, … capped at
/// [`MAX_BACKOFF`].
///
/// ```
/// use std::time::Duration;
/// use kinga::webhooks::backoff;
/// assert_eq!(backoff(1), Duration::from_secs(1));
/// assert_eq!(backoff(4), Duration::from_secs(8));
/// assert_eq!(backoff(29), Duration::from_secs(900));
/// ```
#[must_use]
pub fn backoff(attempts: u32) -> Duration {
    let secs = 1u64.checked_shl(attempts.saturating_sub(1)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// An [`Announce`] enqueuing `alert` (the alert JSON of the event, built from the alert as
/// stored) for every target; `extra` members are added to the body (e.g. the action taken).
#[must_use]
pub fn announce(targets: Arc<[WebhookTarget]>, event: &'static str, extra: Option<(&'static str, Value)>) -> Announce {
    Box::new(move |record| {
        let now = crate::domain::truncate_micros(Utc::now());
        let alert = crate::early_warning::alert_json(record, event, None);
        targets
            .iter()
            .map(|t| {
                let id = Uuid::now_v7();
                let mut body = json!({ "idempotency_key": id.to_string(), "alert": alert });
                if let Some((k, v)) = &extra {
                    body[*k] = v.clone();
                }
                OutboxMessage {
                    id,
                    target: t.url.clone(),
                    alert_id: record.id,
                    body: body.to_string(),
                    created_at: now,
                    attempts: 0,
                }
            })
            .collect()
    })
}

/// Posts due outbox messages to their webhooks.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    targets: Arc<[WebhookTarget]>,
    wake: Arc<Notify>,
    /// Targets whose last attempt failed, held back until then so their messages wait in
    /// order instead of each spending an attempt on a receiver that is down.
    down: std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("targets", &self.targets).finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered,
    /// Anything else, with why.
    Failed(String),
}

impl Dispatcher {
    /// A dispatcher over the store's outbox for these targets.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, targets: Arc<[WebhookTarget]>) -> Self {
        Self { store, targets, wake: Arc::new(Notify::new()), down: std::sync::Mutex::default() }
    }

    /// Wakes the dispatcher (after an enqueue) instead of waiting for the next poll.
    #[must_use]
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Delivers in the background until the runtime stops.
    pub fn spawn(self: Arc<Self>) {
        tokio::spawn(async move {
            loop {
                match self.deliver_due(Utc::now()).await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "webhook outbox unreadable; retrying"),
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }

    /// Makes one attempt at every message due at `now` (oldest first). After a failure the rest
    /// of that target's messages wait until its retry time, keeping their order. Records each
    /// outcome and returns how many were attempted.
    ///
    /// # Errors
    /// [`crate::store::StoreError`] when the outbox cannot be read or an outcome not recorded.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<usize, crate::store::StoreError> {
        let due = self.store.due_deliveries(now, 64).await?;
        let mut attempted = 0;
        for m in due {
            let held = self.down.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&m.target).copied();
            if held.is_some_and(|until| until > now) {
                continue;
            }
            let target = self.targets.iter().find(|t| t.url == m.target);
            let outcome = match target {
                Some(t) => send(t, &m).await,
                None => Attempt::Failed("this webhook is no longer configured".into()),
            };
            attempted += 1;
            let attempts = m.attempts + 1;
            let record = {
                let mut down = self.down.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match outcome {
                    Attempt::Delivered => {
                        down.remove(&m.target);
                        tracing::info!(delivery = %m.id, alert = %m.alert_id, "webhook delivered");
                        Ok(Utc::now())
                    }
                    Attempt::Failed(why) => {
                        let retry = (attempts < MAX_ATTEMPTS && target.is_some()).then(|| now + backoff(attempts));
                        down.insert(m.target.clone(), retry.unwrap_or(now));
                        tracing::warn!(delivery = %m.id, alert = %m.alert_id, attempts, error = %why,
                            "webhook delivery failed{}", if retry.is_some() { "; will retry" } else { "; given up" });
                        Err((retry, why))
                    }
                }
            };
            self.store.record_delivery(m.id, record).await?;
        }
        Ok(attempted)
    }
}

/// One signed POST of a message to its target.
async fn send(target: &WebhookTarget, m: &OutboxMessage) -> Attempt {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, post(target, m)).await {
        Ok(Ok(status)) if status.is_success() => Attempt::Delivered,
        Ok(Ok(status)) => Attempt::Failed(format!("HTTP {status}")),
        Ok(Err(e)) => Attempt::Failed(e),
        Err(_) => Attempt::Failed(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
    }
}

async fn post(target: &WebhookTarget, m: &OutboxMessage) -> Result<axum::http::StatusCode, String> {
    use axum::http::{Request, header};
    use hyper_util::rt::TokioIo;

    let uri: axum::http::Uri = target.url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("URL without host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let authority = uri.authority().map_or(host.clone(), ToString::to_string);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let body = Bytes::from(m.body.clone());
    let request = Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, concat!("kinga/", env!("CARGO_PKG_VERSION")))
        .header("Idempotency-Key", m.id.to_string())
        .header("Kinga-Signature", signature(target.secret.as_bytes(), Utc::now().timestamp(), &body))
        .body(http_body_util::Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("send: {e}"));
    driver.abort();
    Ok(response?.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HMAC-SHA256 on RFC 4231 test case 2, then the framing `"<t>." + body` of what is signed.
    #[test]
    fn hmac_matches_rfc_4231_and_frames_timestamp_dot_body() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            crate::store::hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut framed = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        framed.update(b"42.{}");
        assert_eq!(hmac_sha256(b"k", 42, b"{}"), framed.finalize().into_bytes().to_vec());
        assert_ne!(signature(b"k", 42, b"{}"), signature(b"k", 43, b"{}"));
        assert_ne!(signature(b"k", 42, b"{}"), signature(b"j", 42, b"{}"));
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let waits: Vec<u64> = (1..=12).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(backoff(200), MAX_BACKOFF);
        let total: u64 = (1..MAX_ATTEMPTS).map(|a| backoff(a).as_secs()).sum();
        assert!((5 * 3600..7 * 3600).contains(&total), "{total}");
    }
}
