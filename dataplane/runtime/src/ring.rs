//! The io_uring plumbing both io_uring backends (SIP: [`crate::uring`],
//! media: [`crate::media`]'s) are built on: the ring
//! (`SINGLE_ISSUER | DEFER_TASKRUN`, falling back to `COOP_TASKRUN`), its
//! provided-buffer ring, pushing SQEs (submitting to make room), the
//! multishot `RecvMsg`/`PollAdd` and `SendMsg` entries, the one enter per
//! loop iteration, and the `sendmsg` header a send points at.
//!
//! Buffer lifetimes: the provided-buffer ring and its buffers are
//! `mmap`ed by [`ProvidedBuffers`], which [`Ring`] owns and drops after
//! the ring itself (field order). At shutdown the backend cancels every
//! request and waits for the cancellation before anything is freed; if
//! that cannot be confirmed (or the thread is panicking) the mappings are
//! leaked rather than unmapped under the kernel's feet.

use crate::error::RuntimeError;
use crate::net::{SOCKADDR_MAX, write_sockaddr};
use io_uring::types::{CancelBuilder, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Bytes io_uring puts before the name in a multishot RecvMsg buffer
/// (`struct io_uring_recvmsg_out`: four u32).
pub(crate) const RECVMSG_OUT: usize = 16;
/// Longest sleep without a deadline (the eventfd wakes a core for
/// anything else, this only bounds the damage of a lost wake-up).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// A completion, copied out of the completion queue: (user data, result,
/// flags).
pub(crate) type Cqe = (u64, i32, u32);

/// How a core's ring is sized and its buffers laid out.
pub(crate) struct RingSpec {
    pub(crate) sq_entries: u32,
    pub(crate) cq_entries: u32,
    /// Provided buffers (a power of two).
    pub(crate) buffers: u16,
    pub(crate) buffer_size: usize,
    /// How much of a buffer the kernel may fill (the rest is the
    /// service's trailer room).
    pub(crate) fill: usize,
    /// Buffer group id of the provided-buffer ring.
    pub(crate) group: u16,
    /// The setup step named when the buffers cannot be mapped.
    pub(crate) mmap_what: &'static str,
}

/// A core's ring, its provided buffers and the multishot `RecvMsg`
/// header. Field order matters: the ring is dropped first, before the
/// memory its requests point at.
pub(crate) struct Ring {
    ring: IoUring,
    /// Template for multishot RecvMsg (name length, no control data).
    recv_hdr: Box<libc::msghdr>,
    pub(crate) buffers: ProvidedBuffers,
    group: u16,
    /// Enters made to make room in a full submission queue.
    extra_syscalls: u64,
}

fn build_ring(sq_entries: u32, cq_entries: u32) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder
        .setup_cqsize(cq_entries)
        .setup_submit_all()
        .setup_single_issuer()
        .setup_defer_taskrun();
    match builder.build(sq_entries) {
        Ok(ring) => Ok(ring),
        Err(e) => {
            tracing::debug!(error = %e, "io_uring DEFER_TASKRUN refused, trying COOP_TASKRUN");
            let mut builder = IoUring::builder();
            builder
                .setup_cqsize(cq_entries)
                .setup_submit_all()
                .setup_coop_taskrun();
            builder.build(sq_entries)
        }
    }
}

