//! The thread-per-core plumbing both runtimes (SIP: [`crate::start`],
//! media: [`crate::media::start_media`]) are built on: what the cores
//! share (shutdown flag; per core a wake-up eventfd, an inbox and
//! published counters), spawning the core threads with the start-up
//! handshake ([`Ready`]) and optional CPU pinning, and joining them.
//!
//! Nothing here is on the packet path: the inbox and its lock are for
//! work handed between threads (TCP bytes for another core's connection,
//! media commands), counters are published once per loop iteration.

use crate::error::RuntimeError;
use crate::net::EventFd;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::thread::{self, JoinHandle};

/// Lock, ignoring poisoning: the data behind these locks (queues, a map,
/// a reply slot) stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One core's shared parts: `M` is what other threads hand it, `C` its
/// published counters.
#[derive(Debug)]
pub(crate) struct CoreShared<M, C> {
    pub(crate) wake: EventFd,
    pub(crate) inbox: Mutex<VecDeque<M>>,
    pub(crate) counters: C,
}

impl<M, C> CoreShared<M, C> {
    /// The eventfd fired: read it, then move the inbox into `into` (which
    /// the core keeps, so its capacity is reused). Reading the eventfd
    /// first means a post that lands after the swap wakes us again.
    pub(crate) fn take_inbox(&self, into: &mut VecDeque<M>) {
        self.wake.drain();
        std::mem::swap(&mut *lock(&self.inbox), into);
    }
}

/// Everything the cores of one runtime share, plus `X`: what else that
/// runtime shares between cores (the SIP runtime: its TCP connection
/// registry; the media runtime: nothing).
#[derive(Debug)]
pub(crate) struct CoreSet<M, C, X = ()> {
    shutdown: AtomicBool,
    pub(crate) cores: Vec<CoreShared<M, C>>,
    pub(crate) extra: X,
}

impl<M, C: Default, X> CoreSet<M, C, X> {
    /// `count` cores, each with its eventfd.
    pub(crate) fn new(count: usize, extra: X) -> Result<Self, RuntimeError> {
        let cores = (0..count)
            .map(|_| {
                Ok(CoreShared {
                    wake: EventFd::new().map_err(|source| RuntimeError::Setup {
                        what: "eventfd",
                        source,
                    })?,
                    inbox: Mutex::new(VecDeque::new()),
                    counters: C::default(),
                })
            })
            .collect::<Result<_, RuntimeError>>()?;
        Ok(CoreSet {
            shutdown: AtomicBool::new(false),
            cores,
            extra,
        })
    }
}

impl<M, C, X> CoreSet<M, C, X> {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Ask every core to stop.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for core in &self.cores {
            core.wake.wake();
        }
    }

    /// Hand `item` to core `core`, waking it when its inbox was empty (a
    /// non-empty inbox has a wake-up pending already: the owner reads the
    /// eventfd before it empties the inbox). False when there is no such
    /// core.
    pub(crate) fn post(&self, core: usize, item: M) -> bool {
        let Some(target) = self.cores.get(core) else {
            return false;
        };
        let was_empty = {
            let mut inbox = lock(&target.inbox);
            let was_empty = inbox.is_empty();
            inbox.push_back(item);
            was_empty
        };
        if was_empty {
            target.wake.wake();
        }
        true
    }
}

/// Tells the starting thread that a core is up, or why it is not.
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

/// How one runtime's core threads are called.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoreKind {
    /// Thread name prefix (`{thread}-{core}`).
    pub(crate) thread: &'static str,
    /// What a core is called in logs (`"{what} stopped"`).
    pub(crate) what: &'static str,
    /// The error when a core ends during start-up without saying why.
    pub(crate) vanished: &'static str,
}

/// The running core threads of one runtime.
#[derive(Debug)]
pub(crate) struct CoreThreads {
    handles: Vec<(usize, JoinHandle<Result<(), RuntimeError>>)>,
}

impl CoreThreads {
    /// Spawn `count` core threads. Thread `core` pins itself to a CPU
    /// when `pin`, then runs `main_of(core)`, which must call
    /// [`Ready::ok`] once its backend and service are set up. Returns once
    /// every core is up. When a thread cannot be spawned or a core fails
    /// to start, `stop` is called (it must make every running core
    /// return), every thread is joined and the first error is returned.
    pub(crate) fn start<M>(
        kind: CoreKind,
        count: usize,
        pin: bool,
        mut main_of: impl FnMut(usize) -> M,
        stop: impl Fn(),
    ) -> Result<CoreThreads, RuntimeError>
    where
        M: FnOnce(&mut Ready) -> Result<(), RuntimeError> + Send + 'static,
    {
        let mut threads = CoreThreads {
            handles: Vec::with_capacity(count),
        };
        let (tx, rx) = mpsc::channel();
        for core in 0..count {
            let main = main_of(core);
            let ready = Ready {
                core,
                tx: Some(tx.clone()),
            };
            let spawned = thread::Builder::new()
                .name(format!("{}-{core}", kind.thread))
                .spawn(move || core_main(kind, core, pin, main, ready));
            match spawned {
                Ok(handle) => threads.handles.push((core, handle)),
                Err(source) => {
                    stop();
                    let _ = threads.join();
                    return Err(RuntimeError::Spawn { core, source });
                }
            }
        }
        drop(tx);

        let mut first_error = None;
        let mut running = 0;
        while running < count {
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
        if running == count {
            return Ok(threads);
        }
        stop();
        let stopped = threads.join();
        Err(first_error
            .or(stopped.err())
            .unwrap_or(RuntimeError::Config(kind.vanished)))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Join every thread (the caller has asked them to stop); the first
    /// core error, if any.
    pub(crate) fn join(&mut self) -> Result<(), RuntimeError> {
        let mut first = None;
        for (core, handle) in self.handles.drain(..) {
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

/// A core thread's body around the backend's loop: pinning, and where a
/// failure goes (to the starting thread during start-up, to the log and
/// the join result after).
fn core_main<M>(
    kind: CoreKind,
    core: usize,
    pin: bool,
    main: M,
    mut ready: Ready,
) -> Result<(), RuntimeError>
where
    M: FnOnce(&mut Ready) -> Result<(), RuntimeError>,
{
    if pin {
        pin_to_cpu(core);
    }
    match main(&mut ready) {
        Ok(()) => Ok(()),
        Err(e) => match ready.fail(e) {
            None => Ok(()),
            Some(e) => {
                tracing::error!(core, error = %e, "{} stopped", kind.what);
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

/// How many core threads `threads` asks for (0: one per available CPU).
pub(crate) fn thread_count(threads: usize) -> usize {
    match threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}
