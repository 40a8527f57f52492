//! Sans-IO SIP transaction layer (RFC 3261 §17, RFC 6026).
//!
//! One [`TransactionLayer`] holds every client and server transaction of a
//! SIP element, keyed for matching (§17.1.3, §17.2.3) and driven by a
//! single timer heap shared by all of them. It does no I/O and reads no
//! clock: the caller feeds it parsed messages, the time (`now: Instant`)
//! and the transport a message came in on, and drains what it wants done:
//!
//! - [`TransactionLayer::handle_request`] / [`TransactionLayer::handle_response`]
//!   for messages from the network, answered immediately with what to do
//!   with the message ([`RequestOutcome`], [`ResponseOutcome`]): hand it to
//!   the transaction user (TU), or nothing (a retransmission was absorbed),
//!   or pass it to the core (ACK for a 2xx; responses matching nothing).
//!   No copy of an incoming message is made for the TU: the caller still
//!   holds it. [`TransactionLayer::handle_request_validated`] takes the key
//!   from [`crate::validate::validate_request`]'s result instead of parsing
//!   Via and CSeq again.
//! - [`TransactionLayer::send_request`] (new client transaction; or
//!   [`TransactionLayer::send_request_prepared`] when the caller states the
//!   method and branch it just wrote, skipping a parse),
//!   [`TransactionLayer::respond`] (a response from the TU through a server
//!   transaction), [`TransactionLayer::cancel`] (CANCEL for a client INVITE,
//!   §9.1), [`TransactionLayer::transport_error`] (§17.1.4, §17.2.4).
//! - [`TransactionLayer::poll_output`]: datagrams to send ([`Transmit`],
//!   with destination) and TU events ([`Event`]: timeout, transport error,
//!   terminated); [`TransactionLayer::poll_timeout`] (the earliest timer)
//!   and [`TransactionLayer::handle_timeout`].
//!
//! Modules and what they implement:
//! - [`key`]: transaction matching — RFC 3261 branch + sent-by + method for
//!   server transactions (ACK matches its INVITE, CANCEL has its own), the
//!   RFC 2543 fallback (§17.2.3), branch + CSeq method for client
//!   transactions (§17.1.3). Lookups hash the borrowed bytes; owned keys
//!   are stored once per transaction.
//! - [`timer`]: timers A–M with T1/T2/T4 (§17.1.1.2, §17.1.2.2, §17.2.1,
//!   §17.2.2, table 4 of §A; L/M from RFC 6026), in one binary heap keyed
//!   by (deadline, transaction, kind) with lazy cancellation by generation.
//! - `client_invite`: Figure 5 (+ RFC 6026 Accepted), ACK generation for
//!   non-2xx (§17.1.1.3), CANCEL construction (§9.1).
//! - `client_non_invite`: Figure 6.
//! - `server_invite`: Figure 7 (+ RFC 6026 Accepted), 100 Trying (§17.2.1).
//! - `server_non_invite`: Figure 8.
//! - `layer`: the table, dispatch and output queue.
//!
//! Reliable transports (anything but UDP) skip the retransmission timers
//! A, E, G and use zero for D, I, J, K (§17.1.1.2, §17.1.2.2, §17.2.1,
//! §17.2.2): the transaction terminates at once instead of arming them.
//!
//! Not here: choosing where to send (RFC 3263 DNS/failover, §18.2.2 response
//! addressing — the caller passes the destination / the address responses
//! go to), TLS/WebSocket/SCTP connection handling, the proxy's Timer C and
//! 2xx retransmission by the UAS core (§13.3.1.4), 2xx ACK generation by the
//! UAC core, PRACK (RFC 3262), Via `received`/`rport` stamping, URI
//! comparison (§19.1.4: the RFC 2543 fallback compares the Request-URI and
//! top Via byte-for-byte), merged-request detection (§8.2.2.2), RFC 4320
//! non-INVITE fixes, deferring a CANCEL until a provisional response
//! arrives ([`TransactionLayer::cancel`] refuses in Calling; the TU
//! retries), and limits on how many transactions a peer may open (the
//! caller's admission control). The 200 ms delayed 100 Trying is the only
//! "TU may answer first" policy offered.
//!
//! ```
//! use ferrovox_sip::transaction::{
//!     Config, Output, Peer, RequestOutcome, TransactionLayer, Transport,
//! };
//! use ferrovox_sip::Message;
//! use std::time::{Duration, Instant};
//!
//! let mut layer = TransactionLayer::new(Config::default());
//! let now = Instant::now();
//! let wire = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776\r\n\
//! Max-Forwards: 70\r\n\
//! To: <sip:bob@example.com>\r\n\
//! From: <sip:alice@example.com>;tag=1928\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 1 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n";
//! let msg = Message::parse(wire)?;
//! let src = Peer::new("192.0.2.1:5060".parse()?, Transport::Udp);
//! let RequestOutcome::New { id, .. } = layer.handle_request(&msg, src, now)? else {
//!     unreachable!()
//! };
//! // The TU answers 200; the layer queues it for sending.
//! let mut resp = Vec::new();
//! ferrovox_sip::build::ResponseBuilder::new(200, b"OK")
//!     .to_tag(b"x1")
//!     .write(&msg, &mut resp)?;
//! layer.respond(id, &resp, now)?;
//! while let Some(out) = layer.poll_output() {
//!     if let Output::Transmit(t) = out {
//!         assert_eq!(t.dest, src); // socket.send_to(t.bytes, t.dest.addr)
//!     }
//! }
//! // A retransmitted OPTIONS is absorbed and the 200 re-sent.
//! assert!(matches!(
//!     layer.handle_request(&msg, src, now + Duration::from_millis(500))?,
//!     RequestOutcome::Retransmission { .. }
//! ));
//! // Timer J (64*T1) ends the transaction.
//! let t = layer.poll_timeout().unwrap();
//! assert_eq!(t, now + Duration::from_secs(32));
//! layer.handle_timeout(t);
//! assert!(layer.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client_invite;
mod client_non_invite;
pub mod key;
mod layer;
mod server_invite;
mod server_non_invite;
pub mod timer;

