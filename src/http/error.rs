//! `ApiError`: the one error type of the HTTP layer, mapped to status codes in one `match`.
//! Bodies follow DESIGN.md §4: `{"errors":[{"field":…,"code":…,"message":…}]}`; 5xx bodies hide
//! internals (the cause goes to the log, without coordinates or free text).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::{FieldError, ValidationErrors};
use crate::service::ServiceError;
use crate::store::StoreError;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a parameter is not well-formed.
    #[error("bad request")]
    BadRequest(Vec<FieldError>),
    /// 401: a credential is needed (or the one given is unknown).
    #[error("unauthorized")]
    Unauthorized,
    /// 403: the caller's role may not do this.
    #[error("forbidden")]
    Forbidden,
    /// 404: no such resource, or not visible to the caller (no existence oracle).
    #[error("not found")]
    NotFound,
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request took too long (the outcome of a write is then unknown: retry with the same id).
    #[error("timeout")]
    Timeout,
    /// 413: the body is over the route's limit.
    #[error("payload too large")]
    PayloadTooLarge(usize),
    /// 415: wrong or missing `Content-Type`.
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    /// 422: well-formed but invalid.
    #[error("unprocessable")]
    Unprocessable(Vec<FieldError>),
    /// 429: over the credential's rate.
    #[error("too many requests")]
    TooManyRequests,
    /// 503: overloaded or the store is unavailable; nothing was acknowledged.
    #[error("unavailable")]
    Unavailable(String),
    /// 500: a bug or corrupt data.
    #[error("internal")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming a query parameter.
    pub fn bad_param(name: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(vec![FieldError::new(name, "invalid_parameter", message)])
    }

    /// A 422 for one field.
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable(vec![FieldError::new(field, code, message)])
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        Self::Unprocessable(e.0)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(v) => Self::Unprocessable(v.0),
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Store(s) => s.into(),
            ServiceError::Config(c) => Self::Internal(c),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Rejected(m) => Self::Unprocessable(vec![FieldError::new("", "rejected", m)]),
            other => Self::Internal(other.to_string()),
        }
    }
}

fn body(status: StatusCode, errors: &[FieldError]) -> Response {
    (status, Json(serde_json::json!({ "errors": errors }))).into_response()
}

fn one(status: StatusCode, code: &'static str, message: &str) -> Response {
    body(status, &[FieldError::new("", code, message)])
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(e) => body(StatusCode::BAD_REQUEST, &e),
            Self::Unauthorized => {
                let mut r = one(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Self::Forbidden => one(StatusCode::FORBIDDEN, "forbidden", "your role may not do this"),
            Self::NotFound => one(StatusCode::NOT_FOUND, "not_found", "no such resource"),
            Self::MethodNotAllowed => one(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed"),
            Self::Timeout => one(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request took too long; its outcome is unknown, retry with the same id",
            ),
            Self::PayloadTooLarge(limit) => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                &[FieldError::new("", "payload_too_large", format!("the body must be at most {limit} bytes"))],
            ),
            Self::UnsupportedMediaType(expected) => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &[FieldError::new("Content-Type", "unsupported_media_type", format!("expected {expected}"))],
            ),
            Self::Unprocessable(e) => body(StatusCode::UNPROCESSABLE_ENTITY, &e),
            Self::TooManyRequests => {
                let mut r = one(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests for this credential");
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "answering 503");
                let mut r = one(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "temporarily unavailable; nothing was stored, retry later",
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "answering 500");
                one(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}
