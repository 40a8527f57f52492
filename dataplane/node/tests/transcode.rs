//! Transcoding through a running media node over real UDP (127.0.0.1): a PCMU-only
//! caller and an Opus-only callee, negotiated over ng (the callee answering a codec the
//! caller lacks, or the offer asking with rtpengine's `codec` dictionary), then a 1 kHz
//! tone each way. The received packets are decoded independently with the codecs crate
//! and the tone's frequency measured; garbage on the transcoded stream is dropped and
//! counted, and the call keeps working.

use ferrovox_codecs::g711::{decode_ulaw, encode_ulaw};
use ferrovox_codecs::measure::zero_crossing_frequency;
use ferrovox_codecs::opus::{OpusConfig, OpusDecoder, OpusEncoder};
use ferrovox_codecs::signal::sine;
use ferrovox_contract::{MemoryBus, NodeId};
use ferrovox_node::ng::bencode::{self, Value};
use ferrovox_node::{MediaNode, NodeConfig};
use ferrovox_testkit::ports::{free_tcp_port, free_udp_port, loopback};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(5);

async fn start(node: &str, rtp_ports: &str) -> MediaNode {
    let config = NodeConfig {
        node_id: NodeId::new(node).unwrap(),
        admin: loopback(free_tcp_port()),
        ng: loopback(free_udp_port()),
        interface: "127.0.0.1".parse().unwrap(),
        rtp_ports: rtp_ports.parse().unwrap(),
        sip: None,
        media_backend: ferrovox_runtime::Backend::IoUring,
        media_threads: 2,
    };
    MediaNode::start(config, Arc::new(MemoryBus::new()), Arc::new(String::new))
        .await
        .unwrap()
}

struct Ng {
    socket: UdpSocket,
    node: SocketAddr,
    next: u32,
}

impl Ng {
    async fn new(node: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            node,
            next: 0,
        }
    }

    async fn call(&mut self, entries: &[(&str, Value)]) -> Value {
        self.next += 1;
        let cookie = format!("t{} ", self.next);
        let mut datagram = cookie.clone().into_bytes();
        Value::dict(entries.iter().cloned()).encode(&mut datagram);
        self.socket.send_to(&datagram, self.node).await.unwrap();
        let mut buffer = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(WAIT, self.socket.recv_from(&mut buffer))
            .await
            .expect("ng reply")
            .unwrap();
        let rest = buffer[..n].strip_prefix(cookie.as_bytes()).unwrap();
        bencode::decode(rest).unwrap()
    }
}

fn s(text: &str) -> Value {
    Value::bytes(text)
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(Value::bytes).collect())
}

fn ok_sdp(reply: &Value) -> String {
    let text = |k| reply.get(k).and_then(Value::as_str).unwrap_or_default();
    assert_eq!(text("result"), "ok", "{reply:?}");
    text("sdp").to_owned()
}

fn sdp(port: u16, formats: &str, attributes: &str) -> String {
    format!(
        "v=0\r\no=- 1000 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats}\r\n{attributes}"
    )
}

const PCMU_ONLY: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
    a=fmtp:101 0-16\r\na=ptime:20\r\n";

/// The `m=audio` port and formats of an SDP body.
fn audio_line(sdp: &str) -> (u16, Vec<String>) {
    let line = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .unwrap_or_else(|| panic!("no m=audio in {sdp}"));
    let mut parts = line.split(' ');
    let port = parts.next().unwrap().parse().unwrap();
    let formats = parts.skip(1).map(str::to_owned).collect();
    (port, formats)
}

