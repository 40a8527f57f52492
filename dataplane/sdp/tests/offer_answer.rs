//! RFC 3264 answer checks, negotiated codecs and the transcoding decision.

mod common;

use common::fixture;
use ferrovox_sdp::SessionDescription;
use ferrovox_sdp::attribute::Direction;
use ferrovox_sdp::offer_answer::{OfferAnswerError, check_answer, share_codec, shared_codecs};

fn sdp(media: &str) -> SessionDescription {
    format!("v=0\r\no=- 7 7 IN IP4 192.0.2.99\r\ns=-\r\nc=IN IP4 192.0.2.99\r\nt=0 0\r\n{media}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{media}"))
}

fn negotiated(offer: &SessionDescription, answer: &SessionDescription) -> Vec<Vec<String>> {
    check_answer(offer, answer)
        .unwrap()
        .iter()
        .map(|s| {
            s.formats
                .iter()
                .map(|f| match &f.codec {
                    Some(c) => format!("{}:{}", f.answer_format, c.encoding),
                    None => f.answer_format.clone(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn matching_answer_negotiates_in_answerer_order() {
    let offer = fixture("asterisk_g722.sdp");
    let answer = sdp("m=audio 5000 RTP/AVP 8 9 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    assert_eq!(
        negotiated(&offer, &answer),
        [["8:PCMA", "9:G722", "101:telephone-event"]]
    );
    let streams = check_answer(&offer, &answer).unwrap();
    assert!(streams[0].accepted);
    assert_eq!(streams[0].direction, Direction::SendRecv);
}

#[test]
fn remapped_dynamic_payload_type_is_accepted() {
    let offer = fixture("asterisk_g722.sdp");
    let answer = sdp("m=audio 5000 RTP/AVP 0 100\r\na=rtpmap:100 telephone-event/8000\r\n");
    let streams = check_answer(&offer, &answer).unwrap();
    let te = &streams[0].formats[1];
    assert_eq!(
        (te.offer_format.as_str(), te.answer_format.as_str()),
        ("101", "100")
    );
}

#[test]
fn subset_violation_is_detected() {
    let offer = fixture("asterisk_g722.sdp");
    let answer = sdp("m=audio 5000 RTP/AVP 0 18\r\n");
    assert_eq!(
        check_answer(&offer, &answer),
        Err(OfferAnswerError::FormatNotOffered {
            index: 0,
            format: "18".into()
        })
    );
    // Same number, different codec.
    let answer = sdp("m=audio 5000 RTP/AVP 101\r\na=rtpmap:101 opus/48000/2\r\n");
    assert!(matches!(
        check_answer(&offer, &answer),
        Err(OfferAnswerError::FormatNotOffered { index: 0, .. })
    ));
}

#[test]
fn rejected_stream_and_structure_errors() {
    let offer = sdp("m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 31\r\n");
    let answer = sdp("m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n");
    let streams = check_answer(&offer, &answer).unwrap();
    assert!(streams[0].accepted);
    assert!(!streams[1].accepted);
    assert!(streams[1].formats.is_empty());

    let short = sdp("m=audio 5000 RTP/AVP 0\r\n");
    assert_eq!(
        check_answer(&offer, &short),
        Err(OfferAnswerError::MediaCount {
            offer: 2,
            answer: 1
        })
    );
    let swapped = sdp("m=video 5000 RTP/AVP 31\r\nm=audio 5002 RTP/AVP 0\r\n");
    assert!(matches!(
        check_answer(&offer, &swapped),
        Err(OfferAnswerError::MediaType { index: 0, .. })
    ));
    let secure = sdp("m=audio 5000 RTP/SAVP 0\r\nm=video 0 RTP/AVP 31\r\n");
    assert!(matches!(
        check_answer(&offer, &secure),
        Err(OfferAnswerError::Proto { index: 0, .. })
    ));
    let disabled_offer = sdp("m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n");
    let revived = sdp("m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 31\r\n");
    assert_eq!(
        check_answer(&disabled_offer, &revived),
        Err(OfferAnswerError::DisabledStreamAccepted { index: 1 })
    );
}

#[test]
fn direction_negotiation() {
    let offer = sdp("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n");
    for (answer_dir, ok) in [
        ("recvonly", true),
        ("inactive", true),
        ("sendrecv", false),
        ("sendonly", false),
    ] {
        let answer = sdp(&format!("m=audio 5000 RTP/AVP 0\r\na={answer_dir}\r\n"));
        assert_eq!(
            check_answer(&offer, &answer).is_ok(),
            ok,
            "sendonly answered {answer_dir}"
        );
    }
    // No attribute means sendrecv, which a sendonly offer does not allow.
    let answer = sdp("m=audio 5000 RTP/AVP 0\r\n");
    assert_eq!(
        check_answer(&offer, &answer),
        Err(OfferAnswerError::Direction {
            index: 0,
            offer: Direction::SendOnly,
            answer: Direction::SendRecv
        })
    );
    // Session-level direction counts.
    let answer: SessionDescription =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\na=recvonly\r\nm=audio 5000 RTP/AVP 0\r\n"
            .parse()
            .unwrap();
    assert_eq!(
        check_answer(&offer, &answer).unwrap()[0].direction,
        Direction::RecvOnly
    );
}

#[test]
fn webrtc_offer_answered_with_bundle() {
    let offer = fixture("chrome_webrtc.sdp");
    let mut answer = offer.clone();
    answer.media[0].formats = vec!["111".into(), "126".into()];
    answer.media[1].formats = vec!["102".into(), "103".into()];
    assert_eq!(
        negotiated(&offer, &answer),
        [
            vec!["111:opus", "126:telephone-event"],
            vec!["102:H264", "103:rtx"]
        ]
    );
}

#[test]
fn shared_codec_decides_transcoding() {
    let pcmu_only = fixture("sipp_pcmu.sdp");
    let opus_only = sdp(
        "m=audio 4000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    assert!(!share_codec(&pcmu_only.media[0], &opus_only.media[0]));

    // telephone-event alone is not a shared codec.
    let pcmu_te = sdp("m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    assert!(!share_codec(&pcmu_te.media[0], &opus_only.media[0]));

    let asterisk = fixture("asterisk_g722.sdp");
    let shared = shared_codecs(&asterisk.media[0], &pcmu_only.media[0]);
    assert_eq!(shared.len(), 1);
    assert_eq!(
        (shared[0].0.encoding.as_str(), shared[0].1.payload_type),
        ("PCMU", 0)
    );
    assert!(share_codec(&asterisk.media[0], &pcmu_only.media[0]));

    // Case and channel defaults do not get in the way.
    let lower = sdp("m=audio 4000 RTP/AVP 97\r\na=rtpmap:97 pcmu/8000/1\r\n");
    assert!(share_codec(&lower.media[0], &pcmu_only.media[0]));
}
