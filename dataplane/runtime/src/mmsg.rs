//! The `mmsghdr` arrays of `recvmmsg`/`sendmmsg`, as both portable
//! backends (SIP: [`crate::portable`], media: [`crate::media`]'s) use
//! them: `capacity` headers, each wired once to its own `iovec` and
//! address slot (boxed slices: they never move, even when the batch
//! does), pointed at a caller's buffer per call.

use crate::net::{self, write_sockaddr};
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::RawFd;

pub(crate) struct MmsgBatch {
    iovs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_storage]>,
    msgs: Box<[libc::mmsghdr]>,
}

impl MmsgBatch {
    pub(crate) fn new(capacity: usize) -> MmsgBatch {
        let mut batch = MmsgBatch {
            iovs: (0..capacity)
                .map(|_| libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                })
                .collect(),
            names: (0..capacity).map(|_| net::empty_storage()).collect(),
            // SAFETY: mmsghdr is plain old data; all-zero is valid.
            msgs: (0..capacity).map(|_| unsafe { mem::zeroed() }).collect(),
        };
        for k in 0..capacity {
            let hdr = &mut batch.msgs[k].msg_hdr;
            hdr.msg_iov = &mut batch.iovs[k];
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut batch.names[k] as *mut libc::sockaddr_storage).cast();
        }
        batch
    }

    pub(crate) fn capacity(&self) -> usize {
        self.msgs.len()
    }

    /// Header `k` receives into `len` bytes at `base`.
    #[inline]
    pub(crate) fn prepare_recv(&mut self, k: usize, base: *mut u8, len: usize) {
        self.iovs[k] = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        let m = &mut self.msgs[k];
        m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as u32;
        m.msg_hdr.msg_flags = 0;
        m.msg_len = 0;
    }

    /// Header `k` sends the `len` bytes at `base` to `dest`.
    #[inline]
    pub(crate) fn prepare_send(&mut self, k: usize, base: *const u8, len: usize, dest: SocketAddr) {
        self.iovs[k] = libc::iovec {
            iov_base: base.cast_mut().cast(),
            iov_len: len,
        };
        let namelen = write_sockaddr(dest, &mut self.names[k]);
        let m = &mut self.msgs[k];
        m.msg_hdr.msg_namelen = namelen;
        m.msg_hdr.msg_flags = 0;
        m.msg_len = 0;
    }

    /// Bytes header `k` received or sent in the last call.
    #[inline]
    pub(crate) fn transferred(&self, k: usize) -> usize {
        self.msgs.get(k).map_or(0, |m| m.msg_len as usize)
    }

    /// Whether datagram `k` of the last receive was longer than its
    /// buffer.
    #[inline]
    pub(crate) fn truncated(&self, k: usize) -> bool {
        self.msgs
            .get(k)
            .is_some_and(|m| m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0)
    }

    /// The source of datagram `k` of the last receive (None: not IP).
    #[inline]
    pub(crate) fn source(&self, k: usize) -> Option<SocketAddr> {
        let m = self.msgs.get(k)?;
        net::read_sockaddr(net::storage_bytes(
            self.names.get(k)?,
            m.msg_hdr.msg_namelen,
        ))
    }

    /// One `recvmmsg` (non-blocking) into headers `0..count`: how many
    /// datagrams arrived.
    ///
    /// # Safety
    /// Headers `0..count` were prepared with [`MmsgBatch::prepare_recv`]
    /// and their buffers are alive, writable and not otherwise referenced
    /// until this returns.
    pub(crate) unsafe fn recv(&mut self, fd: RawFd, count: usize) -> io::Result<usize> {
        let count = count.min(self.msgs.len());
        // SAFETY: every header points at this batch's own iovec and name
        // (boxed, alive as long as `self`) and at a buffer the caller
        // vouches for; the kernel writes at most iov_len bytes per buffer
        // and msg_namelen bytes per name.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                count as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// One `sendmmsg` (non-blocking) of headers `range`: how many were
    /// sent (at least one; an error is about the first).
    ///
    /// # Safety
    /// Headers `range` were prepared with [`MmsgBatch::prepare_send`] and
    /// their buffers are alive and unmodified until this returns.
    pub(crate) unsafe fn send(&mut self, fd: RawFd, range: Range<usize>) -> io::Result<usize> {
        let end = range.end.min(self.msgs.len());
        let start = range.start.min(end);
        if start == end {
            return Ok(0);
        }
        // SAFETY: msgs[start..end] point at this batch's own iovecs and
        // names and at buffers the caller vouches for, all alive and
        // unmodified during the call; the kernel reads them and writes
        // only msg_len.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                self.msgs.as_mut_ptr().add(start),
                (end - start) as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