pub use client_invite::{ClientInviteState, build_ack, build_cancel};
pub use client_non_invite::ClientNonInviteState;
pub use layer::TransactionLayer;
pub use server_invite::ServerInviteState;
pub use server_non_invite::ServerNonInviteState;
pub use timer::Timer;

use crate::error::ParseError;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// Transport a message travels on. Every transport but UDP is reliable
/// (§17: no retransmission timers, zero wait timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (unreliable).
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Transport {
    /// Whether the transport is reliable (§17.1.1.2: everything but UDP).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Classify a Via transport token (case-insensitive); `None` for an
    /// unknown one.
    pub fn from_via(token: &[u8]) -> Option<Transport> {
        const ALL: [(&[u8], Transport); 6] = [
            (b"UDP", Transport::Udp),
            (b"TCP", Transport::Tcp),
            (b"TLS", Transport::Tls),
            (b"SCTP", Transport::Sctp),
            (b"WS", Transport::Ws),
            (b"WSS", Transport::Wss),
        ];
        ALL.iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(token))
            .map(|&(_, t)| t)
    }
}

/// A remote address with the transport used to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// IP address and port.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
}

impl Peer {
    /// A peer.
    pub fn new(addr: SocketAddr, transport: Transport) -> Self {
        Peer { addr, transport }
    }
}

/// When a server INVITE transaction sends 100 Trying itself (§17.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryingPolicy {
    /// At once, when the INVITE arrives (what a proxy usually does).
    Immediate,
    /// After 200 ms unless the TU sent a provisional response by then.
    After200ms,
    /// Never: the TU sends its own provisional responses.
    Never,
}

/// Timer values and behaviour switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE
    /// responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// 100 Trying from server INVITE transactions (default immediate).
    pub trying: TryingPolicy,
    /// RFC 6026 Accepted state for INVITE transactions on 2xx (default on):
    /// the client keeps passing 2xx retransmissions to the TU for Timer M,
    /// the server absorbs INVITE retransmissions and forwards TU 2xx
    /// retransmissions for Timer L. Off: plain RFC 3261 (terminate on 2xx).
    pub rfc6026: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying: TryingPolicy::Immediate,
            rfc6026: true,
        }
    }
}

/// Identifies a transaction in a [`TransactionLayer`]. A stale id (of a
/// terminated transaction) never aliases a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Which state machine a transaction runs, and its state. Terminated
/// transactions are removed from the table (and reported with
/// [`Event::Terminated`]), so there is no Terminated variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// INVITE client transaction (Figure 5).
    ClientInvite(ClientInviteState),
    /// Non-INVITE client transaction (Figure 6).
    ClientNonInvite(ClientNonInviteState),
    /// INVITE server transaction (Figure 7).
    ServerInvite(ServerInviteState),
    /// Non-INVITE server transaction (Figure 8).
    ServerNonInvite(ServerNonInviteState),
}

impl TransactionState {
    /// Whether this is a client transaction.
    pub fn is_client(self) -> bool {
        matches!(
            self,
            TransactionState::ClientInvite(_) | TransactionState::ClientNonInvite(_)
        )
    }
}

