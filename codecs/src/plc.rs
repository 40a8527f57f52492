//! Packet-loss concealment for sample-based codecs (G.711, and G.722
//! decoded PCM) after ITU-T G.711 Appendix I (09/1999), "A high quality
//! low-complexity algorithm for packet loss concealment with G.711".
//!
//! The algorithm of Appendix I, at its 8 kHz sizes (scaled by 2 at
//! 16 kHz):
//! - § I.2.1: a 48.75 ms history (390 samples) of the decoded signal is
//!   kept, and output is **delayed by 3.75 ms** (30 samples,
//!   [`Plc::delay`]) so that the start of an erasure can be smoothed;
//! - § I.2.2 pitch detection: at the first erased frame, normalised
//!   cross-correlation of the last 20 ms against the history over pitch
//!   periods of 5–15 ms (40–120 samples), coarse search on a 2:1 decimated
//!   signal, then refined at full resolution;
//! - § I.2.3 the first 10 ms are synthesised by repeating the last pitch
//!   period, the last quarter period of real speech overlap-added with
//!   the quarter period before the copied period (triangular windows);
//! - § I.2.4 from the second 10 ms on, the repeated segment grows to two,
//!   then three pitch periods (each change smoothed by a quarter-period
//!   overlap-add) to avoid buzzy tones, and the signal is attenuated
//!   linearly by 20 % per 10 ms; after 60 ms the output is silent;
//! - § I.2.5 at the first good frame, the synthetic continuation is
//!   overlap-added with the real signal over 1/4 pitch period + 4 ms per
//!   additional 10 ms of erasure (at most 10 ms).
//!
//! Frames are handled in 10 ms units; [`Plc::good_frame`] and
//! [`Plc::conceal`] accept any multiple of 10 ms. Nothing is allocated
//! after construction.
//!
//! Not implemented: the G.722 Appendix III/IV concealment (which works in
//! the sub-band domain and re-synchronises the ADPCM state); for G.722 this
//! module conceals the decoded 16 kHz PCM instead, and the G.722 decoder
//! state is simply kept across the gap.

use crate::CodecError;

// G.711 Appendix I constants at 8 kHz.
const PITCH_MIN_8K: usize = 40;
const PITCH_MAX_8K: usize = 120;
const CORRLEN_8K: usize = 160;
const FRAME_8K: usize = 80;
const EOVERLAPINCR_8K: usize = 32;
const ATTENFAC: f32 = 0.2;
const CORRMINPOWER_8K: f32 = 250.0;
/// Erased 10 ms frames after which the output is silent (60 ms).
const SILENT_AFTER: usize = 6;

/// A G.711 Appendix I concealer for one 8 or 16 kHz stream.
#[derive(Debug, Clone)]
pub struct Plc {
    frame: usize,
    pitch_min: usize,
    pitch_max: usize,
    poverlap_max: usize,
    corrlen: usize,
    ndec: usize,
    eoverlap_incr: usize,
    corr_min_power: f32,
    history: Vec<i16>,
    pitchbuf: Vec<f32>,
    lastq: Vec<f32>,
    tmp: Vec<f32>,
    erasecnt: usize,
    poffset: usize,
    pitch: usize,
    pitchblen: usize,
    poverlap: usize,
}

impl Plc {
    /// A concealer for a stream at `sample_rate` (8000 or 16000 Hz).
    pub fn new(sample_rate: u32) -> Result<Self, CodecError> {
        let scale = match sample_rate {
            8000 => 1,
            16000 => 2,
            _ => {
                return Err(CodecError::InvalidParameter {
                    name: "sample_rate",
                    reason: "G.711 Appendix I concealment runs at 8000 or 16000 Hz",
                });
            }
        };
        let pitch_max = PITCH_MAX_8K * scale;
        let poverlap_max = pitch_max / 4;
        let history_len = pitch_max * 3 + poverlap_max;
        let frame = FRAME_8K * scale;
        Ok(Self {
            frame,
            pitch_min: PITCH_MIN_8K * scale,
            pitch_max,
            poverlap_max,
            corrlen: CORRLEN_8K * scale,
            ndec: 2 * scale,
            eoverlap_incr: EOVERLAPINCR_8K * scale,
            corr_min_power: CORRMINPOWER_8K * scale as f32,
            history: vec![0; history_len],
            pitchbuf: vec![0.0; history_len],
            lastq: vec![0.0; poverlap_max],
            tmp: vec![0.0; frame],
            erasecnt: 0,
            poffset: 0,
            pitch: pitch_max,
            pitchblen: pitch_max,
            poverlap: poverlap_max,
        })
    }

    /// Output delay in samples (3.75 ms): the output of every call lags
    /// its input by this much.
    pub fn delay(&self) -> usize {
        self.poverlap_max
    }

