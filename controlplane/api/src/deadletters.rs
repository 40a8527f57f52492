//! `GET /v1.0/deadletters/{subscriber}`: how many events wait in a durable subscriber's
//! dead-letter queue (see `ferrovox_contract::bus::durable`), for the platform operator. A
//! count above zero means events were given up on after their retries (or could not be
//! decoded) and need a look.

use crate::ApiError;
use crate::auth::{Caller, PLATFORM_ADMIN};
use crate::routes::AppState;
use axum::Json;
use axum::extract::{Path, State};
use ferrovox_contract::BusError;
use serde::Serialize;

/// The answer: a subscriber and the depth of its dead-letter queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetters {
    pub subscriber: String,
    /// Messages in the dead-letter queue now.
    pub count: u64,
}

pub(crate) async fn count(
    caller: Caller,
    State(state): State<AppState>,
    Path(subscriber): Path<String>,
) -> Result<Json<DeadLetters>, ApiError> {
    caller.require_any(&[PLATFORM_ADMIN])?;
    let count = state
        .engines
        .bus
        .dead_letter_count(&subscriber)
        .await
        .map_err(|error| match error {
            BusError::Rejected(message) => ApiError::invalid("subscriber", message),
            other => ApiError::Unavailable(format!("bus: {other}")),
        })?;
    Ok(Json(DeadLetters { subscriber, count }))
}
