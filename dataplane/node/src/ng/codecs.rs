//! rtpengine's codec manipulation for `offer`, and the answer-time decision
//! between relaying and transcoding ("relay when you can, transcode when
//! you must").
//!
//! Requests (rtpengine's ng `codec` dictionary, and its flag forms):
//! - `codec: { strip: [..], mask: [..], offer: [..], transcode: [..] }`,
//!   each a list or a single string; `all` is accepted by `strip` and
//!   `mask`. Names are encoding names (`PCMU`, `opus`, ...), optionally with
//!   `/rate/channels`, matched case-insensitively.
//! - The same as top-level keys `codec-strip`, `codec-mask`, `codec-offer`,
//!   `codec-transcode`, and as `flags` items `codec-strip-PCMU`,
//!   `codec-transcode-opus`, ..., and `transcode-opus`.
//!
//! The offer forwarded to the answerer: `strip` and `mask` remove codecs;
//! `offer` puts back removed codecs that the offerer had; `transcode` adds
//! codecs the relay can transcode to (PCMU, PCMA, G722, opus — Opus as
//! `opus/48000/2` with `useinbandfec=1`) or puts back removed ones. Other
//! names in `transcode` are ignored. telephone-event is kept on both sides:
//! a clock added by transcoding gets its own `telephone-event/<clock>`
//! (`0-16`) when the offerer had telephone-event, and telephone-event lines
//! whose clock no longer matches any codec are removed. `strip` and `mask`
//! differ in rtpengine in whether the offerer may still be answered with
//! the codec; here the offerer is answered with its first transcodable
//! codec that was not removed, else its first transcodable one.
//!
//! Decision at `answer`: if the answerer's first media codec is one the
//! offerer offered, packets are relayed as today (zero-copy). Otherwise the
//! relay transcodes both directions (see [`ferrovox_media::transcode`]): the
//! answer returned to the offerer advertises the offerer's codec (its
//! payload type, `a=rtpmap`/`a=fmtp`), its telephone-event when both sides
//! have one, and its `a=ptime`; each side is sent packets of its own
//! packet time (default 20 ms). This also covers an answerer that picks a
//! codec the offerer never offered without any codec flag.
//!
//! Not implemented: rtpengine's `except`, `set`, `accept`, `consume`,
//! `ignore` (ignored), `always transcode`, codec preference reordering,
//! transcoding between two different non-G.711/G.722/Opus codecs, stereo
//! Opus, and multiple transcoded codecs per side (the first wins).

use super::bencode::Value;
use super::relay_commands::NgError;
use ferrovox_media::TranscodeSpec;
use ferrovox_media::transcode::Codec as TCodec;
use ferrovox_sdp::MediaDescription;
use ferrovox_sdp::attribute::Attribute;
use ferrovox_sdp::codec::{Codec, CodecSelector, NewCodec, add_codec, mask_codecs};

/// Default packet time when a side names none (RFC 3551 § 4.5).
const DEFAULT_PTIME: u32 = 20;

/// The codec requests of an `offer`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CodecFlags {
    strip: Vec<String>,
    mask: Vec<String>,
    offer: Vec<String>,
    transcode: Vec<String>,
}

fn list(value: &Value, key: &'static str) -> Result<Vec<String>, NgError> {
    match value.get(key) {
        None => Ok(Vec::new()),
        Some(Value::List(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| NgError::Invalid(key, "list items must be strings".into()))
            })
            .collect(),
        Some(v) => v
            .as_str()
            .map(|s| vec![s.to_owned()])
            .ok_or_else(|| NgError::Invalid(key, "expected a string or a list".into())),
    }
}

