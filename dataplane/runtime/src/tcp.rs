//! TCP connections owned by one core: the slot table (address index,
//! generations for stale events), per-connection input/output buffers and
//! stream framing (RFC 3261 §18.3, keep-alives of RFC 5626 §4.4.1).
//!
//! Sockets here are non-blocking and edge-triggered: reads go until a
//! short read, `EAGAIN` or EOF; writes go until the output is empty or
//! `EAGAIN` (then the next writable edge resumes them).

use crate::token::{MAX_INDEX, Token};
use ferrovox_sip::{ParseError, frame_len_limited, leading_keepalive};
use socket2::Socket;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// One TCP connection (accepted or opened by this core).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) socket: Socket,
    pub(crate) peer: SocketAddr,
    /// A non-blocking connect has not completed yet.
    pub(crate) connecting: bool,
    /// Bytes read and not yet framed.
    pub(crate) input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    pub(crate) last_activity: Instant,
    /// Listed in [`Connections::dirty`].
    dirty: bool,
}

impl Connection {
    pub(crate) fn new(socket: Socket, peer: SocketAddr, connecting: bool, now: Instant) -> Self {
        Connection {
            socket,
            peer,
            connecting,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            last_activity: now,
            dirty: false,
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn pending_output(&self) -> usize {
        self.output.len() - self.written
    }

    /// Queue `bytes`; false when that would exceed `limit` queued bytes.
    pub(crate) fn queue(&mut self, bytes: &[u8], limit: usize) -> bool {
        if self.pending_output() + bytes.len() > limit {
            return false;
        }
        if self.written > 0 && self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
        }
        self.output.extend_from_slice(bytes);
        true
    }

    /// Write queued output until done or `EAGAIN`.
    pub(crate) fn flush(&mut self, now: Instant, syscalls: &mut u64) -> io::Result<()> {
        while self.written < self.output.len() {
            *syscalls += 1;
            let rest = self.output.get(self.written..).unwrap_or(&[]);
            match self
                .socket
                .send_with_flags(rest, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
            {
                Ok(n) => {
                    self.written += n;
                    self.last_activity = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.written = 0;
        Ok(())
    }
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    conn: Option<Connection>,
}

/// A core's connections, by slot and by remote address.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_addr: HashMap<SocketAddr, u32>,
    dirty: Vec<u32>,
    open: usize,
}

impl Connections {
    /// Store a connection; its token, or None when the table is full.
    pub(crate) fn insert(&mut self, conn: Connection) -> Option<Token> {
        let peer = conn.peer;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i <= MAX_INDEX)?;
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                i
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.conn = Some(conn);
        self.by_addr.insert(peer, index);
        self.open += 1;
        Some(Token::Conn {
            index,
            generation: slot.generation,
        })
    }

    /// The connection of a token, if it is still the same one.
    pub(crate) fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut Connection> {
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.conn.as_mut())
    }

    /// The connection in slot `index`, whatever its generation.
    pub(crate) fn at(&mut self, index: u32) -> Option<&mut Connection> {
        self.slots
            .get_mut(index as usize)
            .and_then(|s| s.conn.as_mut())
    }

    /// The slot of the connection to `addr`.
    pub(crate) fn find(&self, addr: SocketAddr) -> Option<u32> {
        self.by_addr.get(&addr).copied()
    }

    /// Take a connection out; its slot's generation moves on so stale
    /// events for it are ignored.
    pub(crate) fn remove(&mut self, index: u32) -> Option<(Connection, Token)> {
        let slot = self.slots.get_mut(index as usize)?;
        let conn = slot.conn.take()?;
        let token = Token::Conn {
            index,
            generation: slot.generation,
        };
        slot.generation = slot.generation.wrapping_add(1);
        if self.by_addr.get(&conn.peer) == Some(&index) {
            self.by_addr.remove(&conn.peer);
        }
        self.free.push(index);
        self.open -= 1;
        Some((conn, token))
    }

    /// Note that slot `index` has output to write at the end of the
    /// iteration.
    pub(crate) fn mark_dirty(&mut self, index: u32) {
        if let Some(conn) = self.at(index)
            && !conn.dirty
        {
            conn.dirty = true;
            self.dirty.push(index);
        }
    }

    /// Next slot with output to write (its dirty mark cleared).
    pub(crate) fn pop_dirty(&mut self) -> Option<u32> {
        while let Some(index) = self.dirty.pop() {
            if let Some(conn) = self.at(index) {
                conn.dirty = false;
                return Some(index);
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.open
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// Slots of connections idle since before `cutoff`, into `out`.
    pub(crate) fn idle_since(&self, cutoff: Instant, out: &mut Vec<u32>) {
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(conn) = &slot.conn
                && conn.last_activity <= cutoff
            {
                out.push(i as u32);
            }
        }
    }

    /// Slots of every open connection, into `out`.
    pub(crate) fn all(&self, out: &mut Vec<u32>) {
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.conn.is_some() {
                out.push(i as u32);
            }
        }
    }
}

/// Why a connection's byte stream cannot be framed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// Not a SIP message (or no Content-Length).
    #[error("bad framing: {0}")]
    Parse(ParseError),
    /// A message longer than the limit.
    #[error("message longer than the limit")]
    TooLarge,
}

/// Cut whole messages off the front of `input`: `deliver` gets each one,
/// `pings` counts CRLFCRLF keep-alives to answer with CRLF. Bare CRLFs
/// before a message are skipped. Returns how many bytes were consumed
/// (the rest is an incomplete message, or CR/LF bytes that may become a
/// ping).
pub(crate) fn cut_frames(
    input: &[u8],
    max_message: usize,
    pings: &mut u64,
    mut deliver: impl FnMut(&[u8]),
) -> Result<usize, FrameError> {
    let mut start = 0;
    loop {
        let rest = input.get(start..).unwrap_or(&[]);
        if rest.starts_with(b"\r\n\r\n") {
            *pings += 1;
            start += 4;
            continue;
        }
        let crlf = leading_keepalive(rest);
        if crlf == rest.len() {
            // Nothing, or CR/LF bytes that may still become a ping.
            return Ok(start);
        }
        start += crlf;
        let rest = input.get(start..).unwrap_or(&[]);
        match frame_len_limited(rest, max_message) {
            Ok(Some(n)) if n > max_message => return Err(FrameError::TooLarge),
            Ok(Some(n)) => {
                deliver(rest.get(..n).unwrap_or(rest));
                start += n;
            }
            Ok(None) if rest.len() > max_message => return Err(FrameError::TooLarge),
            Ok(None) => return Ok(start),
            Err(ParseError::TooLarge { .. }) => return Err(FrameError::TooLarge),
            Err(e) => return Err(FrameError::Parse(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

    fn frames(input: &[u8]) -> (Result<usize, FrameError>, Vec<Vec<u8>>, u64) {
        let mut got = Vec::new();
        let mut pings = 0;
        let r = cut_frames(input, 1000, &mut pings, |m| got.push(m.to_vec()));
        (r, got, pings)
    }

    #[test]
    fn several_messages_in_one_read_are_cut_apart() {
        let mut input = MSG.to_vec();
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(MSG);
        input.extend_from_slice(&MSG[..10]);
        let (r, got, pings) = frames(&input);
        assert_eq!(r.unwrap(), 2 * MSG.len() + 2);
        assert_eq!(got, vec![MSG.to_vec(), MSG.to_vec()]);
        assert_eq!(pings, 0);
    }

    #[test]
    fn partial_message_waits_for_more() {
        for cut in [1, 20, MSG.len() - 1] {
            let (r, got, _) = frames(&MSG[..cut]);
            assert_eq!(r.unwrap(), 0);
            assert!(got.is_empty());
        }
    }

    #[test]
    fn double_crlf_is_a_ping_and_a_lone_crlf_waits() {
        let (r, got, pings) = frames(b"\r\n\r\n");
        assert_eq!((r.unwrap(), got.len(), pings), (4, 0, 1));
        let (r, _, pings) = frames(b"\r\n");
        assert_eq!((r.unwrap(), pings), (0, 0));
        let mut input = b"\r\n\r\n".to_vec();
        input.extend_from_slice(MSG);
        let (r, got, pings) = frames(&input);
        assert_eq!((r.unwrap(), got.len(), pings), (input.len(), 1, 1));
    }

    #[test]
    fn bad_framing_and_oversize_are_errors() {
        let (r, _, _) = frames(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n\r\n");
        assert!(matches!(r, Err(FrameError::Parse(_))));
        let mut big = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n".to_vec();
        let (r, _, _) = frames(&big);
        assert_eq!(r.unwrap(), 0, "waits while under the limit");
        big.resize(1200, b'x');
        let (r, _, _) = frames(&big);
        assert!(matches!(r, Err(FrameError::TooLarge)));
        let (r, _, _) = frames(&[b'a'; 2000]);
        assert!(matches!(r, Err(FrameError::TooLarge)));
    }
}
