//! Starting and stopping the media core threads, and sending them
//! commands.

use super::command::{CallCommand, PostCommand, not_run, oneshot};
use super::config::MediaRuntimeConfig;
use super::core::{MediaCoreShared, MediaShared};
use super::stats::{MediaRuntimeStats, PublishedMediaCounters};
use super::{DatagramService, MediaCoreContext, Pending, portable, uring};
use crate::config::Backend;
use crate::error::RuntimeError;
use crate::net::EventFd;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A running media runtime: its core threads, until
/// [`MediaRuntime::shutdown`] (or drop, which also stops and joins them).
/// `Send + Sync`: share it (in an `Arc`) with the control-plane threads.
pub struct MediaRuntime<S> {
    shared: Arc<MediaShared<S>>,
    threads: Vec<(usize, JoinHandle<Result<(), RuntimeError>>)>,
    backend: Backend,
    call_timeout: Duration,
}

impl<S> std::fmt::Debug for MediaRuntime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRuntime")
            .field("backend", &self.backend)
            .field("cores", &self.shared.cores.len())
            .finish()
    }
}

/// Tells [`start_media`] that a core is up, or why it is not.
pub(crate) struct MediaReady {
    core: usize,
    tx: Option<mpsc::Sender<(usize, Result<(), RuntimeError>)>>,
}

impl MediaReady {
    pub(crate) fn ok(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.core, Ok(())));
        }
    }

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

/// What a media core thread is started with.
pub(crate) struct MediaCoreParts<S> {
    pub(crate) ctx: MediaCoreContext,
    pub(crate) shared: Arc<MediaShared<S>>,
    pub(crate) config: MediaRuntimeConfig,
}

/// Start one media core thread per core and create each core's service
/// inside its thread with `factory`; ports are opened by the services
/// ([`DatagramService::poll_port_change`], drained right after creation
/// too). Returns once every core runs; io_uring being unavailable (no
/// silent fallback) or a core failing to start is an error, and nothing
/// is left running.
pub fn start_media<F, S>(
    config: MediaRuntimeConfig,
    factory: F,
) -> Result<MediaRuntime<S>, RuntimeError>
where
    F: Fn(MediaCoreContext) -> S + Send + Sync + 'static,
    S: DatagramService,
{
    config.validate()?;
    let threads = match config.threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let shared = Arc::new(MediaShared {
        shutdown: AtomicBool::new(false),
        cores: (0..threads)
            .map(|_| {
                Ok(MediaCoreShared {
                    wake: EventFd::new().map_err(|source| RuntimeError::Setup {
                        what: "eventfd",
                        source,
                    })?,
                    inbox: Mutex::new(VecDeque::new()),
                    counters: PublishedMediaCounters::default(),
                })
            })
            .collect::<Result<_, RuntimeError>>()?,
    });
    let mut runtime = MediaRuntime {
        shared: Arc::clone(&shared),
        threads: Vec::with_capacity(threads),
        backend: config.backend,
        call_timeout: config.call_timeout,
    };
    let factory = Arc::new(factory);
    let (tx, rx) = mpsc::channel();
    for core in 0..threads {
        let parts = MediaCoreParts {
            ctx: MediaCoreContext {
                core,
                cores: threads,
                interface: config.interface,
                socket_buffer: config.socket_buffer,
            },
            shared: Arc::clone(&shared),
            config: config.clone(),
        };
        let factory = Arc::clone(&factory);
        let ready = MediaReady {
            core,
            tx: Some(tx.clone()),
        };
        let spawned = thread::Builder::new()
            .name(format!("ferrovox-media-{core}"))
            .spawn(move || media_core_main(parts, factory, ready));
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
            Err(_) => break,
        }
    }
    if running == threads {
        tracing::info!(backend = %config.backend, cores = threads, interface = %config.interface, "media runtime started");
        return Ok(runtime);
    }
    let stopped = runtime.stop();
    Err(first_error
        .or(stopped.err())
        .unwrap_or(RuntimeError::Config("a media core stopped during start-up")))
}

