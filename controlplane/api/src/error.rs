//! API errors as `{"error": "<code>", "message": "..."}` (plus `"field"` for invalid input)
//! with the matching HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("rate limit exceeded; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
}

impl ApiError {
    /// Invalid input in one field, named so a client can show it next to the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.to_owned(),
            message: format!("{field}: {}", message.into()),
        }
    }

    /// The same error about a field of the object `parent` (`admin_agent.username`).
    pub(crate) fn within(self, parent: &str) -> Self {
        match self {
            ApiError::Invalid { field, message } => ApiError::Invalid {
                message: format!("{parent}.{message}"),
                field: format!("{parent}.{field}"),
            },
            other => other,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_argument"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "permission_denied"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        }
    }
}

impl From<ferrovox_store::StoreError> for ApiError {
    fn from(error: ferrovox_store::StoreError) -> Self {
        match error {
            ferrovox_store::StoreError::Conflict { what, id } => {
                ApiError::Conflict(format!("{what} {id} already exists"))
            }
            other => ApiError::Unavailable(format!("store: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let mut body = serde_json::json!({"error": code, "message": self.to_string()});
        if let ApiError::Invalid { field, .. } = &self {
            body["field"] = serde_json::Value::String(field.clone());
        }
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after } = &self {
            // Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.max(1).to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}