/// `PCMU/8000/1` → `pcmu`.
fn name_of(item: &str) -> String {
    item.split('/')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl CodecFlags {
    pub(crate) fn parse(message: &Value) -> Result<Self, NgError> {
        let mut f = CodecFlags::default();
        if let Some(codec) = message.get("codec") {
            if !matches!(codec, Value::Dict(_)) {
                return Err(NgError::Invalid("codec", "expected a dictionary".into()));
            }
            f.strip.extend(list(codec, "strip")?);
            f.mask.extend(list(codec, "mask")?);
            f.offer.extend(list(codec, "offer")?);
            f.transcode.extend(list(codec, "transcode")?);
        }
        f.strip.extend(list(message, "codec-strip")?);
        f.mask.extend(list(message, "codec-mask")?);
        f.offer.extend(list(message, "codec-offer")?);
        f.transcode.extend(list(message, "codec-transcode")?);
        for item in list(message, "flags")? {
            let lower = item.to_ascii_lowercase();
            let (target, name) = if let Some(n) = lower.strip_prefix("codec-strip-") {
                (&mut f.strip, n)
            } else if let Some(n) = lower.strip_prefix("codec-mask-") {
                (&mut f.mask, n)
            } else if let Some(n) = lower.strip_prefix("codec-offer-") {
                (&mut f.offer, n)
            } else if let Some(n) = lower
                .strip_prefix("codec-transcode-")
                .or_else(|| lower.strip_prefix("transcode-"))
            {
                (&mut f.transcode, n)
            } else {
                continue;
            };
            target.push(name.to_owned());
        }
        for v in [&mut f.strip, &mut f.mask, &mut f.offer, &mut f.transcode] {
            *v = v
                .iter()
                .map(|s| name_of(s))
                .filter(|s| !s.is_empty())
                .collect();
        }
        Ok(f)
    }

    fn removes(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        self.strip
            .iter()
            .chain(&self.mask)
            .any(|s| *s == n || s == "all")
    }
}

/// What the offerer offered on one section, kept for the answer.
#[derive(Debug, Clone)]
pub(crate) struct OfferedCodecs {
    /// The leg index of the offerer.
    pub(crate) offerer: usize,
    /// Its codecs, in `m=` order.
    pub(crate) codecs: Vec<Codec>,
    /// Names removed by `strip`/`mask` (lower case; `all` for everything).
    removed: CodecFlags,
    /// Its `a=ptime`.
    pub(crate) ptime: Option<u32>,
}

fn ptime_of(m: &MediaDescription) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        Attribute::Ptime(p) => Some(*p),
        _ => None,
    })
}

fn set_ptime(m: &mut MediaDescription, ptime: Option<u32>) {
    m.attributes.retain(|a| !matches!(a, Attribute::Ptime(_)));
    if let Some(p) = ptime {
        m.attributes.push(Attribute::Ptime(p));
    }
}

fn is_event(c: &Codec) -> bool {
    c.encoding.eq_ignore_ascii_case("telephone-event")
}

/// The transcoder's view of an SDP codec, if the relay can transcode it.
pub(crate) fn transcodable(c: &Codec) -> Option<TCodec> {
    let e = c.encoding.to_ascii_lowercase();
    match (e.as_str(), c.clock_rate) {
        ("pcmu", 8000) => Some(TCodec::Pcmu),
        ("pcma", 8000) => Some(TCodec::Pcma),
        ("g722", 8000) => Some(TCodec::G722),
        ("opus", 48000) => Some(TCodec::Opus { sample_rate: 48000 }),
        _ => None,
    }
}

/// The SDP form of a codec the relay adds for `transcode`.
fn new_codec(name: &str) -> Option<NewCodec<'static>> {
    let (encoding, clock_rate, channels, fmtp) = match name {
        "pcmu" => ("PCMU", 8000, None, None),
        "pcma" => ("PCMA", 8000, None, None),
        "g722" => ("G722", 8000, None, None),
        "opus" => ("opus", 48000, Some(2), Some("useinbandfec=1")),
        _ => return None,
    };
    Some(NewCodec {
        encoding,
        clock_rate,
        channels,
        fmtp,
        payload_type: None,
    })
}

