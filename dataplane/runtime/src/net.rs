//! Sockets and the few raw system-call wrappers both backends share:
//! binding (SO_REUSEPORT groups, private sockets, listeners), socket
//! address conversion to and from the kernel's `sockaddr` bytes, the
//! wake-up eventfd and the UDP error queue (`IP_RECVERR`).

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Bytes of `sockaddr_in6`, the largest name a UDP socket here returns.
pub(crate) const SOCKADDR_MAX: usize = mem::size_of::<libc::sockaddr_in6>();

/// A non-blocking UDP socket for `addr`, not bound yet: v6-only for an
/// IPv6 address, `buffer` bytes of `SO_RCVBUF`/`SO_SNDBUF` asked for when
/// not 0 (the kernel caps them at rmem_max/wmem_max; a refusal is not
/// fatal). Close-on-exec, as every socket2 socket. Both runtimes' UDP
/// sockets start here.
pub(crate) fn udp_socket(addr: SocketAddr, buffer: usize) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if buffer > 0 {
        let _ = socket.set_recv_buffer_size(buffer);
        let _ = socket.set_send_buffer_size(buffer);
    }
    Ok(socket)
}

/// A UDP socket for one listen address, one per core, in a
/// `SO_REUSEPORT` group.
pub(crate) fn bind_udp_listen(addr: SocketAddr, buffer: usize) -> io::Result<Socket> {
    let socket = sip_udp_socket(addr, buffer)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A core's private UDP socket: `ip`, ephemeral port, not shared.
pub(crate) fn bind_udp_private(ip: IpAddr, buffer: usize) -> io::Result<Socket> {
    let addr = SocketAddr::new(ip, 0);
    let socket = sip_udp_socket(addr, buffer)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A SIP UDP socket: [`udp_socket`], the buffers granted logged (a few
/// sockets per core, unlike the media runtime's thousands), and ICMP
/// errors asked for (the SIP runtime reports them as transport errors).
fn sip_udp_socket(addr: SocketAddr, buffer: usize) -> io::Result<Socket> {
    let socket = udp_socket(addr, buffer)?;
    if buffer > 0 {
        tracing::debug!(
            %addr,
            requested = buffer,
            rcvbuf = socket.recv_buffer_size().unwrap_or(0),
            sndbuf = socket.send_buffer_size().unwrap_or(0),
            "UDP socket buffers granted"
        );
    }
    set_recv_err(&socket, addr.is_ipv6());
    Ok(socket)
}

/// Ask for ICMP errors on the socket's error queue (best effort).
fn set_recv_err(socket: &Socket, ipv6: bool) {
    let (level, name) = if ipv6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    if let Err(e) = setsockopt_int(socket.as_raw_fd(), level, name, 1) {
        tracing::debug!(error = %e, "IP_RECVERR refused: ICMP errors will not be reported");
    }
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a live c_int for the duration of the call and the
    // length passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A TCP listener for one listen address, one per core, in a
/// `SO_REUSEPORT` group.
pub(crate) fn bind_tcp_listen(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}

/// A non-blocking TCP connect in progress (or already done) to `addr`.
pub(crate) fn connect_tcp(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) => Err(e),
    }
}

/// The address a socket is bound to.
pub(crate) fn local_addr(socket: &Socket) -> io::Result<SocketAddr> {
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket"))
}

/// Whether `a` and `b` are of the same address family.
pub(crate) fn same_family(a: SocketAddr, b: SocketAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Write `addr` as a kernel socket address into `storage`; returns its
/// length.
pub(crate) fn write_sockaddr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> u32 {
    let raw = SockAddr::from(addr);
    let len = raw.len() as usize;
    debug_assert!(len <= mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `raw` holds `len` initialised bytes of a sockaddr, and
    // `storage` is a distinct sockaddr_storage, large enough for any
    // socket address (len <= its size, checked by SockAddr's own type).
    unsafe {
        std::ptr::copy_nonoverlapping(
            raw.as_ptr().cast::<u8>(),
            (storage as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        );
    }
    len as u32
}

/// Read a kernel socket address (AF_INET or AF_INET6) from `bytes`.
pub(crate) fn read_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    match i32::from(family) {
        libc::AF_INET if bytes.len() >= mem::size_of::<libc::sockaddr_in>() => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 if bytes.len() >= mem::size_of::<libc::sockaddr_in6>() => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flowinfo = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            let scope = u32::from_ne_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                flowinfo,
                scope,
            )))
        }
        _ => None,
    }
}

