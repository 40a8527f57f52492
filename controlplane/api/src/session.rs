//! Agent sessions: `POST /v1.0/auth/login` issues a JWT (HS256; customer_id, agent_id,
//! permissions, exp 1 h), and the session it opens lives in the cache as
//! `session:<sha256(token)>` with a TTL refreshed on use; `POST /v1.0/auth/logout` deletes it,
//! and the token stops working at once. If the cache is down, a token is checked by its
//! signature and expiry alone (the appliance keeps working; logout cannot be enforced until
//! the cache is back).
//!
//! Wrong usernames and wrong passwords get the same answer in the same time (no enumeration);
//! every attempt counts against the source address's login rate.

use crate::accesskey::token_hash;
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::ratelimit::Class;
use crate::resource::Resource;
use crate::resource::agent::{Agent, TABLE as AGENTS};
use crate::routes::AppState;
use crate::{ApiError, password};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use ferrovox_store::model::now;
use ferrovox_store::{AuditEntry, Effects};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use uuid::Uuid;

/// How long a token and its session live without use.
pub const SESSION_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    pub customer_id: Uuid,
    pub agent_id: Uuid,
    pub permissions: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// Body of `POST /v1.0/auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A session token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>` (or `?token=` on the WebSocket).
    pub token: String,
    /// Seconds since the Unix epoch.
    pub expire: u64,
    pub agent_id: Uuid,
    pub customer_id: Uuid,
}

pub(crate) fn session_key(token: &str) -> String {
    format!("session:{}", token_hash(token))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks a bearer token: signature, expiry, and that its session was not closed.
pub(crate) async fn caller_from_jwt(token: &str, state: &AppState) -> Result<Caller, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(&state.jwt_secret),
        &validation,
    )
    .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))?
    .claims;
    match state
        .engines
        .cache
        .touch(&session_key(token), SESSION_TTL)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::Unauthorized(
                "session ended (logged out or idle)".into(),
            ));
        }
        Err(error) => tracing::debug!(%error, "session check skipped: cache unavailable"),
    }
    let caller = Caller {
        customer_id: claims.customer_id,
        permissions: claims.permissions,
        actor: format!("agent:{}", claims.agent_id),
    };
    // A deleted customer's sessions end with it: the customer entry is cached, and its
    // deletion invalidates that entry, so this costs a cache read and takes effect at once.
    if !crate::resource::customer::is_live(state, &caller).await? {
        return Err(ApiError::Unauthorized("the customer was deleted".into()));
    }
    Ok(caller)
}

fn audit(customer: &str, actor: String, action: &str, agent: &str) -> Effects {
    Effects {
        events: Vec::new(),
        audit: Some(AuditEntry {
            id: Uuid::new_v4().to_string(),
            customer_id: customer.to_owned(),
            actor,
            action: action.to_owned(),
            resource: "agent".into(),
            resource_id: agent.to_owned(),
            before: None,
            after: None,
            at: now(),
        }),
    }
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(request): JsonBody<Login>,
) -> Result<Json<Session>, ApiError> {
    if let Err(retry_after) = state.limiter.check(
        Class::Login,
        &peer.ip().to_string(),
        std::time::Instant::now(),
    ) {
        return Err(ApiError::RateLimited { retry_after });
    }
    let store = &state.engines.store;
    let found = store
        .record_find(&AGENTS, "username", &request.username, 1)
        .await?;
    let agent = found.first().map(Agent::from_record).transpose()?;
    let verified = password::verify(
        request.password,
        agent.as_ref().map(|a| a.password_hash.clone()),
    )
    .await;
    let agent = match (agent, verified) {
        (Some(agent), true) if customer_is_live(&state, &agent).await? => agent,
        (agent, _) => {
            if let Some(agent) = agent {
                let effects = audit(
                    &agent.customer_id.to_string(),
                    format!("peer:{}", peer.ip()),
                    "login_failed",
                    &agent.id.to_string(),
                );
                // The audit row of a failure is best effort: never a reason to answer differently.
                if let Err(error) = store.write_effects(&effects).await {
                    tracing::warn!(%error, "could not audit a failed login");
                }
            }
            return Err(ApiError::Unauthorized(
                "invalid username or password".into(),
            ));
        }
    };
    let issued = unix_now();
    let claims = Claims {
        sub: agent.id.to_string(),
        customer_id: agent.customer_id,
        agent_id: agent.id,
        permissions: vec![agent.permission.clone()],
        iat: issued,
        exp: issued + SESSION_TTL.as_secs(),
        jti: Uuid::new_v4().to_string(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&state.jwt_secret),
    )
    .map_err(|e| ApiError::Unavailable(format!("cannot sign the token: {e}")))?;
    if let Err(error) = state
        .engines
        .cache
        .set(
            &session_key(&token),
            agent.id.to_string().as_bytes(),
            SESSION_TTL,
        )
        .await
    {
        tracing::warn!(%error, "session not stored: logout will not be enforced for it");
    }
    let effects = audit(
        &agent.customer_id.to_string(),
        format!("agent:{}", agent.id),
        "login",
        &agent.id.to_string(),
    );
    if let Err(error) = store.write_effects(&effects).await {
        tracing::warn!(%error, "could not audit a login");
    }
    Ok(Json(Session {
        token,
        expire: claims.exp,
        agent_id: agent.id,
        customer_id: agent.customer_id,
    }))
}

/// Whether the agent's customer still exists (its agents cannot log in once it is deleted).
async fn customer_is_live(state: &AppState, agent: &Agent) -> Result<bool, ApiError> {
    let caller = Caller {
        customer_id: agent.customer_id,
        permissions: Vec::new(),
        actor: format!("agent:{}", agent.id),
    };
    crate::resource::customer::is_live(state, &caller).await
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("send Authorization: Bearer <token>".into()))?;
    caller_from_jwt(token, &state).await?;
    state
        .engines
        .cache
        .delete(&session_key(token))
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot end the session: {e}")))?;
    Ok(Json(serde_json::json!({"result": "logged out"})))
}
