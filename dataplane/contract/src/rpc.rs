//! Requests the control plane sends to one media node, and the node's responses.

use crate::NodeId;
use serde::{Deserialize, Serialize};

/// A command addressed to one media node. Every variant says whether a retry after a
/// timeout is safe; the bus retries only those.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Liveness and identity probe.
    Ping,
}

impl Request {
    /// Whether executing this request twice has the same effect as once.
    pub fn is_idempotent(&self) -> bool {
        match self {
            Request::Ping => true,
        }
    }
}

/// A media node's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Pong {
        node_id: NodeId,
        version: String,
        uptime_ms: u64,
    },
    /// The node understood the request and refused or failed it.
    Error { code: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_tagged_json() {
        let json = serde_json::to_string(&Request::Ping).unwrap();
        assert_eq!(json, r#"{"type":"ping"}"#);
        let pong = Response::Pong {
            node_id: NodeId::new("n1").unwrap(),
            version: "0.1.0".into(),
            uptime_ms: 5,
        };
        let back: Response = serde_json::from_str(&serde_json::to_string(&pong).unwrap()).unwrap();
        assert_eq!(back, pong);
    }
}
