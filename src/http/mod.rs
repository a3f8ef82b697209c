//! The HTTP service (DESIGN.md §4): an axum router built from one route table ([`routes::ROUTES`])
//! that also yields the authorisation policy of every route and the OpenAPI document, so a
//! route cannot exist without a policy or a contract entry.
//!
//! Layers, outermost first: load shedding (503 + `Retry-After`), request timeout (408),
//! authentication + per-credential rate limit (429) + the route's policy (401/403). Served
//! through hyper with a header-read timeout, which `axum::serve` does not set.

pub mod auth;
pub mod error;
pub mod intake;
pub mod routes;
pub mod tiles;
pub mod views;

pub use routes::csv_text;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use h3o::Resolution;
use tokio::sync::Semaphore;

use self::auth::{Caller, Role, TokenCache};
use self::error::ApiError;
use self::views::Viewer;
use crate::service::Service;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What the state holds.
pub struct Inner {
    /// The use cases.
    pub service: Arc<Service>,
    tokens: TokenCache,
    limiter: RateLimiter,
    shed: Arc<Semaphore>,
    /// Cached tiles.
    pub tiles: tiles::TileCache,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Early warning.
    pub early: Arc<crate::early_warning::EarlyWarning>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over a running service, with early warning loaded from the store and running.
    ///
    /// # Errors
    /// [`crate::service::ServiceError`] when the store cannot be read.
    pub async fn start(service: Arc<Service>) -> Result<Self, crate::service::ServiceError> {
        let early =
            crate::early_warning::EarlyWarning::start(service.clone(), crate::scoring::alerts::AlertRules::default())
                .await?;
        early.spawn();
        let limits = service.config().limits.clone();
        Ok(Self(Arc::new(Inner {
            early,
            tokens: TokenCache::default(),
            limiter: RateLimiter::new(limits.rate_per_minute),
            shed: Arc::new(Semaphore::new(limits.max_in_flight)),
            tiles: tiles::TileCache::default(),
            metrics: Metrics::default(),
            service,
        })))
    }

    /// How a caller may see data.
    #[must_use]
    pub fn viewer(&self, caller: &Caller) -> Viewer {
        let config = self.service.config();
        Viewer {
            role: caller.role,
            k: config.suppression_k,
            publication_res: Resolution::try_from(config.publication_res).unwrap_or(Resolution::Seven),
        }
    }
}

/// Request counters, exposed in the Prometheus text format.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests by status class (1xx … 5xx).
    pub responses: [AtomicU64; 6],
    /// Reports accepted.
    pub reports_accepted: AtomicU64,
    /// Reports rejected (validation or conflict).
    pub reports_rejected: AtomicU64,
    /// Requests shed with 503.
    pub shed: AtomicU64,
    /// Requests refused with 429.
    pub rate_limited: AtomicU64,
    /// Open SSE streams.
    pub sse_clients: AtomicU64,
}

/// Token buckets per credential: `rate_per_minute` capacity, refilled continuously.
#[derive(Debug)]
struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(per_minute: u32) -> Self {
        Self { per_minute: f64::from(per_minute), buckets: Mutex::new(HashMap::new()) }
    }

    fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_mins(2));
        }
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_minute / 60.0).min(self.per_minute);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Resolves the caller, applies the rate limit and the matched route's policy.
async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let Some(spec) = routes::spec_for(req.method(), &path) else {
        // Deny by default: a route without a policy answers 403.
        return ApiError::Forbidden.into_response();
    };
    let caller = if let Some(token) = bearer(req.headers()) {
        match state.tokens.resolve(state.service.store().as_ref(), token).await {
            Ok(Some(c)) => c,
            Ok(None) => return ApiError::Unauthorized.into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        let addr = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
        Caller { role: Role::Public, name: "public".into(), key: format!("ip:{addr}") }
    };
    if spec.open {
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }
    if caller.role == Role::Public && !state.service.config().public_read {
        return ApiError::Unauthorized.into_response();
    }
    if !state.limiter.allow(&caller.key) {
        state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        return ApiError::TooManyRequests.into_response();
    }
    if !spec.allowed.contains(&caller.role) {
        let denied = if caller.role == Role::Public { ApiError::Unauthorized } else { ApiError::Forbidden };
        if caller.role != Role::Public {
            let _ = state.service.audit(&caller.name, "denied", vec![path.clone()], req.method().to_string(), 0).await;
        }
        return denied.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Sheds load beyond `max_in_flight` with 503, and bounds each request's time with 408.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(permit) = state.shed.clone().try_acquire_owned() else {
        state.metrics.shed.fetch_add(1, Ordering::Relaxed);
        return ApiError::Unavailable("load shed: too many requests in flight".into()).into_response();
    };
    let timeout = Duration::from_secs(state.service.config().limits.request_timeout_s);
    let streaming = req.uri().path() == "/api/v1/stream";
    let response = if streaming {
        drop(permit);
        next.run(req).await
    } else {
        let r = match tokio::time::timeout(timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::Timeout.into_response(),
        };
        drop(permit);
        r
    };
    let class = usize::from(response.status().as_u16() / 100).min(5);
    state.metrics.responses[class].fetch_add(1, Ordering::Relaxed);
    response
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for spec in routes::ROUTES {
        api = api.route(spec.route, (spec.handler)());
    }
    api.route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .fallback(|method: Method| async move {
            if method == Method::GET || method == Method::HEAD {
                ApiError::NotFound
            } else {
                ApiError::MethodNotAllowed
            }
        })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves the router on a bound listener until `shutdown` resolves: hyper HTTP/1 with a
/// header-read timeout, so slow-header clients cannot hold connections.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => r?,
            () = &mut shutdown => return Ok(()),
        };
        let svc = match tower::Service::call(&mut make, addr).await {
            Ok(s) => s,
            Err(never) => match never {},
        };
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            let _ = conn.await;
        });
    }
}