/// What to do with a request from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new server transaction: hand the request to the TU. For a CANCEL,
    /// `cancels` is the INVITE server transaction it matches (§9.2), if any.
    New {
        /// The new transaction.
        id: TransactionId,
        /// For CANCEL: the INVITE server transaction being cancelled.
        cancels: Option<TransactionId>,
    },
    /// A retransmission, absorbed; the last response (if any) was queued
    /// again.
    Retransmission {
        /// The transaction it belongs to.
        id: TransactionId,
    },
    /// The ACK for a non-2xx final response, absorbed (Completed →
    /// Confirmed, or a retransmitted ACK in Confirmed).
    AckAbsorbed {
        /// The INVITE server transaction.
        id: TransactionId,
    },
    /// An ACK that belongs to no transaction it should be absorbed by: the
    /// ACK for a 2xx (its own branch, §17.1.1.3), one matching an INVITE in
    /// the RFC 6026 Accepted state, or a stray one. Hand it to the core.
    Stateless {
        /// The INVITE server transaction it matched, when it did (an
        /// RFC 2543 ACK for 2xx, RFC 6026 Accepted).
        matched: Option<TransactionId>,
    },
}

/// What to do with a response from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// Hand the response to the TU of this client transaction.
    Deliver {
        /// The client transaction.
        id: TransactionId,
        /// The TU's token given to [`TransactionLayer::send_request`].
        user: u64,
    },
    /// A retransmission absorbed by the transaction (for an INVITE non-2xx
    /// final response, the ACK was queued again).
    Absorbed {
        /// The client transaction.
        id: TransactionId,
    },
    /// No client transaction matches (§18.1.2). RFC 6026 changed what to do
    /// with it: with the Accepted state holding INVITE client transactions
    /// for 2xx retransmissions, a proxy no longer forwards such responses
    /// and should discard them; a UA core may still inspect them.
    Stray,
}

/// A datagram (or stream write) to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The transaction sending it.
    pub id: TransactionId,
    /// Where to send it.
    pub dest: Peer,
    /// The serialized message.
    pub bytes: &'a [u8],
}

/// Something the transaction user must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A transaction timed out: Timer B (INVITE client, the TU acts as if a
    /// 408 Request Timeout arrived, §8.1.3.1), Timer F (non-INVITE client,
    /// likewise) or Timer H (INVITE server, the ACK never came). Followed by
    /// [`Event::Terminated`].
    Timeout {
        /// The transaction.
        id: TransactionId,
        /// Its TU token.
        user: u64,
        /// Which timer fired.
        timer: Timer,
    },
    /// The caller reported a transport failure for this transaction
    /// ([`TransactionLayer::transport_error`]): for a client transaction the
    /// TU treats it as a 503 (§8.1.3.1). Followed by [`Event::Terminated`].
    TransportError {
        /// The transaction.
        id: TransactionId,
        /// Its TU token.
        user: u64,
    },
    /// The transaction reached Terminated and was removed from the table.
    /// Reported exactly once per transaction.
    Terminated {
        /// The transaction.
        id: TransactionId,
        /// Its TU token.
        user: u64,
    },
}

/// One item from [`TransactionLayer::poll_output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output<'a> {
    /// Send these bytes.
    Transmit(Transmit<'a>),
    /// Tell the TU.
    Event(Event),
}

/// Why the transaction layer refused an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The message (or a header the layer needs) is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A request was expected.
    #[error("expected a request")]
    NotARequest,
    /// A response was expected.
    #[error("expected a response")]
    NotAResponse,
    /// The response bytes do not start with a valid status line.
    #[error("malformed status line in response from the TU")]
    BadStatusLine,
    /// The CSeq method differs from the request method (§8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// An outgoing request's top Via lacks an RFC 3261 branch (§8.1.1.7:
    /// the client must generate one starting with `z9hG4bK`).
    #[error("outgoing request needs a top Via branch starting with z9hG4bK")]
    MissingBranch,
    /// ACK is not sent through a client transaction (§17.1.1.3: the ACK for
    /// a 2xx is sent by the core; for non-2xx the transaction builds it).
    #[error("ACK has no client transaction; send it directly")]
    AckNotATransaction,
    /// A transaction with the same key already exists.
    #[error("a transaction with the same key already exists")]
    Duplicate,
    /// The id names no live transaction (it terminated, or never existed).
    #[error("no such transaction")]
    UnknownTransaction,
    /// The operation is not allowed in the transaction's current state
    /// (e.g. a second final response, a CANCEL before any provisional
    /// response, §9.1).
    #[error("{action} is not allowed in state {state:?}")]
    InvalidState {
        /// The state the transaction is in.
        state: TransactionState,
        /// What was attempted.
        action: &'static str,
    },
    /// Writing a message failed (see [`crate::RewriteError`]).
    #[error("could not build message: {0}")]
    Build(#[from] crate::rewrite::RewriteError),
}
