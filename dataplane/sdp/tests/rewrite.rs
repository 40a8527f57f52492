//! Relay rewrites, asserted on the written text.

mod common;

use std::net::IpAddr;

use common::{fixture, lines, media_lines, session_lines};
use ferrovox_sdp::attribute::Direction;
use ferrovox_sdp::codec::{CodecSelector, NewCodec, add_codec, mask_codecs, strip_codecs};
use ferrovox_sdp::crypto::Crypto;
use ferrovox_sdp::origin::{OriginTracker, Side};
use ferrovox_sdp::rewrite::{
    AddressRewrite, RtcpEndpoint, add_crypto, make_plain, make_sdes, remove_ice,
    set_all_directions, set_direction, set_media_endpoint, set_rtcp_mux,
};
use ferrovox_sdp::{RewriteError, SessionDescription};

fn relay() -> IpAddr {
    "203.0.113.5".parse().unwrap()
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn session_connection_replaced_media_inherits() {
    let mut sdp = fixture("sipp_pcmu.sdp");
    let rw = AddressRewrite {
        address: relay(),
        origin: false,
        session_connection: true,
        media_connections: true,
    };
    ferrovox_sdp::rewrite::rewrite_addresses(&mut sdp, &rw);
    let session = session_lines(&sdp);
    assert!(
        session.contains(&"c=IN IP4 203.0.113.5".to_owned()),
        "{session:?}"
    );
    assert!(
        session.contains(&"o=user1 53655765 2353687637 IN IP4 127.0.1.1".to_owned()),
        "origin untouched"
    );
    assert_eq!(
        count(&media_lines(&sdp, 0), "c="),
        0,
        "media inherits the session c="
    );
    assert_eq!(count(&lines(&sdp), "c="), 1);
}

#[test]
fn origin_replaced_only_when_asked() {
    let mut sdp = fixture("sipp_pcmu.sdp");
    ferrovox_sdp::rewrite::rewrite_addresses(
        &mut sdp,
        &AddressRewrite::all("2001:db8::5".parse().unwrap()),
    );
    let all = lines(&sdp);
    assert!(all.contains(&"o=user1 53655765 2353687637 IN IP6 2001:db8::5".to_owned()));
    assert!(all.contains(&"c=IN IP6 2001:db8::5".to_owned()));
    assert!(!sdp.to_string().contains("127.0.1.1"));
}

#[test]
fn media_only_rewrite_leaves_session_connection_and_adds_media_connection() {
    let mut sdp = fixture("kamailio_rtpengine.sdp");
    ferrovox_sdp::rewrite::rewrite_addresses(&mut sdp, &AddressRewrite::media(relay()));
    assert!(session_lines(&sdp).contains(&"c=IN IP4 203.0.113.1".to_owned()));
    assert!(session_lines(&sdp).contains(&"o=- 1545997027 1 IN IP4 198.51.100.10".to_owned()));
    let m = media_lines(&sdp, 0);
    assert_eq!(m[1], "c=IN IP4 203.0.113.5", "c= right after m=: {m:?}");
}

#[test]
fn media_level_connections_are_replaced_and_multicast_collapsed() {
    let mut sdp: SessionDescription = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127\r\nc=IN IP4 224.2.1.2/127\r\nm=video 4002 RTP/AVP 31\r\nc=IN IP4 10.0.0.1\r\n"
        .parse()
        .unwrap();
    ferrovox_sdp::rewrite::rewrite_addresses(&mut sdp, &AddressRewrite::media(relay()));
    assert_eq!(count(&lines(&sdp), "c="), 2);
    assert_eq!(media_lines(&sdp, 0)[1], "c=IN IP4 203.0.113.5");
    assert_eq!(media_lines(&sdp, 1)[1], "c=IN IP4 203.0.113.5");
}

#[test]
fn ports_and_rtcp_attribute() {
    let mut sdp = fixture("kamailio_rtpengine.sdp");
    let m = &mut sdp.media[0];
    set_media_endpoint(m, relay(), 40000, RtcpEndpoint::Separate { port: 40001 });
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 40000 RTP/AVP 8 0 101");
    // Replaced in place: still right after a=sendrecv.
    let i = ml
        .iter()
        .position(|l| l == "a=rtcp:40001 IN IP4 203.0.113.5")
        .expect("rtcp line");
    assert_eq!(ml[i - 1], "a=sendrecv");
    assert_eq!(count(&ml, "a=rtcp"), 1);

    set_media_endpoint(&mut sdp.media[0], relay(), 40002, RtcpEndpoint::Muxed);
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 40002 RTP/AVP 8 0 101");
    assert_eq!(count(&ml, "a=rtcp:"), 0);
    assert_eq!(count(&ml, "a=rtcp-mux"), 1);
    // Idempotent.
    set_rtcp_mux(&mut sdp.media[0], true);
    assert_eq!(count(&media_lines(&sdp, 0), "a=rtcp-mux"), 1);
    set_rtcp_mux(&mut sdp.media[0], false);
    assert_eq!(count(&media_lines(&sdp, 0), "a=rtcp-mux"), 0);
}

#[test]
fn origin_version_increments_once_per_change_and_not_on_resend() {
    let mut tracker = OriginTracker::new();
    let mut first = fixture("asterisk_g722.sdp");
    assert_eq!(tracker.stamp(Side::Callee, &mut first), 1_734_626_193);
    assert!(
        first
            .to_string()
            .contains("o=- 1734626193 1734626193 IN IP4 192.0.2.20\r\n")
    );

    // Identical resend (e.g. a re-INVITE refresh) keeps the version even if
    // upstream bumped its own.
    let mut resend = fixture("asterisk_g722.sdp");
    resend.origin.session_version += 7;
    assert_eq!(tracker.stamp(Side::Callee, &mut resend), 1_734_626_193);
    assert!(
        resend
            .to_string()
            .contains("o=- 1734626193 1734626193 IN IP4 192.0.2.20\r\n")
    );

    // A change (hold) bumps exactly once.
    let mut hold = fixture("asterisk_g722.sdp");
    set_direction(&mut hold.media[0], Direction::SendOnly);
    assert_eq!(tracker.stamp(Side::Callee, &mut hold), 1_734_626_194);
    assert!(
        hold.to_string()
            .contains("o=- 1734626193 1734626194 IN IP4 192.0.2.20\r\n")
    );
    let mut hold_again = hold.clone();
    assert_eq!(tracker.stamp(Side::Callee, &mut hold_again), 1_734_626_194);

    // Upstream changed its o= (new session after a transfer) but the
    // relay keeps o= stable toward this side.
    let mut other = fixture("asterisk_g722.sdp");
    other.origin.session_id = "42".into();
    other.origin.address = "198.51.100.1".into();
    assert_eq!(
        tracker.stamp(Side::Callee, &mut other),
        1_734_626_195,
        "content differs from the hold"
    );
    assert!(
        other
            .to_string()
            .contains("o=- 1734626193 1734626195 IN IP4 192.0.2.20\r\n")
    );

    // The other side has its own history.
    let mut to_caller = fixture("sipp_pcmu.sdp");
    assert_eq!(tracker.stamp(Side::Caller, &mut to_caller), 2_353_687_637);
    assert_eq!(tracker.last_version(Side::Callee), Some(1_734_626_195));
}

#[test]
fn ice_removal_leaves_no_ice_lines() {
    let mut sdp = fixture("chrome_webrtc.sdp");
    sdp.attributes.push(ferrovox_sdp::Attribute::IceLite);
    let removed = remove_ice(&mut sdp);
    assert_eq!(removed, 14);
    let text = sdp.to_string();
    for gone in [
        "a=candidate",
        "a=ice-ufrag",
        "a=ice-pwd",
        "a=ice-options",
        "a=end-of-candidates",
        "a=ice-lite",
    ] {
        assert!(!text.contains(gone), "{gone} left");
    }
    // Everything else stays.
    assert_eq!(count(&lines(&sdp), "a=fingerprint:"), 2);
    assert_eq!(count(&lines(&sdp), "a=extmap:"), 7);
    assert_eq!(
        lines(&sdp).len(),
        lines(&fixture("chrome_webrtc.sdp")).len() - 13
    );
}

#[test]
fn savp_to_avp_swaps_proto_and_removes_crypto() {
    let mut sdp = fixture("sdes_srtp.sdp");
    let removed = make_plain(&mut sdp.media[0]);
    assert_eq!(removed.iter().map(|c| c.tag).collect::<Vec<_>>(), [1, 2]);
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 4000 RTP/AVP 0 8 101");
    assert_eq!(count(&ml, "a=crypto"), 0);
    assert_eq!(
        ml.len(),
        media_lines(&fixture("sdes_srtp.sdp"), 0).len() - 2
    );
}

#[test]
fn avp_to_savp_swaps_proto_and_adds_crypto() {
    let mut sdp = fixture("asterisk_g722.sdp");
    let key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
    make_sdes(
        &mut sdp.media[0],
        vec![
            Crypto::inline(1, "AES_CM_128_HMAC_SHA1_80", key),
            Crypto::inline(2, "AES_CM_128_HMAC_SHA1_32", key),
        ],
    )
    .unwrap();
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 14562 RTP/SAVP 9 0 8 101");
    assert_eq!(
        ml.iter()
            .filter(|l| l.starts_with("a=crypto"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}"),
            format!("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{key}"),
        ]
    );
    // Round trip of the secured description.
    assert_eq!(SessionDescription::parse(&sdp.to_bytes()).unwrap(), sdp);
    // Duplicate tag refused.
    assert_eq!(
        add_crypto(
            &mut sdp.media[0],
            Crypto::inline(1, "AES_CM_128_HMAC_SHA1_80", key)
        ),
        Err(RewriteError::CryptoTagInUse(1))
    );
    // Injection refused, section unchanged.
    let before = sdp.clone();
    let bad = Crypto::inline(3, "AES_CM_128_HMAC_SHA1_80\r\na=evil", key);
    assert!(make_sdes(&mut sdp.media[0], vec![bad]).is_err());
    assert_eq!(sdp, before);
}

#[test]
fn avpf_savpf_and_dtls_to_plain() {
    let mut sdp = fixture("chrome_webrtc.sdp");
    make_plain(&mut sdp.media[0]);
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 54609 RTP/AVPF 111 63 9 0 8 13 110 126");
    assert_eq!(count(&ml, "a=fingerprint"), 0);
    assert_eq!(count(&ml, "a=setup"), 0);
    make_sdes(
        &mut sdp.media[0],
        vec![Crypto::inline(1, "AES_CM_128_HMAC_SHA1_80", "QUJD")],
    )
    .unwrap();
    assert_eq!(
        media_lines(&sdp, 0)[0],
        "m=audio 54609 RTP/SAVPF 111 63 9 0 8 13 110 126"
    );

    let mut app: SessionDescription =
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
            .parse()
            .unwrap();
    assert_eq!(
        make_sdes(
            &mut app.media[0],
            vec![Crypto::inline(1, "AES_CM_128_HMAC_SHA1_80", "QUJD")]
        ),
        Err(RewriteError::NotRtp)
    );
}

#[test]
fn direction_set_in_place_and_session_level_removed() {
    let mut sdp = fixture("asterisk_g722.sdp");
    set_direction(&mut sdp.media[0], Direction::Inactive);
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml.last().map(String::as_str), Some("a=inactive"));
    assert_eq!(count(&ml, "a=sendrecv"), 0);

    let mut sdp: SessionDescription =
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\na=recvonly\r\n\
m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 31\r\na=inactive\r\n"
            .parse()
            .unwrap();
    set_all_directions(&mut sdp, Direction::SendOnly);
    assert_eq!(count(&session_lines(&sdp), "a="), 0);
    assert_eq!(media_lines(&sdp, 0)[1..], ["a=sendonly"]);
    assert_eq!(media_lines(&sdp, 1)[1..], ["a=sendonly"]);
}

