//! The floor: the cheapest possible SIP "proxy" — a UDP relay with no SIP logic at all.
//!
//! One socket, `recvmmsg` (with `MSG_WAITFORONE`) and `sendmmsg` in batches of up to
//! [`BATCH`] datagrams. The only decision is the destination ([`Route::destination`]):
//! datagrams from the UAS address go to the UAC, whose address is learned from the first
//! datagram that did not come from the UAS; everything else goes to the UAS. Its CPU per
//! relayed message, times the 7 messages a proxy handles per call (INVITE/100/180/200/ACK/BYE/
//! 200), is the floor a real proxy is compared with (TARGETS.md P1).
//!
//! Deliberately not done: parsing, retransmission absorption, more than one UAC address.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Datagrams per `recvmmsg` / `sendmmsg` call.
pub const BATCH: usize = 32;
/// Receive buffer per datagram: the largest UDP payload.
const DATAGRAM_MAX: usize = 65_535;
/// Socket buffers requested (the kernel caps them at `net.core.{r,w}mem_max`).
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// Where relayed datagrams go.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    uas: SocketAddrV4,
    uac: Option<SocketAddrV4>,
}

impl Route {
    pub fn new(uas: SocketAddrV4) -> Self {
        Self { uas, uac: None }
    }

    /// The destination of a datagram from `source`; `None` (drop) for UAS traffic that
    /// arrives before any UAC was seen.
    pub fn destination(&mut self, source: SocketAddrV4) -> Option<SocketAddrV4> {
        if source == self.uas {
            return self.uac;
        }
        if self.uac.is_none() {
            self.uac = Some(source);
        }
        Some(self.uas)
    }
}

/// Messages the relay handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayCounts {
    pub relayed: u64,
    pub dropped: u64,
}

impl RelayCounts {
    /// `relayed=N dropped=M`, the line the relay writes on exit.
    pub fn to_line(self) -> String {
        format!("relayed={} dropped={}\n", self.relayed, self.dropped)
    }

    pub fn from_line(line: &str) -> Option<Self> {
        let mut counts = Self::default();
        let mut seen = 0;
        for part in line.split_ascii_whitespace() {
            let (key, value) = part.split_once('=')?;
            let value = value.parse().ok()?;
            match key {
                "relayed" => counts.relayed = value,
                "dropped" => counts.dropped = value,
                _ => return None,
            }
            seen += 1;
        }
        (seen == 2).then_some(counts)
    }
}

/// Binds the relay socket with large buffers and a 1 s receive timeout (so a stop request that
/// races with entering `recvmmsg` is noticed within a second).
pub fn bind(listen: SocketAddrV4) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(listen)?;
    let fd = socket.as_raw_fd();
    for option in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: fd is a valid socket; the option value is a c_int that outlives the call.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&SOCKET_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    socket.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
    Ok(socket)
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

fn from_sockaddr(raw: &libc::sockaddr_in) -> Option<SocketAddrV4> {
    (raw.sin_family == libc::AF_INET as libc::sa_family_t).then(|| {
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(raw.sin_addr.s_addr)),
            u16::from_be(raw.sin_port),
        )
    })
}

