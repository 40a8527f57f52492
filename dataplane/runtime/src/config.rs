//! Runtime configuration: which backend, how many core threads, what to
//! listen on, batch and buffer sizes, TCP limits.

use ferrovox_sip::transaction::Transport;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// Which IO backend drives the cores. Both behave the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Linux io_uring: multishot receive into a provided buffer ring,
    /// batched submission (production).
    IoUring,
    /// epoll with `recvmmsg`/`sendmmsg` batches (development, comparison,
    /// kernels without io_uring).
    Portable,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::IoUring => "io-uring",
            Backend::Portable => "portable",
        })
    }
}

/// A backend name that is none of `io-uring`, `io_uring`, `uring`,
/// `portable`, `epoll`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("unknown IO backend {0:?} (expected \"io-uring\" or \"portable\")")]
pub struct ParseBackendError(pub String);

impl FromStr for Backend {
    type Err = ParseBackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "io-uring" | "io_uring" | "uring" | "iouring" => Ok(Backend::IoUring),
            "portable" | "epoll" => Ok(Backend::Portable),
            _ => Err(ParseBackendError(s.to_owned())),
        }
    }
}

/// How the runtime runs. [`Default`] gives io_uring, one thread per
/// available CPU, no listen address (add some), batches of 32, 4 MiB
/// socket buffers, 64 KiB messages, TCP idle timeout 300 s.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Which IO backend.
    pub backend: Backend,
    /// Core threads; 0 = `std::thread::available_parallelism`.
    pub threads: usize,
    /// Listen addresses (UDP and TCP). Port 0 binds an ephemeral port
    /// once; every core then reuses that same port.
    pub listen: Vec<(Transport, SocketAddr)>,
    /// Datagrams received per batch (`recvmmsg` vlen; inputs between two
    /// drains of [`crate::Service::poll_transmit`]).
    pub recv_batch: usize,
    /// SO_RCVBUF/SO_SNDBUF requested for UDP sockets (the kernel caps it
    /// at `net.core.rmem_max`/`wmem_max`).
    pub socket_buffer: usize,
    /// A TCP connection with no traffic for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// Largest message accepted (UDP datagram or TCP frame), bytes.
    pub max_message: usize,
    /// Bytes a TCP connection may have queued for sending before it is
    /// closed as overloaded (the peer is not reading).
    pub tcp_output_limit: usize,
    /// Pin core thread `i` to CPU `i` (modulo the CPUs available).
    pub pin_cores: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            backend: Backend::IoUring,
            threads: 0,
            listen: Vec::new(),
            recv_batch: 32,
            socket_buffer: 4 << 20,
            tcp_idle_timeout: Duration::from_secs(300),
            max_message: 64 << 10,
            tcp_output_limit: 4 << 20,
            pin_cores: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for (name, backend) in [
            ("io-uring", Backend::IoUring),
            ("io_uring", Backend::IoUring),
            ("URING", Backend::IoUring),
            ("portable", Backend::Portable),
            ("epoll", Backend::Portable),
        ] {
            assert_eq!(name.parse::<Backend>(), Ok(backend));
        }
        assert_eq!(Backend::IoUring.to_string().parse(), Ok(Backend::IoUring));
        assert_eq!(Backend::Portable.to_string().parse(), Ok(Backend::Portable));
        assert!("kqueue".parse::<Backend>().is_err());
    }
}