#[test]
fn strip_codec_by_name_keeps_order_and_removes_its_lines() {
    let mut sdp = fixture("asterisk_g722.sdp");
    assert_eq!(
        strip_codecs(&mut sdp.media[0], CodecSelector::Names(&["pcmu"])),
        1
    );
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 14562 RTP/AVP 9 8 101");
    assert!(!ml.contains(&"a=rtpmap:0 PCMU/8000".to_owned()));
    assert_eq!(count(&ml, "a=rtpmap:"), 3);

    assert_eq!(
        strip_codecs(
            &mut sdp.media[0],
            CodecSelector::Names(&["TELEPHONE-EVENT"])
        ),
        1
    );
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 14562 RTP/AVP 9 8");
    assert_eq!(count(&ml, "a=fmtp:"), 0);
    assert_eq!(count(&ml, "a=ptime:20"), 1, "non-codec lines stay");
}

#[test]
fn strip_static_codec_without_rtpmap() {
    let mut sdp: SessionDescription =
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 18\r\na=fmtp:18 annexb=no\r\n"
            .parse()
            .unwrap();
    strip_codecs(&mut sdp.media[0], CodecSelector::Names(&["PCMA", "g729"]));
    assert_eq!(media_lines(&sdp, 0), ["m=audio 4000 RTP/AVP 0"]);
}