impl Ring {
    /// Map the buffers, set up the ring, register the buffers with it and
    /// check the features both backends need (extended enter arguments).
    pub(crate) fn new(spec: &RingSpec) -> Result<Ring, RuntimeError> {
        // Declared before `ring`: on an early return the ring is dropped
        // first.
        let buffers =
            ProvidedBuffers::new(spec.buffers, spec.buffer_size, spec.fill).map_err(|source| {
                RuntimeError::Setup {
                    what: spec.mmap_what,
                    source,
                }
            })?;
        let ring = build_ring(spec.sq_entries, spec.cq_entries).map_err(|source| {
            RuntimeError::IoUringUnavailable {
                what: "io_uring_setup",
                source,
            }
        })?;
        // SAFETY: the ring memory (`buffers` BufRing entries,
        // page-aligned) belongs to `buffers`, which outlives the ring (it
        // is dropped after it, here and in `Ring`) and is leaked when the
        // kernel might still use it.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                buffers.ring_addr(),
                spec.buffers,
                spec.group,
                0,
            )
        }
        .map_err(|source| RuntimeError::IoUringUnavailable {
            what: "provided buffer ring (kernel 5.19+)",
            source,
        })?;
        if !ring.params().is_feature_ext_arg() {
            return Err(RuntimeError::IoUringUnavailable {
                what: "IORING_FEAT_EXT_ARG (kernel 5.11+)",
                source: io::Error::from(io::ErrorKind::Unsupported),
            });
        }
        // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
        let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
        recv_hdr.msg_namelen = SOCKADDR_MAX as u32;
        Ok(Ring {
            ring,
            recv_hdr,
            buffers,
            group: spec.group,
            extra_syscalls: 0,
        })
    }

    /// Push an SQE, submitting to make room when the queue is full.
    /// False when it could not be queued.
    ///
    /// Callers guarantee every pointer in `entry` stays valid and unmoved
    /// until its completion is reaped.
    pub(crate) fn push(&mut self, entry: &squeue::Entry) -> bool {
        for _ in 0..4 {
            // SAFETY: the entry's pointers outlive the request (callers'
            // guarantee, see each call site).
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return true;
            }
            self.extra_syscalls += 1;
            if let Err(e) = self.ring.submit() {
                tracing::debug!(error = %e, "io_uring submit to make room failed");
            }
        }
        false
    }

    /// Queue a multishot `RecvMsg` on `fd` into the provided buffers.
    pub(crate) fn arm_recv(&mut self, fd: RawFd, user_data: u64) -> bool {
        // The header is boxed in `self` and outlives the ring; the kernel
        // copies it when the request is prepared. Buffers come from the
        // provided ring.
        let entry = opcode::RecvMsgMulti::new(Fd(fd), &*self.recv_hdr, self.group)
            .build()
            .user_data(user_data);
        self.push(&entry)
    }

    /// Queue a multishot `PollAdd` on `fd`.
    pub(crate) fn arm_poll(&mut self, fd: RawFd, user_data: u64, mask: u32) -> bool {
        // A poll request points at nothing but the descriptor.
        let entry = opcode::PollAdd::new(Fd(fd), mask)
            .multi(true)
            .build()
            .user_data(user_data);
        self.push(&entry)
    }

    /// Queue a `SendMsg` of `header` on `fd` with `MSG_DONTWAIT` (so it
    /// completes inline during the enter that submits it: sent, or
    /// `-EAGAIN` when the socket buffer is full).
    ///
    /// The caller keeps `header` (boxed or in a boxed slice: it must not
    /// move) and what it points at unchanged until the completion of
    /// `user_data` is reaped.
    pub(crate) fn send(&mut self, fd: RawFd, header: &SendHeader, user_data: u64) -> bool {
        let entry = opcode::SendMsg::new(Fd(fd), &header.msg)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(user_data);
        self.push(&entry)
    }

    /// Queue a cancellation of the request with `target` user data.
    pub(crate) fn cancel(&mut self, target: u64, user_data: u64) -> bool {
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data);
        self.push(&entry)
    }

    /// Queue a removal of the poll request with `target` user data.
    pub(crate) fn remove_poll(&mut self, target: u64, user_data: u64) -> bool {
        let entry = opcode::PollRemove::new(target).build().user_data(user_data);
        self.push(&entry)
    }

    /// Queue a cancellation of every in-flight request.
    pub(crate) fn cancel_all(&mut self, user_data: u64) -> bool {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(user_data);
        self.push(&entry)
    }

    /// Submit what is queued without waiting.
    pub(crate) fn submit(&mut self) -> io::Result<usize> {
        self.ring.submit()
    }

    /// The loop's one `io_uring_enter`: submit everything queued and wait
    /// for `want` completions or until `deadline` (at most a second).
    /// A timeout, a signal or a busy completion queue is not an error.
    pub(crate) fn enter(
        &mut self,
        want: usize,
        deadline: Option<Instant>,
        now: Instant,
    ) -> io::Result<()> {
        let wait = deadline
            .map_or(MAX_SLEEP, |t| t.saturating_duration_since(now))
            .min(MAX_SLEEP);
        match self.wait(want, wait) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Submit and wait for `want` completions for at most `wait`.
    pub(crate) fn wait(&mut self, want: usize, wait: Duration) -> io::Result<()> {
        let timespec = Timespec::new()
            .sec(wait.as_secs())
            .nsec(wait.subsec_nanos());
        let args = SubmitArgs::new().timespec(&timespec);
        self.ring
            .submitter()
            .submit_with_args(want, &args)
            .map(drop)
    }

    /// Replace `into` with the completions ready now.
    pub(crate) fn reap(&mut self, into: &mut Vec<Cqe>) {
        into.clear();
        into.extend(
            self.ring
                .completion()
                .map(|e| (e.user_data(), e.result(), e.flags())),
        );
    }

    /// Whether every queued SQE has been submitted.
    pub(crate) fn all_submitted(&mut self) -> bool {
        self.ring.submission().is_empty()
    }

    /// Enters made since the last call to make room in a full queue.
    pub(crate) fn take_extra_syscalls(&mut self) -> u64 {
        mem::take(&mut self.extra_syscalls)
    }

    /// The datagram of a multishot `RecvMsg` completion (`res` bytes of
    /// provided buffer `bid`): (truncated, source name, payload).
    #[inline]
    pub(crate) fn received(&self, bid: u16, res: i32) -> Option<RecvMsgOut<'_>> {
        let bytes = self.buffers.get(bid, usize::try_from(res).ok()?)?;
        RecvMsgOut::parse(bytes, &self.recv_hdr).ok()
    }
}

