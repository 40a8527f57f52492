//! Per-sub-band ADPCM state shared by the G.722 encoder and decoder:
//! the quantiser scale-factor adaptation (blocks 3L LOGSCL/SCALEL and
//! 3H LOGSCH/SCALEH) and the adaptive two-pole/six-zero predictor
//! (block 4: RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP,
//! FILTEZ, PREDIC). Arithmetic follows the recommendation's 16-bit
//! fixed-point description with saturation.

use super::tables::{ILB, RH2, RL42, WH, WL};

#[inline]
fn sat16(x: i32) -> i32 {
    x.clamp(i16::MIN as i32, i16::MAX as i32)
}

/// State of one sub-band's adaptive quantiser and predictor.
#[derive(Debug, Clone)]
pub struct Band {
    /// Signal estimate s (PREDIC output).
    pub s: i32,
    /// Pole-section signal estimate sp.
    sp: i32,
    /// Zero-section signal estimate sz.
    sz: i32,
    /// Reconstructed signal r(n), r(n−1), r(n−2).
    r: [i32; 3],
    /// Pole coefficients a1, a2 (index 1 and 2).
    a: [i32; 3],
    /// Partially reconstructed signal p(n), p(n−1), p(n−2).
    p: [i32; 3],
    /// Quantised difference d(n) .. d(n−6).
    d: [i32; 7],
    /// Zero coefficients b1..b6 (index 1..6).
    b: [i32; 7],
    /// Log scale factor nabla.
    nb: i32,
    /// Quantiser scale factor (DETL/DETH).
    pub det: i32,
}

impl Band {
    /// Reset state of the lower band (DETL = 32).
    pub const fn lower() -> Self {
        Self::with_det(32)
    }

    /// Reset state of the upper band (DETH = 8).
    pub const fn upper() -> Self {
        Self::with_det(8)
    }

    const fn with_det(det: i32) -> Self {
        Self {
            s: 0,
            sp: 0,
            sz: 0,
            r: [0; 3],
            a: [0; 3],
            p: [0; 3],
            d: [0; 7],
            b: [0; 7],
            nb: 0,
            det,
        }
    }

    /// Blocks 3L LOGSCL + SCALEL: adapts the lower-band scale factor from
    /// the 4-bit code `il4` (the 4 MSBs of the 6-bit lower code).
    #[inline]
    pub fn adapt_scale_lower(&mut self, il4: usize) {
        let nb = ((self.nb * 127) >> 7) + WL[RL42[il4 & 0x0F]];
        self.nb = nb.clamp(0, 18432);
        self.det = scale(self.nb, 8);
    }

    /// Blocks 3H LOGSCH + SCALEH: adapts the upper-band scale factor from
    /// the 2-bit upper code.
    #[inline]
    pub fn adapt_scale_upper(&mut self, ih: usize) {
        let nb = ((self.nb * 127) >> 7) + WH[RH2[ih & 0x03]];
        self.nb = nb.clamp(0, 22528);
        self.det = scale(self.nb, 10);
    }

    /// Block 4: updates the predictor with the quantised difference `d`
    /// and computes the next signal estimate [`Band::s`].
    pub fn update_predictor(&mut self, d: i32) {
        // RECONS and PARREC.
        self.d[0] = d;
        self.r[0] = sat16(self.s + d);
        self.p[0] = sat16(self.sz + d);

        // UPPOL2: second pole coefficient.
        let sg0 = self.p[0] >> 15;
        let sg1 = self.p[1] >> 15;
        let sg2 = self.p[2] >> 15;
        let wd1 = sat16(self.a[1] << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 }.min(32767);
        let mut apl2 = (wd2 >> 7) + if sg0 == sg2 { 128 } else { -128 };
        apl2 += (self.a[2] * 32512) >> 15;
        let apl2 = apl2.clamp(-12288, 12288);

        // UPPOL1: first pole coefficient, limited by the new a2.
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let limit = sat16(15360 - apl2);
        let apl1 = sat16(wd1 + wd2).clamp(-limit, limit);

        // UPZERO: sign-sign update of the six zero coefficients.
        let step = if d == 0 { 0 } else { 128 };
        let sgd = d >> 15;
        let mut bp = [0i32; 7];
        for ((bp, &d), &b) in bp.iter_mut().zip(&self.d).zip(&self.b).skip(1) {
            let wd2 = if (d >> 15) == sgd { step } else { -step };
            let wd3 = (b * 32640) >> 15;
            *bp = sat16(wd2 + wd3);
        }

        // DELAYA: shift the delay lines and commit the new coefficients.
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
        }
        self.a[1] = apl1;
        self.a[2] = apl2;

        // FILTEP: pole section.
        let wd1 = (self.a[1] * sat16(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat16(self.r[2] + self.r[2])) >> 15;
        self.sp = sat16(wd1 + wd2);

        // FILTEZ: zero section.
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat16(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat16(sz);

        // PREDIC.
        self.s = sat16(self.sp + self.sz);
    }
}

/// SCALEL/SCALEH: det = 2^(nb/2048 + 2 − offset) via the ILB table,
/// `offset` being 8 for the lower and 10 for the upper band.
#[inline]
fn scale(nb: i32, offset: i32) -> i32 {
    let frac = ILB[((nb >> 6) & 31) as usize];
    let shift = offset - (nb >> 11);
    let v = if shift < 0 {
        frac << -shift
    } else {
        frac >> shift
    };
    v << 2
}
