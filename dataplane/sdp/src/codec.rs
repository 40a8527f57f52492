//! Codec view and codec manipulation of RTP media sections.
//!
//! - Resolution of a payload type to a [`Codec`]: its `a=rtpmap`, else the
//!   RFC 3551 §6 static table (PT 0 PCMU/8000, 8 PCMA/8000, 9 G722/8000,
//!   18 G729/8000, ...). A dynamic payload type without `a=rtpmap` does
//!   not resolve.
//! - [`strip_codecs`] / [`mask_codecs`]: remove codecs by encoding name
//!   (case-insensitive) or all of them, keeping the order of the rest and
//!   removing the `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines of the removed
//!   payload types, plus RFC 4588 `rtx` formats whose `apt=` pointed at a
//!   removed one. `mask_codecs` returns what it removed, with the lines, so
//!   the caller can remember it (rtpengine's `codec-mask`).
//! - [`add_codec`] / [`add_codec_avoiding`]: append a codec (rtpengine's `codec-offer`) with a given
//!   payload type, its static payload type, or the first free dynamic one
//!   (96–127), writing `a=rtpmap` (also for static types) and `a=fmtp`.
//!
//! `telephone-event` and `CN` are codecs like any other here; only
//! [`Codec::is_auxiliary`] singles them out for transcoding decisions.
//!
//! Not implemented: re-ordering by preference, payload type re-mapping
//! across BUNDLEd sections (only avoidance), fmtp-aware codec matching
//! (H.264 profiles).

use crate::attribute::{Attribute, Fmtp, Rtpmap, payload_type, same_format};
use crate::error::RewriteError;
use crate::lex::{is_line_safe, is_token};
use crate::model::MediaDescription;

/// A resolved RTP payload format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as sent (or as in RFC 3551 for static types).
    pub encoding: String,
    /// Clock rate, Hz.
    pub clock_rate: u32,
    /// Channels (encoding parameters), if given.
    pub channels: Option<u16>,
    /// `a=fmtp` parameters, verbatim.
    pub fmtp: Option<String>,
}

impl Codec {
    /// Same encoding (case-insensitive), clock rate and channel count
    /// (absent counts as 1). Format parameters are not compared.
    pub fn same_codec(&self, other: &Codec) -> bool {
        self.encoding.eq_ignore_ascii_case(&other.encoding)
            && self.clock_rate == other.clock_rate
            && self.channels.unwrap_or(1) == other.channels.unwrap_or(1)
    }

    /// Whether this format carries no media of its own: telephone-event
    /// (RFC 4733), comfort noise (CN), redundancy (RED), FEC (ulpfec,
    /// flexfec) or retransmission (rtx).
    pub fn is_auxiliary(&self) -> bool {
        [
            "telephone-event",
            "CN",
            "red",
            "ulpfec",
            "flexfec-03",
            "flexfec",
            "rtx",
        ]
        .iter()
        .any(|n| self.encoding.eq_ignore_ascii_case(n))
    }
}

/// RFC 3551 §6 static payload types: (pt, encoding, clock rate, channels).
const STATIC: &[(u8, &str, u32, Option<u16>)] = &[
    (0, "PCMU", 8000, Some(1)),
    (3, "GSM", 8000, Some(1)),
    (4, "G723", 8000, Some(1)),
    (5, "DVI4", 8000, Some(1)),
    (6, "DVI4", 16000, Some(1)),
    (7, "LPC", 8000, Some(1)),
    (8, "PCMA", 8000, Some(1)),
    (9, "G722", 8000, Some(1)),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, Some(1)),
    (12, "QCELP", 8000, Some(1)),
    (13, "CN", 8000, Some(1)),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, Some(1)),
    (16, "DVI4", 11025, Some(1)),
    (17, "DVI4", 22050, Some(1)),
    (18, "G729", 8000, Some(1)),
    (25, "CelB", 90000, None),
    (26, "JPEG", 90000, None),
    (28, "nv", 90000, None),
    (31, "H261", 90000, None),
    (32, "MPV", 90000, None),
    (33, "MP2T", 90000, None),
    (34, "H263", 90000, None),
];

/// The RFC 3551 static assignment of `pt`, as a codec without fmtp.
pub fn static_codec(pt: u8) -> Option<Codec> {
    STATIC
        .iter()
        .find(|(p, ..)| *p == pt)
        .map(|(p, e, c, ch)| Codec {
            payload_type: *p,
            encoding: (*e).to_owned(),
            clock_rate: *c,
            channels: *ch,
            fmtp: None,
        })
}

/// The static payload type of a codec, if RFC 3551 assigns one.
pub fn static_payload_type(encoding: &str, clock_rate: u32, channels: Option<u16>) -> Option<u8> {
    STATIC
        .iter()
        .find(|(_, e, c, ch)| {
            e.eq_ignore_ascii_case(encoding)
                && *c == clock_rate
                && ch.unwrap_or(1) == channels.unwrap_or(1)
        })
        .map(|(p, ..)| *p)
}

