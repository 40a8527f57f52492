//! The per-frame paths allocate nothing: a counting global allocator
//! observes zero allocations while frames are encoded, decoded, detected,
//! generated, classified and resampled, through Opus encode/decode/PLC/FEC
//! through G.711 Appendix I concealment, PCMU↔Opus transcoding (with gaps and telephone events), and through the jitter buffer's push/pop (construction may allocate).
//! This binary holds a single test so no other thread allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrovox_codecs::dtmf::{DetectorConfig, Digit, DtmfDetector, DtmfGenerator};
use ferrovox_codecs::g711::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};
use ferrovox_codecs::g722::{G722Decoder, G722Encoder};
use ferrovox_codecs::jitter::{JitterBuffer, JitterConfig, Playout};
use ferrovox_codecs::noise::ComfortNoise;
use ferrovox_codecs::opus::{MAX_PACKET_BYTES, OpusConfig, OpusDecoder, OpusEncoder};
use ferrovox_codecs::plc::Plc;
use ferrovox_codecs::resample::{FrameResampler, Rate};
use ferrovox_codecs::signal::SpeechLike;
use ferrovox_codecs::tone::{CallProgress, ToneGenerator, tone_plan};
use ferrovox_codecs::transcode::{Codec, Leg, Transcoder, TranscoderConfig};
use ferrovox_codecs::vad::{Vad, VadConfig};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn frame_paths_do_not_allocate() {
    // Construction (allowed to allocate).
    let mut speech8 = SpeechLike::new(8000, 1);
    let mut speech16 = SpeechLike::new(16000, 1);
    let mut enc = G722Encoder::new();
    let mut dec = G722Decoder::new();
    let mut det = DtmfDetector::new(&DetectorConfig::default()).expect("valid");
    let mut gen_ = DtmfGenerator::new(8000, Digit::D5, -20.0, 1000).expect("valid");
    let plan = tone_plan("US").expect("US");
    let mut ring = ToneGenerator::new(8000, plan.tone(CallProgress::Ringback)).expect("valid");
    let mut cn = ComfortNoise::new(-60.0, 1).expect("valid");
    let mut vad = Vad::new(&VadConfig::default()).expect("valid");
    let mut up = FrameResampler::new(Rate::Hz8000, Rate::Hz48000, 20).expect("valid");
    let mut down = FrameResampler::new(Rate::Hz16000, Rate::Hz8000, 20).expect("valid");
    let mut pcm8 = [0i16; 160];
    let mut pcm16 = [0i16; 320];
    let mut pcm48 = [0i16; 960];
    let mut codes = [0u8; 160];
    let mut reports = 0usize;
    let mut opus_cfg = OpusConfig::voip(16000);
    opus_cfg.fec = true;
    opus_cfg.dtx = true;
    opus_cfg.packet_loss_percent = 10;
    let mut opus_enc = OpusEncoder::new(&opus_cfg).expect("valid");
    let mut opus_dec = OpusDecoder::new(16000).expect("valid");
    let mut opus_packet = [0u8; MAX_PACKET_BYTES];
    let mut opus_bytes = 0usize;
    let mut jb = JitterBuffer::new(&JitterConfig::new(8000, 160)).expect("valid");
    let mut jb_out = [0u8; 1500];
    let mut jb_frames = 0usize;
    let mut plc = Plc::new(8000).expect("valid");
    let pcmu = Leg {
        codec: Codec::Pcmu,
        ptime_ms: 20,
    };
    let opus = Leg {
        codec: Codec::Opus { sample_rate: 48000 },
        ptime_ms: 20,
    };
    let mut to_opus = Transcoder::new(&TranscoderConfig::new(pcmu, opus)).expect("valid");
    let mut to_pcmu = Transcoder::new(&TranscoderConfig::new(opus, pcmu)).expect("valid");
    let mut opus_out = [0u8; MAX_PACKET_BYTES];
    let mut opus_out_len = 0usize;
    let mut transcoded = 0usize;
    let event = [5u8, 0x0A, 0x03, 0x20];

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..100 {
        speech8.fill(&mut pcm8);
        speech16.fill(&mut pcm16);
        encode_ulaw(&pcm8, &mut codes).expect("sized");
        decode_ulaw(&codes, &mut pcm8).expect("sized");
        encode_alaw(&pcm8, &mut codes).expect("sized");
        decode_alaw(&codes, &mut pcm8).expect("sized");
        enc.encode(&pcm16, &mut codes).expect("sized");
        dec.decode(&codes, &mut pcm16).expect("sized");
        gen_.fill(&mut pcm8);
        det.process(&pcm8, |_| reports += 1);
        ring.fill(&mut pcm8);
        cn.fill(&mut pcm8);
        vad.process(&pcm8);
        up.process(&pcm8, &mut pcm48).expect("sized");
        down.process(&pcm16, &mut pcm8).expect("sized");
        speech16.fill(&mut pcm16);
        let len = opus_enc.encode(&pcm16, &mut opus_packet).expect("sized");
        opus_bytes += len;
        opus_dec
            .decode(&opus_packet[..len], &mut pcm16)
            .expect("sized");
        opus_dec.conceal(&mut pcm16).expect("sized");
        opus_dec
            .decode_fec(&opus_packet[..len], &mut pcm16)
            .expect("sized");
    }
    for k in 0..100 {
        speech8.fill(&mut pcm8);
        if k % 5 == 0 {
            plc.conceal(&mut pcm8).expect("10 ms multiple");
        } else {
            plc.good_frame(&mut pcm8).expect("10 ms multiple");
        }
    }
    for k in 0..100u32 {
        speech8.fill(&mut pcm8);
        encode_ulaw(&pcm8, &mut codes).expect("sized");
        // Every 10th packet lost: exercises concealment.
        if k % 10 != 9 {
            to_opus
                .push_audio(k * 160, &codes, |p| {
                    opus_out[..p.payload.len()].copy_from_slice(p.payload);
                    opus_out_len = p.payload.len();
                    transcoded += 1;
                })
                .expect("valid");
            to_pcmu
                .push_audio(k * 960, &opus_out[..opus_out_len], |_| transcoded += 1)
                .expect("valid");
        }
        if k % 25 == 0 {
            to_opus
                .push_event(k * 160, true, &event, |_| transcoded += 1)
                .expect("valid");
        }
    }
    for k in 0..300u32 {
        // Reordered pairs and a duplicate now and then.
        let seq = if k % 2 == 0 { k + 1 } else { k - 1 };
        let now = u64::from(k) * 160 + 400;
        jb.push(now, 1, seq as u16, seq * 160, &codes)
            .expect("fits");
        if k % 7 == 0 {
            jb.push(now, 1, seq as u16, seq * 160, &codes)
                .expect("fits");
        }
        if let Playout::Frame { .. } = jb.pop(now + 80, &mut jb_out).expect("fits") {
            jb_frames += 1;
        }
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations on the per-frame paths");
    // The counter does see allocations.
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(
        ALLOCATIONS.load(Ordering::SeqCst) > after,
        "allocator counts"
    );
    drop(v);
    // The DTMF digit was generated and heard, so the loop did real work.
    assert!(reports >= 1, "the generated digit was detected");
    assert!(opus_bytes > 100 * 3, "Opus encoded speech");
    assert!(jb_frames > 250, "the jitter buffer played frames");
    assert!(
        transcoded > 150,
        "the transcoders emitted packets ({transcoded})"
    );
}
