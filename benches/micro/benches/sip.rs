//! SIP hot path: parse of a typical INVITE with SDP (~900 bytes, 2 Vias,
//! Record-Route, Route, Contact), parse + typed access to what a
//! transaction layer reads (Via branch/sent-by, CSeq, Call-ID, tags),
//! parse + validate + proxy rewrite (new Via, Record-Route, Max-Forwards
//! decrement) into a reused buffer, and a stateless 100 Trying.
//! Transaction layer: server INVITE transaction create + match of a
//! retransmission (+ removal), the same match against a table of 10,000
//! live transactions, and a client transaction send + response match
//! (parsing the request, or with method and branch given).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::rewrite::{RequestEdits, rewrite_request};
use ferrovox_sip::transaction::{
    Config, Peer, RequestOutcome, ResponseOutcome, TransactionLayer, Transport,
};
use ferrovox_sip::validate::validate_request;
use ferrovox_sip::{Message, Method};
use std::time::Instant;

fn invite() -> Vec<u8> {
    let sdp = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";
    format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;received=192.0.2.11\r\n\
Record-Route: <sip:proxy1.atlanta.example.com;lr>\r\n\
Route: <sip:proxy2.biloxi.example.com;lr>\r\n\
Max-Forwards: 69\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n\
Supported: replaces, timer\r\n\
User-Agent: ferrovox-bench/1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

fn sip(c: &mut Criterion) {
    let buf = invite();
    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Bytes(buf.len() as u64));

    group.bench_function("parse_invite", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&buf)).unwrap();
            black_box(m.header_count())
        })
    });

    group.bench_function("parse_typed_access", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&buf)).unwrap();
            let via = m.top_via().unwrap();
            let cseq = m.cseq().unwrap();
            let call_id = m.call_id().unwrap();
            let from_tag = m.from().unwrap().tag();
            let to_tag = m.to().unwrap().tag();
            black_box((
                via.branch, via.host, via.port, cseq.seq, call_id, from_tag, to_tag,
            ))
        })
    });

    let edits = RequestEdits {
        via: Some(b"SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK4b43c2ff8.1"),
        record_route: Some(b"<sip:203.0.113.1;lr>"),
        decrement_max_forwards: true,
        ..RequestEdits::default()
    };
    let mut out = Vec::with_capacity(2048);
    group.bench_function("parse_rewrite", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&buf)).unwrap();
            rewrite_request(&m, &edits, &mut out).unwrap();
            black_box(out.len())
        })
    });

    group.bench_function("parse_validate_rewrite", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&buf)).unwrap();
            let info = validate_request(&m).unwrap();
            black_box(info.top_via.branch);
            rewrite_request(&m, &edits, &mut out).unwrap();
            black_box(out.len())
        })
    });

    group.bench_function("parse_build_100_trying", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&buf)).unwrap();
            ResponseBuilder::new(100, b"Trying")
                .write(&m, &mut out)
                .unwrap();
            black_box(out.len())
        })
    });

    group.bench_function("unknown_header_lookup", |b| {
        let m = Message::parse(&buf).unwrap();
        b.iter(|| {
            black_box(
                m.headers_named(black_box(b"user-agent"))
                    .next()
                    .map(|h| h.value),
            )
        })
    });
    group.finish();
}

fn drain(layer: &mut TransactionLayer) -> usize {
    let mut n = 0;
    while let Some(o) = layer.poll_output() {
        black_box(&o);
        n += 1;
    }
    n
}

