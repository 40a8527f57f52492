//! Rewrites an anchoring media relay applies to offers and answers, in
//! the way rtpengine's `offer`/`answer` commands do.
//!
//! - Addresses ([`rewrite_addresses`]): media-level `c=`, session-level
//!   `c=` (`replace: session-connection`) and the `o=` address
//!   (`replace: origin`, only when asked) — RFC 4566 §5.2, §5.7.
//! - Ports and RTCP ([`set_media_endpoint`]): the `m=` port and either an
//!   RFC 3605 `a=rtcp:<port> IN IP4 <addr>` or RFC 5761 `a=rtcp-mux`.
//! - ICE removal ([`remove_ice`], RFC 8839 §5) at both levels.
//! - SDES and transport ([`make_plain`], [`make_sdes`], [`remove_crypto`],
//!   [`add_crypto`]): RTP/AVP ↔ RTP/SAVP, RTP/AVPF ↔ RTP/SAVPF with the
//!   `a=crypto` lines (RFC 4568, RFC 3711).
//! - Direction ([`set_direction`], [`set_all_directions`]) and
//!   [`set_rtcp_mux`].
//!
//! Codec manipulation lives in [`crate::codec`], `o=` versioning in
//! [`crate::origin`]. Everything here edits the model in place; values
//! are typed (IP addresses, ports) or validated so the writer cannot be
//! made to emit extra lines.
//!
//! Not implemented: DTLS-SRTP setup/fingerprint generation, ICE candidate
//! generation for the relay's own address, SDES key generation (the
//! caller supplies key material).

use std::net::IpAddr;

use crate::attribute::{Attribute, Direction, Rtcp};
use crate::crypto::Crypto;
use crate::error::RewriteError;
use crate::lex::is_token;
use crate::model::{AddrType, Connection, MediaDescription, SessionDescription};

/// Which addresses [`rewrite_addresses`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRewrite {
    /// The relay's address.
    pub address: IpAddr,
    /// Replace the `o=` address (`replace: origin`).
    pub origin: bool,
    /// Replace the session-level `c=` (`replace: session-connection`).
    pub session_connection: bool,
    /// Replace media-level `c=` lines (normal relay operation).
    pub media_connections: bool,
}

impl AddressRewrite {
    /// Media-level connections only (rtpengine's default).
    pub fn media(address: IpAddr) -> Self {
        AddressRewrite {
            address,
            origin: false,
            session_connection: false,
            media_connections: true,
        }
    }

    /// Origin, session and media connections.
    pub fn all(address: IpAddr) -> Self {
        AddressRewrite {
            address,
            origin: true,
            session_connection: true,
            media_connections: true,
        }
    }
}

/// Replaces connection (and optionally origin) addresses.
///
/// - `origin`: the `o=` address and address type.
/// - `session_connection`: the session-level `c=`, if there is one.
/// - `media_connections`: each media section's `c=` lines become one
///   `c=IN IP4|IP6 <address>` (multicast suffixes dropped). A section
///   without its own `c=` gets one, unless it inherits the relay address
///   from a session-level `c=` replaced by this call.
pub fn rewrite_addresses(sdp: &mut SessionDescription, rw: &AddressRewrite) {
    if rw.origin {
        sdp.origin.addrtype = AddrType::of(rw.address);
        sdp.origin.address = rw.address.to_string();
    }
    let session_replaced = rw.session_connection && sdp.connection.is_some();
    if session_replaced {
        sdp.connection = Some(Connection::new(rw.address));
    }
    if rw.media_connections {
        for m in &mut sdp.media {
            if !m.connections.is_empty() || !session_replaced {
                m.connections = vec![Connection::new(rw.address)];
            }
        }
    }
}

/// How RTCP reaches the relay for a media section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpEndpoint {
    /// RTCP on its own port: `a=rtcp:<port> IN IP4|IP6 <addr>`, no
    /// `a=rtcp-mux`.
    Separate {
        /// RTCP port (normally RTP port + 1).
        port: u16,
    },
    /// RTCP multiplexed on the RTP port: `a=rtcp-mux`, no `a=rtcp`.
    Muxed,
    /// Leave `a=rtcp` / `a=rtcp-mux` as they are.
    Unchanged,
}