    /// Samples per 10 ms processing unit.
    pub fn unit(&self) -> usize {
        self.frame
    }

    /// Consecutive erased 10 ms units so far (0 after a good frame).
    pub fn erased_units(&self) -> usize {
        self.erasecnt
    }

    /// The pitch period (samples) used for the current or last erasure.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    fn check(&self, len: usize) -> Result<(), CodecError> {
        if len == 0 || !len.is_multiple_of(self.frame) {
            return Err(CodecError::BadInputLength {
                len,
                multiple: self.frame,
            });
        }
        Ok(())
    }

    /// A correctly received frame (a multiple of 10 ms), replaced in place
    /// by the delayed output; after an erasure the start is merged with
    /// the synthetic signal (§ I.2.5).
    pub fn good_frame(&mut self, frame: &mut [i16]) -> Result<(), CodecError> {
        self.check(frame.len())?;
        let n = self.frame;
        for unit in frame.chunks_exact_mut(n) {
            if self.erasecnt > 0 {
                let olen = (self.poverlap + (self.erasecnt - 1) * self.eoverlap_incr).min(n);
                let mut tmp = core::mem::take(&mut self.tmp);
                self.synth(&mut tmp[..olen]);
                self.overlap_add_at_end(unit, &tmp[..olen]);
                self.tmp = tmp;
                self.erasecnt = 0;
            }
            self.save_speech(unit);
        }
        Ok(())
    }

    /// Fills `out` (a multiple of 10 ms) with the concealment of a lost
    /// frame (§ I.2.2–I.2.4).
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<(), CodecError> {
        self.check(out.len())?;
        let n = self.frame;
        for unit in out.chunks_exact_mut(n) {
            self.conceal_unit(unit);
        }
        Ok(())
    }

    fn conceal_unit(&mut self, out: &mut [i16]) {
        let n = self.frame;
        let hl = self.history.len();
        let mut tmp = core::mem::take(&mut self.tmp);
        match self.erasecnt {
            0 => {
                for (p, &h) in self.pitchbuf.iter_mut().zip(&self.history) {
                    *p = f32::from(h);
                }
                self.pitch = self.find_pitch();
                self.poverlap = self.pitch / 4;
                let po = self.poverlap;
                self.lastq[..po].copy_from_slice(&self.pitchbuf[hl - po..]);
                self.poffset = 0;
                self.pitchblen = self.pitch;
                self.blend_period_start();
                // The smoothed last quarter period replaces the history's.
                for i in 0..po {
                    self.history[hl - po + i] = sat(self.pitchbuf[hl - po + i]);
                }
                self.synth(&mut tmp[..n]);
            }
            1 | 2 => {
                // Finish a quarter period with the old buffer, then add a
                // period and blend (§ I.2.4).
                let po = self.poverlap;
                let save = self.poffset;
                let mut head = [0f32; PITCH_MAX_8K * 2 / 4];
                self.synth(&mut head[..po]);
                self.poffset = save;
                while self.poffset > self.pitch {
                    self.poffset -= self.pitch;
                }
                self.pitchblen += self.pitch;
                self.blend_period_start();
                self.synth(&mut tmp[..n]);
                overlap_add_in_place(&head[..po], &mut tmp[..po]);
                self.attenuate(&mut tmp[..n]);
            }
            e if e >= SILENT_AFTER => tmp[..n].fill(0.0),
            _ => {
                self.synth(&mut tmp[..n]);
                self.attenuate(&mut tmp[..n]);
            }
        }
        for (o, &t) in out.iter_mut().zip(&tmp[..n]) {
            *o = sat(t);
        }
        self.tmp = tmp;
        self.erasecnt += 1;
        self.save_speech(out);
    }

    /// Overlap-adds the saved last quarter period into the quarter period
    /// preceding the start of the repeated segment, so the repetition
    /// wraps smoothly (§ I.2.3).
    fn blend_period_start(&mut self) {
        let hl = self.pitchbuf.len();
        let po = self.poverlap;
        let start = hl - self.pitchblen;
        // Output goes to the last quarter period of the buffer: the point
        // the repetition wraps from.
        let incr = 1.0 / po.max(1) as f32;
        let (mut lw, mut rw) = (1.0 - incr, incr);
        for i in 0..po {
            let t = lw * self.lastq[i] + rw * self.pitchbuf[start - po + i];
            self.pitchbuf[hl - po + i] = t.clamp(-32768.0, 32767.0);
            lw -= incr;
            rw += incr;
        }
    }

    /// Copies the repeated segment into `out`, cycling.
    fn synth(&mut self, out: &mut [f32]) {
        let hl = self.pitchbuf.len();
        let start = hl - self.pitchblen;
        let mut done = 0;
        while done < out.len() {
            let cnt = (self.pitchblen - self.poffset).min(out.len() - done);
            out[done..done + cnt]
                .copy_from_slice(&self.pitchbuf[start + self.poffset..start + self.poffset + cnt]);
            self.poffset += cnt;
            if self.poffset == self.pitchblen {
                self.poffset = 0;
            }
            done += cnt;
        }
    }

    /// Linear attenuation: 20 % per 10 ms from the second erased unit.
    fn attenuate(&self, out: &mut [f32]) {
        let step = ATTENFAC / out.len() as f32;
        let mut g = 1.0 - (self.erasecnt as f32 - 1.0) * ATTENFAC;
        for o in out {
            *o *= g.max(0.0);
            g -= step;
        }
    }

    /// Merges the synthetic `synth` (fading out, carrying the attenuation
    /// reached) into the real `real` (fading in).
    fn overlap_add_at_end(&self, real: &mut [i16], synth: &[f32]) {
        let cnt = synth.len();
        let incr = 1.0 / cnt.max(1) as f32;
        let gain = (1.0 - (self.erasecnt as f32 - 1.0) * ATTENFAC).max(0.0);
        let incrg = incr * gain;
        let (mut lw, mut rw) = ((1.0 - incr) * gain, incr);
        for (r, &f) in real.iter_mut().zip(synth) {
            *r = sat(lw * f + rw * f32::from(*r));
            lw -= incrg;
            rw += incr;
        }
    }

    /// Appends `unit` to the history and replaces it by the delayed
    /// output.
    fn save_speech(&mut self, unit: &mut [i16]) {
        let n = unit.len();
        let hl = self.history.len();
        self.history.copy_within(n.., 0);
        self.history[hl - n..].copy_from_slice(unit);
        let from = hl - n - self.poverlap_max;
        unit.copy_from_slice(&self.history[from..from + n]);
    }

    /// § I.2.2 pitch detection on `pitchbuf`: returns the period in
    /// samples.
    fn find_pitch(&self) -> usize {
        let hl = self.pitchbuf.len();
        let corrlen = self.corrlen;
        let pitchdiff = self.pitch_max - self.pitch_min;
        let l = &self.pitchbuf[hl - corrlen..];
        let rbase = hl - corrlen - self.pitch_max;
        let r = &self.pitchbuf[rbase..];
        let ndec = self.ndec;
        let min_power = self.corr_min_power;
        // Coarse search, decimated by ndec.
        let mut energy: f32 = (0..corrlen).step_by(ndec).map(|i| r[i] * r[i]).sum();
        let mut corr: f32 = (0..corrlen).step_by(ndec).map(|i| r[i] * l[i]).sum();
        let mut best = corr / energy.max(min_power).sqrt();
        let mut best_j = 0;
        let mut j = ndec;
        while j <= pitchdiff {
            let prev = j - ndec;
            energy -= r[prev] * r[prev];
            energy += r[prev + corrlen] * r[prev + corrlen];
            corr = (0..corrlen).step_by(ndec).map(|i| r[j + i] * l[i]).sum();
            let c = corr / energy.max(min_power).sqrt();
            if c >= best {
                best = c;
                best_j = j;
            }
            j += ndec;
        }
        // Fine search around the coarse peak at full resolution.
        let lo = best_j.saturating_sub(ndec - 1);
        let hi = (best_j + ndec - 1).min(pitchdiff);
        let mut energy: f32 = (0..corrlen).map(|i| r[lo + i] * r[lo + i]).sum();
        let corr: f32 = (0..corrlen).map(|i| r[lo + i] * l[i]).sum();
        let mut best = corr / energy.max(min_power).sqrt();
        let mut best_j = lo;
        for j in lo + 1..=hi {
            energy -= r[j - 1] * r[j - 1];
            energy += r[j - 1 + corrlen] * r[j - 1 + corrlen];
            let corr: f32 = (0..corrlen).map(|i| r[j + i] * l[i]).sum();
            let c = corr / energy.max(min_power).sqrt();
            if c > best {
                best = c;
                best_j = j;
            }
        }
        self.pitch_max - best_j
    }
}

#[inline]
fn sat(x: f32) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

/// `out = fade_out(head) + fade_in(out)` with triangular windows.
fn overlap_add_in_place(head: &[f32], out: &mut [f32]) {
    let cnt = head.len();
    let incr = 1.0 / cnt.max(1) as f32;
    let (mut lw, mut rw) = (1.0 - incr, incr);
    for (o, &h) in out.iter_mut().zip(head) {
        *o = (lw * h + rw * *o).clamp(-32768.0, 32767.0);
        lw -= incr;
        rw += incr;
    }
}
