//! The canonical writer (RFC 4566 §5 / RFC 8866 §5 line order, CRLF).
//!
//! Order: `v o s i u e* p* c b* (t r*)+ z k a*`, then per media
//! `m i c* b* k a*`. Attributes are written in model order; unknown
//! attributes, `r=`, `z=`, `k=` and `a=candidate` values verbatim. For
//! every description the parser accepts, parse → write → parse yields an
//! equal model.
//!
//! The writer does not validate a model built or edited by hand: text
//! fields containing CR/LF would produce extra lines. The rewrite helpers
//! only store validated values.

use core::fmt::{self, Display, Formatter, Write as _};

use crate::attribute::{Attribute, Candidate, Fingerprint, Group, Rtcp, Rtpmap, Ssrc};
use crate::crypto::{Crypto, KeyParam, Lifetime};
use crate::model::{Bandwidth, Connection, MediaDescription, Origin, SessionDescription};

impl SessionDescription {
    /// Appends the canonical CRLF text of the description to `out`.
    pub fn write_to(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = write!(out, "{self}");
    }

    /// The canonical text as bytes, ready for a SIP body.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl Display for SessionDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "o={}\r\n", self.origin)?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(u) = &self.uri {
            write!(f, "u={u}\r\n")?;
        }
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        for t in &self.timings {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        if let Some(z) = &self.time_zones {
            write!(f, "z={z}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl Display for MediaDescription {
    /// The `m=` line and the lines of its section, each ending in CRLF.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(c) = self.port_count {
            write!(f, "/{c}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        for c in &self.connections {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        Ok(())
    }
}

impl Display for Origin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.nettype,
            self.addrtype.as_str(),
            self.address
        )
    }
}

impl Display for Connection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.nettype,
            self.addrtype.as_str(),
            self.address
        )?;
        if let Some(ttl) = self.ttl {
            write!(f, "/{ttl}")?;
        }
        if let Some(count) = self.count {
            write!(f, "/{count}")?;
        }
        Ok(())
    }
}

impl Display for Bandwidth {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

impl Display for Attribute {
    /// The text after `a=`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Rtpmap(r) => write!(f, "rtpmap:{r}"),
            Attribute::Fmtp(x) if x.params.is_empty() => write!(f, "fmtp:{}", x.format),
            Attribute::Fmtp(x) => write!(f, "fmtp:{} {}", x.format, x.params),
            Attribute::RtcpFb(x) => write!(f, "rtcp-fb:{} {}", x.format, x.value),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::MaxPtime(p) => write!(f, "maxptime:{p}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp(r) => write!(f, "rtcp:{r}"),
            Attribute::RtcpMux => f.write_str("rtcp-mux"),
            Attribute::Mid(m) => write!(f, "mid:{m}"),
            Attribute::Group(g) => write!(f, "group:{g}"),
            Attribute::Crypto(c) => write!(f, "crypto:{c}"),
            Attribute::IceUfrag(u) => write!(f, "ice-ufrag:{u}"),
            Attribute::IcePwd(p) => write!(f, "ice-pwd:{p}"),
            Attribute::IceOptions(o) => write!(f, "ice-options:{}", o.join(" ")),
            Attribute::Candidate(c) => write!(f, "candidate:{c}"),
            Attribute::EndOfCandidates => f.write_str("end-of-candidates"),
            Attribute::IceLite => f.write_str("ice-lite"),
            Attribute::Ssrc(s) => write!(f, "ssrc:{s}"),
            Attribute::Setup(s) => write!(f, "setup:{}", s.as_str()),
            Attribute::Fingerprint(x) => write!(f, "fingerprint:{x}"),
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}

impl Display for Rtpmap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

impl Display for Rtcp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(a) = &self.address {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

impl Display for Group {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.semantics)?;
        for m in &self.mids {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

impl Display for Ssrc {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.attribute)?;
        if let Some(v) = &self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

impl Display for Fingerprint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hash_function, self.fingerprint)
    }
}

impl Display for Candidate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw())
    }
}

impl Display for Crypto {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.tag, self.suite)?;
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_char(';')?;
            }
            write!(f, "{k}")?;
        }
        for p in &self.session_params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl Display for KeyParam {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.method, self.key_salt)?;
        match self.lifetime {
            Some(Lifetime::PowerOfTwo(e)) => write!(f, "|2^{e}")?,
            Some(Lifetime::Packets(n)) => write!(f, "|{n}")?,
            None => {}
        }
        if let Some(m) = self.mki {
            write!(f, "|{}:{}", m.value, m.length)?;
        }
        Ok(())
    }
}
