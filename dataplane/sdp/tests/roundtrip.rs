//! Parse → write → parse on real-world descriptions, and the typed fields
//! a relay relies on.

mod common;

use common::{FIXTURES, crlf, fixture, fixture_bytes, lines};
use ferrovox_sdp::SessionDescription;
use ferrovox_sdp::attribute::{Attribute, Direction, Setup};
use ferrovox_sdp::crypto::{Lifetime, Mki};
use ferrovox_sdp::model::{AddrType, BandwidthType};

#[test]
fn every_fixture_round_trips_to_identical_model_and_canonical_text() {
    for name in FIXTURES {
        let original = fixture_bytes(name);
        let sdp = fixture(name);
        let written = sdp.to_string();
        // The fixtures are in canonical order, so the writer reproduces
        // them byte for byte (with CRLF).
        assert_eq!(written, crlf(&original), "{name}: written text differs");
        let again = SessionDescription::parse(written.as_bytes()).expect("re-parse");
        assert_eq!(again, sdp, "{name}: model changed across write");
        assert!(
            !written.replace("\r\n", "").contains('\n'),
            "{name}: bare LF in output"
        );
    }
}

#[test]
fn sipp_offer_with_bare_lf() {
    let raw = fixture_bytes("sipp_pcmu.sdp");
    assert!(!raw.contains(&b'\r'), "fixture uses bare LF");
    let sdp = fixture("sipp_pcmu.sdp");
    assert_eq!(sdp.origin.username, "user1");
    assert_eq!(sdp.origin.session_id, "53655765");
    assert_eq!(sdp.origin.session_version, 2_353_687_637);
    assert_eq!(sdp.origin.addrtype, AddrType::Ip4);
    assert_eq!(
        sdp.connection.as_ref().map(|c| c.address.as_str()),
        Some("127.0.1.1")
    );
    let m = &sdp.media[0];
    assert_eq!(
        (m.media.as_str(), m.port, m.proto.as_str()),
        ("audio", 6000, "RTP/AVP")
    );
    let codecs = m.codecs();
    assert_eq!(codecs.len(), 1);
    assert_eq!(
        (
            codecs[0].payload_type,
            codecs[0].encoding.as_str(),
            codecs[0].clock_rate
        ),
        (0, "PCMU", 8000)
    );
    assert_eq!(sdp.media_direction(0), Some(Direction::SendRecv));
}

