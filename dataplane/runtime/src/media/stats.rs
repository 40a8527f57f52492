//! Media counters: plain per-core fields, published to the core's own
//! cache-line-aligned atomics once per loop iteration and summed by
//! [`crate::media::MediaRuntime::stats`].

use crate::stats::per_core_counters;

per_core_counters! {
    core MediaCounters;
    published PublishedMediaCounters;
    /// Media runtime counters summed over cores: a snapshot (each
    /// core publishes once per loop iteration; on io_uring a send is
    /// counted when its completion is reaped).
    stats MediaRuntimeStats {
        /// Datagrams received, per core.
        per_core_rx_packets: per core rx_packets,
    }
    /// Datagrams handed to the services.
    rx_packets,
    /// Bytes of those datagrams.
    rx_bytes,
    /// Forwards sent (accepted by the kernel).
    forwarded,
    /// Bytes of those forwards.
    forwarded_bytes,
    /// Datagrams from `poll_transmit` sent.
    transmitted,
    /// Datagrams the services dropped ([`crate::media::DatagramAction::Drop`]).
    dropped,
    /// Sends refused because the socket buffer was full (EAGAIN), or with
    /// no free buffer / submission slot.
    send_dropped,
    /// Forwards or transmits from a port not open on the core.
    bad_port,
    /// Datagrams too long for a buffer (with its trailer room), dropped.
    truncated,
    /// Other receive and send failures.
    errors,
    /// System calls made by the loops.
    syscalls,
    /// Loop iterations that handled at least one event.
    batches,
    /// Commands run.
    commands,
    /// Calls to `on_timeout`.
    timeouts,
    /// Ports open now.
    ports_open,
    /// Ports opened since start.
    ports_opened,
    /// Ports closed since start.
    ports_closed,
    /// Ports that could not be opened (`on_port_error`).
    port_errors,
    /// Multishot receives re-armed (io_uring: buffer ring ran dry...).
    rearms,
}