/// Relays until `stop` is set (checked after every wake-up: a datagram, a signal that
/// interrupts `recvmmsg`, or the 1 s receive timeout).
pub fn run(
    socket: &UdpSocket,
    mut route: Route,
    stop: &AtomicBool,
) -> std::io::Result<RelayCounts> {
    let fd = socket.as_raw_fd();
    let mut buffers = vec![0u8; BATCH * DATAGRAM_MAX];
    // SAFETY (zeroed): sockaddr_in, iovec and mmsghdr are plain C structs for which all-zero
    // is a valid value; the pointers inside are set before each call.
    let mut sources: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut destinations: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut recv_iov: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut send_iov: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut recv_msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut send_msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut counts = RelayCounts::default();
    while !stop.load(Ordering::Relaxed) {
        for i in 0..BATCH {
            recv_iov[i] = libc::iovec {
                iov_base: buffers[i * DATAGRAM_MAX..].as_mut_ptr().cast(),
                iov_len: DATAGRAM_MAX,
            };
            let header = &mut recv_msgs[i].msg_hdr;
            header.msg_name = (&mut sources[i] as *mut libc::sockaddr_in).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            header.msg_iov = &mut recv_iov[i];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
            header.msg_flags = 0;
            recv_msgs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes owned by this frame.
        let received = unsafe {
            libc::recvmmsg(
                fd,
                recv_msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            let error = std::io::Error::last_os_error();
            match error.kind() {
                std::io::ErrorKind::Interrupted
                | std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut => continue,
                // ICMP port unreachable from an earlier send: not this datagram's fault.
                std::io::ErrorKind::ConnectionRefused => continue,
                _ => return Err(error),
            }
        }
        let mut to_send = 0;
        for i in 0..received as usize {
            let Some(source) = from_sockaddr(&sources[i]) else {
                counts.dropped += 1;
                continue;
            };
            let Some(destination) = route.destination(source) else {
                counts.dropped += 1;
                continue;
            };
            destinations[to_send] = to_sockaddr(destination);
            send_iov[to_send] = libc::iovec {
                iov_base: buffers[i * DATAGRAM_MAX..].as_mut_ptr().cast(),
                iov_len: recv_msgs[i].msg_len as usize,
            };
            let header = &mut send_msgs[to_send].msg_hdr;
            header.msg_name = (&mut destinations[to_send] as *mut libc::sockaddr_in).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            header.msg_iov = &mut send_iov[to_send];
            header.msg_iovlen = 1;
            to_send += 1;
        }
        let mut sent = 0;
        while sent < to_send {
            // SAFETY: headers [sent, to_send) point at live buffers filled above.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    send_msgs[sent..].as_mut_ptr(),
                    (to_send - sent) as libc::c_uint,
                    0,
                )
            };
            if n <= 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // The head datagram failed (e.g. ICMP-refused peer): drop it, keep the rest.
                counts.dropped += 1;
                sent += 1;
                continue;
            }
            counts.relayed += n as u64;
            sent += n as usize;
        }
    }
    Ok(counts)
}

/// The relay's listen address as a `SocketAddrV4` (the floor is IPv4 loopback only).
pub fn v4(addr: SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(v4) => Some(v4),
        SocketAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    #[test]
    fn uas_traffic_goes_to_the_first_uac_everything_else_to_the_uas() {
        let mut route = Route::new(addr(5080));
        assert_eq!(route.destination(addr(5080)), None, "no UAC known yet");
        assert_eq!(route.destination(addr(5090)), Some(addr(5080)));
        assert_eq!(route.destination(addr(5080)), Some(addr(5090)));
        assert_eq!(route.destination(addr(6000)), Some(addr(5080)));
        assert_eq!(
            route.destination(addr(5080)),
            Some(addr(5090)),
            "UAC is sticky"
        );
    }

    #[test]
    fn count_line_round_trips_and_rejects_garbage() {
        let counts = RelayCounts {
            relayed: 42,
            dropped: 1,
        };
        assert_eq!(RelayCounts::from_line(&counts.to_line()), Some(counts));
        assert_eq!(RelayCounts::from_line("relayed=1"), None);
        assert_eq!(RelayCounts::from_line("relayed=x dropped=0"), None);
        assert_eq!(RelayCounts::from_line("foo=1 dropped=0"), None);
    }

    #[test]
    fn relays_both_ways_over_loopback_and_counts_each_datagram() {
        let uas = UdpSocket::bind("127.0.0.1:0").unwrap();
        let uac = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&uas, &uac] {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        let uas_addr = v4(uas.local_addr().unwrap()).unwrap();
        let relay = bind(addr(0)).unwrap();
        let relay_addr = relay.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || run(&relay, Route::new(uas_addr), &stop))
        };
        let mut buf = [0u8; 2048];
        for round in 0..3u8 {
            let request = [b'Q', round];
            uac.send_to(&request, relay_addr).unwrap();
            let (n, from) = uas.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&request[..], relay_addr));
            let response = [b'R', round];
            uas.send_to(&response, relay_addr).unwrap();
            let (n, from) = uac.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&response[..], relay_addr));
        }
        stop.store(true, Ordering::Relaxed);
        let counts = thread.join().unwrap().unwrap();
        assert_eq!(
            counts,
            RelayCounts {
                relayed: 6,
                dropped: 0
            }
        );
    }
}