#[test]
fn strip_video_codec_takes_its_rtx_and_feedback() {
    let mut sdp = fixture("chrome_webrtc.sdp");
    let removed = mask_codecs(&mut sdp.media[1], CodecSelector::Names(&["VP8"]));
    assert_eq!(
        removed
            .iter()
            .map(|r| r.format.as_str())
            .collect::<Vec<_>>(),
        ["96", "97"]
    );
    assert_eq!(removed[0].position, 0);
    assert_eq!(removed[0].attributes.len(), 6, "rtpmap + 5 rtcp-fb");
    assert_eq!(removed[1].attributes.len(), 2, "rtx rtpmap + fmtp apt=96");
    let ml = media_lines(&sdp, 1);
    assert_eq!(ml[0], "m=video 54609 UDP/TLS/RTP/SAVPF 102 103");
    assert!(!ml.iter().any(|l| l.contains(":96 ") || l.contains(":97 ")));
    assert_eq!(count(&ml, "a=rtcp-fb:102"), 3);
    assert_eq!(count(&ml, "a=fmtp:103 apt=102"), 1);
}

#[test]
fn mask_returns_what_was_removed() {
    let mut sdp = fixture("asterisk_g722.sdp");
    let removed = mask_codecs(
        &mut sdp.media[0],
        CodecSelector::Names(&["G722", "telephone-event"]),
    );
    assert_eq!(removed.len(), 2);
    assert_eq!(removed[0].position, 0);
    assert_eq!(
        removed[0].codec.as_ref().map(|c| c.encoding.as_str()),
        Some("G722")
    );
    assert_eq!(removed[1].position, 3);
    assert_eq!(
        removed[1]
            .attributes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["rtpmap:101 telephone-event/8000", "fmtp:101 0-16"]
    );
    assert_eq!(media_lines(&sdp, 0)[0], "m=audio 14562 RTP/AVP 0 8");
}

