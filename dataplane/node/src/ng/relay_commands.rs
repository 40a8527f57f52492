//! rtpengine's ng media commands on top of the [`ferrovox_media::Relay`] (sans-IO).
//!
//! [`RelayCommands`] owns the relay and maps ng call-ids and tags to relay calls, legs and
//! streams. Sockets are not opened here: every allocated port pair goes through a
//! [`MediaPorts`] implementation (the node's socket set, or [`NoSockets`] in tests), and
//! the clock comes in as `now`.
//!
//! Implemented:
//! - `ping`, `offer`, `answer`, `delete`, `query`, `list` (`limit`, default 32).
//! - `offer`: one relay call per call-id with two legs; the offering leg is named by
//!   `from-tag`, the other leg gets its tag from the `answer`'s `to-tag`. One stream pair
//!   per RTP `m=` line, connected index to index. An offer for a known call-id and a known
//!   tag is a re-offer (either side may re-offer): ports are kept, the offerer's addresses
//!   are updated, new `m=` lines get new ports.
//! - The SDP sent on advertises the node's interface on every media section (`c=`), the
//!   allocated ports (`m=` and `a=rtcp`, or `a=rtcp-mux`), and its `o=` version is managed
//!   by an [`OriginTracker`] per call. The session-level `c=` and the `o=` address are
//!   only replaced when `replace` asks for it (media-level `c=` lines win over them).
//! - Flags: `replace` (`origin`, `session-connection`), `ICE` (`remove`; the default also
//!   removes ICE, since candidates would bypass the relay; `force` and the like are refused:
//!   the node has no ICE agent), `rtcp-mux` (`offer`, `accept`, `demux`, `reject`),
//!   `flags: strict-source`, `direction` (accepted: the node has one interface, so every
//!   logical direction maps to it), `via-branch` (accepted; forking is not tracked, the
//!   latest answer's `to-tag` wins).
//! - SRTP with SDES keys (RFC 3711, RFC 4568), per side, on the relay's
//!   [`ferrovox_media::srtp`]: an endpoint whose `m=` line is `RTP/SAVP` or `RTP/SAVPF`
//!   speaks SRTP with the node. `transport-protocol` (`RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`,
//!   `RTP/SAVPF`) sets the protocol of the offer sent on; without it the offered protocol
//!   is kept, so an SDES offer stays SDES on the other side, re-keyed. Toward an SRTP side
//!   the node offers one `a=crypto` line per suite (tags 1, 2, ...:
//!   `AES_CM_128_HMAC_SHA1_80`, `AES_CM_128_HMAC_SHA1_32`), each with a fresh random key;
//!   an SDES offerer is answered on its first usable line (same tag and suite) with the
//!   node's own key. The answer sent back always has the offerer's protocol. Keys are kept
//!   across re-offers, so descriptions (and `o=` versions) stay stable. `SDES` flags:
//!   `off` (also `no`, `disable`: no keys offered, so an SRTP target is an error),
//!   `no-<suite>` and `only-<suite>` filter the offered suites; others are ignored.
//!   Usable lines have one `inline` key, no MKI and no session parameters (`KDR=0`
//!   aside). SRTP packets that fail authentication or replay checks are dropped and show up
//!   in the `errors` of `query`.
//! - Codecs and transcoding ([`super::codecs`]): rtpengine's `codec` dictionary
//!   (`strip`, `mask`, `offer`, `transcode`) and its flag forms shape the offer sent
//!   on; at `answer`, a shared codec is relayed and a codec the offerer lacks is
//!   transcoded per direction in the relay core, with the answer to the offerer
//!   advertising its own codec, telephone-event and ptime.
//! - `delete` removes the whole call at once (no `delete-delay`) and replies with its final
//!   statistics, in the form of `query`.
//! - Relay events: a media timeout deletes the call, a final timeout forgets it
//!   ([`RelayCommands::handle_event`]).
//!
//! Not implemented (an error reply names the missing feature rather than pretending):
//! DTLS-SRTP (`UDP/TLS/RTP/SAVP(F)` in either direction), ICE termination; SDES session
//! parameters (`UNENCRYPTED_SRTCP` etc.), MKI, AES-256/GCM/F8 suites, rtpengine's
//! `SDES-pad`, `SDES-static`, `SDES-nonew` and the like (ignored). Not
//! implemented and ignored: non-RTP media (`m=image` T.38 etc.) is rejected with port 0 in
//! the SDP sent on; media recording; per-branch forking;
//! multiple interfaces.

use super::bencode::Value;
use super::codecs::{self, CodecFlags, OfferedCodecs, Plan};
use super::{Commands, error_reply};
use ferrovox_media::ports::PortPair;
use ferrovox_media::{
    CallId, Event, LegId, Relay, RelayError, SrtpKey, SrtpKeys, SrtpSuite, StreamId, StreamOptions,
};
use ferrovox_sdp::attribute::{Attribute, Crypto};
use ferrovox_sdp::origin::{OriginTracker, Side};
use ferrovox_sdp::rewrite::{
    AddressRewrite, RtcpEndpoint, add_crypto, remove_crypto, remove_ice, rewrite_addresses,
    set_media_endpoint, set_rtcp_mux,
};
use ferrovox_sdp::{MediaDescription, SessionDescription};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// `list` returns at most this many call-ids unless the request sets `limit`.
const DEFAULT_LIST_LIMIT: i64 = 32;

/// Opens and closes the sockets of allocated port pairs.
pub trait MediaPorts {
    /// Opens the RTP and RTCP sockets of `pair` on the node's interface.
    fn open(&mut self, pair: PortPair) -> std::io::Result<()>;
    /// Closes them (a pair that is not open is ignored).
    fn close(&mut self, pair: PortPair);
}

/// Opens nothing: for driving the commands without sockets.
#[derive(Debug, Default)]
pub struct NoSockets;

impl MediaPorts for NoSockets {
    fn open(&mut self, _pair: PortPair) -> std::io::Result<()> {
        Ok(())
    }
    fn close(&mut self, _pair: PortPair) {}
}