fn media_core_main<F, S>(
    parts: MediaCoreParts<S>,
    factory: Arc<F>,
    mut ready: MediaReady,
) -> Result<(), RuntimeError>
where
    F: Fn(MediaCoreContext) -> S + Send + Sync + 'static,
    S: DatagramService,
{
    let core = parts.ctx.core;
    if parts.config.pin_cores {
        pin_to_cpu(core);
    }
    let ctx = parts.ctx.clone();
    let make_service = move || factory(ctx);
    let result = match parts.config.backend {
        Backend::Portable => portable::run(parts, make_service, &mut ready),
        Backend::IoUring => uring::run(parts, make_service, &mut ready),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => match ready.fail(e) {
            None => Ok(()),
            Some(e) => {
                tracing::error!(core, error = %e, "media core stopped");
                Err(e)
            }
        },
    }
}

fn pin_to_cpu(core: usize) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: cpu_set_t is plain old data (all-zero = empty set); the CPU
    // index is reduced below CPU_SETSIZE; sched_setaffinity only reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET((core % cpus) % 1024, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        tracing::warn!(core, error = %std::io::Error::last_os_error(), "CPU pinning failed");
    }
}

impl<S: DatagramService> MediaRuntime<S> {
    /// How many core threads run.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// The backend the cores run.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Run `f` on core `core`'s service inside that core's thread and
    /// return its result, waiting at most
    /// [`MediaRuntimeConfig::call_timeout`]. The port changes `f` caused
    /// are applied (and bind failures reported to
    /// [`DatagramService::on_port_error`]) before this returns.
    pub fn call<R: Send + 'static>(
        &self,
        core: usize,
        f: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> Result<R, RuntimeError> {
        self.call_async(core, f)?.wait_timeout(self.call_timeout)
    }

    /// [`MediaRuntime::call`] without waiting: the result arrives in the
    /// returned [`Pending`] (block on it, poll it, or `.await` it).
    pub fn call_async<R: Send + 'static>(
        &self,
        core: usize,
        f: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> Result<Pending<R>, RuntimeError> {
        if core >= self.cores() {
            return Err(RuntimeError::Config("no media core with that index"));
        }
        if self.shared.is_shutting_down() {
            return Err(not_run(core));
        }
        let (reply, pending) = oneshot(core);
        if !self.shared.post(core, Box::new(CallCommand::new(f, reply))) {
            return Err(not_run(core));
        }
        Ok(pending)
    }

    /// Run `f` on core `core`'s service, without a result.
    pub fn post(
        &self,
        core: usize,
        f: impl FnOnce(&mut S) + Send + 'static,
    ) -> Result<(), RuntimeError> {
        if core >= self.cores() {
            return Err(RuntimeError::Config("no media core with that index"));
        }
        if self.shared.is_shutting_down() || !self.shared.post(core, Box::new(PostCommand(Some(f))))
        {
            return Err(not_run(core));
        }
        Ok(())
    }

    /// Counters summed over cores.
    pub fn stats(&self) -> MediaRuntimeStats {
        let mut total = MediaRuntimeStats::default();
        for core in &self.shared.cores {
            core.counters.add_to(&mut total);
            total.per_core_rx_packets.push(core.counters.rx_packets());
        }
        total
    }

    /// Stop every core (closing its sockets) and join its thread; the
    /// first core error, if any. Commands still queued are dropped (their
    /// callers get an error).
    pub fn shutdown(mut self) -> Result<(), RuntimeError> {
        self.stop()
    }
}

impl<S> MediaRuntime<S> {
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
        // Drop queued commands: their callers are told they did not run.
        for core in &self.shared.cores {
            crate::shared::lock(&core.inbox).clear();
        }
        first.map_or(Ok(()), Err)
    }
}

impl<S> Drop for MediaRuntime<S> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.stop();
        }
    }
}
