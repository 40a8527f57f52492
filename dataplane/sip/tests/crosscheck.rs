//! Cross-check against an independent parser (`rsip`, a dev-dependency):
//! on every corpus message and 20k mutants that *both* parsers accept, the
//! Call-ID, CSeq number, From/To tags and body must agree (rsip's body is
//! the rest of the datagram; ours, framed by Content-Length, must be a
//! prefix of it). `rsip` rejects
//! folded lines and many odd-but-valid forms, so only messages it accepts
//! are compared (mutations do not insert white space: rsip mishandles LWS
//! after `;`, which RFC 3261 allows); the test requires a minimum number of comparisons so it
//! cannot pass vacuously.

mod common;

use ferrovox_sip::Message;
use rsip::headers::UntypedHeader;
use rsip::prelude::HeadersExt;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Whether the header section uses strict CRLF line ends (rsip does not
/// accept bare LF or CR, which this crate tolerates).
fn strict_crlf(data: &[u8]) -> bool {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(data.len());
    let head = &data[..end];
    head.iter().enumerate().all(|(i, &b)| match b {
        b'\n' => i > 0 && head[i - 1] == b'\r',
        b'\r' => head.get(i + 1) == Some(&b'\n'),
        _ => true,
    })
}

/// Returns how many fields were compared.
fn compare(data: &[u8]) -> usize {
    if !strict_crlf(data) {
        return 0;
    }
    let Ok(ours) = Message::parse(data) else {
        return 0;
    };
    let Ok(theirs) = rsip::SipMessage::try_from(data) else {
        return 0;
    };
    let mut n = 0;
    if let (Ok(a), Ok(b)) = (ours.call_id(), theirs.call_id_header()) {
        assert_eq!(
            a,
            b.value().trim().as_bytes(),
            "Call-ID of {:?}",
            String::from_utf8_lossy(data)
        );
        n += 1;
    }
    if let (Ok(a), Ok(Ok(b))) = (ours.cseq(), theirs.cseq_header().map(|h| h.seq())) {
        assert_eq!(a.seq, b, "CSeq of {:?}", String::from_utf8_lossy(data));
        n += 1;
    }
    if let (Ok(a), Ok(Ok(b))) = (ours.from(), theirs.from_header().map(|h| h.tag())) {
        assert_eq!(
            a.tag().map(|t| t.to_vec()),
            b.map(|t| t.to_string().into_bytes()),
            "From tag of {:?}",
            String::from_utf8_lossy(data)
        );
        n += 1;
    }
    if let (Ok(a), Ok(Ok(b))) = (ours.to(), theirs.to_header().map(|h| h.tag())) {
        assert_eq!(
            a.tag().map(|t| t.to_vec()),
            b.map(|t| t.to_string().into_bytes()),
            "To tag of {:?}",
            String::from_utf8_lossy(data)
        );
        n += 1;
    }
    // rsip does not frame by Content-Length: its body is the rest of the
    // datagram (RFC 4475 dblreq shows the difference), so ours must be a
    // prefix of it.
    assert!(
        theirs.body().starts_with(ours.body()),
        "body of {:?}",
        String::from_utf8_lossy(data)
    );
    n += 1;
    n
}

#[test]
fn agrees_with_rsip_where_both_accept() {
    let corpus = common::valid_corpus();
    let mut compared = 0;
    let mut accepted_corpus = 0;
    for m in &corpus {
        assert!(Message::parse(m).is_ok());
        let c = compare(m);
        if c > 0 {
            accepted_corpus += 1;
        }
        compared += c;
    }
    let mut rng = Rng(0x51_7CC1_B727_220A);
    for _ in 0..20_000 {
        let mut v = corpus[rng.below(corpus.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let len = v.len();
            if len == 0 {
                break;
            }
            let i = rng.below(len);
            match rng.below(3) {
                0 => v[i] = b";:,<>\"@=0a"[rng.below(10)],
                1 => {
                    v.remove(i);
                }
                _ => v.insert(i, b";:,<>\"@=0a"[rng.below(10)]),
            }
        }
        compared += compare(&v);
    }
    eprintln!(
        "rsip accepted {accepted_corpus}/{} corpus messages; {compared} fields compared",
        corpus.len()
    );
    assert!(
        accepted_corpus >= 3,
        "rsip accepted only {accepted_corpus} corpus messages"
    );
    assert!(compared >= 1000, "only {compared} fields compared");
}
