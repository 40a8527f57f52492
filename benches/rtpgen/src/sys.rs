//! Thin, safe wrappers over the Linux calls the generator and the floor relay need:
//! `sendmmsg`/`recvmmsg` batches ([`Batch`]), `epoll` ([`Epoll`]), socket buffer sizes,
//! the open-file limit and the `net.core` buffer sysctls.
//!
//! Media is IPv4 only (the benchmarks run on loopback); everything here returns
//! `std::io::Error` from `errno` rather than panicking.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;

/// Largest datagram a [`Batch`] slot holds.
pub const SLOT_BYTES: usize = 2048;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn to_sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(addr: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
        u16::from_be(addr.sin_port),
    )
}

/// A fixed set of datagram slots with their `mmsghdr`s, reused for every call.
pub struct Batch {
    buffers: Vec<[u8; SLOT_BYTES]>,
    addrs: Vec<libc::sockaddr_in>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    len: usize,
}

impl Batch {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut batch = Self {
            buffers: vec![[0; SLOT_BYTES]; capacity],
            addrs: vec![to_sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); capacity],
            // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is valid.
            iovecs: vec![unsafe { std::mem::zeroed() }; capacity],
            headers: vec![unsafe { std::mem::zeroed() }; capacity],
            len: 0,
        };
        for i in 0..capacity {
            batch.iovecs[i].iov_base = batch.buffers[i].as_mut_ptr().cast();
            batch.iovecs[i].iov_len = SLOT_BYTES;
            let header = &mut batch.headers[i].msg_hdr;
            header.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_in).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            header.msg_iov = &mut batch.iovecs[i];
            header.msg_iovlen = 1;
        }
        batch
    }

    pub fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// Slots filled for sending (or received by the last [`Batch::receive`]).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.buffers.len()
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Claims the next slot for a datagram of `len` bytes to `to`; the caller writes it.
    /// `None` when the batch is full or `len` exceeds a slot.
    pub fn push(&mut self, to: SocketAddrV4, len: usize) -> Option<&mut [u8]> {
        if self.is_full() || len > SLOT_BYTES {
            return None;
        }
        let i = self.len;
        self.len += 1;
        self.addrs[i] = to_sockaddr(to);
        self.iovecs[i].iov_len = len;
        Some(&mut self.buffers[i][..len])
    }

    /// Datagram `i` of the batch and its peer address.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddrV4)> {
        if i >= self.len {
            return None;
        }
        let len = (self.headers[i].msg_len as usize).min(SLOT_BYTES);
        Some((&self.buffers[i][..len], from_sockaddr(&self.addrs[i])))
    }

    /// Re-addresses received datagram `i` to `to` so the batch can be sent on as is.
    pub fn readdress(&mut self, i: usize, to: SocketAddrV4) {
        if i < self.len {
            self.addrs[i] = to_sockaddr(to);
            self.iovecs[i].iov_len = (self.headers[i].msg_len as usize).min(SLOT_BYTES);
        }
    }

    /// Moves datagram `from` into slot `to` (both already filled; `to <= from`).
    pub fn keep(&mut self, from: usize, to: usize) {
        if from != to && from < self.len && to < from {
            let (head, tail) = self.buffers.split_at_mut(from);
            let len = self.iovecs[from].iov_len;
            head[to][..len].copy_from_slice(&tail[0][..len]);
            self.addrs[to] = self.addrs[from];
            self.iovecs[to].iov_len = len;
        }
    }

    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Sends the filled slots with `sendmmsg`, retrying the rest after a partial send.
    /// Returns how many were sent; stops early (without error) when the socket buffer is
    /// full.
    pub fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut sent = 0;
        while sent < self.len {
            // SAFETY: headers[sent..len] point into buffers owned by self, alive for the call.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers[sent..].as_mut_ptr(),
                    (self.len - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            match check(n) {
                Ok(n) => sent += n as usize,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return if sent > 0 { Ok(sent) } else { Err(e) },
            }
        }
        Ok(sent)
    }

    /// Receives up to `capacity` datagrams with one non-blocking `recvmmsg`; 0 when none
    /// were waiting.
    pub fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..self.buffers.len() {
            self.iovecs[i].iov_len = SLOT_BYTES;
            self.headers[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            self.headers[i].msg_len = 0;
        }
        // SAFETY: every header points at a slot buffer and address owned by self.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.buffers.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.len = match check(n) {
            Ok(n) => n as usize,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        Ok(self.len)
    }
}

