//! A blocking client for rtpengine's ng control protocol, and the SDP it needs.
//!
//! A request is `<cookie> <bencoded dict>` over UDP; the reply echoes the cookie. [`NgClient`]
//! sends one command at a time, retransmits on a timeout (ng is idempotent per cookie on
//! rtpengine; ferrovox and the floor answer retransmitted offers as re-offers with the same
//! ports) and ignores replies with a foreign cookie. [`NgClient::offer`] / [`NgClient::answer`]
//! return the relay's media endpoint read from the returned SDP ([`media_endpoint`]).
//!
//! [`NgClient::offer_sdp`] / [`NgClient::answer_sdp`] take any SDP and extra ng keys (the
//! transcoding runs' `codec` dictionary) and return the relay's SDP ([`audio_payload_types`]
//! reads the codecs it chose).
//!
//! Deliberately not done: pipelining several outstanding commands, JSON-encoded ng, and any
//! SDP beyond one audio section with one codec.

use crate::bencode::{self, Value};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// What went wrong talking ng.
#[derive(Debug, thiserror::Error)]
pub enum NgError {
    #[error("ng socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("no reply from {server} to {command} after {attempts} attempts")]
    Timeout {
        server: SocketAddr,
        command: String,
        attempts: u32,
    },
    #[error("undecodable reply to {command}: {source}")]
    Decode {
        command: String,
        #[source]
        source: bencode::DecodeError,
    },
    #[error("{command} failed: {reason}")]
    Refused { command: String, reason: String },
    #[error("reply to {command} has no usable SDP ({what})")]
    Sdp { command: String, what: &'static str },
}

/// A relay's answer to `offer`/`answer`: where to send media for that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayEndpoint(pub SocketAddr);

/// A blocking ng client bound to an ephemeral local port.
pub struct NgClient {
    socket: UdpSocket,
    server: SocketAddr,
    cookie_prefix: String,
    next_cookie: u64,
    timeout: Duration,
    attempts: u32,
    buffer: Vec<u8>,
}

impl NgClient {
    /// A client for the ng server at `server`.
    pub fn connect(server: SocketAddr) -> Result<Self, NgError> {
        let local: SocketAddr = match server.ip() {
            IpAddr::V4(_) => "0.0.0.0:0",
            IpAddr::V6(_) => "[::]:0",
        }
        .parse()
        .map_err(|_| std::io::Error::other("bad wildcard address"))?;
        let socket = UdpSocket::bind(local)?;
        Ok(Self {
            socket,
            server,
            cookie_prefix: unique_cookie_prefix(),
            next_cookie: 0,
            timeout: Duration::from_millis(500),
            attempts: 6,
            buffer: vec![0; 65536],
        })
    }

    /// Sets the per-attempt reply timeout and the number of attempts.
    pub fn with_retries(mut self, timeout: Duration, attempts: u32) -> Self {
        self.timeout = timeout;
        self.attempts = attempts.max(1);
        self
    }

    /// Sends `message` (a dictionary that carries `command`) and returns the reply dictionary
    /// when its `result` is not `error`.
    pub fn command(&mut self, message: &Value) -> Result<Value, NgError> {
        let command = message
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        self.next_cookie += 1;
        let cookie = format!("{}{}", self.cookie_prefix, self.next_cookie);
        let mut datagram = cookie.clone().into_bytes();
        datagram.push(b' ');
        message.encode_into(&mut datagram);
        for _ in 0..self.attempts {
            self.socket.send_to(&datagram, self.server)?;
            self.socket.set_read_timeout(Some(self.timeout))?;
            loop {
                let n = match self.socket.recv_from(&mut self.buffer) {
                    Ok((n, _)) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(e.into()),
                };
                let reply = &self.buffer[..n];
                let Some(space) = reply.iter().position(|b| *b == b' ') else {
                    continue;
                };
                if &reply[..space] != cookie.as_bytes() {
                    continue; // a late reply to an earlier, retransmitted command
                }
                let value =
                    bencode::decode(&reply[space + 1..]).map_err(|source| NgError::Decode {
                        command: command.clone(),
                        source,
                    })?;
                if value.get("result").and_then(Value::as_str) == Some("error") {
                    let reason = value
                        .get("error-reason")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                        .to_owned();
                    return Err(NgError::Refused { command, reason });
                }
                return Ok(value);
            }
        }
        Err(NgError::Timeout {
            server: self.server,
            command,
            attempts: self.attempts,
        })
    }