#[test]
fn strip_all_then_offer_one() {
    let mut sdp = fixture("asterisk_g722.sdp");
    assert_eq!(strip_codecs(&mut sdp.media[0], CodecSelector::All), 4);
    let pt = add_codec(
        &mut sdp.media[0],
        &NewCodec {
            encoding: "PCMU",
            clock_rate: 8000,
            channels: None,
            fmtp: None,
            payload_type: None,
        },
    )
    .unwrap();
    assert_eq!(pt, 0, "static payload type used");
    let ml = media_lines(&sdp, 0);
    assert_eq!(
        ml,
        [
            "m=audio 14562 RTP/AVP 0",
            "a=ptime:20",
            "a=maxptime:150",
            "a=sendrecv",
            "a=rtpmap:0 PCMU/8000"
        ]
    );
}

#[test]
fn offered_codec_gets_free_dynamic_payload_type_after_existing_lines() {
    let mut sdp = fixture("asterisk_g722.sdp");
    let opus = NewCodec {
        encoding: "opus",
        clock_rate: 48000,
        channels: Some(2),
        fmtp: Some("useinbandfec=1"),
        payload_type: None,
    };
    assert_eq!(add_codec(&mut sdp.media[0], &opus).unwrap(), 96);
    let ml = media_lines(&sdp, 0);
    assert_eq!(ml[0], "m=audio 14562 RTP/AVP 9 0 8 101 96");
    let at = ml.iter().position(|l| l == "a=fmtp:101 0-16").unwrap();
    assert_eq!(
        ml[at + 1..at + 3],
        ["a=rtpmap:96 opus/48000/2", "a=fmtp:96 useinbandfec=1"]
    );
    // Adding it again changes nothing.
    assert_eq!(add_codec(&mut sdp.media[0], &opus).unwrap(), 96);
    assert_eq!(media_lines(&sdp, 0), ml);
}

