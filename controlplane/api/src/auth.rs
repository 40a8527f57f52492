//! Who is calling: `Authorization: Bearer <jwt>` (an agent's session), `Authorization:
//! AccessKey <key>`, `?accesskey=<key>`, or `?token=<jwt or key>` (WebSocket clients).

use crate::ApiError;
use crate::accesskey::token_hash;
use crate::ratelimit::Class;
use crate::routes::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ferrovox_store::model::now;
use uuid::Uuid;

/// The platform operator's permission, above every customer: create, list and delete
/// customers (`/v1.0/customers`). Only the first start's admin key holds it; it cannot be
/// granted through the API (it is not one of the customer permissions).
pub const PLATFORM_ADMIN: &str = "platform_admin";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub customer_id: Uuid,
    pub permissions: Vec<String>,
    /// Who, for the audit trail: `accesskey:<id>` or `agent:<id>`.
    pub actor: String,
}

enum Credential {
    AccessKey(String),
    Bearer(String),
}

/// A JWT has three dot-separated parts; an access key has none.
fn classify(token: &str) -> Credential {
    if token.matches('.').count() == 2 {
        Credential::Bearer(token.to_owned())
    } else {
        Credential::AccessKey(token.to_owned())
    }
}

fn presented_credential(parts: &Parts) -> Option<Credential> {
    if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let header = header.to_str().ok()?;
        let (scheme, value) = header.split_once(' ')?;
        let value = value.trim().to_owned();
        return if scheme.eq_ignore_ascii_case("accesskey") {
            Some(Credential::AccessKey(value))
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Some(Credential::Bearer(value))
        } else {
            None
        };
    }
    parts.uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        match name {
            "accesskey" => Some(Credential::AccessKey(value.to_owned())),
            // What WebSocket clients pass (browsers cannot set headers on an upgrade).
            "token" => Some(classify(value)),
            _ => None,
        }
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string())
            .unwrap_or_default();
        let caller = authenticate(parts, state).await;
        let now = std::time::Instant::now();
        match &caller {
            // Failed authentications count against the source address, like logins, so keys
            // cannot be guessed at API speed.
            Err(ApiError::Unauthorized(_)) => {
                if let Err(retry_after) = state.limiter.check(Class::Login, &peer, now) {
                    return Err(ApiError::RateLimited { retry_after });
                }
            }
            Ok(caller) => {
                if let Err(retry_after) =
                    state
                        .limiter
                        .check(Class::Api, &caller.customer_id.to_string(), now)
                {
                    return Err(ApiError::RateLimited { retry_after });
                }
            }
            Err(_) => {}
        }
        caller
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token = match presented_credential(parts) {
        Some(Credential::Bearer(token)) => {
            return crate::session::caller_from_jwt(&token, state).await;
        }
        Some(Credential::AccessKey(token)) => token,
        None => {
            return Err(ApiError::Unauthorized(
                "send Authorization: Bearer <token> or AccessKey <key>, or ?accesskey=<key>".into(),
            ));
        }
    };
    let key = accesskey(state, &token_hash(&token)).await?;
    if key.tm_expire <= now() {
        return Err(ApiError::Unauthorized("access key expired".into()));
    }
    let caller = Caller {
        customer_id: key.customer_id,
        permissions: key.permissions,
        actor: format!("accesskey:{}", key.id),
    };
    // A cached key outlives its customer's deletion: check the customer (its entry is
    // cached too, and dropped when the customer is deleted), as for JWT sessions.
    if !crate::resource::customer::is_live(state, &caller).await? {
        return Err(ApiError::Unauthorized(
            "unknown or revoked access key".into(),
        ));
    }
    Ok(caller)
}

/// What authentication needs of an access key, cached under [`accesskey_cache_key`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct KeyGrant {
    id: Uuid,
    customer_id: Uuid,
    permissions: Vec<String>,
    tm_expire: chrono::NaiveDateTime,
}

/// How long a key's grant stays cached; deleting the key drops the entry at once
/// ([`crate::resource::Resource::dependent_cache_keys`]).
const KEY_GRANT_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The cache entry holding the grant of the key whose token hashes to `token_hash`.
pub(crate) fn accesskey_cache_key(token_hash: &str) -> String {
    format!("accesskey_token:{token_hash}")
}

/// The live key with this token hash: from the cache (cache-aside: every API call presents
/// its key, so the store is read once per key and TTL, not once per request), or the store.
async fn accesskey(state: &AppState, token_hash: &str) -> Result<KeyGrant, ApiError> {
    let fetch = async {
        let key = state
            .engines
            .store
            .accesskey_by_token_hash(token_hash)
            .await
            .map_err(|e| ApiError::Unavailable(format!("cannot check the access key: {e}")))?;
        Ok(key.map(|key| KeyGrant {
            id: key.id,
            customer_id: key.customer_id,
            permissions: key.permissions,
            tm_expire: key.tm_expire,
        }))
    };
    crate::read_through::read_through(
        state.engines.cache.as_ref(),
        &accesskey_cache_key(token_hash),
        KEY_GRANT_TTL,
        fetch,
    )
    .await?
    .ok_or_else(|| ApiError::Unauthorized("unknown or revoked access key".into()))
}

impl Caller {
    /// Fails with 403 unless the caller holds one of `permissions`.
    pub fn require_any(&self, permissions: &[&str]) -> Result<(), ApiError> {
        if self
            .permissions
            .iter()
            .any(|held| permissions.contains(&held.as_str()))
        {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "requires one of: {}",
                permissions.join(", ")
            )))
        }
    }

    /// Whether the caller is the platform operator.
    pub fn is_platform_admin(&self) -> bool {
        self.permissions.iter().any(|p| p == PLATFORM_ADMIN)
    }

    /// How the audit trail names this caller.
    pub fn actor(&self) -> String {
        self.actor.clone()
    }
}