/// Why a command failed; the `Display` text is the `error-reason` of the reply.
#[derive(Debug, thiserror::Error)]
pub enum NgError {
    #[error("Missing {0}")]
    Missing(&'static str),
    #[error("Invalid {0}: {1}")]
    Invalid(&'static str, String),
    #[error("Unknown call-id")]
    UnknownCall,
    #[error("Unknown tag '{0}'")]
    UnknownTag(String),
    #[error("Failed to parse SDP: {0}")]
    Sdp(#[from] ferrovox_sdp::ParseError),
    #[error("Unsupported transport protocol '{0}': DTLS-SRTP is not implemented on this node")]
    Dtls(String),
    #[error(
        "No usable SDES crypto suite on media {0}: this node supports AES_CM_128_HMAC_SHA1_80 \
         and AES_CM_128_HMAC_SHA1_32 with one inline key, no MKI and no session parameters"
    )]
    NoCrypto(usize),
    #[error("Media {0} is to be SRTP but SDES offers no crypto suite (SDES off or all filtered)")]
    NoSdes(usize),
    #[error("The answer's a=crypto on media {0} matches no crypto line offered")]
    CryptoMismatch(usize),
    #[error("Could not write a=crypto: {0}")]
    CryptoLine(#[from] ferrovox_sdp::RewriteError),
    #[error("ICE '{0}' is not supported: this node has no ICE agent (use ICE=remove)")]
    Ice(String),
    #[error("Answer has {answer} media sections but the offer had {offer}")]
    MediaCount { answer: usize, offer: usize },
    #[error("Ran out of ports: {needed} RTP/RTCP port pairs needed, {available} free")]
    NoPorts { needed: usize, available: usize },
    #[error("Failed to open media port {port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("Relay error: {0}")]
    Relay(#[from] RelayError),
    #[error("Could not rewrite codecs: {0}")]
    CodecRewrite(String),
}

/// One endpoint of an ng call.
#[derive(Debug)]
struct NgLeg {
    /// From-tag or to-tag; `None` for the answering side until the answer names it.
    tag: Option<String>,
    created: SystemTime,
    leg: LegId,
    /// The stream of each `m=` line, by index; `None` for sections that are not relayed.
    streams: Vec<Option<StreamId>>,
    /// Whether the endpoint uses rtcp-mux toward the node, by `m=` index.
    mux: Vec<bool>,
    /// `m=` media type and protocol, by index (for `query`).
    media: Vec<(String, String)>,
    /// SDES keys toward and from the endpoint, by `m=` index.
    sdes: Vec<Sdes>,
}

impl NgLeg {
    fn stream(&self, index: usize) -> Option<StreamId> {
        self.streams.get(index).copied().flatten()
    }

    fn sdes_mut(&mut self, index: usize) -> &mut Sdes {
        if self.sdes.len() <= index {
            self.sdes.resize(index + 1, Sdes::default());
        }
        &mut self.sdes[index]
    }

    fn set(&mut self, index: usize, stream: StreamId, mux: bool, m: &MediaDescription) {
        if self.streams.len() <= index {
            self.streams.resize(index + 1, None);
            self.mux.resize(index + 1, false);
            self.media.resize(index + 1, (String::new(), String::new()));
        }
        self.streams[index] = Some(stream);
        self.mux[index] = mux;
        self.media[index] = (m.media.clone(), m.proto.clone());
    }
}

/// SDES state of one endpoint's media section (RFC 4568): the endpoint speaks
/// SRTP with the node when its `m=` protocol is `RTP/SAVP` or `RTP/SAVPF`.
#[derive(Debug, Clone, Default)]
struct Sdes {
    secure: bool,
    /// The node's `a=crypto` lines toward the endpoint (tag, key): every
    /// suite offered, or the one answered.
    local: Vec<(u32, SrtpKey)>,
    /// The key the node protects with toward the endpoint: the one the
    /// endpoint chose, or until it answers, the first offered.
    outbound: Option<SrtpKey>,
    /// The endpoint's own `a=crypto` (tag, key): what it protects with.
    remote: Option<(u32, SrtpKey)>,
}

impl Sdes {
    /// The node's key for `suite`: the one already handed to the endpoint
    /// (descriptions stay stable across re-offers), else a fresh one.
    fn key_for(&self, suite: SrtpSuite) -> SrtpKey {
        self.local
            .iter()
            .map(|(_, k)| k)
            .chain(&self.outbound)
            .find(|k| k.suite() == suite)
            .cloned()
            .unwrap_or_else(|| SrtpKey::random(suite))
    }

    /// The endpoint is the offerer: answer its chosen line with our key.
    fn answer_offerer(&mut self, tag: u32, theirs: SrtpKey) {
        let ours = self.key_for(theirs.suite());
        self.secure = true;
        self.local = vec![(tag, ours.clone())];
        self.outbound = Some(ours);
        self.remote = Some((tag, theirs));
    }

    /// The endpoint is offered `suites` (tags 1, 2, ...); its own key stays
    /// until its answer.
    fn offer_suites(&mut self, suites: &[SrtpSuite]) {
        let local: Vec<(u32, SrtpKey)> = (1..)
            .zip(suites)
            .map(|(tag, suite)| (tag, self.key_for(*suite)))
            .collect();
        let chosen = self
            .outbound
            .as_ref()
            .and_then(|o| local.iter().find(|(_, k)| k == o))
            .or(local.first())
            .map(|(_, k)| k.clone());
        self.secure = true;
        self.local = local;
        self.outbound = chosen;
    }

    /// The endpoint answered an offer with `crypto`: the line must name one
    /// of ours by tag and suite.
    fn accept_answer(&mut self, index: usize, crypto: &[Crypto]) -> Result<(), NgError> {
        let (tag, ours, theirs) = crypto
            .iter()
            .find_map(|c| {
                let theirs = usable_key(c)?;
                let (tag, ours) = self
                    .local
                    .iter()
                    .find(|(tag, k)| *tag == c.tag && k.suite() == theirs.suite())?;
                Some((*tag, ours.clone(), theirs))
            })
            .ok_or(NgError::CryptoMismatch(index))?;
        self.secure = true;
        self.local = vec![(tag, ours.clone())];
        self.outbound = Some(ours);
        self.remote = Some((tag, theirs));
        Ok(())
    }

    /// What the relay needs: `None` for plain RTP.
    fn keys(&self) -> Option<SrtpKeys> {
        self.secure.then(|| SrtpKeys {
            inbound: self.remote.as_ref().map(|(_, k)| k.clone()),
            outbound: self.outbound.clone(),
        })
    }

    /// Writes the node's `a=crypto` lines into a section going to the endpoint.
    fn write(&self, m: &mut MediaDescription) -> Result<(), NgError> {
        remove_crypto(m);
        if self.secure {
            for (tag, key) in &self.local {
                add_crypto(m, Crypto::inline(*tag, key.suite().name(), &key.inline()))?;
            }
        }
        Ok(())
    }
}

/// The key of an `a=crypto` line this node can use: a supported suite, one
/// `inline` key of the right length, no MKI, no session parameters (or the
/// default `KDR=0`).
fn usable_key(c: &Crypto) -> Option<SrtpKey> {
    let suite = SrtpSuite::from_name(&c.suite)?;
    let [key] = c.keys.as_slice() else {
        return None;
    };
    if !key.method.eq_ignore_ascii_case("inline")
        || key.mki.is_some()
        || c.session_params.iter().any(|p| p != "KDR=0")
    {
        return None;
    }
    SrtpKey::from_inline(suite, &key.key_salt).ok()
}

/// The first usable `a=crypto` line of an SDES section (tag, key).
fn chosen_crypto(m: &MediaDescription) -> Option<(u32, SrtpKey)> {
    m.crypto().find_map(|c| usable_key(c).map(|k| (c.tag, k)))
}

/// Whether a protocol is SRTP keyed by SDES (`RTP/SAVP`, `RTP/SAVPF`).
fn is_sdes_proto(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/SAVP") || proto.eq_ignore_ascii_case("RTP/SAVPF")
}

/// Whether a protocol is DTLS-SRTP (`UDP/TLS/RTP/SAVP(F)` and the like).
fn is_dtls_proto(proto: &str) -> bool {
    let upper = proto.to_ascii_uppercase();
    upper.contains("TLS") || upper.starts_with("DCCP")
}

#[derive(Debug)]
struct NgCall {
    id: CallId,
    created: SystemTime,
    last_signal: SystemTime,
    /// Always two legs: index 0 is the original offerer.
    legs: [NgLeg; 2],
    origins: OriginTracker,
    /// Port pairs whose sockets are open, closed when the call goes.
    opened: Vec<PortPair>,
    /// What the last offer offered, by `m=` index (for the answer's relay or
    /// transcode decision).
    offered: Vec<Option<OfferedCodecs>>,
}

impl NgCall {
    fn leg_index(&self, tag: &str) -> Option<usize> {
        self.legs
            .iter()
            .position(|leg| leg.tag.as_deref() == Some(tag))
    }
}

/// What the node should publish after a relay event.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// Bus event type, e.g. `call.media_timeout`.
    pub event_type: &'static str,
    pub data: serde_json::Value,
}

/// The ng commands of a media node: `ping` plus the media commands over one relay.
pub struct RelayCommands<P: MediaPorts> {
    relay: Relay,
    interface: IpAddr,
    ports: P,
    calls: BTreeMap<String, NgCall>,
    by_id: BTreeMap<CallId, String>,
}

impl<P: MediaPorts> RelayCommands<P> {
    /// Media is anchored on `interface`; `ports` opens the sockets of allocated pairs.
    pub fn new(relay: Relay, interface: IpAddr, ports: P) -> Self {
        Self {
            relay,
            interface,
            ports,
            calls: BTreeMap::new(),
            by_id: BTreeMap::new(),
        }
    }

    /// The relay, for the packet path and timers.
    pub fn relay_mut(&mut self) -> &mut Relay {
        &mut self.relay
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    pub fn ports(&self) -> &P {
        &self.ports
    }

    pub fn ports_mut(&mut self) -> &mut P {
        &mut self.ports
    }

    /// Number of calls known to the ng layer.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Applies a relay event to the call map (a media-timed-out call is deleted, a
    /// final-timed-out one forgotten) and says what to publish.
    pub fn handle_event(&mut self, event: Event) -> Option<CallEvent> {
        match event {
            Event::MediaTimeout { call, .. } => {
                let call_id = self.by_id.get(&call)?.clone();
                tracing::info!(call_id, "media timeout: deleting the call");
                self.remove_call(&call_id);
                Some(CallEvent {
                    event_type: "call.media_timeout",
                    data: serde_json::json!({ "call_id": call_id }),
                })
            }
            Event::FinalTimeout { call } => {
                let call_id = self.by_id.get(&call)?.clone();
                tracing::info!(call_id, "final timeout: call deleted by the relay");
                self.remove_call(&call_id);
                Some(CallEvent {
                    event_type: "call.final_timeout",
                    data: serde_json::json!({ "call_id": call_id }),
                })
            }
            Event::OneWaySilence { call, stream, .. } => {
                let call_id = self.by_id.get(&call)?;
                let port = self.relay.local_ports(stream).ok().map(|p| p.rtp);
                tracing::info!(call_id, ?port, "one-way audio: no RTP from this endpoint");
                None
            }
            Event::Dtmf { call, stream, dtmf } => {
                let call_id = self.by_id.get(&call)?.clone();
                let tag = self.calls.get(&call_id).and_then(|c| {
                    c.legs
                        .iter()
                        .find(|l| l.streams.contains(&Some(stream)))
                        .and_then(|l| l.tag.clone())
                });
                tracing::debug!(call_id, ?tag, event = dtmf.event, "DTMF event");
                Some(CallEvent {
                    event_type: "call.dtmf",
                    data: serde_json::json!({
                        "call_id": call_id,
                        "source_tag": tag,
                        "event": dtmf.event,
                        "digit": dtmf.digit().map(String::from),
                        "duration": dtmf.duration,
                        "volume": dtmf.volume,
                    }),
                })
            }
        }
    }

    /// Forgets a call, deletes it from the relay (if still there) and closes its sockets.
    fn remove_call(&mut self, call_id: &str) -> Option<NgCall> {
        let call = self.calls.remove(call_id)?;
        self.by_id.remove(&call.id);
        // After a final timeout the relay has deleted the call already.
        let _ = self.relay.delete_call(call.id);
        for pair in &call.opened {
            self.ports.close(*pair);
        }
        Some(call)
    }

    fn offer(&mut self, message: &Value, now: Instant) -> Result<Value, NgError> {
        let call_id = required(message, "call-id")?;
        let from_tag = required(message, "from-tag")?;
        let sdp = message.get("sdp").ok_or(NgError::Missing("SDP"))?;
        let Value::Bytes(sdp) = sdp else {
            return Err(NgError::Invalid("sdp", "not a string".into()));
        };
        let flags = Flags::parse(message)?;
        let codec_flags = CodecFlags::parse(message)?;
        let received = SessionDescription::parse(sdp)?;
        check_transport(&received)?;

        let relayed: Vec<Option<StreamOptions>> = received
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| relayable(m).then(|| stream_options(&received, i, m, &flags)))
            .collect();
        let offer_mux: Vec<bool> = received
            .media
            .iter()
            .map(|m| m.rtcp_mux() && !flags.mux_reject)
            .collect();
        // SDES, checked before anything changes: the offerer's key for each SRTP
        // section, and suites to offer wherever the section sent on is SRTP.
        let mut offerer_crypto = Vec::with_capacity(received.media.len());
        for (i, m) in received.media.iter().enumerate() {
            let crypto = if relayed[i].is_some() && is_sdes_proto(&m.proto) {
                Some(chosen_crypto(m).ok_or(NgError::NoCrypto(i))?)
            } else {
                None
            };
            offerer_crypto.push(crypto);
            if relayed[i].is_some()
                && is_sdes_proto(flags.target_proto(&m.proto))
                && flags.offered_suites().is_empty()
            {
                return Err(NgError::NoSdes(i));
            }
        }
        let suites = flags.offered_suites();

        let existing = self.calls.contains_key(call_id);
        let (offerer, answerer) = if existing {
            let call = self.calls.get(call_id).ok_or(NgError::UnknownCall)?;
            let offerer = call
                .leg_index(from_tag)
                .ok_or_else(|| NgError::UnknownTag(from_tag.to_owned()))?;
            (offerer, 1 - offerer)
        } else {
            (0, 1)
        };

        // The SDP sent on, with the codec requests applied (checked before anything
        // changes).
        let mut out = received.clone();
        anchor(&mut out, self.interface, &flags);
        let mut offered = Vec::with_capacity(out.media.len());
        for (i, m) in out.media.iter_mut().enumerate() {
            offered.push(match relayed[i] {
                Some(_) => Some(codecs::apply_offer(m, i, offerer, &codec_flags)?),
                None => None,
            });
        }

        // Ports needed: a pair per leg for each relayed section that has no streams yet.
        let new_sections = relayed
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                o.is_some()
                    && self
                        .calls
                        .get(call_id)
                        .is_none_or(|c| c.legs[offerer].stream(*i).is_none())
            })
            .count();
        let available = self.relay.ports_available();
        if new_sections * 2 > available {
            return Err(NgError::NoPorts {
                needed: new_sections * 2,
                available,
            });
        }

        if !existing {
            let id = self.relay.create_call(now);
            let legs = [self.relay.add_leg(id)?, self.relay.add_leg(id)?];
            let stamp = SystemTime::now();
            let leg = |tag: Option<String>, leg| NgLeg {
                tag,
                created: stamp,
                leg,
                streams: Vec::new(),
                mux: Vec::new(),
                media: Vec::new(),
                sdes: Vec::new(),
            };
            self.calls.insert(
                call_id.to_owned(),
                NgCall {
                    id,
                    created: stamp,
                    last_signal: stamp,
                    legs: [leg(Some(from_tag.to_owned()), legs[0]), leg(None, legs[1])],
                    origins: OriginTracker::new(),
                    opened: Vec::new(),
                    offered: Vec::new(),
                },
            );
            self.by_id.insert(id, call_id.to_owned());
        }

        if let Err(error) = self.apply_offer(call_id, offerer, &received, &relayed, &offer_mux, now)
        {
            if !existing {
                self.remove_call(call_id);
            }
            return Err(error);
        }

        let call = self.calls.get_mut(call_id).ok_or(NgError::UnknownCall)?;
        call.last_signal = SystemTime::now();
        // An in-dialogue offer names the other side already.
        if let Some(to_tag) = optional(message, "to-tag")?
            && call.legs[answerer].tag.is_none()
            && to_tag != from_tag
            && !to_tag.is_empty()
        {
            call.legs[answerer].tag = Some(to_tag.to_owned());
        }
        call.offered = offered;
        for (i, m) in out.media.iter_mut().enumerate() {
            match call.legs[answerer].stream(i) {
                Some(stream) if relayed[i].is_some() => {
                    let pair = self.relay.local_ports(stream)?;
                    set_media_endpoint(
                        m,
                        self.interface,
                        pair.rtp,
                        RtcpEndpoint::Separate { port: pair.rtcp },
                    );
                    let offered = received.media[i].rtcp_mux();
                    set_rtcp_mux(m, (offered && !flags.mux_demux) || flags.mux_offer);

                    // The offerer's side: its key decrypts what it sends; ours, in the
                    // answer it gets, encrypts what it receives.
                    let offerer_sdes = call.legs[offerer].sdes_mut(i);
                    match &offerer_crypto[i] {
                        Some((tag, theirs)) => offerer_sdes.answer_offerer(*tag, theirs.clone()),
                        None => *offerer_sdes = Sdes::default(),
                    }
                    if let Some(ours) = call.legs[offerer].stream(i) {
                        let keys = call.legs[offerer].sdes_mut(i).keys();
                        self.relay.set_srtp(ours, keys.as_ref())?;
                    }
                    // The answerer's side: SRTP if the protocol sent on says so.
                    let target = flags.target_proto(&received.media[i].proto).to_owned();
                    let answerer_sdes = call.legs[answerer].sdes_mut(i);
                    if is_sdes_proto(&target) {
                        answerer_sdes.offer_suites(&suites);
                    } else {
                        *answerer_sdes = Sdes::default();
                    }
                    answerer_sdes.write(m)?;
                    let keys = answerer_sdes.keys();
                    self.relay.set_srtp(stream, keys.as_ref())?;
                    m.proto.clone_from(&target);
                    if let Some(media) = call.legs[answerer].media.get_mut(i) {
                        media.1 = target;
                    }
                }
                _ => m.port = 0,
            }
        }
        call.origins.stamp(side_of(answerer), &mut out);
        tracing::debug!(call_id, from_tag, reoffer = existing, "offer");
        Ok(ok_with_sdp(&out))
    }