/// The encoding names of the formats of the audio section (rtpmap or static).
fn encodings(sdp: &str) -> Vec<String> {
    let (_, formats) = audio_line(sdp);
    formats
        .iter()
        .map(|f| {
            sdp.lines()
                .find_map(|l| l.strip_prefix(&format!("a=rtpmap:{f} ")))
                .map(|r| r.split('/').next().unwrap().to_owned())
                .unwrap_or_else(|| match f.as_str() {
                    "0" => "PCMU".to_owned(),
                    "8" => "PCMA".to_owned(),
                    other => panic!("format {other} without rtpmap in {sdp}"),
                })
        })
        .collect()
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// `n` 20 ms frames of a continuous 1 kHz tone at `rate`.
fn tone(rate: u32, n: usize) -> Vec<Vec<i16>> {
    let mut phase = 0.0;
    (0..n)
        .map(|_| {
            let mut f = vec![0i16; (rate / 50) as usize];
            phase = sine(&mut f, rate, 1000.0, 8000.0, phase);
            f
        })
        .collect()
}

/// Header fields and payload of a received packet.
fn parse(p: &[u8]) -> (u8, u16, u32, u32, &[u8]) {
    assert!(p.len() >= 12 && p[0] >> 6 == 2, "not RTP: {p:?}");
    let pt = p[1] & 0x7f;
    let seq = u16::from_be_bytes([p[2], p[3]]);
    let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
    (pt, seq, ts, ssrc, &p[12..])
}

/// Sends `packets` 2 ms apart and collects `expect` packets at `receiver`.
async fn exchange(
    from: &UdpSocket,
    to: u16,
    packets: &[Vec<u8>],
    receiver: &UdpSocket,
    expect: usize,
) -> Vec<Vec<u8>> {
    for p in packets {
        from.send_to(p, ("127.0.0.1", to)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut got = Vec::new();
    let mut buffer = [0u8; 2048];
    while got.len() < expect {
        let (n, _) = tokio::time::timeout(WAIT, receiver.recv_from(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("only {} of {expect} packets arrived", got.len()))
            .unwrap();
        got.push(buffer[..n].to_vec());
    }
    got
}

/// A → B: a PCMU tone in, Opus (payload type `opus_pt`) out that decodes to ~1 kHz;
/// B → A: an Opus tone in, PCMU out that decodes to ~1 kHz.
async fn tone_both_ways(
    caller: &UdpSocket,
    caller_facing: u16,
    callee: &UdpSocket,
    callee_facing: u16,
    opus_pt: u8,
) {
    let packets: Vec<Vec<u8>> = tone(8000, 50)
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut ulaw = [0u8; 160];
            encode_ulaw(f, &mut ulaw).unwrap();
            rtp(0, 500 + i as u16, 160 * i as u32, 0xa11ce, &ulaw)
        })
        .collect();
    let got = exchange(caller, caller_facing, &packets, callee, 50).await;
    let mut decoder = OpusDecoder::new(48000).unwrap();
    let mut pcm = Vec::new();
    let (_, seq0, ts0, ssrc0, _) = parse(&got[0]);
    for (i, p) in got.iter().enumerate() {
        let (pt, seq, ts, ssrc, payload) = parse(p);
        assert_eq!(pt, opus_pt, "Opus payload type");
        assert_eq!(ssrc, ssrc0);
        assert_eq!(seq, seq0.wrapping_add(i as u16), "in order, no gaps");
        assert_eq!(
            ts,
            ts0.wrapping_add(960 * i as u32),
            "20 ms on the 48 kHz clock"
        );
        let mut out = [0i16; 960];
        let n = decoder.decode(payload, &mut out).expect("valid Opus");
        assert_eq!(n, 960);
        pcm.extend_from_slice(&out);
    }
    let f = zero_crossing_frequency(&pcm[960 * 10..], 48000).unwrap();
    assert!((f - 1000.0).abs() < 10.0, "B hears {f} Hz");

    let mut encoder = OpusEncoder::new(&OpusConfig::voip(48000)).unwrap();
    let packets: Vec<Vec<u8>> = tone(48000, 50)
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut opus = [0u8; 1500];
            let n = encoder.encode(f, &mut opus).unwrap();
            rtp(opus_pt, 9000 + i as u16, 960 * i as u32, 0xb0b, &opus[..n])
        })
        .collect();
    let got = exchange(callee, callee_facing, &packets, caller, 50).await;
    let mut pcm = Vec::new();
    for p in &got {
        let (pt, _, _, _, payload) = parse(p);
        assert_eq!((pt, payload.len()), (0, 160), "20 ms of PCMU");
        let mut out = [0i16; 160];
        decode_ulaw(payload, &mut out).unwrap();
        pcm.extend_from_slice(&out);
    }
    let f = zero_crossing_frequency(&pcm[1600..], 8000).unwrap();
    assert!((f - 1000.0).abs() < 10.0, "A hears {f} Hz");
}

fn port(s: &UdpSocket) -> u16 {
    s.local_addr().unwrap().port()
}

