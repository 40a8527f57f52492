//! ferrovox-registrar: a sans-IO SIP registrar (RFC 3261 §10) with digest
//! authentication (RFC 2617, RFC 7616, RFC 8760) and brute-force
//! throttling, for the proxy core to call from its routing policy.
//!
//! No sockets, clocks or async: every call takes `now: Instant` (binding
//! expiry, throttling) and, where nonces are made or checked,
//! `wall: SystemTime`. Stores are traits whose in-memory implementations
//! lock internally, so one [`Registrar`] (or its stores) can be shared by
//! several proxy cores through `Arc`.
//!
//! - [`Registrar::register`]: the response to a REGISTER ([`Reply`]).
//! - [`Registrar::authenticate`]: digest-authenticate any request
//!   (`proxy = true` for 407/Proxy-Authenticate), [`AuthResult`].
//! - [`Registrar::lookup`] / [`Registrar::targets`]: bindings of an AOR
//!   and where to send a request for each ([`Target`]).
//! - [`Registrar::options_reply`], [`Registrar::is_blocked`],
//!   [`Registrar::purge_expired`].
//! - [`Credentials`] / [`MemoryCredentials`] (password or HA1s),
//!   [`Locations`] / [`MemoryLocations`].
//! - [`digest`]: the digest arithmetic on its own (verifies the RFC 2617
//!   and RFC 7616 examples), [`nonce`]: stateless HMAC nonces and replay
//!   detection, [`throttle`]: per-source failure counting.
//!
//! ```
//! use ferrovox_registrar::{Credential, MemoryCredentials, MemoryLocations, Registrar, RegistrarConfig};
//! use ferrovox_sip::transaction::{Peer, Transport};
//! use ferrovox_sip::Message;
//! use std::sync::Arc;
//! use std::time::{Instant, SystemTime};
//!
//! let credentials = Arc::new(MemoryCredentials::new());
//! credentials.insert("alice", "example.com", Credential::password("secret"));
//! let registrar = Registrar::new(
//!     RegistrarConfig::new("example.com", [42; 32]),
//!     credentials,
//!     Arc::new(MemoryLocations::default()),
//! );
//! let wire = b"REGISTER sip:example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
//! Max-Forwards: 70\r\n\
//! To: <sip:alice@example.com>\r\n\
//! From: <sip:alice@example.com>;tag=a1\r\n\
//! Call-ID: reg-1\r\n\
//! CSeq: 1 REGISTER\r\n\
//! Contact: <sip:alice@192.0.2.10:5060>\r\n\
//! Content-Length: 0\r\n\r\n";
//! let msg = Message::parse(wire)?;
//! let source = Peer::new("192.0.2.10:5060".parse()?, Transport::Udp);
//! let reply = registrar.register(&msg, source, Instant::now(), SystemTime::now());
//! assert_eq!(reply.code, 401);
//! assert_eq!(reply.headers_named("WWW-Authenticate").count(), 2);
//! let mut out = Vec::new();
//! reply.write(&msg, b"reg-tag", &mut out)?;
//! assert!(out.starts_with(b"SIP/2.0 401 Unauthorized\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not done (see each module): several realms per registrar, RFC 5626
//! outbound and GRUU, `auth-int`, `userhash`, replay state shared between
//! nodes, persistence of bindings.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod credentials;
pub mod digest;
pub mod error;
pub mod location;
pub mod nonce;
pub mod registrar;
pub mod reply;
pub mod throttle;

pub use credentials::{Credential, Credentials, MemoryCredentials};
pub use digest::{Algorithm, Challenge, DigestResponse};
pub use error::{DigestError, LocationError};
pub use location::{
    Binding, BindingChange, ContactChange, Destination, Locations, MemoryLocations, Target,
    normalize_aor,
};
pub use registrar::{AuthResult, Registrar, RegistrarConfig};
pub use reply::Reply;
pub use throttle::ThrottleConfig;