    /// Creates or updates the streams of an offer; binds the sockets of new ones.
    fn apply_offer(
        &mut self,
        call_id: &str,
        offerer: usize,
        received: &SessionDescription,
        relayed: &[Option<StreamOptions>],
        offer_mux: &[bool],
        now: Instant,
    ) -> Result<(), NgError> {
        let answerer = 1 - offerer;
        let call = self.calls.get_mut(call_id).ok_or(NgError::UnknownCall)?;
        for (i, options) in relayed.iter().enumerate() {
            let Some(options) = options else { continue };
            let m = &received.media[i];
            let mux = offer_mux[i];
            match (call.legs[offerer].stream(i), call.legs[answerer].stream(i)) {
                (Some(ours), Some(_)) => {
                    self.relay
                        .set_remote(ours, options.remote_rtp, options.remote_rtcp)?;
                    self.relay.set_rtcp_mux(ours, mux)?;
                    self.relay
                        .set_telephone_event(ours, options.telephone_event_pt)?;
                    call.legs[offerer].set(i, ours, mux, m);
                }
                _ => {
                    let ours = add_bound_stream(
                        &mut self.relay,
                        &mut self.ports,
                        call.legs[offerer].leg,
                        StreamOptions {
                            rtcp_mux: mux,
                            ..*options
                        },
                        now,
                        &mut call.opened,
                    )?;
                    let theirs = add_bound_stream(
                        &mut self.relay,
                        &mut self.ports,
                        call.legs[answerer].leg,
                        StreamOptions {
                            clock_rate: options.clock_rate,
                            ..StreamOptions::default()
                        },
                        now,
                        &mut call.opened,
                    )?;
                    self.relay.connect(ours, theirs)?;
                    call.legs[offerer].set(i, ours, mux, m);
                    call.legs[answerer].set(i, theirs, false, m);
                }
            }
        }
        Ok(())
    }