/// The bytes of a `sockaddr_storage` the kernel filled (`len` of them).
pub(crate) fn storage_bytes(storage: &libc::sockaddr_storage, len: u32) -> &[u8] {
    let len = (len as usize).min(mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: sockaddr_storage is plain old data, fully initialised (we
    // zero it on creation), and `len` is clamped to its size.
    unsafe { std::slice::from_raw_parts((storage as *const libc::sockaddr_storage).cast(), len) }
}

/// A zeroed `sockaddr_storage`.
pub(crate) fn empty_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    unsafe { mem::zeroed() }
}

/// A non-blocking eventfd: a core's wake-up (inbox items, shutdown).
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and nobody else owns it.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Wake the core watching this eventfd.
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64; an error (counter
        // saturated) still leaves the eventfd readable, which is all a
        // wake-up needs.
        let _ = unsafe { libc::write(self.fd(), (&one as *const u64).cast(), 8) };
    }

    /// Reset the counter after a wake-up.
    pub(crate) fn drain(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64; EAGAIN when
        // already drained is fine.
        let _ = unsafe { libc::read(self.fd(), (&mut value as *mut u64).cast(), 8) };
    }
}

/// Whether a receive/send error on a UDP socket may come from a queued
/// ICMP error (then the error queue says for which destination).
pub(crate) fn is_icmp_errno(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNREFUSED
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::ENETDOWN
            | libc::EPROTO
            | libc::EMSGSIZE
            | libc::ENOPROTOOPT
            | libc::ECONNRESET
            | libc::EACCES
    )
}

/// Read a UDP socket's error queue (IP_RECVERR): `report` gets the
/// original destination of every datagram an ICMP error (or a local
/// error) came back for. Returns the number of system calls made.
pub(crate) fn drain_error_queue(fd: RawFd, mut report: impl FnMut(SocketAddr)) -> u64 {
    let mut calls = 0;
    // A bounded drain: the queue holds at most what the socket buffer
    // allows, and the next error wakes us again.
    while calls < 64 {
        let mut name = empty_storage();
        let mut payload = [0u8; 64];
        // Room for one sock_extended_err plus the offender address.
        let mut control = [0u64; 32];
        let mut iov = libc::iovec {
            iov_base: payload.as_mut_ptr().cast(),
            iov_len: payload.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control);
        calls += 1;
        // SAFETY: every pointer in `msg` refers to a live local buffer of
        // the stated length, valid for the duration of the call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            break;
        }
        if let Some(dest) = read_sockaddr(storage_bytes(&name, msg.msg_namelen)) {
            report(dest);
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip_through_kernel_form() {
        for addr in [
            "192.0.2.7:5060".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:5061".parse().unwrap(),
        ] {
            let mut storage = empty_storage();
            let len = write_sockaddr(addr, &mut storage);
            assert_eq!(read_sockaddr(storage_bytes(&storage, len)), Some(addr));
        }
        assert_eq!(read_sockaddr(&[]), None);
        assert_eq!(read_sockaddr(&[2, 0, 1]), None);
    }

    /// Media ports and SIP sockets alike must not block a core's loop nor
    /// leak into a child process.
    #[test]
    fn udp_sockets_are_non_blocking_and_close_on_exec() {
        let socket = udp_socket("127.0.0.1:0".parse().unwrap(), 1 << 16).unwrap();
        let fd = socket.as_raw_fd();
        // SAFETY: fcntl F_GETFL/F_GETFD on a descriptor we own only reads.
        let (status, fd_flags) = unsafe {
            (
                libc::fcntl(fd, libc::F_GETFL),
                libc::fcntl(fd, libc::F_GETFD),
            )
        };
        assert_ne!(status & libc::O_NONBLOCK, 0, "non-blocking");
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "close-on-exec");
        assert!(socket.recv_buffer_size().unwrap() >= 1 << 16);
    }
}