#[tokio::test]
async fn pcmu_caller_and_opus_callee_hear_each_other_through_the_transcoder() {
    let node = start("transcode-1", "42000-42099").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("tc-1")),
            ("from-tag", s("alice")),
            ("sdp", s(&sdp(port(&caller), "0 101", PCMU_ONLY))),
        ])
        .await;
    let to_callee = ok_sdp(&offer);
    let (callee_facing, _) = audio_line(&to_callee);
    // The callee answers with Opus only: no codec in common.
    let answer = ng
        .call(&[
            ("command", s("answer")),
            ("call-id", s("tc-1")),
            ("from-tag", s("alice")),
            ("to-tag", s("bob")),
            (
                "sdp",
                s(&sdp(
                    port(&callee),
                    "111 110",
                    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n",
                )),
            ),
        ])
        .await;
    let to_caller = ok_sdp(&answer);
    let (caller_facing, formats) = audio_line(&to_caller);
    assert_eq!(
        formats,
        ["0", "101"],
        "the caller is answered in its own codecs"
    );
    assert_eq!(encodings(&to_caller), ["PCMU", "telephone-event"]);
    assert!(to_caller.contains("a=ptime:20\r\n"), "{to_caller}");

    tone_both_ways(&caller, caller_facing, &callee, callee_facing, 111).await;

    // Garbage Opus and short PCMU on the transcoded streams: dropped, counted.
    callee
        .send_to(
            &rtp(111, 9100, 960 * 60, 0xb0b, &[0xff; 3]),
            ("127.0.0.1", callee_facing),
        )
        .await
        .unwrap();
    caller
        .send_to(
            &rtp(0, 600, 160 * 60, 0xa11ce, &[0x7f; 7]),
            ("127.0.0.1", caller_facing),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let query = ng
        .call(&[("command", s("query")), ("call-id", s("tc-1"))])
        .await;
    let errors = query
        .get("totals")
        .and_then(|t| t.get("RTP"))
        .and_then(|t| t.get("errors"));
    assert_eq!(errors, Some(&Value::Integer(2)), "{query:?}");
    // And the call still transcodes.
    tone_both_ways(&caller, caller_facing, &callee, callee_facing, 111).await;
    node.shutdown().await;
}

#[tokio::test]
async fn codec_dictionary_strips_pcmu_and_transcodes_to_opus() {
    let node = start("transcode-2", "42100-42199").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("tc-2")),
            ("from-tag", s("alice")),
            (
                "codec",
                Value::dict([("transcode", list(&["opus"])), ("strip", list(&["PCMU"]))]),
            ),
            (
                "sdp",
                s(&sdp(port(&caller), "0", "a=rtpmap:0 PCMU/8000\r\n")),
            ),
        ])
        .await;
    let to_callee = ok_sdp(&offer);
    assert_eq!(encodings(&to_callee), ["opus"], "{to_callee}");
    let (callee_facing, formats) = audio_line(&to_callee);
    let opus_pt: u8 = formats[0].parse().unwrap();
    assert!(
        to_callee.contains(&format!("a=rtpmap:{opus_pt} opus/48000/2\r\n")),
        "{to_callee}"
    );

    let answer = ng
        .call(&[
            ("command", s("answer")),
            ("call-id", s("tc-2")),
            ("from-tag", s("alice")),
            ("to-tag", s("bob")),
            (
                "sdp",
                s(&sdp(
                    port(&callee),
                    &opus_pt.to_string(),
                    &format!("a=rtpmap:{opus_pt} opus/48000/2\r\n"),
                )),
            ),
        ])
        .await;
    let to_caller = ok_sdp(&answer);
    assert_eq!(encodings(&to_caller), ["PCMU"], "{to_caller}");
    let (caller_facing, _) = audio_line(&to_caller);

    tone_both_ways(&caller, caller_facing, &callee, callee_facing, opus_pt).await;
    node.shutdown().await;
}

#[tokio::test]
async fn codec_flag_forms_shape_the_offer_like_the_dictionary() {
    let node = start("transcode-3", "42200-42299").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("tc-3")),
            ("from-tag", s("alice")),
            ("flags", list(&["codec-strip-PCMU", "codec-transcode-opus"])),
            ("sdp", s(&sdp(4000, "0 101", PCMU_ONLY))),
        ])
        .await;
    let to_callee = ok_sdp(&offer);
    // telephone-event follows the new clock; the 8 kHz one goes with PCMU.
    assert_eq!(encodings(&to_callee), ["opus", "telephone-event"]);
    assert!(
        to_callee.contains(" telephone-event/48000\r\n"),
        "{to_callee}"
    );

    // Relaying stays relaying: a shared codec in the answer means no transcoder.
    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("tc-4")),
            ("from-tag", s("alice")),
            ("codec-transcode", list(&["PCMA"])),
            ("sdp", s(&sdp(4002, "0", ""))),
        ])
        .await;
    assert_eq!(encodings(&ok_sdp(&offer)), ["PCMU", "PCMA"]);
    node.shutdown().await;
}