#[test]
fn rtpengine_rewritten_offer() {
    let sdp = fixture("kamailio_rtpengine.sdp");
    let m = &sdp.media[0];
    let names: Vec<_> = m.codecs().iter().map(|c| c.encoding.clone()).collect();
    assert_eq!(names, ["PCMA", "PCMU", "telephone-event"]);
    assert_eq!(m.fmtp("101").map(|f| f.params.as_str()), Some("0-16"));
    let rtcp = m.attributes.iter().find_map(|a| match a {
        Attribute::Rtcp(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        rtcp.map(|r| (r.port, r.address.is_none())),
        Some((30001, true))
    );
    assert!(m.attributes.contains(&Attribute::Ptime(20)));
    assert!(m.attributes.contains(&Attribute::MaxPtime(150)));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(sdp.origin.session_version, 1);
}

#[test]
fn chrome_webrtc_offer() {
    let sdp = fixture("chrome_webrtc.sdp");
    assert_eq!(
        sdp.bundle_group(),
        Some(&["0".to_owned(), "1".to_owned()][..])
    );
    assert_eq!(sdp.origin.session_id, "4611731400430051336");
    // Unknown session attribute kept verbatim, including its odd space.
    assert!(sdp.attributes.contains(&Attribute::Other {
        name: "msid-semantic".into(),
        value: Some(" WMS 5nlzMpXsJfJ9HR4TtDhLeWuWQchdIXWDOtSj".into()),
    }));
    assert_eq!(sdp.media.len(), 2);
    let audio = &sdp.media[0];
    assert_eq!(audio.proto, "UDP/TLS/RTP/SAVPF");
    assert_eq!(audio.mid(), Some("0"));
    assert!(audio.rtcp_mux());
    let candidates: Vec<_> = audio
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Candidate(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(candidates.len(), 4);
    assert!(candidates[1].address().ends_with(".local"));
    assert_eq!(candidates[2].kind(), "srflx");
    assert_eq!(candidates[2].related_address(), Some("192.168.56.1"));
    assert_eq!(candidates[3].transport(), "tcp");
    assert!(
        candidates[3]
            .extensions()
            .contains(&("tcptype".into(), "active".into()))
    );
    let fp = audio.attributes.iter().find_map(|a| match a {
        Attribute::Fingerprint(f) => Some(f),
        _ => None,
    });
    let fp = fp.expect("fingerprint");
    assert_eq!(fp.hash_function, "sha-256");
    assert_eq!(fp.bytes().len(), 32);
    assert!(audio.attributes.contains(&Attribute::Setup(Setup::ActPass)));
    assert!(
        audio
            .attributes
            .contains(&Attribute::IceUfrag("Vx0p".into()))
    );
    assert!(
        audio
            .attributes
            .contains(&Attribute::IceOptions(vec!["trickle".into()]))
    );
    let opus = audio.codec(111).expect("opus");
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(opus.fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
    let ssrcs: Vec<_> = audio
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Ssrc(s) => Some((s.id, s.attribute.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ssrcs,
        [
            (3_570_614_608, "cname".into()),
            (3_570_614_608, "msid".into())
        ]
    );
    let video = &sdp.media[1];
    assert!(video.attributes.contains(&Attribute::EndOfCandidates));
    assert_eq!(video.codec(97).and_then(|c| c.fmtp), Some("apt=96".into()));
    // extmap lines stay in their order, verbatim.
    let extmaps: Vec<_> = lines(&sdp)
        .into_iter()
        .filter(|l| l.starts_with("a=extmap:"))
        .collect();
    assert_eq!(
        extmaps,
        [
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:13 urn:3gpp:video-orientation",
        ]
    );
}

#[test]
fn asterisk_offer() {
    let sdp = fixture("asterisk_g722.sdp");
    assert_eq!(sdp.session_name, "Asterisk");
    let m = &sdp.media[0];
    let codecs: Vec<_> = m
        .codecs()
        .iter()
        .map(|c| (c.payload_type, c.encoding.clone()))
        .collect();
    assert_eq!(
        codecs,
        [
            (9, "G722".into()),
            (0, "PCMU".into()),
            (8, "PCMA".into()),
            (101, "telephone-event".into())
        ]
    );
    assert!(m.has_codec("g722"));
}

#[test]
fn sdes_offer_with_two_crypto_lines() {
    let sdp = fixture("sdes_srtp.sdp");
    assert_eq!(sdp.bandwidths[0].kind, BandwidthType::As);
    assert_eq!(sdp.bandwidths[0].value, 84);
    assert!(sdp.connection.is_none());
    let m = &sdp.media[0];
    assert_eq!(m.bandwidths[0].kind, BandwidthType::Tias);
    assert_eq!(m.connections[0].address, "192.0.2.30");
    let cryptos: Vec<_> = m.crypto().collect();
    assert_eq!(cryptos.len(), 2);
    assert_eq!(
        (cryptos[0].tag, cryptos[0].suite.as_str()),
        (1, "AES_CM_128_HMAC_SHA1_80")
    );
    assert_eq!(
        (cryptos[1].tag, cryptos[1].suite.as_str()),
        (2, "AES_CM_128_HMAC_SHA1_32")
    );
    let key = &cryptos[0].keys[0];
    assert_eq!(key.method, "inline");
    assert_eq!(key.key_salt, "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz");
    assert_eq!(key.lifetime, Some(Lifetime::PowerOfTwo(20)));
    assert_eq!(
        key.mki,
        Some(Mki {
            value: 1,
            length: 4
        })
    );
    assert_eq!(key.key_salt_bytes().map(|k| k.len()), Some(30));
    let rtcp = m.attributes.iter().find_map(|a| match a {
        Attribute::Rtcp(r) => Some(r),
        _ => None,
    });
    let rtcp = rtcp.expect("rtcp");
    assert_eq!(rtcp.port, 4001);
    assert_eq!(
        rtcp.address.as_ref().map(|c| c.address.as_str()),
        Some("192.0.2.30")
    );
    // Connection inherited from the media level.
    assert_eq!(
        sdp.media_connection(0).map(|c| c.address.as_str()),
        Some("192.0.2.30")
    );
}

#[test]
fn static_payload_types_resolve_without_rtpmap() {
    let sdp: SessionDescription =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 9 18 96\r\n"
            .parse()
            .unwrap();
    let names: Vec<_> = sdp.media[0]
        .codecs()
        .iter()
        .map(|c| format!("{}/{}", c.encoding, c.clock_rate))
        .collect();
    // 96 has no rtpmap: not resolvable, but still listed.
    assert_eq!(names, ["PCMU/8000", "PCMA/8000", "G722/8000", "G729/8000"]);
    assert_eq!(sdp.media[0].formats.len(), 5);
}

#[test]
fn multicast_connection_suffixes_and_verbatim_lines() {
    let text = "v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\n\
i=A Seminar on the session description protocol\r\nu=http://www.example.com/seminars/sdp.pdf\r\n\
e=j.doe@example.com (Jane Doe)\r\np=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127/3\r\nb=CT:1000\r\n\
t=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h 2898848070 0\r\nk=prompt\r\na=recvonly\r\n\
m=audio 49170/2 RTP/AVP 0\r\nc=IN IP6 FF15::101/3\r\nm=video 51372 RTP/AVP 99\r\ni=video\r\nb=AS:256\r\nk=clear:secret\r\n\
a=rtpmap:99 h263-1998/90000\r\n";
    let sdp: SessionDescription = text.parse().unwrap();
    let c = sdp.connection.as_ref().unwrap();
    assert_eq!(
        (c.address.as_str(), c.ttl, c.count),
        ("224.2.17.12", Some(127), Some(3))
    );
    let c6 = &sdp.media[0].connections[0];
    assert_eq!(
        (c6.addrtype.clone(), c6.address.as_str(), c6.ttl, c6.count),
        (AddrType::Ip6, "FF15::101", None, Some(3))
    );
    assert_eq!(sdp.media[0].port_count, Some(2));
    assert_eq!(sdp.timings[0].repeats, ["7d 1h 0 25h"]);
    assert_eq!(
        sdp.time_zones.as_deref(),
        Some("2882844526 -1h 2898848070 0")
    );
    assert_eq!(sdp.key.as_deref(), Some("prompt"));
    assert_eq!(sdp.media[1].key.as_deref(), Some("clear:secret"));
    assert_eq!(
        sdp.media_direction(1),
        Some(Direction::RecvOnly),
        "session-level direction inherited"
    );
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn relaxed_session_order_is_written_canonically() {
    let text = "v=0\ns=-\no=- 1 1 IN IP4 192.0.2.1\nt=0 0\nc=IN IP4 192.0.2.1\na=tool:x\nb=AS:64\nm=audio 4000 RTP/AVP 0\n";
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nt=0 0\r\na=tool:x\r\nm=audio 4000 RTP/AVP 0\r\n"
    );
}

#[test]
fn rtpmap_for_unlisted_payload_type_is_kept_and_flagged() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(sdp.media[0].unlisted_rtpmaps(), [101]);
    assert!(
        sdp.to_string()
            .contains("a=rtpmap:101 telephone-event/8000\r\n")
    );
    // Not a codec of the section.
    assert!(!sdp.media[0].has_codec("telephone-event"));
}

#[test]
fn non_rtp_sections_keep_textual_formats() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sctp-port:5000\r\nm=image 4002 udptl t38\r\n";
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(sdp.media[0].formats, ["webrtc-datachannel"]);
    assert!(sdp.media[0].codecs().is_empty());
    assert_eq!(sdp.media[1].formats, ["t38"]);
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn payload_types_are_canonical_and_fmtp_matches_numerically() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 008 0101\r\na=fmtp:0101 0-15\r\na=rtpmap:101 telephone-event/8000\r\n";
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(sdp.media[0].formats, ["8", "101"]);
    assert_eq!(
        sdp.media[0].codec(101).and_then(|c| c.fmtp),
        Some("0-15".into())
    );
    assert!(sdp.to_string().contains("m=audio 4000 RTP/AVP 8 101\r\n"));
}

#[test]
fn single_attributes_candidates_and_crypto_lines_parse_on_their_own() {
    let a: Attribute = "a=rtpmap:8 PCMA/8000".parse().unwrap();
    assert_eq!(a.to_string(), "rtpmap:8 PCMA/8000");
    assert_eq!(a.name(), "rtpmap");
    let e = "a=ptime:x".parse::<Attribute>().unwrap_err();
    assert_eq!((e.line, e.field), (1, "a=ptime"));
    assert!(
        "a=tool:x\r\na=evil".parse::<Attribute>().is_err(),
        "line breaks refused"
    );

    let c: ferrovox_sdp::attribute::Candidate =
        "candidate:1 1 UDP 2130706431 203.0.113.5 30000 typ host"
            .parse()
            .unwrap();
    assert_eq!(
        (c.address(), c.port(), c.kind()),
        ("203.0.113.5", 30000, "host")
    );
    assert_eq!(
        Attribute::Candidate(c).to_string(),
        "candidate:1 1 UDP 2130706431 203.0.113.5 30000 typ host"
    );

    let k: ferrovox_sdp::crypto::Crypto =
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 UNENCRYPTED_SRTCP"
            .parse()
            .unwrap();
    assert_eq!(
        Attribute::Crypto(k).to_string(),
        "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 UNENCRYPTED_SRTCP"
    );
}