    fn answer(&mut self, message: &Value) -> Result<Value, NgError> {
        let call_id = required(message, "call-id")?;
        let from_tag = required(message, "from-tag")?;
        let to_tag = required(message, "to-tag")?;
        let sdp = message.get("sdp").ok_or(NgError::Missing("SDP"))?;
        let Value::Bytes(sdp) = sdp else {
            return Err(NgError::Invalid("sdp", "not a string".into()));
        };
        let flags = Flags::parse(message)?;
        let call = self.calls.get_mut(call_id).ok_or(NgError::UnknownCall)?;
        let offerer = call
            .leg_index(from_tag)
            .ok_or_else(|| NgError::UnknownTag(from_tag.to_owned()))?;
        let answerer = 1 - offerer;
        if to_tag == from_tag {
            return Err(NgError::Invalid(
                "to-tag",
                "the answering side needs its own tag".into(),
            ));
        }
        let received = SessionDescription::parse(sdp)?;
        check_transport(&received)?;
        let offered = call.legs[offerer].streams.len();
        if received.media.len() > offered.max(call.legs[answerer].streams.len()) {
            return Err(NgError::MediaCount {
                answer: received.media.len(),
                offer: offered,
            });
        }
        if call.legs[answerer].tag.as_deref() != Some(to_tag) {
            if let Some(old) = &call.legs[answerer].tag {
                tracing::info!(
                    call_id,
                    old,
                    to_tag,
                    "answer from another branch replaces the to-tag"
                );
            }
            call.legs[answerer].tag = Some(to_tag.to_owned());
        }

        // An SRTP answer must take one of the node's crypto lines; checked before
        // anything changes.
        for (i, m) in received.media.iter().enumerate() {
            if relayable(m) && is_sdes_proto(&m.proto) && call.legs[answerer].stream(i).is_some() {
                let crypto: Vec<Crypto> = m.crypto().cloned().collect();
                let mut trial = call.legs[answerer].sdes_mut(i).clone();
                trial.accept_answer(i, &crypto)?;
            }
        }

        let mut out = received.clone();
        anchor(&mut out, self.interface, &flags);
        for (i, m) in received.media.iter().enumerate() {
            let (Some(theirs), Some(ours)) =
                (call.legs[answerer].stream(i), call.legs[offerer].stream(i))
            else {
                out.media[i].port = 0;
                continue;
            };
            let accepted = relayable(m);
            let options = stream_options(&received, i, m, &flags);
            let mux = accepted && m.rtcp_mux();
            if accepted {
                self.relay
                    .set_remote(theirs, options.remote_rtp, options.remote_rtcp)?;
            } else {
                self.relay.set_remote(theirs, None, None)?;
            }
            self.relay.set_rtcp_mux(theirs, mux)?;
            self.relay
                .set_telephone_event(theirs, options.telephone_event_pt)?;
            if accepted {
                // The answerer's key, and which of ours it took.
                let answerer_sdes = call.legs[answerer].sdes_mut(i);
                if is_sdes_proto(&m.proto) {
                    let crypto: Vec<Crypto> = m.crypto().cloned().collect();
                    answerer_sdes.accept_answer(i, &crypto)?;
                } else {
                    *answerer_sdes = Sdes::default();
                }
                let keys = answerer_sdes.keys();
                self.relay.set_srtp(theirs, keys.as_ref())?;
            }
            call.legs[answerer].set(i, theirs, mux, m);
            if !accepted {
                self.relay.set_transcode(ours, None)?;
                self.relay.set_transcode(theirs, None)?;
                out.media[i].port = 0;
                continue;
            }
            // Relay when the sides share the codec, transcode when they do not.
            let plan = match call.offered.get(i).cloned().flatten() {
                Some(offered) if offered.offerer == offerer => {
                    codecs::apply_answer(&offered, m, &mut out.media[i])?
                }
                _ => Plan::Relay,
            };
            match plan {
                Plan::Relay => {
                    self.relay.set_transcode(ours, None)?;
                    self.relay.set_transcode(theirs, None)?;
                }
                Plan::Transcode {
                    from_offerer,
                    from_answerer,
                } => {
                    tracing::debug!(call_id, media = i, ?from_offerer, "transcoding");
                    self.relay.set_transcode(ours, Some(from_offerer))?;
                    self.relay.set_transcode(theirs, Some(from_answerer))?;
                }
            }
            // Toward the offerer: the protocol it offered, with the key the node
            // answered it with when that is SRTP.
            if let Some((_, proto)) = call.legs[offerer].media.get(i) {
                out.media[i].proto.clone_from(proto);
            }
            call.legs[offerer].sdes_mut(i).write(&mut out.media[i])?;
            let pair = self.relay.local_ports(ours)?;
            let rtcp = if call.legs[offerer].mux.get(i).copied().unwrap_or(false) {
                RtcpEndpoint::Muxed
            } else {
                RtcpEndpoint::Separate { port: pair.rtcp }
            };
            set_media_endpoint(&mut out.media[i], self.interface, pair.rtp, rtcp);
        }
        call.origins.stamp(side_of(offerer), &mut out);
        call.last_signal = SystemTime::now();
        tracing::debug!(call_id, from_tag, to_tag, "answer");
        Ok(ok_with_sdp(&out))
    }

    fn delete(&mut self, message: &Value) -> Result<Value, NgError> {
        let call_id = required(message, "call-id")?;
        let call = self.calls.get(call_id).ok_or(NgError::UnknownCall)?;
        for key in ["from-tag", "to-tag"] {
            if let Some(tag) = optional(message, key)?
                && call.leg_index(tag).is_none()
            {
                return Err(NgError::UnknownTag(tag.to_owned()));
            }
        }
        let reply = self.call_stats(call);
        self.remove_call(call_id);
        tracing::debug!(call_id, "delete");
        Ok(reply)
    }

    fn query(&self, message: &Value) -> Result<Value, NgError> {
        let call_id = required(message, "call-id")?;
        let call = self.calls.get(call_id).ok_or(NgError::UnknownCall)?;
        Ok(self.call_stats(call))
    }

    fn list(&self, message: &Value) -> Result<Value, NgError> {
        let limit = list_limit(message)?;
        let calls = self.calls.keys().take(limit).map(Value::bytes).collect();
        Ok(Value::dict([
            ("result", Value::bytes("ok")),
            ("calls", Value::List(calls)),
        ]))
    }