#[test]
fn dynamic_payload_type_does_not_collide() {
    // 96-98 listed, 99 only has an (unlisted) rtpmap, 101 listed.
    let mut sdp: SessionDescription = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 96 97 98 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 AMR/8000\r\na=rtpmap:98 AMR-WB/16000\r\n\
a=rtpmap:99 iLBC/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        .parse()
        .unwrap();
    let new = |enc| NewCodec {
        encoding: enc,
        clock_rate: 16000,
        channels: None,
        fmtp: None,
        payload_type: None,
    };
    assert_eq!(add_codec(&mut sdp.media[0], &new("speex")).unwrap(), 100);
    assert_eq!(add_codec(&mut sdp.media[0], &new("SILK")).unwrap(), 102);
    let pts: Vec<u8> = sdp.media[0].payload_types().collect();
    let mut dedup = pts.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(pts.len(), dedup.len());

    // Explicit payload type in use.
    let mut fixed = new("G7221");
    fixed.payload_type = Some(101);
    assert_eq!(
        add_codec(&mut sdp.media[0], &fixed),
        Err(RewriteError::PayloadTypeInUse(101))
    );
    fixed.payload_type = Some(120);
    assert_eq!(add_codec(&mut sdp.media[0], &fixed), Ok(120));
    assert!(sdp.to_string().contains("a=rtpmap:120 G7221/16000\r\n"));

    // Exhaustion.
    let mut full = sdp.clone();
    full.media[0].formats = (96..=127).map(|pt: u8| pt.to_string()).collect();
    assert_eq!(
        add_codec(&mut full.media[0], &new("L16")),
        Err(RewriteError::NoFreePayloadType)
    );
}

#[test]
fn bundle_payload_types_can_be_avoided() {
    let mut sdp = fixture("chrome_webrtc.sdp");
    // Video uses 96, 97, 102, 103; audio 111 63 9 0 8 13 110 126.
    let video_pts: Vec<u8> = sdp.media[1].payload_types().collect();
    let g7221 = NewCodec {
        encoding: "G7221",
        clock_rate: 16000,
        channels: None,
        fmtp: Some("bitrate=32000"),
        payload_type: None,
    };
    let pt =
        ferrovox_sdp::codec::add_codec_avoiding(&mut sdp.media[0], &g7221, &video_pts).unwrap();
    assert_eq!(pt, 98, "96 and 97 are taken by video in the bundle");
    assert!(media_lines(&sdp, 0).contains(&"a=fmtp:98 bitrate=32000".to_owned()));
    let mut fixed = g7221;
    fixed.encoding = "AMR-WB";
    fixed.payload_type = Some(102);
    assert_eq!(
        ferrovox_sdp::codec::add_codec_avoiding(&mut sdp.media[0], &fixed, &video_pts),
        Err(RewriteError::PayloadTypeInUse(102))
    );
}
