//! Streaming sample-rate conversion between the telephony rates 8, 16 and
//! 48 kHz on fixed-size frames (e.g. 20 ms), for bridging G.711 (8 kHz),
//! G.722 (16 kHz) and Opus/WebRTC (48 kHz) legs.
//!
//! Wraps the synchronous FFT resampler of the `rubato` crate (fixed input
//! and output chunk sizes; band-limiting filter built in), converting
//! between 16-bit PCM and the resampler's f32 through buffers allocated at
//! construction. Processing a frame allocates nothing. Identical input and
//! output rates are a plain copy.
//!
//! Not implemented: arbitrary or drifting rates (asynchronous resampling),
//! multi-channel audio, and delay compensation (the delay is reported by
//! [`FrameResampler::delay`] for callers that align streams).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::CodecError;

/// Supported sample rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// 8 kHz (G.711, narrowband).
    Hz8000,
    /// 16 kHz (G.722, wideband).
    Hz16000,
    /// 48 kHz (fullband, Opus).
    Hz48000,
}

impl Rate {
    /// The rate in Hz.
    pub fn hz(self) -> u32 {
        match self {
            Rate::Hz8000 => 8000,
            Rate::Hz16000 => 16000,
            Rate::Hz48000 => 48000,
        }
    }

    /// The rate for a frequency in Hz, if supported.
    pub fn from_hz(hz: u32) -> Option<Self> {
        match hz {
            8000 => Some(Rate::Hz8000),
            16000 => Some(Rate::Hz16000),
            48000 => Some(Rate::Hz48000),
            _ => None,
        }
    }
}

/// Converts fixed-size mono frames from one rate to another.
pub struct FrameResampler {
    inner: Option<Fft<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
    in_len: usize,
    out_len: usize,
}

impl core::fmt::Debug for FrameResampler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameResampler")
            .field("in_len", &self.in_len)
            .field("out_len", &self.out_len)
            .field("delay", &self.delay())
            .finish()
    }
}

impl FrameResampler {
    /// A resampler from `from` to `to` on frames of `frame_ms`
    /// milliseconds (10 to 120, a multiple of 10).
    pub fn new(from: Rate, to: Rate, frame_ms: u32) -> Result<Self, CodecError> {
        if !(10..=120).contains(&frame_ms) || !frame_ms.is_multiple_of(10) {
            return Err(CodecError::InvalidParameter {
                name: "frame_ms",
                reason: "must be 10..=120 and a multiple of 10",
            });
        }
        let in_len = (from.hz() * frame_ms / 1000) as usize;
        let out_len = (to.hz() * frame_ms / 1000) as usize;
        let inner = if from == to {
            None
        } else {
            let fft = Fft::<f32>::new(
                from.hz() as usize,
                to.hz() as usize,
                in_len,
                1,
                FixedSync::Both,
            )
            .map_err(|_| CodecError::InvalidParameter {
                name: "resampler",
                reason: "rubato rejected the rate pair or frame size",
            })?;
            if fft.input_frames_next() != in_len || fft.output_frames_next() != out_len {
                return Err(CodecError::InvalidParameter {
                    name: "frame_ms",
                    reason: "the resampler cannot use this frame size for this rate pair",
                });
            }
            Some(fft)
        };
        Ok(Self {
            inner,
            input: vec![0.0; in_len],
            output: vec![0.0; out_len],
            in_len,
            out_len,
        })
    }

    /// Samples per input frame.
    pub fn input_len(&self) -> usize {
        self.in_len
    }

    /// Samples per output frame.
    pub fn output_len(&self) -> usize {
        self.out_len
    }

    /// Delay in output samples between an input event and its output.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Converts one frame of exactly [`Self::input_len`] samples into the
    /// front of `output`; returns [`Self::output_len`].
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> Result<usize, CodecError> {
        if input.len() != self.in_len {
            return Err(CodecError::BadInputLength {
                len: input.len(),
                multiple: self.in_len,
            });
        }
        if output.len() < self.out_len {
            return Err(CodecError::OutputTooSmall {
                needed: self.out_len,
                got: output.len(),
            });
        }
        let Some(inner) = self.inner.as_mut() else {
            output[..self.out_len].copy_from_slice(input);
            return Ok(self.out_len);
        };
        for (f, &s) in self.input.iter_mut().zip(input) {
            *f = f32::from(s) / 32768.0;
        }
        let adapter_in = InterleavedSlice::new(&self.input[..], 1, self.in_len)
            .map_err(|_| CodecError::Resample("input buffer does not fit the resampler"))?;
        let mut adapter_out = InterleavedSlice::new_mut(&mut self.output[..], 1, self.out_len)
            .map_err(|_| CodecError::Resample("output buffer does not fit the resampler"))?;
        let (_, written) = inner
            .process_into_buffer(&adapter_in, &mut adapter_out, None)
            .map_err(|_| CodecError::Resample("rubato failed to process the frame"))?;
        for (o, &f) in output.iter_mut().zip(&self.output[..written]) {
            *o = (f * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        Ok(written)
    }
}