    /// `ping`; true when the server answered `pong`.
    pub fn ping(&mut self) -> Result<bool, NgError> {
        let reply = self.command(&Value::dict([("command", Value::str("ping"))]))?;
        Ok(reply.get("result").and_then(Value::as_str) == Some("pong"))
    }

    /// `offer` from `from_tag`, whose media is at `local`; returns where the *answerer* must
    /// send its media.
    pub fn offer(
        &mut self,
        call_id: &str,
        from_tag: &str,
        local: SocketAddr,
    ) -> Result<RelayEndpoint, NgError> {
        let sdp = self.offer_sdp(call_id, from_tag, &pcmu_sdp(local, 1), Vec::new())?;
        media_endpoint(&sdp).map_err(|what| NgError::Sdp {
            command: "offer".into(),
            what,
        })
    }

    /// `answer` from `to_tag`, whose media is at `local`; returns where the *offerer* must
    /// send its media.
    pub fn answer(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        local: SocketAddr,
    ) -> Result<RelayEndpoint, NgError> {
        let sdp = self.answer_sdp(call_id, from_tag, to_tag, &pcmu_sdp(local, 2))?;
        media_endpoint(&sdp).map_err(|what| NgError::Sdp {
            command: "answer".into(),
            what,
        })
    }

    /// `offer` of any SDP with extra ng keys (e.g. a `codec` dictionary); returns the SDP
    /// the relay would forward to the answerer.
    pub fn offer_sdp(
        &mut self,
        call_id: &str,
        from_tag: &str,
        sdp: &str,
        extra: Vec<(&str, Value)>,
    ) -> Result<String, NgError> {
        let mut pairs = vec![
            ("command", Value::str("offer")),
            ("call-id", Value::str(call_id)),
            ("from-tag", Value::str(from_tag)),
            ("sdp", Value::str(sdp)),
        ];
        pairs.extend(extra);
        let reply = self.command(&Value::dict(pairs))?;
        sdp_of(&reply, "offer")
    }

    /// `answer` of any SDP; returns the SDP the relay would forward to the offerer.
    pub fn answer_sdp(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &str,
    ) -> Result<String, NgError> {
        let reply = self.command(&Value::dict([
            ("command", Value::str("answer")),
            ("call-id", Value::str(call_id)),
            ("from-tag", Value::str(from_tag)),
            ("to-tag", Value::str(to_tag)),
            ("sdp", Value::str(sdp)),
        ]))?;
        sdp_of(&reply, "answer")
    }

    /// `delete` of the whole call.
    pub fn delete(&mut self, call_id: &str, from_tag: &str) -> Result<(), NgError> {
        self.command(&Value::dict([
            ("command", Value::str("delete")),
            ("call-id", Value::str(call_id)),
            ("from-tag", Value::str(from_tag)),
        ]))
        .map(|_| ())
    }
}

/// A cookie prefix no other client of this process or of an earlier run has used: rtpengine
/// caches replies by cookie and answers a repeated cookie with the cached reply (its
/// retransmission handling), so a new session reusing `prefix_1` would get the previous
/// session's ports back.
fn unique_cookie_prefix() -> String {
    static CLIENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let client = CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("rtpgen{}_{nanos:x}_{client}_", std::process::id())
}

fn sdp_of(reply: &Value, command: &str) -> Result<String, NgError> {
    reply
        .get("sdp")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| NgError::Sdp {
            command: command.to_owned(),
            what: "no sdp in the reply",
        })
}

