//! The epoll instance both portable backends (SIP: [`crate::portable`],
//! media: [`crate::media`]'s) wait on, and how long they wait.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// Longest sleep without a deadline (the eventfd wakes a core for
/// anything else, this only bounds the damage of a lost wake-up).
const MAX_SLEEP_MS: i32 = 1000;

pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watch `fd` for `events`; its events carry `data` (an encoded token).
    pub(crate) fn add(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is a live epoll_event the kernel only reads.
        let rc = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Wait for events until `deadline` (at most [`MAX_SLEEP_MS`]): how
    /// many were written into `events` (0 on timeout or a signal).
    pub(crate) fn wait_until(
        &self,
        events: &mut [libc::epoll_event],
        deadline: Option<Instant>,
        now: Instant,
    ) -> io::Result<usize> {
        let timeout_ms = match deadline {
            None => MAX_SLEEP_MS,
            Some(t) => {
                // Round up: waking before the deadline only loops again.
                let ms = t.saturating_duration_since(now).as_micros().div_ceil(1000);
                ms.min(MAX_SLEEP_MS as u128) as i32
            }
        };
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: the kernel writes at most `max` entries into `events`,
        // a live, writable slice of that many epoll_event values.
        let n =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        }
    }
}