fn readd(m: &mut MediaDescription, c: &Codec) -> Result<(), NgError> {
    add_codec(
        m,
        &NewCodec {
            encoding: &c.encoding,
            clock_rate: c.clock_rate,
            channels: c.channels,
            fmtp: c.fmtp.as_deref(),
            payload_type: Some(c.payload_type),
        },
    )
    .map_err(rewrite)?;
    Ok(())
}

fn rewrite(e: ferrovox_sdp::RewriteError) -> NgError {
    NgError::CodecRewrite(e.to_string())
}

/// Applies the codec requests to the section sent to the answerer (`m`, a
/// copy of the offerer's) and returns what the answer needs.
pub(crate) fn apply_offer(
    m: &mut MediaDescription,
    index: usize,
    offerer: usize,
    flags: &CodecFlags,
) -> Result<OfferedCodecs, NgError> {
    let original = m.codecs();
    let offered = OfferedCodecs {
        offerer,
        codecs: original.clone(),
        removed: CodecFlags {
            strip: flags.strip.clone(),
            mask: flags.mask.clone(),
            ..CodecFlags::default()
        },
        ptime: ptime_of(m),
    };
    if *flags == CodecFlags::default() {
        return Ok(offered);
    }
    let removed: Vec<String> = flags.strip.iter().chain(&flags.mask).cloned().collect();
    if removed.iter().any(|n| n == "all") {
        mask_codecs(m, CodecSelector::All);
    } else if !removed.is_empty() {
        let names: Vec<&str> = removed.iter().map(String::as_str).collect();
        mask_codecs(m, CodecSelector::Names(&names));
    }
    let had = |name: &str| {
        original
            .iter()
            .filter(|c| c.encoding.eq_ignore_ascii_case(name))
            .cloned()
            .collect::<Vec<_>>()
    };
    for name in &flags.offer {
        for c in had(name) {
            readd(m, &c)?;
        }
    }
    let mut added_clock = false;
    for name in &flags.transcode {
        let back = had(name);
        if !back.is_empty() {
            for c in back {
                readd(m, &c)?;
            }
        } else if let Some(new) = new_codec(name) {
            if !m.has_codec(new.encoding) {
                add_codec(m, &new).map_err(rewrite)?;
                added_clock = true;
            }
        } else {
            tracing::debug!(codec = name, "cannot transcode to this codec: ignored");
        }
    }
    // telephone-event: one per media clock when the offerer had it.
    let offered_event = original.iter().find(|c| is_event(c));
    let codecs = m.codecs();
    let clocks: Vec<u32> = codecs
        .iter()
        .filter(|c| !c.is_auxiliary())
        .map(|c| c.clock_rate)
        .collect();
    let stale: Vec<String> = codecs
        .iter()
        .filter(|c| is_event(c) && !clocks.contains(&c.clock_rate))
        .map(|c| c.payload_type.to_string())
        .collect();
    if !stale.is_empty() {
        m.formats.retain(|f| !stale.contains(f));
        m.attributes.retain(|a| match a {
            Attribute::Rtpmap(r) => !stale.contains(&r.payload_type.to_string()),
            Attribute::Fmtp(f) => !stale.contains(&f.format),
            _ => true,
        });
    }
    if added_clock && let Some(ev) = offered_event {
        for clock in clocks {
            let present = m
                .codecs()
                .iter()
                .any(|c| is_event(c) && c.clock_rate == clock);
            if !present {
                add_codec(
                    m,
                    &NewCodec {
                        encoding: "telephone-event",
                        clock_rate: clock,
                        channels: None,
                        fmtp: Some(ev.fmtp.as_deref().unwrap_or("0-16")),
                        payload_type: None,
                    },
                )
                .map_err(rewrite)?;
            }
        }
    }
    if m.formats.is_empty() {
        return Err(NgError::Invalid(
            "codec",
            format!("no codec left to offer on media {index}"),
        ));
    }
    Ok(offered)
}