/// Sets the `m=` port and the RTCP attributes of a media section.
pub fn set_media_endpoint(
    m: &mut MediaDescription,
    address: IpAddr,
    port: u16,
    rtcp: RtcpEndpoint,
) {
    m.port = port;
    match rtcp {
        RtcpEndpoint::Separate { port } => {
            set_rtcp(m, port, Some(address));
            set_rtcp_mux(m, false);
        }
        RtcpEndpoint::Muxed => {
            remove_rtcp(m);
            set_rtcp_mux(m, true);
        }
        RtcpEndpoint::Unchanged => {}
    }
}

/// Sets `a=rtcp` (replacing the first one in place, dropping others, or
/// appending one).
pub fn set_rtcp(m: &mut MediaDescription, port: u16, address: Option<IpAddr>) {
    let rtcp = Attribute::Rtcp(Rtcp {
        port,
        address: address.map(Connection::new),
    });
    replace_or_append(m, |a| matches!(a, Attribute::Rtcp(_)), rtcp);
}

/// Removes every `a=rtcp` line.
pub fn remove_rtcp(m: &mut MediaDescription) {
    m.attributes.retain(|a| !matches!(a, Attribute::Rtcp(_)));
}

/// Adds `a=rtcp-mux` (if absent) or removes it.
pub fn set_rtcp_mux(m: &mut MediaDescription, on: bool) {
    if on {
        if !m.rtcp_mux() {
            m.attributes.push(Attribute::RtcpMux);
        }
    } else {
        m.attributes.retain(|a| !matches!(a, Attribute::RtcpMux));
    }
}

/// Replaces the first attribute matching `pred` in place, removes the
/// other matches, or appends `new` if none matched.
fn replace_or_append(m: &mut MediaDescription, pred: impl Fn(&Attribute) -> bool, new: Attribute) {
    let mut new = Some(new);
    let attrs = core::mem::take(&mut m.attributes);
    for a in attrs {
        if pred(&a) {
            if let Some(n) = new.take() {
                m.attributes.push(n);
            }
        } else {
            m.attributes.push(a);
        }
    }
    if let Some(n) = new {
        m.attributes.push(n);
    }
}

/// Removes ICE attributes ([`Attribute::is_ice`]) at session and media
/// level; returns how many lines were removed.
pub fn remove_ice(sdp: &mut SessionDescription) -> usize {
    let before = count_attrs(sdp);
    sdp.attributes.retain(|a| !a.is_ice());
    for m in &mut sdp.media {
        m.attributes.retain(|a| !a.is_ice());
    }
    before - count_attrs(sdp)
}

fn count_attrs(sdp: &SessionDescription) -> usize {
    sdp.attributes.len() + sdp.media.iter().map(|m| m.attributes.len()).sum::<usize>()
}

/// Removes every `a=crypto` line of a section and returns them.
pub fn remove_crypto(m: &mut MediaDescription) -> Vec<Crypto> {
    let mut removed = Vec::new();
    let attrs = core::mem::take(&mut m.attributes);
    for a in attrs {
        match a {
            Attribute::Crypto(c) => removed.push(c),
            other => m.attributes.push(other),
        }
    }
    removed
}

/// Adds an `a=crypto` line after the existing ones (or at the end).
/// Fails if the tag is taken or a field would not be a single token.
pub fn add_crypto(m: &mut MediaDescription, crypto: Crypto) -> Result<(), RewriteError> {
    if m.crypto().any(|c| c.tag == crypto.tag) {
        return Err(RewriteError::CryptoTagInUse(crypto.tag));
    }
    if crypto.tag > 999_999_999 {
        return Err(RewriteError::InvalidValue("crypto tag"));
    }
    if !is_token(&crypto.suite) {
        return Err(RewriteError::InvalidValue("crypto suite"));
    }
    let keys_ok = !crypto.keys.is_empty()
        && crypto.keys.iter().all(|k| {
            is_token(&k.method)
                && !k.method.contains(':')
                && !k.key_salt.is_empty()
                && k.key_salt
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        });
    if !keys_ok {
        return Err(RewriteError::InvalidValue("crypto key-params"));
    }
    if !crypto.session_params.iter().all(|p| is_token(p)) {
        return Err(RewriteError::InvalidValue("crypto session-params"));
    }
    let at = m
        .attributes
        .iter()
        .rposition(|a| matches!(a, Attribute::Crypto(_)))
        .map_or(m.attributes.len(), |i| i + 1);
    m.attributes.insert(at, Attribute::Crypto(crypto));
    Ok(())
}

