//! Starting and stopping the core threads: binding every socket up front
//! (so a bind failure is returned by [`start`], naming the address),
//! spawning one thread per core, waiting until each has set up its
//! backend and service, and joining them on [`Runtime::shutdown`].

use crate::config::{Backend, RuntimeConfig};
use crate::core_thread::{CoreParts, Limits, UdpEndpoint};
use crate::cores::{CoreKind, CoreThreads, Ready, thread_count};
use crate::error::RuntimeError;
use crate::net;
use crate::shared::Shared;
use crate::stats::RuntimeStats;
use crate::{CoreContext, Service, portable, uring};
use ferrovox_sip::transaction::Transport;
use socket2::Socket;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A running runtime: its core threads, until [`Runtime::shutdown`] (or
/// drop, which also stops and joins them).
#[derive(Debug)]
pub struct Runtime {
    shared: Arc<Shared>,
    threads: CoreThreads,
    listen: Vec<(Transport, SocketAddr)>,
    via_udp: Vec<SocketAddr>,
    backend: Backend,
}

const SIP_CORES: CoreKind = CoreKind {
    thread: "ferrovox-core",
    what: "core",
    vanished: "a core stopped during start-up",
};

/// Bind every socket, start one thread per core and create each core's
/// service inside its thread with `factory`. Returns once every core runs;
/// a bind failure, io_uring being unavailable (no silent fallback) or a
/// core failing to start is an error, and nothing is left running.
pub fn start<F, S>(config: RuntimeConfig, factory: F) -> Result<Runtime, RuntimeError>
where
    F: Fn(CoreContext) -> S + Send + Sync + 'static,
    S: Service,
{
    if config.listen.is_empty() {
        return Err(RuntimeError::Config("no listen address"));
    }
    if config.max_message < 512 || config.max_message > (16 << 20) {
        return Err(RuntimeError::Config(
            "max_message must be between 512 bytes and 16 MiB",
        ));
    }
    let threads = thread_count(config.threads);
    let limits = Limits {
        recv_batch: config.recv_batch.clamp(1, 1024),
        max_message: config.max_message,
        max_datagram: config.max_message.min(65535),
        tcp_idle_timeout: config.tcp_idle_timeout,
        tcp_output_limit: config.tcp_output_limit.max(config.max_message),
    };
    // io_uring support is checked by each core thread when it sets up its
    // ring (reported below as IoUringUnavailable): a ring created and
    // dropped on the caller's thread leaves it a pending task-work
    // notification that interrupts its next blocking system call (EINTR).

    let sockets = bind_all(&config, threads)?;
    let shared = Arc::new(Shared::new(threads, Mutex::new(HashMap::new()))?);
    let factory = Arc::new(factory);
    let backend = config.backend;
    let mut per_core = sockets.udp.into_iter().zip(sockets.tcp);
    let listen = &sockets.listen;
    let via_udp = &sockets.via_udp;
    let main_of = |core: usize| {
        let (udp, listeners) = per_core.next().unwrap_or_default();
        let ctx = CoreContext {
            core,
            cores: threads,
            listen: listen.clone(),
            via_udp: via_udp[core],
        };
        let parts = CoreParts {
            index: core,
            shared: Arc::clone(&shared),
            udp,
            listeners,
            limits,
        };
        let factory = Arc::clone(&factory);
        move |ready: &mut Ready| {
            let make_service = move || factory(ctx);
            match backend {
                Backend::Portable => portable::run(parts, make_service, ready),
                Backend::IoUring => uring::run(parts, make_service, ready),
            }
        }
    };
    let threads = CoreThreads::start(SIP_CORES, threads, config.pin_cores, main_of, || {
        shared.request_shutdown()
    })?;
    tracing::info!(
        backend = %config.backend,
        cores = shared.cores.len(),
        listen = ?sockets.listen,
        "runtime started"
    );
    Ok(Runtime {
        shared,
        threads,
        listen: sockets.listen,
        via_udp: sockets.via_udp,
        backend,
    })
}

struct BoundSockets {
    listen: Vec<(Transport, SocketAddr)>,
    via_udp: Vec<SocketAddr>,
    udp: Vec<Vec<UdpEndpoint>>,
    tcp: Vec<Vec<Socket>>,
}

/// Bind every listen address on every core (the first core resolves a
/// port 0, the others join that port), then each core's private socket.
fn bind_all(config: &RuntimeConfig, threads: usize) -> Result<BoundSockets, RuntimeError> {
    let mut out = BoundSockets {
        listen: Vec::new(),
        via_udp: Vec::new(),
        udp: (0..threads).map(|_| Vec::new()).collect(),
        tcp: (0..threads).map(|_| Vec::new()).collect(),
    };
    for &(transport, requested) in &config.listen {
        let mut addr = requested;
        for core in 0..threads {
            let bind_error = |source| RuntimeError::Bind {
                transport,
                addr,
                source,
            };
            match transport {
                Transport::Udp => {
                    let socket =
                        net::bind_udp_listen(addr, config.socket_buffer).map_err(bind_error)?;
                    if core == 0 {
                        addr = net::local_addr(&socket).map_err(bind_error)?;
                    }
                    out.udp[core].push(UdpEndpoint {
                        socket,
                        local: addr,
                    });
                }
                Transport::Tcp => {
                    let socket = net::bind_tcp_listen(addr).map_err(bind_error)?;
                    if core == 0 {
                        addr = net::local_addr(&socket).map_err(bind_error)?;
                    }
                    out.tcp[core].push(socket);
                }
                other => {
                    return Err(RuntimeError::UnsupportedTransport {
                        transport: other,
                        addr,
                    });
                }
            }
        }
        out.listen.push((transport, addr));
    }
    let private_ip = out
        .listen
        .iter()
        .find(|(t, _)| *t == Transport::Udp)
        .or(out.listen.first())
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |(_, a)| a.ip());
    for core in 0..threads {
        let addr = SocketAddr::new(private_ip, 0);
        let bind_error = |source| RuntimeError::Bind {
            transport: Transport::Udp,
            addr,
            source,
        };
        let socket = net::bind_udp_private(private_ip, config.socket_buffer).map_err(bind_error)?;
        let local = net::local_addr(&socket).map_err(bind_error)?;
        out.via_udp.push(local);
        out.udp[core].push(UdpEndpoint { socket, local });
    }
    Ok(out)
}

impl Runtime {
    /// The actual bound listen addresses (ports resolved).
    pub fn listen_addrs(&self) -> &[(Transport, SocketAddr)] {
        &self.listen
    }

    /// Each core's private UDP address ([`CoreContext::via_udp`]), by core.
    pub fn via_udp_addrs(&self) -> &[SocketAddr] {
        &self.via_udp
    }

    /// The backend the cores run.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How many core threads run.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// Counters summed over cores.
    pub fn stats(&self) -> RuntimeStats {
        let mut total = RuntimeStats::default();
        for core in &self.shared.cores {
            core.counters.add_to(&mut total);
        }
        total
    }

    /// Stop every core and join its thread; the first core error, if any.
    pub fn shutdown(mut self) -> Result<(), RuntimeError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), RuntimeError> {
        self.shared.request_shutdown();
        self.threads.join()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.stop();
        }
    }
}