/// Whether a completion is not the last of its multishot request.
#[inline]
pub(crate) fn more(flags: u32) -> bool {
    cqueue::more(flags)
}

/// The provided buffer a completion carries.
#[inline]
pub(crate) fn buffer_id(flags: u32) -> Option<u16> {
    cqueue::buffer_select(flags)
}

/// What a `SendMsg` SQE points at besides the payload: the header, its
/// one `iovec` and the destination address. It must not move while a
/// send is in flight: keep it boxed or in a boxed slice.
pub(crate) struct SendHeader {
    msg: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
}

impl SendHeader {
    pub(crate) fn new() -> SendHeader {
        SendHeader {
            // SAFETY: msghdr is plain old data; all-zero is valid.
            msg: unsafe { mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            name: crate::net::empty_storage(),
        }
    }

    /// Point the header at `len` bytes at `payload`, for `dest`.
    #[inline]
    pub(crate) fn prepare(&mut self, payload: *mut u8, len: usize, dest: SocketAddr) {
        self.iov = libc::iovec {
            iov_base: payload.cast(),
            iov_len: len,
        };
        self.msg.msg_namelen = write_sockaddr(dest, &mut self.name);
        self.msg.msg_name = (&mut self.name as *mut libc::sockaddr_storage).cast();
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
    }
}

/// One `io_uring_buf` entry of a provided-buffer ring (the kernel ABI;
/// the `resv` field of entry 0 is the ring's tail).
#[repr(C)]
struct RawBufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// An anonymous memory mapping.
struct Mapping {
    ptr: *mut u8,
    len: usize,
    leaked: bool,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping at an address the kernel
        // chooses; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
            leaked: false,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.leaked {
            return;
        }
        // SAFETY: `ptr`/`len` describe a mapping made by `Mapping::new`
        // and not unmapped yet; the owner guarantees the kernel no longer
        // uses it (otherwise it is leaked).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// The provided-buffer ring (`IORING_REGISTER_PBUF_RING`) and its
/// buffers: `entries` buffers of `buf_size` bytes (buffer id = index), of
/// which the kernel may fill the first `fill` bytes.
pub(crate) struct ProvidedBuffers {
    ring: Mapping,
    data: Mapping,
    entries: u16,
    buf_size: usize,
    fill: usize,
    /// Our tail (published with `publish`).
    tail: u16,
}

impl ProvidedBuffers {
    fn new(entries: u16, buf_size: usize, fill: usize) -> io::Result<ProvidedBuffers> {
        debug_assert!(entries.is_power_of_two());
        debug_assert!(fill <= buf_size);
        let ring = Mapping::new(usize::from(entries) * mem::size_of::<RawBufEntry>())?;
        let data = Mapping::new(usize::from(entries) * buf_size)?;
        let mut buffers = ProvidedBuffers {
            ring,
            data,
            entries,
            buf_size,
            fill,
            tail: 0,
        };
        for bid in 0..entries {
            buffers.recycle(bid);
        }
        buffers.publish();
        Ok(buffers)
    }

