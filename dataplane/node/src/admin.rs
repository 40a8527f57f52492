//! The node's admin HTTP endpoints: liveness, readiness, Prometheus metrics.

use crate::RenderMetrics;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use ferrovox_contract::{Bus, Check, Readiness};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

#[derive(Clone)]
pub(crate) struct AdminState {
    pub bus: Arc<dyn Bus>,
    pub metrics: RenderMetrics,
    pub ng_alive: Arc<AtomicBool>,
    /// The SIP edge's counters and core heartbeats; `None` when SIP is off.
    pub sip: Option<crate::sip::SipEdgeHandle>,
}

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    mut stop: watch::Receiver<bool>,
) {
    let router = axum::Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": "not_found", "message": "no such endpoint"})),
            )
        })
        .with_state(state);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "media admin server failed");
    }
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    let ng: Result<(), &str> = if state.ng_alive.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err("ng control socket stopped")
    };
    let mut checks = vec![
        ("bus", Check::new(state.bus.kind(), state.bus.check().await)),
        ("ng", Check::new("udp", ng)),
    ];
    if let Some(sip) = &state.sip {
        let cores: Result<(), &str> = if sip.cores_alive() {
            Ok(())
        } else {
            Err("a SIP core stopped answering")
        };
        checks.push(("sip", Check::new("proxy", cores)));
    }
    let readiness = Readiness::from_checks(checks);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        (state.metrics)(),
    )
}
