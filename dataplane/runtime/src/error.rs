//! Errors from starting and stopping the runtime.

use ferrovox_sip::transaction::Transport;
use std::io;
use std::net::SocketAddr;
use thiserror::Error;

/// Why the runtime could not start, or how a core ended.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A listen or private socket could not be bound (port in use...).
    #[error("cannot bind {transport:?} socket to {addr}: {source}")]
    Bind {
        /// Transport of the socket.
        transport: Transport,
        /// The address asked for (port resolved when 0 was asked for and
        /// another core had already bound it).
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// io_uring (or a feature this backend needs: provided buffer rings,
    /// multishot receive, extended enter arguments) is unavailable. The
    /// runtime does not fall back on its own: start again with
    /// [`crate::Backend::Portable`] if that is acceptable.
    #[error(
        "io_uring unavailable ({what}): {source}; the portable (epoll) backend can be used instead"
    )]
    IoUringUnavailable {
        /// The step that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Setting up a socket, epoll or eventfd failed.
    #[error("{what}: {source}")]
    Setup {
        /// The step that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A listen transport other than UDP and TCP.
    #[error("cannot listen on {transport:?} {addr}: only UDP and TCP are carried")]
    UnsupportedTransport {
        /// The transport asked for.
        transport: Transport,
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The configuration cannot work.
    #[error("invalid runtime configuration: {0}")]
    Config(&'static str),
    /// A core thread could not be spawned.
    #[error("cannot spawn core thread {core}: {source}")]
    Spawn {
        /// Core index.
        core: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A core thread panicked (in the service or the runtime).
    #[error("core thread {core} panicked")]
    CorePanicked {
        /// Core index.
        core: usize,
    },
    /// A core's event loop failed and stopped.
    #[error("core thread {core} stopped: {what}: {source}")]
    CoreFailed {
        /// Core index.
        core: usize,
        /// The step that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
