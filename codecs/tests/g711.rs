//! G.711 conformance: every code against values derived here from the
//! segment definitions of ITU-T G.711 Tables 1 and 2 (not from the crate's
//! tables), round trips, decision-level error bounds and known pairs.

use ferrovox_codecs::CodecError;
use ferrovox_codecs::g711::{
    Law, alaw_to_linear, decode_alaw, decode_ulaw, encode_alaw, encode_ulaw, linear_to_alaw,
    linear_to_ulaw, ulaw_to_linear,
};

/// G.711 § 3 / Table 2: µ-law character signals are sent with all bits
/// inverted relative to "P S S S Q Q Q Q" where P = 1 means positive. The
/// decoder output for segment s (0..7) and step q (0..15) is
/// 2^s·(33 + 2q) − 33 on the 8159-unit scale; ×4 gives 16 bits.
fn itu_ulaw_value(code: u8) -> i32 {
    let positive = code & 0x80 != 0;
    let s = 7 - ((code >> 4) & 7) as i32;
    let q = 15 - (code & 0x0F) as i32;
    let y = ((1 << s) * (33 + 2 * q) - 33) * 4;
    if positive { y } else { -y }
}

/// G.711 § 2 / Table 1: A-law character signals have the even bits
/// inverted (XOR 0x55); P = 1 means positive. Decoder output: segment 0 is
/// 2q + 1, segment s ≥ 1 is 2^(s−1)·(2q + 33) on the 4096-unit scale; ×8
/// gives 16 bits.
fn itu_alaw_value(code: u8) -> i32 {
    let c = code ^ 0x55;
    let positive = c & 0x80 != 0;
    let s = ((c >> 4) & 7) as i32;
    let q = (c & 0x0F) as i32;
    let y = if s == 0 {
        2 * q + 1
    } else {
        (1 << (s - 1)) * (2 * q + 33)
    } * 8;
    if positive { y } else { -y }
}

#[test]
fn ulaw_all_256_codes_decode_to_itu_values_and_reencode() {
    for code in 0..=255u8 {
        let expected = itu_ulaw_value(code);
        assert_eq!(
            ulaw_to_linear(code) as i32,
            expected,
            "µ-law code {code:#04x} decodes to the G.711 value"
        );
        let back = linear_to_ulaw(expected as i16);
        if code == 0x7F {
            // Negative zero: decodes to 0, and 0 encodes to positive zero.
            assert_eq!(back, 0xFF, "µ-law −0 (0x7F) re-encodes as +0 (0xFF)");
        } else {
            assert_eq!(back, code, "µ-law code {code:#04x} survives decode→encode");
        }
    }
}

#[test]
fn alaw_all_256_codes_decode_to_itu_values_and_reencode() {
    for code in 0..=255u8 {
        let expected = itu_alaw_value(code);
        assert_eq!(
            alaw_to_linear(code) as i32,
            expected,
            "A-law code {code:#04x} decodes to the G.711 value"
        );
        assert_eq!(
            linear_to_alaw(expected as i16),
            code,
            "A-law code {code:#04x} survives decode→encode"
        );
    }
}

#[test]
fn known_pairs() {
    assert_eq!(ulaw_to_linear(0xFF), 0);
    assert_eq!(ulaw_to_linear(0x7F), 0);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(linear_to_ulaw(0), 0xFF);
    assert_eq!(
        linear_to_ulaw(-1),
        0x7F,
        "−1 truncates to negative zero (G.191)"
    );
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    assert_eq!(alaw_to_linear(0xAA), 32256);
    assert_eq!(alaw_to_linear(0x2A), -32256);
    assert_eq!(linear_to_alaw(0), 0xD5);
    assert_eq!(linear_to_alaw(-1), 0x55);
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
}

/// Step size (16-bit units) of the segment a reconstruction value lies in.
fn ulaw_step(y: i32) -> i32 {
    // Segment s spans 2^s·33 − 33 .. 2^(s+1)·33 − 33 (×4), with step 2^(s+1)·4.
    let m = y.abs() / 4 + 33;
    let mut s = 0;
    while s < 7 && m >= (33 << (s + 1)) {
        s += 1;
    }
    (2 << s) * 4
}

fn alaw_step(y: i32) -> i32 {
    let m = y.abs() / 8;
    if m < 64 {
        16
    } else {
        (1 << (31 - (m as u32).leading_zeros() - 5)) * 16
    }
}

/// For every 16-bit input the reconstruction error is at most half a
/// quantisation step of its segment plus the input truncation (3 LSB for
/// µ-law's 14 bits, 7 LSB for A-law's 13 bits), except beyond the overload
/// point where the output is the extreme value.
#[test]
fn every_input_quantises_within_half_a_step() {
    for x in i16::MIN..=i16::MAX {
        let x32 = x as i32;
        let yu = ulaw_to_linear(linear_to_ulaw(x)) as i32;
        if x32.abs() < 32124 {
            let bound = ulaw_step(yu) / 2 + 3;
            assert!(
                (x32 - yu).abs() <= bound,
                "µ-law x={x} y={yu} err {} > {bound}",
                (x32 - yu).abs()
            );
        } else {
            assert_eq!(yu.abs(), 32124, "µ-law overload x={x}");
        }
        let ya = alaw_to_linear(linear_to_alaw(x)) as i32;
        if x32.abs() < 32256 {
            let bound = alaw_step(ya) / 2 + 7;
            assert!(
                (x32 - ya).abs() <= bound,
                "A-law x={x} y={ya} err {} > {bound}",
                (x32 - ya).abs()
            );
        } else {
            assert_eq!(ya.abs(), 32256, "A-law overload x={x}");
        }
        // Sign is never flipped.
        assert!(yu == 0 || (yu > 0) == (x > 0), "µ-law sign x={x}");
        assert!((ya > 0) == (x >= 0), "A-law sign x={x}");
    }
}

#[test]
fn slice_apis_match_per_sample_functions() {
    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i * 409) % 65536 - 32768) as i16)
        .collect();
    let mut u = [0u8; 160];
    let mut a = [0u8; 160];
    assert_eq!(encode_ulaw(&pcm, &mut u), Ok(160));
    assert_eq!(encode_alaw(&pcm, &mut a), Ok(160));
    let mut du = [0i16; 160];
    let mut da = [0i16; 160];
    assert_eq!(decode_ulaw(&u, &mut du), Ok(160));
    assert_eq!(decode_alaw(&a, &mut da), Ok(160));
    for i in 0..160 {
        assert_eq!(u[i], linear_to_ulaw(pcm[i]));
        assert_eq!(a[i], linear_to_alaw(pcm[i]));
        assert_eq!(du[i], ulaw_to_linear(u[i]));
        assert_eq!(da[i], alaw_to_linear(a[i]));
    }
    let mut via_law = [0u8; 160];
    assert_eq!(Law::Alaw.encode(&pcm, &mut via_law), Ok(160));
    assert_eq!(via_law, a);
    assert_eq!(
        Law::Ulaw.decode(&u, &mut du[..10]),
        Err(CodecError::OutputTooSmall {
            needed: 160,
            got: 10
        })
    );
}