    fn ring_addr(&self) -> u64 {
        self.ring.ptr as u64
    }

    /// The first `len` bytes of buffer `bid`, which the kernel handed us.
    #[inline]
    fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.entries || len > self.fill {
            return None;
        }
        // SAFETY: bid < entries and len <= fill <= buf_size keep the range
        // inside the data mapping; the kernel gave this buffer to us with
        // the completion and does not write it again before `recycle`.
        Some(unsafe {
            std::slice::from_raw_parts(self.data.ptr.add(usize::from(bid) * self.buf_size), len)
        })
    }

    /// Where buffer `bid` (clamped to the last one) is at `offset`; only
    /// the address is computed.
    #[inline]
    pub(crate) fn ptr_at(&self, bid: u16, offset: usize) -> *mut u8 {
        let at = usize::from(bid.min(self.entries - 1)) * self.buf_size + offset.min(self.buf_size);
        self.data.ptr.wrapping_add(at)
    }

    /// Buffer `bid` from `offset` to its end (trailer room included);
    /// empty for a bad id.
    #[inline]
    pub(crate) fn tail_mut(&mut self, bid: u16, offset: usize) -> &mut [u8] {
        if bid >= self.entries || offset > self.buf_size {
            return &mut [];
        }
        // SAFETY: bid < entries and offset <= buf_size keep
        // [offset, end of buffer) inside the data mapping; the buffer is
        // ours (handed over by a completion, not recycled yet) and
        // `&mut self` makes this the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.data.ptr.add(usize::from(bid) * self.buf_size + offset),
                self.buf_size - offset,
            )
        }
    }

    /// Give buffer `bid` back to the kernel (visible after `publish`).
    #[inline]
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let index = usize::from(self.tail & (self.entries - 1));
        // SAFETY: index < entries keeps the entry inside the ring mapping;
        // the slot at our unpublished tail is not read by the kernel (it
        // reads only entries before the published tail), and the three
        // fields written leave `resv` (entry 0's tail) alone.
        unsafe {
            let entry = self.ring.ptr.cast::<RawBufEntry>().add(index);
            std::ptr::addr_of_mut!((*entry).addr)
                .write(self.data.ptr as u64 + (usize::from(bid) * self.buf_size) as u64);
            std::ptr::addr_of_mut!((*entry).len).write(self.fill as u32);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publish recycled buffers to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring (entry 0's
        // `resv`), inside the mapping and 2-byte aligned (the mapping is
        // page-aligned); the kernel reads it concurrently, so it is
        // written atomically with release ordering (the entries written
        // before must be visible first).
        let tail = unsafe {
            &*(self
                .ring
                .ptr
                .add(mem::offset_of!(RawBufEntry, resv))
                .cast::<AtomicU16>())
        };
        tail.store(self.tail, Ordering::Release);
    }

    /// Never unmap: the kernel may still write into these buffers.
    pub(crate) fn leak(&mut self) {
        self.ring.leaked = true;
        self.data.leaked = true;
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding skipped the cancellation: requests may be live.
            self.leak();
        }
    }
}