fn transaction(c: &mut Criterion) {
    let buf = invite();
    let src = Peer::new(([192, 0, 2, 10], 5060).into(), Transport::Udp);
    let now = Instant::now();
    let mut group = c.benchmark_group("sip_transaction");

    // Server side: INVITE arrives (new transaction, 100 Trying built and
    // queued), its retransmission is matched and answered, the transaction
    // is removed (so the table stays the same size), outputs drained.
    group.bench_function("server_create_match_retransmission", |b| {
        let mut layer = TransactionLayer::new(Config::default());
        let msg = Message::parse(&buf).unwrap();
        b.iter(|| {
            let RequestOutcome::New { id, .. } =
                layer.handle_request(black_box(&msg), src, now).unwrap()
            else {
                unreachable!()
            };
            let again = layer.handle_request(black_box(&msg), src, now).unwrap();
            debug_assert!(matches!(again, RequestOutcome::Retransmission { .. }));
            layer.transport_error(id, now).unwrap();
            black_box(drain(&mut layer))
        })
    });

    // Matching a retransmission in a table of 10,000 live transactions
    // (lookup, 100 Trying re-queued, drained); the message is parsed once.
    group.bench_function("match_retransmission_10k_live", |b| {
        let mut layer = TransactionLayer::new(Config::default());
        let text = String::from_utf8(buf.clone()).unwrap();
        for i in 0..10_000 {
            let other = text.replace("z9hG4bK776asdhds", &format!("z9hG4bK{i:010}"));
            let m = Message::parse(other.as_bytes()).unwrap();
            layer.handle_request(&m, src, now).unwrap();
        }
        let msg = Message::parse(&buf).unwrap();
        layer.handle_request(&msg, src, now).unwrap();
        drain(&mut layer);
        b.iter(|| {
            let o = layer.handle_request(black_box(&msg), src, now).unwrap();
            black_box(o);
            black_box(drain(&mut layer))
        })
    });

    // What a proxy does per incoming request: validate, then match (the
    // key taken from the validation result), on a table of 10,000.
    group.bench_function("validate_match_retransmission_10k_live", |b| {
        let mut layer = TransactionLayer::new(Config::default());
        let text = String::from_utf8(buf.clone()).unwrap();
        for i in 0..10_000 {
            let other = text.replace("z9hG4bK776asdhds", &format!("z9hG4bK{i:010}"));
            let m = Message::parse(other.as_bytes()).unwrap();
            layer.handle_request(&m, src, now).unwrap();
        }
        let msg = Message::parse(&buf).unwrap();
        layer.handle_request(&msg, src, now).unwrap();
        drain(&mut layer);
        b.iter(|| {
            let info = validate_request(black_box(&msg)).unwrap();
            let o = layer
                .handle_request_validated(&msg, &info, src, now)
                .unwrap();
            black_box(o);
            black_box(drain(&mut layer))
        })
    });

    // Client side: a forwarded INVITE starts a client transaction (parse,
    // key, copy, Timers A/B armed), a 180 is matched and delivered, the
    // transaction is removed.
    let ringing = {
        let m = Message::parse(&buf).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(180, b"Ringing")
            .to_tag(b"a6c85cf")
            .write(&m, &mut out)
            .unwrap();
        out
    };
    group.bench_function("client_send_match_response", |b| {
        let mut layer = TransactionLayer::new(Config::default());
        let resp = Message::parse(&ringing).unwrap();
        b.iter(|| {
            let id = layer.send_request(black_box(&buf), src, 1, now).unwrap();
            let o = layer.handle_response(black_box(&resp), now).unwrap();
            debug_assert!(matches!(o, ResponseOutcome::Deliver { .. }));
            layer.transport_error(id, now).unwrap();
            black_box(drain(&mut layer))
        })
    });
    // The same with the method and branch stated by the caller (no parse
    // of the forwarded request).
    group.bench_function("client_send_prepared_match_response", |b| {
        let mut layer = TransactionLayer::new(Config::default());
        let resp = Message::parse(&ringing).unwrap();
        b.iter(|| {
            let id = layer
                .send_request_prepared(
                    black_box(&buf),
                    Method::Invite,
                    b"z9hG4bK776asdhds",
                    src,
                    1,
                    now,
                )
                .unwrap();
            let o = layer.handle_response(black_box(&resp), now).unwrap();
            debug_assert!(matches!(o, ResponseOutcome::Deliver { .. }));
            layer.transport_error(id, now).unwrap();
            black_box(drain(&mut layer))
        })
    });
    group.finish();
}

criterion_group!(benches, sip, transaction);
criterion_main!(benches);
