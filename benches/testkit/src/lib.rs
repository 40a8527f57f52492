//! Test and capacity harness shared by ferrovox's integration tests and the capacity runner.
//!
//! Everything here drives real programs on loopback: the dev stack's MariaDB, Redis and
//! RabbitMQ ([`devstack`]), SIPp ([`sipp`]) and baresip ([`baresip`]), plus free-port picking
//! ([`ports`]), readiness waits ([`wait`]) and CPU accounting from `/proc` for the capacity
//! runners ([`cpu`]). Child processes are killed when their handle is
//! dropped, so a failing test leaves nothing running.

pub mod baresip;
pub mod counting_alloc;
pub mod cpu;
pub mod devstack;
pub mod ports;
pub mod process;
pub mod sipp;
pub mod wait;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {seconds:.1} s waiting for {what}")]
    Timeout { what: String, seconds: f64 },
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// The repository's root directory (where `scripts/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}