/// An epoll instance watching file descriptors for readability.
pub struct Epoll {
    fd: RawFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(max_events: usize) -> io::Result<Self> {
        // SAFETY: plain syscall.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Self {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; max_events.max(1)],
        })
    }

    /// Watches `fd` for input, reporting `token` when it is readable.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `event` is valid for the call.
        check(unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut event) })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` and returns the tokens of readable descriptors.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<impl Iterator<Item = u64> + '_> {
        // SAFETY: the events buffer is valid for `len` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd,
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                timeout_ms,
            )
        };
        let n = match check(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        Ok(self.events[..n].iter().map(|e| e.u64))
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.fd) };
    }
}

/// Sets `SO_RCVBUF`/`SO_SNDBUF` (the `FORCE` variants first, which root may use beyond
/// `rmem_max`). Returns the sizes the kernel reports afterwards.
pub fn set_socket_buffers(fd: RawFd, bytes: usize) -> (usize, usize) {
    let value = bytes.min(i32::MAX as usize / 2) as libc::c_int;
    let set = |force: libc::c_int, plain: libc::c_int| {
        for option in [force, plain] {
            // SAFETY: `value` lives for the call and has the size passed.
            let ret = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    option,
                    (&value as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if ret == 0 {
                break;
            }
        }
    };
    set(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF);
    set(libc::SO_SNDBUFFORCE, libc::SO_SNDBUF);
    let get = |option| {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes.
        unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        value.max(0) as usize
    };
    (get(libc::SO_RCVBUF), get(libc::SO_SNDBUF))
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    limit.rlim_cur
}

/// The `net.core` socket buffer sysctls the relay benchmarks raise.
pub const BUFFER_SYSCTLS: [&str; 4] = [
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.core.rmem_default",
    "net.core.wmem_default",
];

/// Sets each of [`BUFFER_SYSCTLS`] to `bytes` and returns `(name, value read back)`.
pub fn set_buffer_sysctls(bytes: usize) -> io::Result<Vec<(String, String)>> {
    let mut result = Vec::new();
    for name in BUFFER_SYSCTLS {
        let path = format!("/proc/sys/{}", name.replace('.', "/"));
        std::fs::write(&path, bytes.to_string())?;
        let read = std::fs::read_to_string(&path)?.trim().to_owned();
        result.push((name.to_owned(), read));
    }
    Ok(result)
}

/// Reads each of [`BUFFER_SYSCTLS`].
pub fn read_buffer_sysctls() -> Vec<(String, String)> {
    BUFFER_SYSCTLS
        .iter()
        .map(|name| {
            let path = format!("/proc/sys/{}", name.replace('.', "/"));
            let value = std::fs::read_to_string(&path)
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            ((*name).to_owned(), value)
        })
        .collect()
}

/// Sets the calling thread's nice value (threads it spawns later inherit it). Negative values
/// need root; on a shared machine they keep the measured processes from being starved by
/// unrelated work. Returns whether it took effect.
pub fn set_thread_nice(nice: i32) -> bool {
    // SAFETY: setpriority takes plain integers; `who = 0` is the calling thread on Linux.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) == 0 }
}

/// Makes `command`'s process start with nice value `nice` (all its threads inherit it).
pub fn nice_on_exec(command: &mut std::process::Command, nice: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls setpriority, which is async-signal-safe, and ignores
    // its failure (the SUT then runs at the default priority).
    unsafe {
        command.pre_exec(move || {
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            Ok(())
        });
    }
}

/// Puts the calling thread under `SCHED_RR` at `priority` (threads it spawns later inherit
/// it). Needs root. On a shared, busy 2-core machine this is what keeps a relay and the
/// generator from being preempted by compile jobs for tens of milliseconds (which shows up as
/// loss and jitter that are not theirs); the kernel's RT throttling (95% by default) still
/// leaves the rest of the machine some CPU. Returns whether it took effect.
pub fn set_thread_realtime(priority: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is valid for the call; pid 0 is the calling thread.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) == 0 }
}

/// Makes `command`'s process start under `SCHED_RR` at `priority` (see
/// [`set_thread_realtime`]); on failure it starts with the default policy.
pub fn realtime_on_exec(command: &mut std::process::Command, priority: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls sched_setscheduler, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let param = libc::sched_param {
                sched_priority: priority,
            };
            libc::sched_setscheduler(0, libc::SCHED_RR, &param);
            Ok(())
        });
    }
}

/// Lowers this thread's timer slack so short sleeps wake close to their deadline.
pub fn tighten_timer_slack(nanos: u64) {
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanos as libc::c_ulong, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_sent_with_sendmmsg_arrives_through_recvmmsg() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let SocketAddr4(to) = SocketAddr4::of(&receiver);
        let mut out = Batch::new(8);
        for i in 0..5u8 {
            out.push(to, 3).unwrap().copy_from_slice(&[i, i, i]);
        }
        assert_eq!(out.send(sender.as_raw_fd()).unwrap(), 5);
        let mut epoll = Epoll::new(4).unwrap();
        epoll.add(receiver.as_raw_fd(), 77).unwrap();
        assert_eq!(epoll.wait(1000).unwrap().collect::<Vec<_>>(), vec![77]);
        let mut input = Batch::new(8);
        let mut got = Vec::new();
        while got.len() < 5 {
            input.receive(receiver.as_raw_fd()).unwrap();
            for i in 0..input.len() {
                let (data, from) = input.get(i).unwrap();
                assert_eq!(from, SocketAddr4::of(&sender).0);
                got.push(data.to_vec());
            }
        }
        assert_eq!(got[4], vec![4, 4, 4]);
        assert_eq!(input.receive(receiver.as_raw_fd()).unwrap(), 0);
    }

    struct SocketAddr4(SocketAddrV4);

    impl SocketAddr4 {
        fn of(socket: &UdpSocket) -> Self {
            match socket.local_addr().unwrap() {
                std::net::SocketAddr::V4(v4) => SocketAddr4(v4),
                std::net::SocketAddr::V6(_) => unreachable!("bound to 127.0.0.1"),
            }
        }
    }
}
