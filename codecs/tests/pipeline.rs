//! Cross-module pipeline: DTMF sent in-band over a G.722 (16 kHz) leg is
//! decoded, resampled to 8 kHz in 20 ms frames and detected, as the media
//! server does when it bridges a wideband leg to RFC 4733 events.

use ferrovox_codecs::dtmf::{DetectorConfig, Digit, DtmfDetector, DtmfGenerator, DtmfReport};
use ferrovox_codecs::g722::{G722Decoder, G722Encoder};
use ferrovox_codecs::resample::{FrameResampler, Rate};

#[test]
fn dtmf_over_g722_then_resampled_to_8k_is_detected() {
    // 16 digits, 60 ms on / 60 ms off at −20 dBm0 per tone, 16 kHz.
    let mut pcm = Vec::new();
    for d in Digit::ALL {
        let mut g = DtmfGenerator::new(16000, d, -20.0, 60).expect("valid");
        let mut tone = vec![0i16; g.remaining()];
        g.fill(&mut tone);
        pcm.extend(tone);
        pcm.extend(std::iter::repeat_n(0i16, 960));
    }
    pcm.resize(pcm.len().div_ceil(320) * 320 + 3200, 0);

    let mut enc = G722Encoder::new();
    let mut dec = G722Decoder::new();
    let mut rs = FrameResampler::new(Rate::Hz16000, Rate::Hz8000, 20).expect("valid");
    let mut det = DtmfDetector::new(&DetectorConfig::default()).expect("valid");
    let (mut octets, mut wide, mut narrow) = ([0u8; 160], [0i16; 320], [0i16; 160]);
    let mut heard = String::new();
    for frame in pcm.chunks_exact(320) {
        enc.encode(frame, &mut octets).expect("sized");
        dec.decode(&octets, &mut wide).expect("sized");
        rs.process(&wide, &mut narrow).expect("sized");
        det.process(&narrow, |r| {
            if let DtmfReport::Began { digit, .. } = r {
                heard.push(digit.to_char());
            }
        });
    }
    det.finish(|_| {});
    assert_eq!(heard, "0123456789*#ABCD");
}
