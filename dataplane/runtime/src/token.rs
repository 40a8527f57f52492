//! What an epoll event or an io_uring completion is about, packed into
//! the 64-bit user data: kind in the top byte, a generation in the next
//! 32 bits, an index in the low 24 bits ([`pack`], [`unpack`]; the media
//! runtime's `MediaToken` uses the same layout with its own kinds). A
//! generation that no longer matches marks an event for a closed
//! connection (or media port) whose slot was reused: it is ignored.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// The core's eventfd (inbox or shutdown).
    Wake,
    /// UDP socket `i` is readable (epoll backend).
    Udp(u32),
    /// TCP listener `i`.
    Listener(u32),
    /// TCP connection in slot `index`, generation `generation`.
    Conn { index: u32, generation: u32 },
    /// Multishot receive on UDP socket `i` (io_uring backend).
    Recv(u32),
    /// Send slot `i` (io_uring backend).
    Send(u32),
    /// Completions nobody waits for (poll removal).
    Ignore,
    /// The shutdown cancellation (io_uring backend).
    Cancel,
}

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// Largest slot index a token can carry.
pub(crate) const MAX_INDEX: u32 = INDEX_MASK as u32;

/// The user data for `kind` (never 0: 0 decodes to no token),
/// `generation` and `index` (its low 24 bits).
#[inline]
pub(crate) const fn pack(kind: u8, generation: u32, index: u32) -> u64 {
    ((kind as u64) << 56) | ((generation as u64) << INDEX_BITS) | (index as u64 & INDEX_MASK)
}

/// `(kind, generation, index)` of user data made by [`pack`].
#[inline]
pub(crate) const fn unpack(data: u64) -> (u8, u32, u32) {
    let index = (data & INDEX_MASK) as u32;
    let generation = ((data >> INDEX_BITS) & u32::MAX as u64) as u32;
    ((data >> 56) as u8, generation, index)
}

impl Token {
    pub(crate) fn encode(self) -> u64 {
        let (kind, generation, index) = match self {
            Token::Wake => (1, 0, 0),
            Token::Udp(i) => (2, 0, i),
            Token::Listener(i) => (3, 0, i),
            Token::Conn { index, generation } => (4, generation, index),
            Token::Recv(i) => (5, 0, i),
            Token::Send(i) => (6, 0, i),
            Token::Ignore => (7, 0, 0),
            Token::Cancel => (8, 0, 0),
        };
        pack(kind, generation, index)
    }

    pub(crate) fn decode(data: u64) -> Option<Token> {
        let (kind, generation, index) = unpack(data);
        Some(match kind {
            1 => Token::Wake,
            2 => Token::Udp(index),
            3 => Token::Listener(index),
            4 => Token::Conn { index, generation },
            5 => Token::Recv(index),
            6 => Token::Send(index),
            7 => Token::Ignore,
            8 => Token::Cancel,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for t in [
            Token::Wake,
            Token::Udp(3),
            Token::Listener(1),
            Token::Conn {
                index: MAX_INDEX,
                generation: u32::MAX,
            },
            Token::Conn {
                index: 7,
                generation: 0,
            },
            Token::Recv(2),
            Token::Send(1000),
            Token::Ignore,
            Token::Cancel,
        ] {
            assert_eq!(Token::decode(t.encode()), Some(t));
        }
        assert_eq!(Token::decode(0), None);
    }
}
