//! Commands for a core's service and their replies: a one-shot slot
//! (mutex + condvar + waker) the core fills and the caller waits on,
//! blocking or as a `Future`.

use crate::cores::lock;
use crate::error::RuntimeError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Work for one core's service. The core calls [`Command::run`], applies
/// the port changes the service then asks for, and only then
/// [`Command::finish`] (which hands the result to the caller).
pub(crate) trait Command<S>: Send {
    fn run(&mut self, service: &mut S);
    fn finish(self: Box<Self>);
}

/// A command whose result nobody waits for.
pub(crate) struct PostCommand<F>(pub(crate) Option<F>);

impl<S, F: FnOnce(&mut S) + Send> Command<S> for PostCommand<F> {
    fn run(&mut self, service: &mut S) {
        if let Some(f) = self.0.take() {
            f(service);
        }
    }
    fn finish(self: Box<Self>) {}
}

/// A command whose result goes back through a one-shot slot.
pub(crate) struct CallCommand<F, R> {
    f: Option<F>,
    result: Option<R>,
    reply: Reply<R>,
}

impl<F, R> CallCommand<F, R> {
    pub(crate) fn new(f: F, reply: Reply<R>) -> Self {
        CallCommand {
            f: Some(f),
            result: None,
            reply,
        }
    }
}

impl<S, F, R> Command<S> for CallCommand<F, R>
where
    F: FnOnce(&mut S) -> R + Send,
    R: Send,
{
    fn run(&mut self, service: &mut S) {
        if let Some(f) = self.f.take() {
            self.result = Some(f(service));
        }
    }
    fn finish(mut self: Box<Self>) {
        if let Some(r) = self.result.take() {
            self.reply.send(r);
        }
        // Without a result (the command panicked) the reply is dropped:
        // the caller is told the command did not run.
    }
}

struct SlotState<R> {
    value: Option<R>,
    /// The sender is gone (sent, or dropped without sending).
    closed: bool,
    waker: Option<Waker>,
}

struct Slot<R> {
    state: Mutex<SlotState<R>>,
    ready: Condvar,
}

/// A one-shot channel: the core's half.
pub(crate) struct Reply<R> {
    slot: Arc<Slot<R>>,
}

impl<R> Reply<R> {
    fn send(&self, value: R) {
        let waker = {
            let mut s = lock(&self.slot.state);
            s.value = Some(value);
            s.closed = true;
            s.waker.take()
        };
        self.slot.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.slot.state);
            if s.closed {
                return;
            }
            s.closed = true;
            s.waker.take()
        };
        self.slot.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The result of a command sent with
/// [`crate::media::MediaRuntime::call_async`]: wait for it with
/// [`Pending::wait`] / [`Pending::wait_timeout`], poll it with
/// [`Pending::try_take`], or `.await` it (it is a [`Future`]; no runtime
/// dependency: the core thread wakes the task's waker).
pub struct Pending<R> {
    slot: Arc<Slot<R>>,
    core: usize,
}

impl<R> std::fmt::Debug for Pending<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("core", &self.core).finish()
    }
}

pub(crate) fn oneshot<R>(core: usize) -> (Reply<R>, Pending<R>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState {
            value: None,
            closed: false,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (
        Reply {
            slot: Arc::clone(&slot),
        },
        Pending { slot, core },
    )
}

/// The command was dropped without running (core stopped, or the command
/// panicked).
pub(crate) fn not_run(core: usize) -> RuntimeError {
    RuntimeError::CoreFailed {
        core,
        what: "media command not run (core stopped, or the command panicked)",
        source: io::Error::from(io::ErrorKind::BrokenPipe),
    }
}

fn timed_out(core: usize) -> RuntimeError {
    RuntimeError::CoreFailed {
        core,
        what: "media command timed out (it may still run)",
        source: io::Error::from(io::ErrorKind::TimedOut),
    }
}

impl<R> Pending<R> {
    /// The core the command was sent to.
    pub fn core(&self) -> usize {
        self.core
    }

    /// The result if the command has finished, without waiting.
    pub fn try_take(&mut self) -> Option<Result<R, RuntimeError>> {
        let mut s = lock(&self.slot.state);
        match s.value.take() {
            Some(v) => Some(Ok(v)),
            None if s.closed => Some(Err(not_run(self.core))),
            None => None,
        }
    }

    /// Block until the command has run.
    pub fn wait(self) -> Result<R, RuntimeError> {
        self.wait_until(None)
    }

    /// Block until the command has run or `timeout` has passed (then the
    /// command may still run later; its result is discarded).
    pub fn wait_timeout(self, timeout: Duration) -> Result<R, RuntimeError> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(self, deadline: Option<Instant>) -> Result<R, RuntimeError> {
        let mut s = lock(&self.slot.state);
        loop {
            if let Some(v) = s.value.take() {
                return Ok(v);
            }
            if s.closed {
                return Err(not_run(self.core));
            }
            s = match deadline {
                None => self
                    .slot
                    .ready
                    .wait(s)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(timed_out(self.core));
                    }
                    self.slot
                        .ready
                        .wait_timeout(s, left)
                        .map_or_else(|poisoned| poisoned.into_inner().0, |(g, _)| g)
                }
            };
        }
    }
}

impl<R> Future for Pending<R> {
    type Output = Result<R, RuntimeError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let core = self.core;
        let mut s = lock(&self.slot.state);
        if let Some(v) = s.value.take() {
            return Poll::Ready(Ok(v));
        }
        if s.closed {
            return Poll::Ready(Err(not_run(core)));
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_reaches_waiter_and_drop_closes() {
        let (reply, pending) = oneshot::<u32>(0);
        let t = std::thread::spawn(move || reply.send(7));
        assert_eq!(pending.wait_timeout(Duration::from_secs(5)).ok(), Some(7));
        t.join().ok();

        let (reply, pending) = oneshot::<u32>(1);
        drop(reply);
        assert!(pending.wait().is_err());

        let (_reply, pending) = oneshot::<u32>(2);
        assert!(pending.wait_timeout(Duration::from_millis(10)).is_err());
    }
}