/// A one-section PCMU SDP announcing `media` (address and RTP port).
pub fn pcmu_sdp(media: SocketAddr, version: u32) -> String {
    let family = if media.is_ipv4() { "IP4" } else { "IP6" };
    let ip = media.ip();
    let port = media.port();
    format!(
        "v=0\r\no=- {port} {version} IN {family} {ip}\r\ns=rtpgen\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// A one-section SDP announcing `media` with one codec: payload type `pt`, `rtpmap`
/// (e.g. `opus/48000/2`) and optional `fmtp` parameters.
pub fn codec_sdp(
    media: SocketAddr,
    version: u32,
    pt: u8,
    rtpmap: &str,
    fmtp: Option<&str>,
) -> String {
    let family = if media.is_ipv4() { "IP4" } else { "IP6" };
    let ip = media.ip();
    let port = media.port();
    let fmtp = fmtp.map_or_else(String::new, |f| format!("a=fmtp:{pt} {f}\r\n"));
    format!(
        "v=0\r\no=- {port} {version} IN {family} {ip}\r\ns=rtpgen\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {rtpmap}\r\n{fmtp}a=ptime:20\r\na=sendrecv\r\n"
    )
}

/// The payload types of the first audio section's `m=` line, in order, with the encoding
/// name of each (`a=rtpmap`, or the static name for 0 and 8).
pub fn audio_payload_types(sdp: &str) -> Vec<(u8, String)> {
    let mut types: Vec<(u8, String)> = Vec::new();
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(rest) = line.strip_prefix("m=") {
            if in_audio {
                break;
            }
            let mut fields = rest.split_ascii_whitespace();
            in_audio = fields.next() == Some("audio");
            if in_audio {
                types = fields
                    .skip(2)
                    .filter_map(|pt| pt.parse().ok())
                    .map(|pt: u8| {
                        let name = match pt {
                            0 => "PCMU",
                            8 => "PCMA",
                            9 => "G722",
                            _ => "",
                        };
                        (pt, name.to_owned())
                    })
                    .collect();
            }
        } else if in_audio && let Some(rest) = line.strip_prefix("a=rtpmap:") {
            let mut fields = rest.split_ascii_whitespace();
            let pt: Option<u8> = fields.next().and_then(|p| p.parse().ok());
            let name = fields.next().and_then(|e| e.split('/').next());
            if let (Some(pt), Some(name)) = (pt, name)
                && let Some(entry) = types.iter_mut().find(|(t, _)| *t == pt)
            {
                entry.1 = name.to_owned();
            }
        }
    }
    types
}

/// The first audio section's address (media-level `c=` over session-level) and port.
pub fn media_endpoint(sdp: &str) -> Result<RelayEndpoint, &'static str> {
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break; // only the first audio section matters
            }
            let mut fields = rest.split_ascii_whitespace();
            in_audio = fields.next() == Some("audio");
            if in_audio {
                port = fields.next().and_then(|p| p.parse().ok());
                if port.is_none() {
                    return Err("m=audio without a port");
                }
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let addr = rest
                .split_ascii_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            if port.is_none() && !in_audio {
                session_addr = addr;
            } else if in_audio {
                media_addr = addr;
            }
        }
    }
    let port = port.ok_or("no m=audio line")?;
    if port == 0 {
        return Err("audio section rejected (port 0)");
    }
    let addr = media_addr.or(session_addr).ok_or("no c= address")?;
    Ok(RelayEndpoint(SocketAddr::new(addr, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_gets_its_own_cookie_space() {
        let server: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let a = NgClient::connect(server).unwrap();
        let b = NgClient::connect(server).unwrap();
        assert_ne!(a.cookie_prefix, b.cookie_prefix);
    }

    #[test]
    fn reads_the_media_level_address_over_the_session_one() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=audio 40002 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=rtcp:40003\r\n";
        assert_eq!(
            media_endpoint(sdp),
            Ok(RelayEndpoint("127.0.0.1:40002".parse().unwrap()))
        );
    }

    #[test]
    fn falls_back_to_the_session_address() {
        let sdp = pcmu_sdp("127.0.0.1:30000".parse().unwrap(), 1);
        assert_eq!(
            media_endpoint(&sdp),
            Ok(RelayEndpoint("127.0.0.1:30000".parse().unwrap()))
        );
    }

    #[test]
    fn lists_audio_payload_types_with_their_encoding_names() {
        let sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 96 0 101\r\n\
                   a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
                   m=video 5000 RTP/AVP 97\r\na=rtpmap:97 VP8/90000\r\n";
        assert_eq!(
            audio_payload_types(sdp),
            vec![
                (96, "opus".to_owned()),
                (0, "PCMU".to_owned()),
                (101, "telephone-event".to_owned())
            ]
        );
        let offer = codec_sdp(
            "127.0.0.1:3000".parse().unwrap(),
            1,
            111,
            "opus/48000/2",
            Some("useinbandfec=1"),
        );
        assert_eq!(audio_payload_types(&offer), vec![(111, "opus".to_owned())]);
        assert!(offer.contains("a=fmtp:111 useinbandfec=1\r\n"), "{offer}");
        assert!(audio_payload_types("v=0\r\n").is_empty());
    }

    #[test]
    fn refuses_sdp_without_audio_or_with_a_rejected_section() {
        assert!(media_endpoint("v=0\r\nc=IN IP4 1.2.3.4\r\n").is_err());
        assert!(media_endpoint("c=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n").is_err());
        assert!(media_endpoint("m=audio 5000 RTP/AVP 0\r\n").is_err());
    }
}
