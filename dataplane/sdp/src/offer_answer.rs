//! RFC 3264 offer/answer checks and codec negotiation.
//!
//! [`check_answer`] validates an answer against its offer (RFC 3264 §6):
//! - the answer has exactly as many `m=` lines as the offer, with the same
//!   media types and transport protocols, in the same order (§6);
//! - a stream disabled in the offer (port 0) stays disabled (§6);
//! - a rejected stream is one with port 0 in the answer; its formats are
//!   not checked;
//! - every answer format was offered (§6.1): for RTP, the same codec
//!   (encoding, clock rate, channels — see [`Codec::same_codec`]) under
//!   the same payload type or, as §6.1 tolerates, another one; non-RTP
//!   formats must match textually;
//! - the answer's direction is allowed by the offer's (§6.1: an offered
//!   sendonly stream is answered recvonly or inactive, and so on).
//!
//! It returns the negotiated codecs per stream: the intersection in the
//! answerer's order (§6.1 "the answerer's preference"). [`share_codec`]
//! tells whether two legs have a media codec in common, ignoring
//! telephone-event, CN, RED, FEC and rtx; when they do not, the relay has
//! to transcode.
//!
//! Not implemented: fmtp compatibility (H.264 profile-level-id, opus
//! parameters), BUNDLE negotiation (RFC 8843), hold/resume state
//! tracking across offers, SDES tag matching.

use thiserror::Error;

use crate::attribute::Direction;
use crate::codec::Codec;
use crate::model::{MediaDescription, SessionDescription};

/// Why an answer does not fit its offer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OfferAnswerError {
    /// Different numbers of `m=` lines.
    #[error("answer has {answer} media sections, offer has {offer}")]
    MediaCount {
        /// Offer count.
        offer: usize,
        /// Answer count.
        answer: usize,
    },
    /// The media type of a section differs.
    #[error("media section {index}: answer media {answer:?} differs from offer media {offer:?}")]
    MediaType {
        /// Section index (0-based).
        index: usize,
        /// Offer media type.
        offer: String,
        /// Answer media type.
        answer: String,
    },
    /// The transport protocol of an accepted section differs.
    #[error("media section {index}: answer proto {answer:?} differs from offer proto {offer:?}")]
    Proto {
        /// Section index (0-based).
        index: usize,
        /// Offer protocol.
        offer: String,
        /// Answer protocol.
        answer: String,
    },
    /// The offer disabled the stream (port 0) but the answer accepts it.
    #[error("media section {index}: stream disabled in the offer is accepted in the answer")]
    DisabledStreamAccepted {
        /// Section index (0-based).
        index: usize,
    },
    /// The answer lists a format the offer did not.
    #[error("media section {index}: answer format {format} was not offered")]
    FormatNotOffered {
        /// Section index (0-based).
        index: usize,
        /// The answer's format.
        format: String,
    },
    /// The answer's direction is not allowed by the offer's.
    #[error("media section {index}: answer {answer:?} does not fit offer {offer:?}")]
    Direction {
        /// Section index (0-based).
        index: usize,
        /// Offer direction.
        offer: Direction,
        /// Answer direction.
        answer: Direction,
    },
}

/// One format both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedFormat {
    /// The format as in the offer.
    pub offer_format: String,
    /// The format as in the answer (differs for a re-mapped payload type).
    pub answer_format: String,
    /// The answer's codec, if the format is a resolvable RTP payload type.
    pub codec: Option<Codec>,
}

/// Outcome for one media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Section index (0-based).
    pub index: usize,
    /// False when the answer rejected the stream (port 0).
    pub accepted: bool,
    /// Agreed formats in the answerer's order (empty when rejected).
    pub formats: Vec<NegotiatedFormat>,
    /// The answer's effective direction.
    pub direction: Direction,
}

impl NegotiatedStream {
    /// The agreed codecs (answer's payload types), in the answerer's order.
    pub fn codecs(&self) -> Vec<&Codec> {
        self.formats
            .iter()
            .filter_map(|f| f.codec.as_ref())
            .collect()
    }
}

/// Whether an answer direction is allowed for an offer direction: the
/// answerer may only send what the offerer receives and receive what the
/// offerer sends.
pub fn direction_allowed(offer: Direction, answer: Direction) -> bool {
    (!answer.sends() || offer.receives()) && (!answer.receives() || offer.sends())
}

/// The direction an answerer that would like `wanted` must answer to an
/// offered `offer` (offer sendonly + wanted sendrecv → recvonly, ...).
pub fn negotiate_direction(offer: Direction, wanted: Direction) -> Direction {
    Direction::from_flags(
        wanted.sends() && offer.receives(),
        wanted.receives() && offer.sends(),
    )
}