/// The SRTP (RFC 3711) profile of a plain RTP one:
/// `RTP/AVP` → `RTP/SAVP`, `RTP/AVPF` → `RTP/SAVPF`.
pub fn secure_proto(proto: &str) -> Option<&'static str> {
    match proto {
        "RTP/AVP" => Some("RTP/SAVP"),
        "RTP/AVPF" => Some("RTP/SAVPF"),
        _ => None,
    }
}

/// The plain RTP profile of a secure one: `RTP/SAVP` and
/// `UDP/TLS/RTP/SAVP` → `RTP/AVP`, `RTP/SAVPF` and `UDP/TLS/RTP/SAVPF` →
/// `RTP/AVPF`.
pub fn plain_proto(proto: &str) -> Option<&'static str> {
    match proto {
        "RTP/SAVP" | "UDP/TLS/RTP/SAVP" => Some("RTP/AVP"),
        "RTP/SAVPF" | "UDP/TLS/RTP/SAVPF" => Some("RTP/AVPF"),
        _ => None,
    }
}

/// Turns a secure RTP section into plain RTP: swaps the protocol
/// ([`plain_proto`]), removes `a=crypto` lines (returned), and for a
/// DTLS protocol also `a=setup`, `a=fingerprint` and `a=tls-id`. A section
/// that is not secure RTP only loses its crypto lines.
pub fn make_plain(m: &mut MediaDescription) -> Vec<Crypto> {
    if let Some(p) = plain_proto(&m.proto) {
        if m.proto.starts_with("UDP/TLS/") {
            m.attributes.retain(|a| {
                !matches!(a, Attribute::Setup(_) | Attribute::Fingerprint(_))
                    && a.name() != "tls-id"
            });
        }
        m.proto = p.to_owned();
    }
    remove_crypto(m)
}

/// Turns a plain RTP section into SDES-SRTP: swaps the protocol
/// ([`secure_proto`]) and replaces the `a=crypto` lines with `cryptos`.
/// A section already on `RTP/SAVP(F)` keeps its protocol. Fails (leaving
/// the section unchanged) for non-RTP sections or invalid crypto lines.
pub fn make_sdes(m: &mut MediaDescription, cryptos: Vec<Crypto>) -> Result<(), RewriteError> {
    let proto = match (secure_proto(&m.proto), m.proto.as_str()) {
        (Some(p), _) => p,
        (None, "RTP/SAVP") => "RTP/SAVP",
        (None, "RTP/SAVPF") => "RTP/SAVPF",
        _ => return Err(RewriteError::NotRtp),
    };
    let mut work = m.clone();
    remove_crypto(&mut work);
    for c in cryptos {
        add_crypto(&mut work, c)?;
    }
    work.proto = proto.to_owned();
    *m = work;
    Ok(())
}

/// Sets a section's direction attribute (replacing the existing one in
/// place, or appending).
pub fn set_direction(m: &mut MediaDescription, direction: Direction) {
    replace_or_append(
        m,
        |a| matches!(a, Attribute::Direction(_)),
        Attribute::Direction(direction),
    );
}

/// Removes the session-level direction attribute and sets `direction` on
/// every media section.
pub fn set_all_directions(sdp: &mut SessionDescription, direction: Direction) {
    sdp.attributes
        .retain(|a| !matches!(a, Attribute::Direction(_)));
    for m in &mut sdp.media {
        set_direction(m, direction);
    }
}