    /// rtpengine's `query` shape: `created`, `last signal`, per-tag `medias` with their
    /// streams' counters, and `totals` for RTP and RTCP.
    fn call_stats(&self, call: &NgCall) -> Value {
        let mut totals = [Totals::default(), Totals::default()];
        let mut tags = Vec::new();
        for (index, leg) in call.legs.iter().enumerate() {
            let mut medias = Vec::new();
            for (i, stream) in leg.streams.iter().enumerate() {
                let Some(stats) = stream.and_then(|s| self.relay.stats(s).ok()) else {
                    continue;
                };
                let errors = stats.dropped.total();
                totals[0].add(stats.rtp_packets, stats.rtp_bytes, errors);
                totals[1].add(stats.rtcp_packets, stats.rtcp_bytes, 0);
                let endpoint = match stats.source {
                    Some(addr) => endpoint(addr),
                    None => Value::dict([]),
                };
                let (kind, protocol) = leg.media.get(i).cloned().unwrap_or_default();
                let stream_value = |port: u16, packets: u64, bytes: u64, errors: u64| {
                    Value::dict([
                        ("local port", Value::Integer(i64::from(port))),
                        ("endpoint", endpoint.clone()),
                        ("stats", counters(packets, bytes, errors)),
                    ])
                };
                medias.push(Value::dict([
                    ("index", Value::Integer(i as i64 + 1)),
                    ("type", Value::bytes(kind)),
                    ("protocol", Value::bytes(protocol)),
                    (
                        "streams",
                        Value::List(vec![
                            stream_value(
                                stats.local.rtp,
                                stats.rtp_packets,
                                stats.rtp_bytes,
                                errors,
                            ),
                            stream_value(stats.local.rtcp, stats.rtcp_packets, stats.rtcp_bytes, 0),
                        ]),
                    ),
                ]));
            }
            let Some(tag) = &leg.tag else { continue };
            let other = call.legs[1 - index].tag.clone().unwrap_or_default();
            tags.push((
                tag.as_bytes().to_vec(),
                Value::dict([
                    ("tag", Value::bytes(tag)),
                    ("created", Value::Integer(unix_seconds(leg.created))),
                    ("in dialogue with", Value::bytes(other)),
                    ("medias", Value::List(medias)),
                ]),
            ));
        }
        Value::dict([
            ("result", Value::bytes("ok")),
            ("created", Value::Integer(unix_seconds(call.created))),
            (
                "last signal",
                Value::Integer(unix_seconds(call.last_signal)),
            ),
            ("tags", Value::Dict(tags.into_iter().collect())),
            (
                "totals",
                Value::dict([("RTP", totals[0].value()), ("RTCP", totals[1].value())]),
            ),
        ])
    }
}

impl<P: MediaPorts> Commands for RelayCommands<P> {
    fn execute(&mut self, command: &str, message: &Value, now: Instant) -> Value {
        let result = match command {
            "ping" => return Value::dict([("result", Value::bytes("pong"))]),
            "offer" => self.offer(message, now),
            "answer" => self.answer(message),
            "delete" => self.delete(message),
            "query" => self.query(message),
            "list" => self.list(message),
            other => return error_reply(format!("Unrecognized command '{other}'")),
        };
        result.unwrap_or_else(|error| {
            tracing::debug!(command, %error, "ng command failed");
            error_reply(error.to_string())
        })
    }
}

/// How many Call-IDs `list` returns: its `limit` (integer or decimal string) or the default.
pub fn list_limit(message: &Value) -> Result<usize, NgError> {
    let limit = match message.get("limit") {
        None => DEFAULT_LIST_LIMIT,
        Some(Value::Integer(n)) => *n,
        Some(value) => value
            .as_str()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| NgError::Invalid("limit", "not a number".into()))?,
    };
    Ok(usize::try_from(limit.max(0)).unwrap_or(usize::MAX))
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    packets: u64,
    bytes: u64,
    errors: u64,
}

impl Totals {
    fn add(&mut self, packets: u64, bytes: u64, errors: u64) {
        self.packets += packets;
        self.bytes += bytes;
        self.errors += errors;
    }

    fn value(self) -> Value {
        counters(self.packets, self.bytes, self.errors)
    }
}

fn counters(packets: u64, bytes: u64, errors: u64) -> Value {
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    Value::dict([
        ("packets", int(packets)),
        ("bytes", int(bytes)),
        ("errors", int(errors)),
    ])
}

fn endpoint(addr: SocketAddr) -> Value {
    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
    Value::dict([
        ("family", Value::bytes(family)),
        ("address", Value::bytes(addr.ip().to_string())),
        ("port", Value::Integer(i64::from(addr.port()))),
    ])
}

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The OriginTracker side of the leg a description is sent to.
fn side_of(leg: usize) -> Side {
    if leg == 0 { Side::Caller } else { Side::Callee }
}

fn ok_with_sdp(sdp: &SessionDescription) -> Value {
    Value::dict([
        ("result", Value::bytes("ok")),
        ("sdp", Value::Bytes(sdp.to_bytes())),
    ])
}

fn required<'a>(message: &'a Value, key: &'static str) -> Result<&'a str, NgError> {
    match optional(message, key)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(NgError::Missing(key)),
    }
}

fn optional<'a>(message: &'a Value, key: &'static str) -> Result<Option<&'a str>, NgError> {
    match message.get(key) {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .map(Some)
            .ok_or_else(|| NgError::Invalid(key, "not a UTF-8 string".into())),
    }
}

/// A list of strings, or one string (rtpengine accepts both for list flags).
fn strings(message: &Value, key: &'static str) -> Result<Vec<String>, NgError> {
    match message.get(key) {
        None => Ok(Vec::new()),
        Some(Value::List(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| NgError::Invalid(key, "list items must be strings".into()))
            })
            .collect(),
        Some(value) => value
            .as_str()
            .map(|s| vec![s.to_owned()])
            .ok_or_else(|| NgError::Invalid(key, "expected a string or a list".into())),
    }
}

/// The flags of an `offer` or `answer` this node acts on.
#[derive(Debug, Default)]
struct Flags {
    replace_origin: bool,
    replace_session_connection: bool,
    mux_offer: bool,
    mux_demux: bool,
    mux_reject: bool,
    strict_source: bool,
    /// `transport-protocol`, if given: the `m=` protocol of the SDP sent on.
    transport: Option<&'static str>,
    /// `SDES: off` (also `no`, `disable`): never offer SDES keys.
    sdes_off: bool,
    /// `SDES: no-<suite>`: suites left out of offers.
    sdes_excluded: Vec<SrtpSuite>,
    /// `SDES: only-<suite>`: if any, the only suites offered.
    sdes_only: Vec<SrtpSuite>,
}

impl Flags {
    fn parse(message: &Value) -> Result<Self, NgError> {
        let mut flags = Flags::default();
        for item in strings(message, "replace")? {
            match item.to_ascii_lowercase().as_str() {
                "origin" => flags.replace_origin = true,
                "session-connection" | "session connection" => {
                    flags.replace_session_connection = true;
                }
                other => tracing::debug!(replace = other, "replace item ignored"),
            }
        }
        if let Some(ice) = optional(message, "ICE")? {
            match ice.to_ascii_lowercase().as_str() {
                "remove" | "default" | "" => {}
                other => return Err(NgError::Ice(other.to_owned())),
            }
        }
        for item in strings(message, "rtcp-mux")? {
            match item.to_ascii_lowercase().as_str() {
                "offer" => flags.mux_offer = true,
                "demux" => flags.mux_demux = true,
                "reject" => flags.mux_reject = true,
                // Accepting an offered rtcp-mux is what the node does anyway.
                "accept" | "require" => {}
                other => return Err(NgError::Invalid("rtcp-mux", other.to_owned())),
            }
        }
        for item in strings(message, "SDES")? {
            let lower = item.to_ascii_lowercase();
            if matches!(lower.as_str(), "off" | "no" | "disable" | "disabled") {
                flags.sdes_off = true;
            } else if let Some(suite) = lower.strip_prefix("no-") {
                flags.sdes_excluded.extend(SrtpSuite::from_name(suite));
            } else if let Some(suite) = lower.strip_prefix("only-") {
                match SrtpSuite::from_name(suite) {
                    Some(suite) => flags.sdes_only.push(suite),
                    None => return Err(NgError::Invalid("SDES", item)),
                }
            } else {
                tracing::debug!(sdes = item, "SDES flag ignored");
            }
        }
        // One interface: every logical direction is anchored on it.
        strings(message, "direction")?;
        optional(message, "via-branch")?;
        for item in strings(message, "flags")? {
            if item.eq_ignore_ascii_case("strict-source") {
                flags.strict_source = true;
            }
        }
        if let Some(target) = optional(message, "transport-protocol")? {
            let known = ["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"];
            flags.transport = Some(
                known
                    .into_iter()
                    .find(|p| p.eq_ignore_ascii_case(target))
                    .ok_or_else(|| {
                        if is_dtls_proto(target) {
                            NgError::Dtls(target.to_owned())
                        } else {
                            NgError::Invalid("transport-protocol", target.to_owned())
                        }
                    })?,
            );
        }
        Ok(flags)
    }

    /// The suites offered to an SDES endpoint, in the node's order of preference.
    fn offered_suites(&self) -> Vec<SrtpSuite> {
        if self.sdes_off {
            return Vec::new();
        }
        SrtpSuite::ALL
            .into_iter()
            .filter(|s| !self.sdes_excluded.contains(s))
            .filter(|s| self.sdes_only.is_empty() || self.sdes_only.contains(s))
            .collect()
    }

