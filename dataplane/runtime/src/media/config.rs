//! Media runtime configuration.

use crate::config::Backend;
use crate::error::RuntimeError;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How the media runtime runs. [`Default`]: io_uring, one thread per
/// available CPU, `0.0.0.0`, batches of 32, 1 MiB socket buffers, 2,048
/// buffers of 2,048 bytes per core with 64 bytes of trailer room, 5 s
/// command timeout.
#[derive(Debug, Clone)]
pub struct MediaRuntimeConfig {
    /// Which IO backend.
    pub backend: Backend,
    /// Core threads; 0 = `std::thread::available_parallelism`.
    pub threads: usize,
    /// The IP every media port binds to.
    pub interface: IpAddr,
    /// Datagrams per `recvmmsg` (portable), and datagrams handled between
    /// two drains of the service's port changes and transmits.
    pub recv_batch: usize,
    /// SO_RCVBUF/SO_SNDBUF requested for each media socket (the kernel
    /// caps it at `net.core.rmem_max`/`wmem_max`; 0 keeps the default).
    pub socket_buffer: usize,
    /// Packet buffers per core: the provided-buffer ring (io_uring, a
    /// power of two, at most 32,768) or the receive pool (portable). A
    /// forwarded packet holds its buffer until its send completes.
    pub buffers: usize,
    /// Bytes per packet buffer, including the trailer room (and, on
    /// io_uring, 44 bytes of receive header and source address).
    pub buffer_size: usize,
    /// Spare bytes guaranteed after every received datagram (SRTP tag and
    /// MKI); datagrams that do not fit with this room are dropped as
    /// truncated.
    pub trailer_room: usize,
    /// How long [`crate::media::MediaRuntime::call`] waits for a result.
    pub call_timeout: Duration,
    /// Pin core thread `i` to CPU `i` (modulo the CPUs available).
    pub pin_cores: bool,
}

impl Default for MediaRuntimeConfig {
    fn default() -> Self {
        MediaRuntimeConfig {
            backend: Backend::IoUring,
            threads: 0,
            interface: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            recv_batch: 32,
            socket_buffer: 1 << 20,
            buffers: 2048,
            buffer_size: 2048,
            trailer_room: 64,
            call_timeout: Duration::from_secs(5),
            pin_cores: false,
        }
    }
}

impl MediaRuntimeConfig {
    pub(crate) fn validate(&self) -> Result<(), RuntimeError> {
        if self.buffers < 64 || self.buffers > 32768 {
            return Err(RuntimeError::Config(
                "media buffers must be between 64 and 32768",
            ));
        }
        if self.backend == Backend::IoUring && !self.buffers.is_power_of_two() {
            return Err(RuntimeError::Config(
                "media buffers must be a power of two on io_uring",
            ));
        }
        if self.trailer_room < 64 {
            return Err(RuntimeError::Config(
                "media trailer_room must be at least 64 bytes",
            ));
        }
        if self.buffer_size > 65536 || self.buffer_size < self.trailer_room + 64 + 256 {
            return Err(RuntimeError::Config(
                "media buffer_size must leave at least 256 bytes of payload and be at most 64 KiB",
            ));
        }
        Ok(())
    }
}