impl MediaDescription {
    /// The codec of payload type `pt`: from its `a=rtpmap`, else the static
    /// table; with its `a=fmtp` parameters.
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        let mut c = match self.rtpmap(pt) {
            Some(Rtpmap {
                encoding,
                clock_rate,
                channels,
                ..
            }) => Codec {
                payload_type: pt,
                encoding: encoding.clone(),
                clock_rate: *clock_rate,
                channels: *channels,
                fmtp: None,
            },
            None => static_codec(pt)?,
        };
        c.fmtp = self.fmtp(&pt.to_string()).map(|f| f.params.clone());
        Some(c)
    }

    /// The resolvable codecs of an RTP section, in `m=` order. Empty for
    /// non-RTP sections.
    pub fn codecs(&self) -> Vec<Codec> {
        if !self.is_rtp() {
            return Vec::new();
        }
        self.payload_types()
            .filter_map(|pt| self.codec(pt))
            .collect()
    }

    /// Whether a codec with this encoding name (case-insensitive) is
    /// offered.
    pub fn has_codec(&self, encoding: &str) -> bool {
        self.codecs()
            .iter()
            .any(|c| c.encoding.eq_ignore_ascii_case(encoding))
    }
}

/// Which codecs to remove.
#[derive(Debug, Clone, Copy)]
pub enum CodecSelector<'a> {
    /// Every format.
    All,
    /// Codecs with one of these encoding names (case-insensitive).
    Names(&'a [&'a str]),
}

impl CodecSelector<'_> {
    fn matches(&self, codec: Option<&Codec>) -> bool {
        match self {
            CodecSelector::All => true,
            CodecSelector::Names(names) => {
                codec.is_some_and(|c| names.iter().any(|n| c.encoding.eq_ignore_ascii_case(n)))
            }
        }
    }
}

/// A format removed by [`mask_codecs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedCodec {
    /// Index it had in the original `m=` format list.
    pub position: usize,
    /// The format (payload type) as it was in the `m=` line.
    pub format: String,
    /// The resolved codec, if it resolved.
    pub codec: Option<Codec>,
    /// The `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines removed with it, in
    /// their original order.
    pub attributes: Vec<Attribute>,
}

/// Removes the selected codecs from an RTP section and returns what was
/// removed (with its attribute lines), in `m=` order. Non-RTP sections
/// are left alone. Removing every format leaves an `m=` line without
/// formats, which is only valid once a codec is added again
/// ([`add_codec`]).
pub fn mask_codecs(m: &mut MediaDescription, selector: CodecSelector<'_>) -> Vec<RemovedCodec> {
    if !m.is_rtp() {
        return Vec::new();
    }
    let mut doomed: Vec<String> = m
        .formats
        .iter()
        .filter(|f| selector.matches(payload_type(f).ok().and_then(|pt| m.codec(pt)).as_ref()))
        .cloned()
        .collect();
    // RFC 4588: an rtx format is useless without its primary.
    let dependents: Vec<String> = m
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Fmtp(f) => Some(f),
            _ => None,
        })
        .filter(|f| {
            f.param("apt")
                .is_some_and(|apt| doomed.iter().any(|d| same_format(d, apt)))
                && m.formats.iter().any(|x| same_format(x, &f.format))
                && !doomed.iter().any(|d| same_format(d, &f.format))
        })
        .filter_map(|f| {
            m.formats
                .iter()
                .find(|x| same_format(x, &f.format))
                .cloned()
        })
        .collect();
    doomed.extend(dependents);

    let mut removed: Vec<RemovedCodec> = m
        .formats
        .iter()
        .enumerate()
        .filter(|(_, f)| doomed.contains(f))
        .map(|(position, f)| RemovedCodec {
            position,
            format: f.clone(),
            codec: payload_type(f).ok().and_then(|pt| m.codec(pt)),
            attributes: Vec::new(),
        })
        .collect();
    m.formats.retain(|f| !doomed.contains(f));
    let attrs = core::mem::take(&mut m.attributes);
    for a in attrs {
        let owner = match &a {
            Attribute::Rtpmap(r) => Some(r.payload_type.to_string()),
            Attribute::Fmtp(f) => Some(f.format.clone()),
            Attribute::RtcpFb(f) => Some(f.format.clone()),
            _ => None,
        };
        match owner.and_then(|o| removed.iter_mut().find(|r| same_format(&r.format, &o))) {
            Some(r) => r.attributes.push(a),
            None => m.attributes.push(a),
        }
    }
    removed
}

/// Removes the selected codecs like [`mask_codecs`], returning how many
/// formats were removed.
pub fn strip_codecs(m: &mut MediaDescription, selector: CodecSelector<'_>) -> usize {
    mask_codecs(m, selector).len()
}

/// A codec to add with [`add_codec`].
#[derive(Debug, Clone, Copy)]
pub struct NewCodec<'a> {
    /// Encoding name, e.g. `PCMA`, `opus`, `telephone-event`.
    pub encoding: &'a str,
    /// Clock rate, Hz.
    pub clock_rate: u32,
    /// Channels, if the rtpmap should carry them.
    pub channels: Option<u16>,
    /// `a=fmtp` parameters, if any.
    pub fmtp: Option<&'a str>,
    /// Payload type to use; `None` picks the static type or a free dynamic
    /// one.
    pub payload_type: Option<u8>,
}

