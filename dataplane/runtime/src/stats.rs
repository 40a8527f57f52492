//! Counters. Each core counts in plain fields ([`CoreCounters`]) and
//! publishes them to its own cache-line-aligned atomics once per loop
//! iteration; [`crate::Runtime::stats`] sums the atomics over cores. No
//! atomic read-modify-write on the per-message path.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// A core's own counters (plain fields, written by the core only).
        #[derive(Debug, Default, Clone, Copy)]
        pub(crate) struct CoreCounters {
            $(pub $name: u64,)*
        }

        /// A core's published counters.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub(crate) struct PublishedCounters {
            $($name: AtomicU64,)*
        }

        impl PublishedCounters {
            pub(crate) fn publish(&self, c: &CoreCounters) {
                $(self.$name.store(c.$name, Ordering::Relaxed);)*
            }
            pub(crate) fn add_to(&self, total: &mut RuntimeStats) {
                $(total.$name += self.$name.load(Ordering::Relaxed);)*
            }
        }

        /// Runtime counters, summed over cores. A snapshot: each core
        /// publishes once per loop iteration, so a core waiting for input
        /// may be up to one iteration behind (at most about a second; on
        /// io_uring a send is counted when its completion is reaped, in
        /// the iteration after it was submitted).
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct RuntimeStats {
            $($(#[doc = $doc])* pub $name: u64,)*
            /// Messages received per core, indexed by core.
            pub per_core_rx_messages: Vec<u64>,
        }
    };
}

counters! {
    /// Messages handed to the services (UDP datagrams and TCP frames).
    rx_messages,
    /// Bytes of those messages.
    rx_bytes,
    /// Messages sent (UDP datagrams accepted by the kernel, TCP messages
    /// queued on a connection).
    tx_messages,
    /// Bytes of those messages.
    tx_bytes,
    /// System calls made by the loops (io_uring enters, epoll waits,
    /// recvmmsg, sendmmsg, TCP reads/writes/accepts, error-queue reads).
    syscalls,
    /// Loop iterations that handled at least one event.
    batches,
    /// TCP connections accepted.
    tcp_accepted,
    /// TCP connections opened by the runtime (connect).
    tcp_connected,
    /// TCP connections open now.
    tcp_open,
    /// Keep-alive pings (CRLFCRLF) answered.
    tcp_pings,
    /// Transmits dropped: UDP socket buffer full (EAGAIN), TCP bytes for
    /// a closed connection.
    dropped,
    /// Receive/send failures and malformed input (truncated datagrams, bad
    /// TCP framing, oversize messages).
    errors,
    /// Calls to `Service::on_transport_error`.
    transport_errors,
    /// Calls to `Service::on_timeout`.
    timeouts,
}

impl PublishedCounters {
    pub(crate) fn rx_messages(&self) -> u64 {
        self.rx_messages.load(Ordering::Relaxed)
    }
}
