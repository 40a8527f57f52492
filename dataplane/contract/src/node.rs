//! Media node identity.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The name a media node answers to on the bus. Operators choose it (default: the host
/// name); it names the node's request queue, so it is limited to characters that are safe in
/// AMQP queue names and routing keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

/// Why a string is not a valid [`NodeId`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeIdError {
    #[error("node id is empty")]
    Empty,
    #[error("node id is longer than 64 characters")]
    TooLong,
    #[error("node id {0:?} may contain only letters, digits, '-' and '_'")]
    BadCharacter(String),
}

impl NodeId {
    pub fn new(id: impl Into<String>) -> Result<Self, NodeIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(NodeIdError::Empty);
        }
        if id.len() > 64 {
            return Err(NodeIdError::TooLong);
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(NodeIdError::BadCharacter(id));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeId {
    type Error = NodeIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> Self {
        id.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_like_names_and_rejects_queue_unsafe_ones() {
        assert!(NodeId::new("media-1_a").is_ok());
        assert_eq!(NodeId::new(""), Err(NodeIdError::Empty));
        assert_eq!(NodeId::new("a".repeat(65)), Err(NodeIdError::TooLong));
        assert!(matches!(
            NodeId::new("node.1"),
            Err(NodeIdError::BadCharacter(_))
        ));
        assert!(matches!(
            NodeId::new("node#"),
            Err(NodeIdError::BadCharacter(_))
        ));
    }

    #[test]
    fn deserialising_validates() {
        let ok: NodeId = serde_json::from_str("\"n1\"").unwrap();
        assert_eq!(ok.as_str(), "n1");
        assert!(serde_json::from_str::<NodeId>("\"a b\"").is_err());
    }
}
