//! The HTTP routes.

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
    /// Where recording files are read from (`<data dir>/recordings`).
    pub recordings_dir: std::sync::Arc<std::path::PathBuf>,
}

pub(crate) fn router(state: AppState) -> Router {
    let router = resource::routes::<resource::number::Number>(Router::new(), "numbers");
    let router = resource::routes::<resource::accesskey::AccessKey>(router, "accesskeys");
    let router = resource::routes::<resource::provider::Provider>(router, "providers");
    let router = resource::routes::<resource::route::Route>(router, "routes");
    let router = resource::routes::<resource::trunk::Trunk>(router, "trunks");
    let router = resource::routes::<resource::extension::Extension>(router, "extensions");
    let router = resource::routes::<resource::flow::Flow>(router, "flows");
    let router =
        resource::read_delete_routes::<resource::recording::Recording>(router, "recordings");
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
        .route(
            "/v1.0/customer",
            get(resource::customer::get_own).put(resource::customer::update_own),
        )
        .route(
            "/v1.0/customers",
            get(resource::customer::list).post(resource::customer::create),
        )
        .route(
            "/v1.0/customers/{id}",
            get(resource::customer::read)
                .put(resource::customer::update)
                .delete(resource::customer::delete),
        )
        .route(
            "/v1.0/customer/webhook_secret",
            axum::routing::post(resource::customer::rotate_webhook_secret),
        )
        .route("/v1.0/recordings/{id}/file", get(resource::recording::file))
        .route(
            "/v1.0/deadletters/{subscriber}",
            get(crate::deadletters::count),
        )
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
