//! Starting and stopping the core threads: binding every socket up front
//! (so a bind failure is returned by [`start`], naming the address),
//! spawning one thread per core, waiting until each has set up its
//! backend and service, and joining them on [`Runtime::shutdown`].

use crate::config::{Backend, RuntimeConfig};
use crate::core_thread::{CoreParts, Limits, UdpEndpoint};
use crate::error::RuntimeError;
use crate::net::{self, EventFd};
use crate::shared::{CoreShared, Shared};
use crate::stats::{PublishedCounters, RuntimeStats};
use crate::{CoreContext, Service, portable, uring};
use ferrovox_sip::transaction::Transport;
use socket2::Socket;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A running runtime: its core threads, until [`Runtime::shutdown`] (or
/// drop, which also stops and joins them).
#[derive(Debug)]
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<(usize, JoinHandle<Result<(), RuntimeError>>)>,
    listen: Vec<(Transport, SocketAddr)>,
    via_udp: Vec<SocketAddr>,
    backend: Backend,
}

/// Tells [`start`] that a core is up, or why it is not.
pub(crate) struct Ready {
    core: usize,
    tx: Option<mpsc::Sender<(usize, Result<(), RuntimeError>)>>,
}

impl Ready {
    /// The core is running.
    pub(crate) fn ok(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.core, Ok(())));
        }
    }

    /// Report a start-up failure; gives the error back when start-up was
    /// already reported as done.
    fn fail(&mut self, e: RuntimeError) -> Option<RuntimeError> {
        match self.tx.take() {
            Some(tx) => {
                let _ = tx.send((self.core, Err(e)));
                None
            }
            None => Some(e),
        }
    }
}

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
    let threads = match config.threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
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
    let shared = Arc::new(Shared {
        shutdown: AtomicBool::new(false),
        cores: (0..threads)
            .map(|_| {
                Ok(CoreShared {
                    wake: EventFd::new().map_err(|source| RuntimeError::Setup {
                        what: "eventfd",
                        source,
                    })?,
                    inbox: Mutex::new(VecDeque::new()),
                    counters: PublishedCounters::default(),
                })
            })
            .collect::<Result<_, RuntimeError>>()?,
        registry: Mutex::new(HashMap::new()),
    });
    let mut runtime = Runtime {
        shared: Arc::clone(&shared),
        threads: Vec::with_capacity(threads),
        listen: sockets.listen.clone(),
        via_udp: sockets.via_udp.clone(),
        backend: config.backend,
    };

    let factory = Arc::new(factory);
    let (tx, rx) = mpsc::channel();
    let per_core = sockets.udp.into_iter().zip(sockets.tcp);
    for (core, (udp, listeners)) in per_core.enumerate() {
        let ctx = CoreContext {
            core,
            cores: threads,
            listen: sockets.listen.clone(),
            via_udp: sockets.via_udp[core],
        };
        let parts = CoreParts {
            index: core,
            shared: Arc::clone(&shared),
            udp,
            listeners,
            limits,
        };
        let factory = Arc::clone(&factory);
        let ready = Ready {
            core,
            tx: Some(tx.clone()),
        };
        let backend = config.backend;
        let pin = config.pin_cores;
        let spawned = thread::Builder::new()
            .name(format!("ferrovox-core-{core}"))
            .spawn(move || core_main(parts, ctx, factory, backend, pin, ready));
        match spawned {
            Ok(handle) => runtime.threads.push((core, handle)),
            Err(source) => {
                let _ = runtime.stop();
                return Err(RuntimeError::Spawn { core, source });
            }
        }
    }
    drop(tx);

    let mut first_error = None;
    let mut running = 0;
    while running < threads {
        match rx.recv() {
            Ok((_, Ok(()))) => running += 1,
            Ok((_, Err(e))) => {
                first_error = Some(e);
                break;
            }
            // Every sender is gone: a core ended without a word (panic).
            Err(_) => break,
        }
    }
    if running == threads {
        tracing::info!(
            backend = %config.backend,
            cores = threads,
            listen = ?runtime.listen,
            "runtime started"
        );
        return Ok(runtime);
    }
    let stopped = runtime.stop();
    Err(first_error
        .or(stopped.err())
        .unwrap_or(RuntimeError::Config("a core stopped during start-up")))
}

fn core_main<F, S>(
    parts: CoreParts,
    ctx: CoreContext,
    factory: Arc<F>,
    backend: Backend,
    pin: bool,
    mut ready: Ready,
) -> Result<(), RuntimeError>
where
    F: Fn(CoreContext) -> S + Send + Sync + 'static,
    S: Service,
{
    let core = parts.index;
    if pin {
        pin_to_cpu(core);
    }
    let make_service = move || factory(ctx);
    let result = match backend {
        Backend::Portable => portable::run(parts, make_service, &mut ready),
        Backend::IoUring => uring::run(parts, make_service, &mut ready),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => match ready.fail(e) {
            None => Ok(()),
            Some(e) => {
                tracing::error!(core, error = %e, "core stopped");
                Err(e)
            }
        },
    }
}

fn pin_to_cpu(core: usize) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: cpu_set_t is plain old data (all-zero = empty set);
    // CPU_SET stays within it (cpu < CPU_SETSIZE is checked by the
    // modulo below on any machine with fewer than 1024 CPUs, and libc
    // bounds-checks); sched_setaffinity only reads the set.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET((core % cpus) % 1024, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        tracing::warn!(core, error = %std::io::Error::last_os_error(), "CPU pinning failed");
    }
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
            total.per_core_rx_messages.push(core.counters.rx_messages());
        }
        total
    }

    /// Stop every core and join its thread; the first core error, if any.
    pub fn shutdown(mut self) -> Result<(), RuntimeError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), RuntimeError> {
        self.shared.request_shutdown();
        let mut first = None;
        for (core, handle) in self.threads.drain(..) {
            let outcome = match handle.join() {
                Ok(result) => result,
                Err(_) => Err(RuntimeError::CorePanicked { core }),
            };
            if let Err(e) = outcome
                && first.is_none()
            {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.stop();
        }
    }
}