/// Checks `answer` against `offer` and returns the negotiated formats per
/// stream. See the [module docs](self) for the rules.
pub fn check_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Vec<NegotiatedStream>, OfferAnswerError> {
    if offer.media.len() != answer.media.len() {
        return Err(OfferAnswerError::MediaCount {
            offer: offer.media.len(),
            answer: answer.media.len(),
        });
    }
    let mut out = Vec::with_capacity(offer.media.len());
    for (index, (om, am)) in offer.media.iter().zip(&answer.media).enumerate() {
        if om.media != am.media {
            return Err(OfferAnswerError::MediaType {
                index,
                offer: om.media.clone(),
                answer: am.media.clone(),
            });
        }
        let odir = offer.media_direction(index).unwrap_or(Direction::SendRecv);
        let adir = answer.media_direction(index).unwrap_or(Direction::SendRecv);
        if am.is_rejected() {
            out.push(NegotiatedStream {
                index,
                accepted: false,
                formats: Vec::new(),
                direction: adir,
            });
            continue;
        }
        if om.is_rejected() {
            return Err(OfferAnswerError::DisabledStreamAccepted { index });
        }
        if om.proto != am.proto {
            return Err(OfferAnswerError::Proto {
                index,
                offer: om.proto.clone(),
                answer: am.proto.clone(),
            });
        }
        if !direction_allowed(odir, adir) {
            return Err(OfferAnswerError::Direction {
                index,
                offer: odir,
                answer: adir,
            });
        }
        let offered = om.codecs();
        let mut formats = Vec::with_capacity(am.formats.len());
        for af in &am.formats {
            let matched = match_format(om, &offered, am, af).ok_or_else(|| {
                OfferAnswerError::FormatNotOffered {
                    index,
                    format: af.clone(),
                }
            })?;
            formats.push(matched);
        }
        out.push(NegotiatedStream {
            index,
            accepted: true,
            formats,
            direction: adir,
        });
    }
    Ok(out)
}

/// Finds the offered format an answer format corresponds to.
fn match_format(
    om: &MediaDescription,
    offered: &[Codec],
    am: &MediaDescription,
    af: &str,
) -> Option<NegotiatedFormat> {
    let found = |of: &str, codec: Option<Codec>| NegotiatedFormat {
        offer_format: of.to_owned(),
        answer_format: af.to_owned(),
        codec,
    };
    if !am.is_rtp() {
        return om.formats.iter().any(|f| f == af).then(|| found(af, None));
    }
    let apt = crate::attribute::payload_type(af).ok()?;
    let acodec = am.codec(apt);
    let listed = |pt: u8| om.payload_types().any(|p| p == pt);
    match &acodec {
        Some(ac) => {
            // Same payload type carrying the same codec, or an unresolvable
            // offered payload type of that number.
            if listed(apt) {
                match offered.iter().find(|oc| oc.payload_type == apt) {
                    Some(oc) if oc.same_codec(ac) => return Some(found(af, acodec)),
                    None => return Some(found(af, acodec)),
                    Some(_) => {}
                }
            }
            // RFC 3264 §6.1 tolerates a different payload type number.
            let oc = offered.iter().find(|oc| oc.same_codec(ac))?;
            Some(found(&oc.payload_type.to_string(), acodec))
        }
        None => listed(apt).then(|| found(af, None)),
    }
}

/// Media codecs (not [`Codec::is_auxiliary`]) two sections have in
/// common, as pairs (codec in `a`, codec in `b`), in `a`'s order.
pub fn shared_codecs(a: &MediaDescription, b: &MediaDescription) -> Vec<(Codec, Codec)> {
    let bc = b.codecs();
    a.codecs()
        .into_iter()
        .filter(|c| !c.is_auxiliary())
        .filter_map(|c| {
            let other = bc.iter().find(|o| o.same_codec(&c))?.clone();
            Some((c, other))
        })
        .collect()
}

/// Whether two legs' sections share a media codec; when they do not, the
/// relay must transcode.
pub fn share_codec(a: &MediaDescription, b: &MediaDescription) -> bool {
    !shared_codecs(a, b).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_rules() {
        use Direction::*;
        assert!(direction_allowed(SendOnly, RecvOnly));
        assert!(direction_allowed(SendOnly, Inactive));
        assert!(!direction_allowed(SendOnly, SendRecv));
        assert!(!direction_allowed(SendOnly, SendOnly));
        assert!(direction_allowed(RecvOnly, SendOnly));
        assert!(!direction_allowed(Inactive, RecvOnly));
        assert!(direction_allowed(SendRecv, SendOnly));
        assert_eq!(negotiate_direction(SendOnly, SendRecv), RecvOnly);
        assert_eq!(negotiate_direction(RecvOnly, SendRecv), SendOnly);
        assert_eq!(negotiate_direction(Inactive, SendRecv), Inactive);
        assert_eq!(negotiate_direction(SendRecv, RecvOnly), RecvOnly);
    }
}