/// Payload types used in the section: formats and rtpmap/fmtp lines.
fn used_payload_types(m: &MediaDescription) -> [bool; 128] {
    let mut used = [false; 128];
    let mut mark = |pt: u8| {
        if let Some(slot) = used.get_mut(usize::from(pt)) {
            *slot = true;
        }
    };
    m.payload_types().for_each(&mut mark);
    for a in &m.attributes {
        match a {
            Attribute::Rtpmap(r) => mark(r.payload_type),
            Attribute::Fmtp(f) => {
                if let Some(pt) = f.payload_type() {
                    mark(pt)
                }
            }
            _ => {}
        }
    }
    used
}

/// Appends a codec to an RTP section and returns its payload type. If an
/// equal codec ([`Codec::same_codec`]) is already offered, nothing changes
/// and its payload type is returned. The `a=rtpmap`/`a=fmtp` lines go
/// after the last existing rtpmap/fmtp/rtcp-fb line (or at the end).
pub fn add_codec(m: &mut MediaDescription, new: &NewCodec<'_>) -> Result<u8, RewriteError> {
    add_codec_avoiding(m, new, &[])
}

/// [`add_codec`], also treating `also_used` as taken when picking a
/// payload type — for BUNDLE, pass the payload types of the other
/// sections of the group (RFC 8843 §9.1: one payload type, one codec
/// across the bundle). An explicit `payload_type` in `also_used` is
/// refused like one in use in the section.
pub fn add_codec_avoiding(
    m: &mut MediaDescription,
    new: &NewCodec<'_>,
    also_used: &[u8],
) -> Result<u8, RewriteError> {
    if !m.is_rtp() {
        return Err(RewriteError::NotRtp);
    }
    if !is_token(new.encoding) || new.encoding.contains('/') {
        return Err(RewriteError::InvalidValue("encoding"));
    }
    if new.fmtp.is_some_and(|f| !is_line_safe(f)) {
        return Err(RewriteError::InvalidValue("fmtp"));
    }
    let wanted = Codec {
        payload_type: 0,
        encoding: new.encoding.to_owned(),
        clock_rate: new.clock_rate,
        channels: new.channels,
        fmtp: None,
    };
    if let Some(existing) = m.codecs().iter().find(|c| c.same_codec(&wanted)) {
        return Ok(existing.payload_type);
    }
    let mut used = used_payload_types(m);
    for pt in also_used {
        if let Some(slot) = used.get_mut(usize::from(*pt)) {
            *slot = true;
        }
    }
    let is_free = |pt: u8| !used.get(usize::from(pt)).copied().unwrap_or(true);
    let pt = match new.payload_type {
        Some(pt) if pt > 127 => return Err(RewriteError::InvalidPayloadType(pt)),
        Some(pt) if !is_free(pt) => return Err(RewriteError::PayloadTypeInUse(pt)),
        Some(pt) => pt,
        None => match static_payload_type(new.encoding, new.clock_rate, new.channels) {
            Some(pt) if is_free(pt) => pt,
            _ => (96..=127u8)
                .find(|pt| is_free(*pt))
                .ok_or(RewriteError::NoFreePayloadType)?,
        },
    };
    m.formats.push(pt.to_string());
    let at = m
        .attributes
        .iter()
        .rposition(|a| {
            matches!(
                a,
                Attribute::Rtpmap(_) | Attribute::Fmtp(_) | Attribute::RtcpFb(_)
            )
        })
        .map_or(m.attributes.len(), |i| i + 1);
    let mut lines = vec![Attribute::Rtpmap(Rtpmap {
        payload_type: pt,
        encoding: new.encoding.to_owned(),
        clock_rate: new.clock_rate,
        channels: new.channels,
    })];
    if let Some(params) = new.fmtp {
        lines.push(Attribute::Fmtp(Fmtp {
            format: pt.to_string(),
            params: params.to_owned(),
        }));
    }
    m.attributes.splice(at..at, lines);
    Ok(pt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table() {
        assert_eq!(static_codec(9).map(|c| c.encoding), Some("G722".to_owned()));
        assert_eq!(static_codec(18).map(|c| c.clock_rate), Some(8000));
        assert_eq!(static_codec(96), None);
        assert_eq!(static_payload_type("pcma", 8000, None), Some(8));
        assert_eq!(static_payload_type("PCMA", 16000, None), None);
    }

    #[test]
    fn same_codec_defaults_channels_to_one() {
        let a = Codec {
            payload_type: 0,
            encoding: "PCMU".into(),
            clock_rate: 8000,
            channels: None,
            fmtp: None,
        };
        let b = Codec {
            payload_type: 0,
            encoding: "pcmu".into(),
            clock_rate: 8000,
            channels: Some(1),
            fmtp: None,
        };
        assert!(a.same_codec(&b));
        let opus = Codec {
            encoding: "opus".into(),
            clock_rate: 48000,
            channels: Some(2),
            ..a.clone()
        };
        assert!(!a.same_codec(&opus));
    }
}
