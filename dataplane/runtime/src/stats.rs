//! Counters. Each core counts in plain fields ([`CoreCounters`]) and
//! publishes them to its own cache-line-aligned atomics once per loop
//! iteration; [`crate::Runtime::stats`] sums the atomics over cores. No
//! atomic read-modify-write on the per-message path.

/// Declares a runtime's counters once, from one list of fields: the
/// core's plain counters (`$core`, written by the core only), its
/// published copy (`$published`: relaxed atomics on their own cache
/// lines, written once per loop iteration, read by the stats call) and
/// the public stats snapshot (`$stats`, summed over cores, plus one
/// per-core list of field `$per_core_of`).
macro_rules! per_core_counters {
    (
        core $core:ident;
        published $published:ident;
        $(#[$stats_meta:meta])*
        stats $stats:ident {
            $(#[doc = $per_core_doc:literal])*
            $per_core:ident: per core $per_core_of:ident,
        }
        $($(#[doc = $doc:literal])* $name:ident,)*
    ) => {
        /// A core's own counters (plain fields, written by the core only).
        #[derive(Debug, Default, Clone, Copy)]
        pub(crate) struct $core {
            $(pub(crate) $name: u64,)*
        }

        /// A core's published counters.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub(crate) struct $published {
            $($name: ::std::sync::atomic::AtomicU64,)*
        }

        impl $published {
            pub(crate) fn publish(&self, c: &$core) {
                $(self.$name.store(c.$name, ::std::sync::atomic::Ordering::Relaxed);)*
            }

            /// Add this core's counters to `total` and append its entry
            /// to the per-core list.
            pub(crate) fn add_to(&self, total: &mut $stats) {
                $(total.$name += self.$name.load(::std::sync::atomic::Ordering::Relaxed);)*
                total
                    .$per_core
                    .push(self.$per_core_of.load(::std::sync::atomic::Ordering::Relaxed));
            }
        }

        $(#[$stats_meta])*
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct $stats {
            $($(#[doc = $doc])* pub $name: u64,)*
            $(#[doc = $per_core_doc])*
            pub $per_core: Vec<u64>,
        }
    };
}

pub(crate) use per_core_counters;

per_core_counters! {
    core CoreCounters;
    published PublishedCounters;
    /// Runtime counters, summed over cores. A snapshot: each core
    /// publishes once per loop iteration, so a core waiting for input
    /// may be up to one iteration behind (at most about a second; on
    /// io_uring a send is counted when its completion is reaped, in
    /// the iteration after it was submitted).
    stats RuntimeStats {
        /// Messages received per core, indexed by core.
        per_core_rx_messages: per core rx_messages,
    }
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
