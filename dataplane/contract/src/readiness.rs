//! The readiness report both the control plane and media nodes serve on `/ready`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One dependency's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub ok: bool,
    /// Which implementation runs (`sqlite`, `mysql`, `redis`, `amqp`, …).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Check {
    pub fn new<E: std::fmt::Display>(kind: &str, result: Result<(), E>) -> Self {
        Self {
            ok: result.is_ok(),
            kind: kind.to_owned(),
            error: result.err().map(|e| e.to_string()),
        }
    }
}

/// `/ready`'s body: every dependency by name, and the names of those that fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    pub checks: BTreeMap<String, Check>,
    pub failing: Vec<String>,
}

impl Readiness {
    pub fn from_checks(checks: impl IntoIterator<Item = (&'static str, Check)>) -> Self {
        let checks: BTreeMap<String, Check> = checks
            .into_iter()
            .map(|(name, check)| (name.to_owned(), check))
            .collect();
        let failing: Vec<String> = checks
            .iter()
            .filter(|(_, check)| !check.ok)
            .map(|(name, _)| name.clone())
            .collect();
        Self {
            status: if failing.is_empty() {
                "ready"
            } else {
                "unavailable"
            }
            .to_owned(),
            checks,
            failing,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.failing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_fails() {
        let ready = Readiness::from_checks([
            ("store", Check::new::<String>("sqlite", Ok(()))),
            ("cache", Check::new("redis", Err("connection refused"))),
        ]);
        assert!(!ready.is_ready());
        assert_eq!(ready.status, "unavailable");
        assert_eq!(ready.failing, vec!["cache".to_owned()]);
        assert_eq!(
            ready.checks["cache"].error.as_deref(),
            Some("connection refused")
        );
        let json = serde_json::to_value(&ready).unwrap();
        assert_eq!(
            json["checks"]["store"],
            serde_json::json!({"ok": true, "kind": "sqlite"})
        );
    }
}