/// A usable packet time for `codec` (Opus: 10, 20, 40, 60 ms; others a
/// multiple of 10 up to 120 ms), else the default.
fn ptime_for(codec: TCodec, ptime: Option<u32>) -> u32 {
    let p = ptime.unwrap_or(DEFAULT_PTIME);
    let ok = match codec {
        TCodec::Opus { .. } => matches!(p, 10 | 20 | 40 | 60),
        _ => (10..=120).contains(&p) && p.is_multiple_of(10),
    };
    if ok { p } else { DEFAULT_PTIME }
}

/// The outcome of an answer for one section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// A shared codec: relay.
    Relay,
    /// Transcode: what the offerer's stream receives, and what the
    /// answerer's receives.
    Transcode {
        from_offerer: TranscodeSpec,
        from_answerer: TranscodeSpec,
    },
}

/// Decides relay or transcode for the answerer's section `answer`, and
/// rewrites `out` (the copy returned to the offerer) when transcoding.
pub(crate) fn apply_answer(
    offered: &OfferedCodecs,
    answer: &MediaDescription,
    out: &mut MediaDescription,
) -> Result<Plan, NgError> {
    let answered = answer.codecs();
    let Some(theirs) = answered.iter().find(|c| !c.is_auxiliary()) else {
        return Ok(Plan::Relay);
    };
    if offered.codecs.iter().any(|c| c.same_codec(theirs)) {
        return Ok(Plan::Relay);
    }
    let Some(their_codec) = transcodable(theirs) else {
        tracing::info!(
            codec = theirs.encoding,
            "answer picked a codec the offerer lacks and the relay cannot transcode: relaying"
        );
        return Ok(Plan::Relay);
    };
    let candidates = || {
        offered
            .codecs
            .iter()
            .filter(|c| !c.is_auxiliary())
            .filter_map(|c| transcodable(c).map(|t| (c, t)))
    };
    let Some((ours, our_codec)) = candidates()
        .find(|(c, _)| !offered.removed.removes(&c.encoding))
        .or_else(|| candidates().next())
    else {
        tracing::info!("the offerer has no codec the relay can transcode: relaying");
        return Ok(Plan::Relay);
    };
    let event_at = |codecs: &[Codec], clock: u32| {
        let events = || codecs.iter().filter(|c| is_event(c));
        events()
            .find(|c| c.clock_rate == clock)
            .or_else(|| events().next())
            .map(|c| c.payload_type)
    };
    let our_event = event_at(&offered.codecs, ours.clock_rate);
    let their_event = event_at(&answered, theirs.clock_rate);
    let (our_event, their_event) = match (our_event, their_event) {
        (Some(a), Some(b)) => (Some(a), Some(b)),
        _ => (None, None),
    };
    let our_ptime = ptime_for(our_codec, offered.ptime);
    let their_ptime = ptime_for(their_codec, ptime_of(answer));
    let from_offerer = TranscodeSpec::new(
        (ours.payload_type, our_codec, our_ptime),
        (theirs.payload_type, their_codec, their_ptime),
        our_event,
        their_event,
    );
    let from_answerer = TranscodeSpec::new(
        (theirs.payload_type, their_codec, their_ptime),
        (ours.payload_type, our_codec, our_ptime),
        their_event,
        our_event,
    );
    // The answer to the offerer: its own codec (and telephone-event).
    mask_codecs(out, CodecSelector::All);
    readd(out, ours)?;
    if let Some(pt) = our_event
        && let Some(ev) = offered.codecs.iter().find(|c| c.payload_type == pt)
    {
        readd(out, ev)?;
    }
    set_ptime(out, offered.ptime);
    Ok(Plan::Transcode {
        from_offerer,
        from_answerer,
    })
}
