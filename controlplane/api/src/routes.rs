//! The HTTP routes.

use crate::auth::Caller;
use crate::{ApiError, Engines, RenderMetrics, http_metrics, resource};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use ferrovox_contract::{Check, Readiness};
use std::time::Duration;

/// Built once: the document depends only on the code.
static OPENAPI: std::sync::LazyLock<serde_json::Value> =
    std::sync::LazyLock::new(crate::openapi::document);

/// A dependency that does not answer within this time counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub(crate) struct AppState {
    pub engines: Engines,
    pub metrics: RenderMetrics,
    /// Wakes the outbox relay after a write.
    pub outbox: std::sync::Arc<tokio::sync::Notify>,
    /// Every event on the bus with its topic, for WebSocket clients.
    pub events: tokio::sync::broadcast::Sender<std::sync::Arc<(String, ferrovox_contract::Event)>>,
    pub limiter: std::sync::Arc<crate::ratelimit::RateLimiter>,
    pub jwt_secret: std::sync::Arc<Vec<u8>>,
}

pub(crate) fn router(state: AppState) -> Router {
    let router = resource::routes::<resource::number::Number>(Router::new(), "numbers");
    let router = resource::routes::<resource::accesskey::AccessKey>(router, "accesskeys");
    let router = resource::routes::<resource::provider::Provider>(router, "providers");
    let router = resource::routes::<resource::route::Route>(router, "routes");
    let router = resource::routes::<resource::trunk::Trunk>(router, "trunks");
    let router = resource::routes::<resource::extension::Extension>(router, "extensions");
    resource::routes::<resource::agent::Agent>(router, "agents")
        .route(
            "/v1.0/auth/login",
            axum::routing::post(crate::session::login),
        )
        .route(
            "/v1.0/auth/logout",
            axum::routing::post(crate::session::logout),
        )
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/ready", get(ready))
        .route("/v1.0/ws", get(crate::ws::upgrade))
        .route(
            "/v1.0/openapi.json",
            get(|| async { Json(OPENAPI.clone()) }),
        )
        .route(
            "/v1.0/docs",
            get(|| async { axum::response::Html(crate::openapi::DOCS_PAGE) }),
        )
        .route("/metrics", get(metrics))
        .route("/v1.0/customer", get(own_customer))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::middleware::from_fn(http_metrics::record))
        .with_state(state)
}

async fn timed<E: std::fmt::Display>(
    check: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let engines = &state.engines;
    let (store, cache, bus) = tokio::join!(
        timed(engines.store.check()),
        timed(engines.cache.check()),
        timed(engines.bus.check()),
    );
    let readiness = Readiness::from_checks([
        ("store", Check::new(engines.store.kind(), store)),
        ("cache", Check::new(engines.cache.kind(), cache)),
        ("bus", Check::new(engines.bus.kind(), bus)),
    ]);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        (state.metrics)(),
    )
}

/// The caller's own customer record (without its webhook secret).
async fn own_customer(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let customer = state
        .engines
        .store
        .customer_get(caller.customer_id)
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot read the customer: {e}")))?
        .ok_or_else(|| ApiError::NotFound("customer not found".into()))?;
    Ok(Json(serde_json::json!({
        "id": customer.id,
        "name": customer.name,
        "detail": customer.detail,
        "email": customer.email,
        "webhook_method": customer.webhook_method,
        "webhook_uri": customer.webhook_uri,
        "permissions": caller.permissions,
        "tm_create": customer.tm_create.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        "tm_update": customer.tm_update.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
    })))
}