    /// The `m=` protocol of a section sent on: `transport-protocol`, or the one
    /// received (an SDES offer stays SDES, re-keyed by the node).
    fn target_proto<'a>(&self, received: &'a str) -> &'a str {
        self.transport.unwrap_or(received)
    }
}

/// Refuses what would need DTLS-SRTP (SDES-keyed SRTP is relayed).
fn check_transport(sdp: &SessionDescription) -> Result<(), NgError> {
    match sdp
        .media
        .iter()
        .find(|m| !m.is_rejected() && is_dtls_proto(&m.proto))
    {
        Some(m) => Err(NgError::Dtls(m.proto.clone())),
        None => Ok(()),
    }
}

/// Whether the node relays a section: plain RTP with a port.
fn relayable(m: &MediaDescription) -> bool {
    m.is_rtp() && !m.is_rejected()
}

/// Pairs tried for one stream before an offer fails: a pair another process holds is
/// skipped (and tried again only after every other free pair), as rtpengine does.
const BIND_ATTEMPTS: usize = 16;

/// Adds a stream whose port pair is bound first: the relay's next free pair is opened and,
/// when another process holds one of its ports, deferred for the next one.
#[allow(clippy::too_many_arguments)]
fn add_bound_stream<P: MediaPorts>(
    relay: &mut Relay,
    ports: &mut P,
    leg: LegId,
    options: StreamOptions,
    now: Instant,
    opened: &mut Vec<PortPair>,
) -> Result<StreamId, NgError> {
    let mut refused = None;
    for _ in 0..BIND_ATTEMPTS {
        let Some(pair) = relay.next_ports() else {
            break;
        };
        match ports.open(pair) {
            Ok(()) => {
                let stream = match relay.add_stream(leg, options, now) {
                    Ok(stream) => stream,
                    Err(error) => {
                        ports.close(pair);
                        return Err(error.into());
                    }
                };
                opened.push(pair);
                return Ok(stream);
            }
            Err(source) => {
                tracing::warn!(rtp = pair.rtp, error = %source, "media port pair busy, trying the next one");
                relay.defer_next_ports();
                refused = Some(NgError::Bind {
                    port: pair.rtp,
                    source,
                });
            }
        }
    }
    Err(refused.unwrap_or(NgError::NoPorts {
        needed: 1,
        available: relay.ports_available(),
    }))
}

/// The relay options of `m=` line `index` from its endpoint's SDP.
fn stream_options(
    sdp: &SessionDescription,
    index: usize,
    m: &MediaDescription,
    flags: &Flags,
) -> StreamOptions {
    let ip = sdp
        .media_connection(index)
        .and_then(|c| c.ip())
        .filter(|ip| !ip.is_unspecified());
    let remote_rtp = ip
        .filter(|_| m.port != 0)
        .map(|ip| SocketAddr::new(ip, m.port));
    let remote_rtcp = m.attributes.iter().find_map(|a| match a {
        Attribute::Rtcp(rtcp) => {
            let ip = rtcp.address.as_ref().and_then(|c| c.ip()).or(ip)?;
            Some(SocketAddr::new(ip, rtcp.port))
        }
        _ => None,
    });
    let codecs = m.codecs();
    let clock_rate = codecs
        .iter()
        .find(|c| !c.is_auxiliary())
        .map_or(8000, |c| c.clock_rate);
    let telephone_event_pt = codecs
        .iter()
        .find(|c| c.encoding.eq_ignore_ascii_case("telephone-event"))
        .map(|c| c.payload_type);
    StreamOptions {
        remote_rtp,
        remote_rtcp: remote_rtcp.filter(|_| remote_rtp.is_some()),
        rtcp_mux: m.rtcp_mux(),
        strict_source: flags.strict_source,
        clock_rate,
        telephone_event_pt,
    }
}

