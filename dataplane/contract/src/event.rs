//! Events: facts published on the bus under a `<resource>.<event>` routing key.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// One published fact. `event_id` lets consumers drop duplicates (delivery is at least
/// once); `event_type` is the routing key, `<resource>.<event>` such as `node.started` or
/// `number.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: Uuid,
    pub event_type: String,
    /// Who published it: a node id or `control`.
    pub publisher: String,
    /// Milliseconds since the Unix epoch at publication.
    pub timestamp_ms: u64,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(
        event_type: impl Into<String>,
        publisher: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            event_id: Uuid::new_v4(),
            event_type: event_type.into(),
            publisher: publisher.into(),
            timestamp_ms,
            data,
        }
    }
}
