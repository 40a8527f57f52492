//! Starting and stopping the media core threads, and sending them
//! commands.

use super::command::{CallCommand, PostCommand, not_run, oneshot};
use super::config::MediaRuntimeConfig;
use super::core::MediaShared;
use super::stats::MediaRuntimeStats;
use super::{DatagramService, MediaCoreContext, Pending, portable, uring};
use crate::config::Backend;
use crate::cores::{CoreKind, CoreThreads, Ready, lock, thread_count};
use crate::error::RuntimeError;
use std::sync::Arc;
use std::time::Duration;

/// A running media runtime: its core threads, until
/// [`MediaRuntime::shutdown`] (or drop, which also stops and joins them).
/// `Send + Sync`: share it (in an `Arc`) with the control-plane threads.
pub struct MediaRuntime<S> {
    shared: Arc<MediaShared<S>>,
    threads: CoreThreads,
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

const MEDIA_CORES: CoreKind = CoreKind {
    thread: "ferrovox-media",
    what: "media core",
    vanished: "a media core stopped during start-up",
};

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
    let threads = thread_count(config.threads);
    let shared = Arc::new(MediaShared::new(threads, ())?);
    let factory = Arc::new(factory);
    let main_of = |core: usize| {
        let ctx = MediaCoreContext {
            core,
            cores: threads,
            interface: config.interface,
            socket_buffer: config.socket_buffer,
        };
        let parts = MediaCoreParts {
            ctx: ctx.clone(),
            shared: Arc::clone(&shared),
            config: config.clone(),
        };
        let factory = Arc::clone(&factory);
        move |ready: &mut Ready| {
            let make_service = move || factory(ctx);
            match parts.config.backend {
                Backend::Portable => portable::run(parts, make_service, ready),
                Backend::IoUring => uring::run(parts, make_service, ready),
            }
        }
    };
    let threads = CoreThreads::start(MEDIA_CORES, threads, config.pin_cores, main_of, || {
        shared.request_shutdown()
    })?;
    tracing::info!(backend = %config.backend, cores = shared.cores.len(), interface = %config.interface, "media runtime started");
    Ok(MediaRuntime {
        shared,
        threads,
        backend: config.backend,
        call_timeout: config.call_timeout,
    })
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
        let joined = self.threads.join();
        // Drop queued commands: their callers are told they did not run.
        for core in &self.shared.cores {
            lock(&core.inbox).clear();
        }
        joined
    }
}

impl<S> Drop for MediaRuntime<S> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.stop();
        }
    }
}