/// Anchors a description on the node: addresses, no ICE, no SDES keys.
fn anchor(sdp: &mut SessionDescription, interface: IpAddr, flags: &Flags) {
    rewrite_addresses(
        sdp,
        &AddressRewrite {
            address: interface,
            origin: flags.replace_origin,
            session_connection: flags.replace_session_connection,
            media_connections: true,
        },
    );
    remove_ice(sdp);
    for m in &mut sdp.media {
        remove_crypto(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ng::srtp_oracle::SrtpOracle;
    use ferrovox_media::RelayConfig;

    fn commands(first: u16, last: u16) -> RelayCommands<NoSockets> {
        let relay = Relay::new(RelayConfig {
            port_min: first,
            port_max: last,
            ..RelayConfig::default()
        })
        .unwrap();
        RelayCommands::new(relay, "203.0.113.7".parse().unwrap(), NoSockets)
    }

    const CALLER: &str = "v=0\r\no=alice 100 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n\
        t=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    const CALLEE: &str = "v=0\r\no=bob 200 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\n\
        t=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";

    fn message(entries: &[(&str, &str)]) -> Value {
        Value::dict(entries.iter().map(|(k, v)| (*k, Value::bytes(v))))
    }

    fn sdp_of(reply: &Value) -> SessionDescription {
        assert_eq!(
            reply.get("result").and_then(Value::as_str),
            Some("ok"),
            "{reply:?}"
        );
        let Some(Value::Bytes(sdp)) = reply.get("sdp") else {
            panic!("no sdp in {reply:?}")
        };
        SessionDescription::parse(sdp).unwrap()
    }

    fn reason(reply: &Value) -> String {
        assert_eq!(reply.get("result").and_then(Value::as_str), Some("error"));
        reply
            .get("error-reason")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    /// Ports another process holds: opening a pair that includes one fails.
    struct BusyPorts {
        busy: Vec<u16>,
        open: Vec<PortPair>,
    }

    impl MediaPorts for BusyPorts {
        fn open(&mut self, pair: PortPair) -> std::io::Result<()> {
            if self.busy.contains(&pair.rtp) || self.busy.contains(&pair.rtcp) {
                return Err(std::io::ErrorKind::AddrInUse.into());
            }
            self.open.push(pair);
            Ok(())
        }
        fn close(&mut self, pair: PortPair) {
            self.open.retain(|p| *p != pair);
        }
    }

    #[test]
    fn an_offer_skips_port_pairs_another_process_holds() {
        let relay = Relay::new(RelayConfig {
            port_min: 40000,
            port_max: 40009,
            ..RelayConfig::default()
        })
        .unwrap();
        let ports = BusyPorts {
            busy: vec![40000, 40003],
            open: Vec::new(),
        };
        let mut c = RelayCommands::new(relay, "203.0.113.7".parse().unwrap(), ports);
        let now = Instant::now();
        let offer = c.execute(
            "offer",
            &message(&[("call-id", "c1"), ("from-tag", "a"), ("sdp", CALLER)]),
            now,
        );
        let to_callee = sdp_of(&offer);
        let callee_side = to_callee.media[0].port;
        assert!(![40000, 40002].contains(&callee_side), "{callee_side}");
        let opened: Vec<u16> = c.ports().open.iter().map(|p| p.rtp).collect();
        assert_eq!(opened, vec![40004, 40006], "busy pairs skipped");

        // Only busy pairs left (40000, 40002) and one free (40008): a second call needs two.
        let second = c.execute(
            "offer",
            &message(&[("call-id", "c2"), ("from-tag", "a"), ("sdp", CALLER)]),
            now,
        );
        assert!(reason(&second).contains("port"), "{second:?}");
        // Deleting the first call frees its pairs for the next one.
        c.execute("delete", &message(&[("call-id", "c1")]), now);
        assert!(c.ports().open.len() <= 1, "{:?}", c.ports().open);
        let third = c.execute(
            "offer",
            &message(&[("call-id", "c3"), ("from-tag", "a"), ("sdp", CALLER)]),
            now,
        );
        sdp_of(&third);
    }

    #[test]
    fn offer_answer_anchor_both_sides_and_the_relay_forwards_between_them() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let offer = c.execute(
            "offer",
            &message(&[("call-id", "c1"), ("from-tag", "a"), ("sdp", CALLER)]),
            now,
        );
        let to_callee = sdp_of(&offer);
        assert_eq!(to_callee.media[0].connections[0].address, "203.0.113.7");
        let callee_side = to_callee.media[0].port;
        assert!((40000..=40099).contains(&callee_side));
        assert_eq!(
            to_callee.origin.address, "10.0.0.1",
            "o= kept without replace"
        );

        let answer = c.execute(
            "answer",
            &message(&[
                ("call-id", "c1"),
                ("from-tag", "a"),
                ("to-tag", "b"),
                ("sdp", CALLEE),
            ]),
            now,
        );
        let to_caller = sdp_of(&answer);
        let caller_side = to_caller.media[0].port;
        assert_ne!(caller_side, callee_side);

        // RTP from the caller, received on the caller-side port, goes to the callee.
        let mut packet = [0u8; 32];
        packet[0] = 0x80;
        let action = c.relay_mut().handle_packet(
            caller_side,
            "10.0.0.1:4000".parse().unwrap(),
            &mut packet,
            now,
        );
        assert_eq!(
            action,
            ferrovox_media::Action::Forward {
                from_port: callee_side,
                to: "10.0.0.2:6000".parse().unwrap(),
                len: 32
            }
        );
        let query = c.execute("query", &message(&[("call-id", "c1")]), now);
        let tags = query.get("tags").unwrap();
        assert!(
            tags.get("a").is_some() && tags.get("b").is_some(),
            "{query:?}"
        );
    }

    #[test]
    fn versions_bump_only_when_the_description_changes() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let offer = message(&[("call-id", "c1"), ("from-tag", "a"), ("sdp", CALLER)]);
        let first = sdp_of(&c.execute("offer", &offer, now));
        let again = sdp_of(&c.execute("offer", &offer, now));
        assert_eq!(first.origin.session_version, again.origin.session_version);
        assert_eq!(
            first.media[0].port, again.media[0].port,
            "re-offer keeps ports"
        );
        let moved = CALLER
            .replace("m=audio 4000", "m=audio 4010")
            .replace("0 101", "0 8 101");
        let changed = sdp_of(&c.execute(
            "offer",
            &message(&[("call-id", "c1"), ("from-tag", "a"), ("sdp", &moved)]),
            now,
        ));
        assert_eq!(
            changed.origin.session_version,
            first.origin.session_version + 1
        );
        assert_eq!(changed.media[0].port, first.media[0].port);
    }

    #[test]
    fn errors_are_rtpengine_style() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let e = |c: &mut RelayCommands<NoSockets>, cmd, m: &[(&str, &str)]| {
            reason(&c.execute(cmd, &message(m), now))
        };
        assert_eq!(
            e(&mut c, "offer", &[("call-id", "x"), ("from-tag", "a")]),
            "Missing SDP"
        );
        assert_eq!(
            e(&mut c, "offer", &[("from-tag", "a"), ("sdp", CALLER)]),
            "Missing call-id"
        );
        assert!(
            e(
                &mut c,
                "offer",
                &[("call-id", "x"), ("from-tag", "a"), ("sdp", "hello")]
            )
            .starts_with("Failed to parse SDP: ")
        );
        assert_eq!(
            e(&mut c, "query", &[("call-id", "nope")]),
            "Unknown call-id"
        );
        let dtls = CALLER.replace("RTP/AVP", "UDP/TLS/RTP/SAVPF");
        assert!(
            e(
                &mut c,
                "offer",
                &[("call-id", "x"), ("from-tag", "a"), ("sdp", &dtls)]
            )
            .contains("DTLS-SRTP is not implemented")
        );
        assert!(
            e(
                &mut c,
                "offer",
                &[
                    ("call-id", "x"),
                    ("from-tag", "a"),
                    ("sdp", CALLER),
                    ("transport-protocol", "UDP/TLS/RTP/SAVP")
                ]
            )
            .contains("DTLS-SRTP is not implemented")
        );
        let savp_without_keys = CALLER.replace("RTP/AVP", "RTP/SAVP");
        assert!(
            e(
                &mut c,
                "offer",
                &[
                    ("call-id", "x"),
                    ("from-tag", "a"),
                    ("sdp", &savp_without_keys)
                ]
            )
            .starts_with("No usable SDES crypto suite on media 0")
        );
        let mut sdes_off = message(&[
            ("call-id", "x"),
            ("from-tag", "a"),
            ("sdp", CALLER),
            ("transport-protocol", "RTP/SAVP"),
        ]);
        with(
            &mut sdes_off,
            "SDES",
            Value::List(vec![Value::bytes("off")]),
        );
        assert!(reason(&c.execute("offer", &sdes_off, now)).contains("SDES offers no crypto"));
        assert_eq!(c.call_count(), 0, "failed offers leave nothing behind");
        assert_eq!(c.relay().ports_available(), 50);
    }

    fn with(message: &mut Value, key: &str, value: Value) {
        if let Value::Dict(map) = message {
            map.insert(key.as_bytes().to_vec(), value);
        }
    }

    /// `(tag, suite, key||salt)` of each `a=crypto` line of the first media section.
    fn cryptos(sdp: &SessionDescription) -> Vec<(u32, String, Vec<u8>)> {
        sdp.media[0]
            .crypto()
            .map(|c| (c.tag, c.suite.clone(), c.keys[0].key_salt_bytes().unwrap()))
            .collect()
    }

    const KEY_A: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB";
    const KEY_A32: &str = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh";
    const KEY_B: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC";

    fn relayed(c: &mut RelayCommands<NoSockets>, port: u16, src: &str, packet: &[u8]) -> Vec<u8> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + ferrovox_media::SRTP_MAX_OVERHEAD, 0);
        let action = c.relay_mut().handle_datagram(
            port,
            src.parse().unwrap(),
            &mut buf,
            packet.len(),
            Instant::now(),
        );
        match action {
            ferrovox_media::Action::Forward { len, .. } => buf[..len].to_vec(),
            other => panic!("not forwarded: {other:?}"),
        }
    }

    fn rtp_packet(seq: u16, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend((0..160).map(|i: u16| (i ^ seq) as u8));
        p
    }

    #[test]
    fn transport_protocol_savp_offers_sdes_to_the_callee_and_bridges_it_to_plain_rtp() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let mut offer = message(&[("call-id", "s"), ("from-tag", "a"), ("sdp", CALLER)]);
        with(&mut offer, "transport-protocol", Value::bytes("RTP/SAVP"));
        let to_callee = sdp_of(&c.execute("offer", &offer, now));
        assert_eq!(to_callee.media[0].proto, "RTP/SAVP");
        let offered = cryptos(&to_callee);
        let suites: Vec<_> = offered.iter().map(|(t, s, _)| (*t, s.as_str())).collect();
        assert_eq!(
            suites,
            [
                (1, "AES_CM_128_HMAC_SHA1_80"),
                (2, "AES_CM_128_HMAC_SHA1_32")
            ]
        );
        assert!(offered.iter().all(|(_, _, k)| k.len() == 30));
        assert_ne!(offered[0].2, offered[1].2, "a fresh key per suite");

        // The callee takes the 32-bit suite.
        let callee = CALLEE.replace("RTP/AVP", "RTP/SAVP")
            + &format!("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B}\r\n");
        let mut answer = message(&[
            ("call-id", "s"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", &callee),
        ]);
        let to_caller = sdp_of(&c.execute("answer", &answer, now));
        assert_eq!(
            to_caller.media[0].proto, "RTP/AVP",
            "the caller keeps plain RTP"
        );
        assert!(cryptos(&to_caller).is_empty());
        let (caller_side, callee_side) = (to_caller.media[0].port, to_callee.media[0].port);

        // Caller RTP reaches the callee as SRTP under the key the offer announced.
        let toward_callee = SrtpOracle::new(&offered[1].2, 4);
        for seq in 1..5 {
            let sent = rtp_packet(seq, 0x1111);
            let out = relayed(&mut c, caller_side, "10.0.0.1:4000", &sent);
            assert_eq!(out.len(), sent.len() + 4);
            assert_eq!(toward_callee.unprotect_rtp(&out, 0), Some(sent));
        }
        // The callee's SRTP reaches the caller as RTP.
        let b_key = ferrovox_sdp::attribute::Crypto::inline(2, "x", KEY_B).keys[0]
            .key_salt_bytes()
            .unwrap();
        let from_callee = SrtpOracle::new(&b_key, 4);
        let sent = rtp_packet(9, 0x2222);
        let out = relayed(
            &mut c,
            callee_side,
            "10.0.0.2:6000",
            &from_callee.protect_rtp(&sent, 0),
        );
        assert_eq!(out, sent);

        // A repeated answer changes nothing toward the caller.
        with(&mut answer, "sdp", Value::bytes(&callee));
        let again = sdp_of(&c.execute("answer", &answer, now));
        assert_eq!(
            again.origin.session_version,
            to_caller.origin.session_version
        );
    }

    #[test]
    fn an_sdes_offer_is_rekeyed_on_both_sides_and_filters_apply() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let caller = CALLER.replace("RTP/AVP", "RTP/SAVP")
            + &format!(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_A}\r\n\
                 a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_A32}\r\n"
            );
        let mut offer = message(&[("call-id", "r"), ("from-tag", "a"), ("sdp", &caller)]);
        with(
            &mut offer,
            "SDES",
            Value::List(vec![Value::bytes("no-AES_CM_128_HMAC_SHA1_32")]),
        );
        let to_callee = sdp_of(&c.execute("offer", &offer, now));
        assert_eq!(to_callee.media[0].proto, "RTP/SAVP", "SRTP stays SRTP");
        let offered = cryptos(&to_callee);
        assert_eq!(offered.len(), 1, "{to_callee}");
        assert_eq!(offered[0].1, "AES_CM_128_HMAC_SHA1_80");
        let a_key = Crypto::inline(1, "x", KEY_A).keys[0]
            .key_salt_bytes()
            .unwrap();
        assert_ne!(offered[0].2, a_key, "re-keyed, not the caller's key");

        // A re-offer keeps the node's keys: the description does not change.
        let again = sdp_of(&c.execute("offer", &offer, now));
        assert_eq!(cryptos(&again), offered);
        assert_eq!(
            again.origin.session_version,
            to_callee.origin.session_version
        );

        let callee = CALLEE.replace("RTP/AVP", "RTP/SAVP")
            + &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B}\r\n");
        let answer = message(&[
            ("call-id", "r"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", &callee),
        ]);
        let to_caller = sdp_of(&c.execute("answer", &answer, now));
        assert_eq!(to_caller.media[0].proto, "RTP/SAVP");
        let answered = cryptos(&to_caller);
        assert_eq!(answered.len(), 1);
        assert_eq!(
            (answered[0].0, answered[0].1.as_str()),
            (1, "AES_CM_128_HMAC_SHA1_80")
        );
        assert_ne!(answered[0].2, a_key, "the node answers with its own key");

        // SRTP -> SRTP: decrypted with the caller's key, re-encrypted with the
        // key offered to the callee.
        let from_caller = SrtpOracle::new(&a_key, 10);
        let toward_callee = SrtpOracle::new(&offered[0].2, 10);
        let sent = rtp_packet(77, 0xa);
        let out = relayed(
            &mut c,
            to_caller.media[0].port,
            "10.0.0.1:4000",
            &from_caller.protect_rtp(&sent, 0),
        );
        assert_eq!(toward_callee.unprotect_rtp(&out, 0), Some(sent));

        // An answer naming a crypto line that was never offered is refused.
        let wrong = CALLEE.replace("RTP/AVP", "RTP/SAVP")
            + &format!("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B}\r\n");
        let mut bad = answer.clone();
        with(&mut bad, "sdp", Value::bytes(&wrong));
        assert!(reason(&c.execute("answer", &bad, now)).contains("matches no crypto line"));
    }

    #[test]
    fn transport_protocol_avp_strips_sdes_toward_the_callee_only() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let caller = CALLER.replace("RTP/AVP", "RTP/SAVP")
            + &format!("a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:{KEY_A32}\r\n");
        let mut offer = message(&[("call-id", "p"), ("from-tag", "a"), ("sdp", &caller)]);
        with(&mut offer, "transport-protocol", Value::bytes("RTP/AVP"));
        let to_callee = sdp_of(&c.execute("offer", &offer, now));
        assert_eq!(to_callee.media[0].proto, "RTP/AVP");
        assert!(cryptos(&to_callee).is_empty());
        let answer = message(&[
            ("call-id", "p"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", CALLEE),
        ]);
        let to_caller = sdp_of(&c.execute("answer", &answer, now));
        assert_eq!(to_caller.media[0].proto, "RTP/SAVP");
        let answered = cryptos(&to_caller);
        assert_eq!(
            (answered[0].0, answered[0].1.as_str()),
            (5, "AES_CM_128_HMAC_SHA1_32")
        );

        // Forged SRTP from the caller is dropped and shows up as errors in `query`.
        let mut buf = SrtpOracle::new(&[9u8; 30], 4).protect_rtp(&rtp_packet(1, 7), 0);
        let len = buf.len();
        buf.resize(len + 14, 0);
        let action = c.relay_mut().handle_datagram(
            to_caller.media[0].port,
            "10.0.0.1:4000".parse().unwrap(),
            &mut buf,
            len,
            now,
        );
        assert_eq!(
            action,
            ferrovox_media::Action::Drop(ferrovox_media::DropReason::SrtpUnauthenticated)
        );
        let query = c.execute("query", &message(&[("call-id", "p")]), now);
        let errors = query
            .get("totals")
            .and_then(|t| t.get("RTP"))
            .and_then(|t| t.get("errors"));
        assert_eq!(errors, Some(&Value::Integer(1)), "{query:?}");
    }

    #[test]
    fn rtcp_mux_demux_offers_plain_rtcp_and_accepts_mux_toward_the_offerer() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let muxed = CALLER.to_owned() + "a=rtcp-mux\r\n";
        let mut offer = message(&[("call-id", "m"), ("from-tag", "a"), ("sdp", &muxed)]);
        if let Value::Dict(map) = &mut offer {
            map.insert(
                b"rtcp-mux".to_vec(),
                Value::List(vec![Value::bytes("demux")]),
            );
        }
        let to_callee = sdp_of(&c.execute("offer", &offer, now)).to_string();
        assert!(!to_callee.contains("a=rtcp-mux"), "{to_callee}");
        assert!(to_callee.contains("a=rtcp:"), "{to_callee}");
        let answer = message(&[
            ("call-id", "m"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", CALLEE),
        ]);
        let to_caller = sdp_of(&c.execute("answer", &answer, now)).to_string();
        assert!(to_caller.contains("a=rtcp-mux"), "{to_caller}");
        assert!(!to_caller.contains("a=rtcp:"), "{to_caller}");
        let same_tags = message(&[
            ("call-id", "m"),
            ("from-tag", "a"),
            ("to-tag", "a"),
            ("sdp", CALLEE),
        ]);
        assert!(reason(&c.execute("answer", &same_tags, now)).contains("to-tag"));
    }

    #[test]
    fn the_callee_can_reoffer_in_dialogue_and_ports_stay() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        let offer = message(&[("call-id", "r"), ("from-tag", "a"), ("sdp", CALLER)]);
        let callee_facing = sdp_of(&c.execute("offer", &offer, now)).media[0].port;
        let answer = message(&[
            ("call-id", "r"),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", CALLEE),
        ]);
        let to_caller = sdp_of(&c.execute("answer", &answer, now));
        let caller_facing = to_caller.media[0].port;

        // re-INVITE from the callee: its From tag is b, the description goes to a.
        let moved = CALLEE.replace("m=audio 6000", "m=audio 6002");
        let reoffer = message(&[
            ("call-id", "r"),
            ("from-tag", "b"),
            ("to-tag", "a"),
            ("sdp", &moved),
        ]);
        let to_caller_again = sdp_of(&c.execute("offer", &reoffer, now));
        assert_eq!(to_caller_again.media[0].port, caller_facing);
        assert_eq!(
            to_caller_again.origin.session_version, to_caller.origin.session_version,
            "only the callee's port moved: the description toward the caller is unchanged"
        );
        let reanswer = message(&[
            ("call-id", "r"),
            ("from-tag", "b"),
            ("to-tag", "a"),
            ("sdp", CALLER),
        ]);
        let to_callee = sdp_of(&c.execute("answer", &reanswer, now));
        assert_eq!(to_callee.media[0].port, callee_facing);
        // Media from the caller now goes to the callee's new address.
        let mut packet = [0u8; 20];
        packet[0] = 0x80;
        let action = c.relay_mut().handle_packet(
            caller_facing,
            "10.0.0.1:4000".parse().unwrap(),
            &mut packet,
            now,
        );
        assert!(
            matches!(action, ferrovox_media::Action::Forward { to, .. } if to == "10.0.0.2:6002".parse().unwrap()),
            "{action:?}"
        );
    }

    #[test]
    fn media_timeout_deletes_the_call() {
        let mut c = commands(40000, 40099);
        let now = Instant::now();
        c.execute(
            "offer",
            &message(&[("call-id", "c1"), ("from-tag", "a"), ("sdp", CALLER)]),
            now,
        );
        let later = now + std::time::Duration::from_secs(3600);
        c.relay_mut().handle_timeout(later);
        let mut published = Vec::new();
        while let Some(event) = c.relay_mut().poll_event() {
            published.extend(c.handle_event(event));
        }
        assert!(
            published
                .iter()
                .any(|e| e.event_type == "call.media_timeout"),
            "{published:?}"
        );
        assert_eq!(c.call_count(), 0);
        assert_eq!(c.relay().ports_available(), 50);
    }
}
