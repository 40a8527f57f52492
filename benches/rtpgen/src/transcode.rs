//! Transcoding sessions (TARGETS.md P3): N bidirectional calls where side A speaks PCMU only
//! and side B Opus only, so the relay must transcode both directions of every call.
//!
//! Setup per call: A offers PCMU (`m=audio … 0`) with ng `codec: {strip: [PCMU], transcode:
//! [opus]}` — the form both rtpengine and ferrovox accept — so the SDP handed to B offers Opus
//! alone; B answers Opus on the payload type the relay chose; the answer handed back to A must
//! be PCMU again. A call whose SDPs do not come out that way fails the session, so a relay
//! that silently relays instead of transcoding cannot pass.
//!
//! Media: every stream sends one packet per 20 ms, phases spread evenly over the period. A
//! sends PCMU (a 440 Hz tone, 160 bytes, timestamps +160), B sends Opus (the same tone at
//! 48 kHz, encoded once at start-up with libopus through `ferrovox-codecs`: VoIP, complexity
//! 5, 32 kbit/s VBR, 20 ms; 50 frames cycled, timestamps +960), so the generator spends no
//! CPU encoding per packet. One sender thread wakes every `tick` and sends what is due.
//!
//! Checks: the receiver knows the call and side from the socket (every call has its own A
//! and B socket). On A it expects PCMU (payload type 0, 160 bytes per packet); on B the Opus
//! payload type the relay offered and a payload of 1–1,275 bytes (RFC 6716 § 3.2.1); both from
//! the relay port that faces that socket, one SSRC, sequence numbers one apart. Loss per
//! direction = packets sent − packets received (a transcoder emits one 20 ms packet per 20 ms
//! packet it gets); sequence gaps are counted as well, since a relay that concealed a lost
//! input frame would make up the count but not the gap in its input. Packets a stream sent
//! before the relay's first output for it arrived are *start-up drops* (rtpengine swallows
//! the first packet of every transcoded stream); they are reported apart, and the capacity
//! criterion is the loss after start.
//!
//! CPU: the relay's (from `/proc`, via the caller's sampler) over a window that starts after
//! `warmup` — so call setup and encoder creation are not charged to steady-state
//! transcoding — and ends when sending stops.
//!
//! Deliberately not done: telephone-event, other codec pairs, one-way transcoding, DTX.

use crate::bencode::Value;
use crate::ng::{NgClient, NgError, audio_payload_types, codec_sdp, media_endpoint};
use crate::rtp::{HEADER_LEN, PCMU, RtpHeader};
use crate::session::bind_socket;
use crate::sys::{self, Batch, Epoll};
use ferrovox_codecs::opus::{OpusConfig, OpusEncoder};
use ferrovox_testkit::cpu::{CpuTime, own_cpu};
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Packet interval of every stream.
const PTIME: Duration = Duration::from_millis(20);
/// Frames of the pre-encoded signal, cycled.
const FRAMES: usize = 50;
/// PCMU samples (= bytes) per 20 ms packet.
const PCMU_BYTES: usize = 160;
/// Opus RTP timestamp step per 20 ms (48 kHz clock, RFC 7587 § 4.1).
const OPUS_TICKS: u32 = 960;
/// Largest Opus frame (RFC 6716 § 3.2.1).
const OPUS_MAX_BYTES: usize = 1275;
/// Packets per stream whose fate is examined for start-up drops.
const STARTUP: usize = 8;
/// Payload type B answers with if the relay's offer names no Opus (it then fails anyway).
const FALLBACK_OPUS_PT: u8 = 111;

/// How a transcoding session failed before it could report.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("call {call} setup: {source}")]
    Setup {
        call: usize,
        #[source]
        source: NgError,
    },
    #[error("call {call}: the relay does not transcode as asked ({what}); its SDP:\n{sdp}")]
    Negotiation {
        call: usize,
        what: &'static str,
        sdp: String,
    },
    #[error("ng: {0}")]
    Ng(#[from] NgError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding the Opus signal: {0}")]
    Codec(#[from] ferrovox_codecs::CodecError),
    #[error("a {0} thread panicked")]
    Panicked(&'static str),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct TranscodeConfig {
    pub ng: SocketAddr,
    pub local: Ipv4Addr,
    /// Bidirectional calls (two transcoded streams each).
    pub calls: usize,
    /// Seconds of sending, warm-up included.
    pub duration: Duration,
    /// Start of sending to start of the CPU window.
    pub warmup: Duration,
    /// Time to wait for the last packets after sending stops.
    pub drain: Duration,
    /// Pacing granularity of the sender.
    pub tick: Duration,
    pub socket_buffer: usize,
    pub local_ports: std::ops::RangeInclusive<u16>,
    pub seed: u64,
}

impl TranscodeConfig {
    pub fn new(ng: SocketAddr, calls: usize) -> Self {
        Self {
            ng,
            local: Ipv4Addr::LOCALHOST,
            calls,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(2),
            drain: Duration::from_millis(1000),
            tick: Duration::from_millis(1),
            socket_buffer: 1 << 20,
            local_ports: 20000..=28999,
            seed: 0x7c0d,
        }
    }

    fn validate(&self) -> Result<(), TranscodeError> {
        let fail = |m: &str| Err(TranscodeError::Config(m.to_owned()));
        if self.calls == 0 {
            return fail("need at least one call");
        }
        if self.duration <= self.warmup {
            return fail("the duration must be longer than the warm-up");
        }
        if self.tick.is_zero() || self.tick > PTIME {
            return fail("the tick must be between 1 µs and 20 ms");
        }
        Ok(())
    }
}

/// One direction over all calls.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DirectionReport {
    /// `"PCMU→Opus"` (A to B) or `"Opus→PCMU"` (B to A).
    pub name: String,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_pct: f64,
    /// Of `lost`: packets a stream sent before the relay's first output for it arrived
    /// (less the one that produced that output) — a relay setting its codec up on the first
    /// packet rather than losing under load. Exact while the relay's delay is under 20 ms.
    pub startup_drops: u64,
    /// `lost − startup_drops`, in % of `sent`: what the capacity criterion uses.
    pub loss_after_start_pct: f64,
    /// Received beyond what was sent (a relay inventing frames).
    pub extra: u64,
    /// Missing sequence numbers between received packets.
    pub sequence_gaps: u64,
    /// Packets at or behind the highest sequence number seen (duplicates or reordering).
    pub out_of_order: u64,
    pub wrong_payload_type: u64,
    pub wrong_payload_size: u64,
    pub ssrc_changes: u64,
    pub unexpected_source: u64,
    /// Calls that received nothing in this direction.
    pub silent_calls: usize,
}

/// Everything a transcoding session measured.
#[derive(Debug, Clone, Serialize)]
pub struct TranscodeReport {
    pub calls: usize,
    pub duration_s: f64,
    pub setup_s: f64,
    /// Opus payload type the relay offered to B.
    pub opus_payload_type: u8,
    pub a_to_b: DirectionReport,
    pub b_to_a: DirectionReport,
    /// Loss over both directions, %.
    pub loss_pct: f64,
    /// Loss over both directions without start-up drops, %.
    pub loss_after_start_pct: f64,
    pub window_s: f64,
    /// The relay's CPU over the window, when a sampler was given.
    pub relay_cpu: Option<CpuTime>,
    /// Relay CPU in cores over the window.
    pub relay_cores: f64,
    /// Relay CPU per packet it delivered (both directions), µs.
    pub relay_cpu_us_per_packet: f64,
    /// Bidirectional calls one core would carry at this cost (at the delivered share of the
    /// packets when there was loss).
    pub calls_per_core: f64,
    pub generator_cpu_cores: f64,
    pub send_errors: u64,
    pub send_lateness_us_max: u64,
    pub delete_failures: usize,
}

impl TranscodeReport {
    pub fn summary(&self) -> String {
        let line = |d: &DirectionReport| {
            format!(
                "{}: sent {}, received {}, lost {} ({:.4}%; {} of them start-up drops), extra {}, gaps {}, out of order {}, wrong PT {}, wrong size {}, SSRC changes {}, unexpected source {}, silent calls {}",
                d.name,
                d.sent,
                d.received,
                d.lost,
                d.loss_pct,
                d.startup_drops,
                d.extra,
                d.sequence_gaps,
                d.out_of_order,
                d.wrong_payload_type,
                d.wrong_payload_size,
                d.ssrc_changes,
                d.unexpected_source,
                d.silent_calls
            )
        };
        let mut text = format!(
            "{} transcoded calls (PCMU ↔ Opus PT {}) for {:.1} s (setup {:.2} s)\n{}\n{}\n\
             generator {:.2} cores, send errors {}, send lateness max {} µs",
            self.calls,
            self.opus_payload_type,
            self.duration_s,
            self.setup_s,
            line(&self.a_to_b),
            line(&self.b_to_a),
            self.generator_cpu_cores,
            self.send_errors,
            self.send_lateness_us_max,
        );
        if let Some(cpu) = self.relay_cpu {
            text.push_str(&format!(
                "\nrelay CPU {:.2} cores over {:.1} s (user {} ms, system {} ms): {:.1} µs per packet, {:.0} calls per core",
                self.relay_cores,
                self.window_s,
                cpu.user_us / 1000,
                cpu.system_us / 1000,
                self.relay_cpu_us_per_packet,
                self.calls_per_core
            ));
        }
        text
    }
}

/// The signal both sides send, encoded once.
struct Signal {
    pcmu: Vec<[u8; PCMU_BYTES]>,
    opus: Vec<Vec<u8>>,
}

impl Signal {
    fn new() -> Result<Self, TranscodeError> {
        let tone = |rate: u32, frame: usize, samples: usize| -> Vec<i16> {
            (0..samples)
                .map(|i| {
                    let t = (frame * samples + i) as f64 / f64::from(rate);
                    (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect()
        };
        let mut pcmu = Vec::with_capacity(FRAMES);
        for frame in 0..FRAMES {
            let mut out = [0u8; PCMU_BYTES];
            ferrovox_codecs::g711::encode_ulaw(&tone(8000, frame, PCMU_BYTES), &mut out)?;
            pcmu.push(out);
        }
        let mut encoder = OpusEncoder::new(&OpusConfig::voip(48_000))?;
        let mut opus = Vec::with_capacity(FRAMES);
        let mut out = [0u8; OPUS_MAX_BYTES];
        for frame in 0..FRAMES {
            let n = encoder.encode(&tone(48_000, frame, 960), &mut out)?;
            opus.push(out[..n].to_vec());
        }
        Ok(Self { pcmu, opus })
    }
}

/// One sending stream: socket index, destination, RTP state.
struct Stream {
    socket: usize,
    to: SocketAddrV4,
    payload_type: u8,
    opus: bool,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    phase: Duration,
    sent: u64,
    /// When the first packets left, to tell start-up drops from loss (see [`STARTUP`]).
    first_sends: [Option<Instant>; STARTUP],
}

/// What the receiver tracks per receiving socket.
#[derive(Debug, Default, Clone)]
struct Reception {
    received: u64,
    first_arrival: Option<Instant>,
    highest: Option<u64>,
    ssrc: Option<u32>,
    gaps: u64,
    out_of_order: u64,
    wrong_payload_type: u64,
    wrong_payload_size: u64,
    ssrc_changes: u64,
    unexpected_source: u64,
}

impl Reception {
    /// Extends `sequence` next to the highest one seen (RFC 3550 A.1 style).
    fn extend(&self, sequence: u16) -> u64 {
        let Some(highest) = self.highest else {
            return u64::from(sequence) + (1 << 16);
        };
        let cycle = highest & !0xffff;
        let candidates = [
            cycle.wrapping_sub(1 << 16) | u64::from(sequence),
            cycle | u64::from(sequence),
            (cycle + (1 << 16)) | u64::from(sequence),
        ];
        candidates
            .into_iter()
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(cycle | u64::from(sequence))
    }

    fn on_packet(&mut self, header: &RtpHeader, payload_len: usize, expect_pt: u8, opus: bool) {
        self.received += 1;
        if header.payload_type != expect_pt {
            self.wrong_payload_type += 1;
        }
        let size_ok = if opus {
            (1..=OPUS_MAX_BYTES).contains(&payload_len)
        } else {
            payload_len == PCMU_BYTES
        };
        if !size_ok {
            self.wrong_payload_size += 1;
        }
        match self.ssrc {
            Some(ssrc) if ssrc != header.ssrc => {
                self.ssrc_changes += 1;
                self.ssrc = Some(header.ssrc);
                // A new source starts its own sequence space.
                self.highest = None;
            }
            None => self.ssrc = Some(header.ssrc),
            Some(_) => {}
        }
        let extended = self.extend(header.sequence);
        match self.highest {
            None => self.highest = Some(extended),
            Some(highest) if extended > highest => {
                self.gaps += extended - highest - 1;
                self.highest = Some(extended);
            }
            Some(_) => self.out_of_order += 1,
        }
    }
}

/// One set-up call: its two sockets' addresses and where each side sends.
struct Call {
    call_id: String,
    from_tag: String,
    relay_for_a: SocketAddrV4,
    relay_for_b: SocketAddrV4,
}

fn v4(addr: SocketAddr) -> Result<SocketAddrV4, TranscodeError> {
    match addr {
        SocketAddr::V4(addr) => Ok(addr),
        SocketAddr::V6(_) => Err(TranscodeError::Config(
            "the relay offered IPv6 media; the generator is IPv4 only".into(),
        )),
    }
}

fn transcode_flags() -> Vec<(&'static str, Value)> {
    vec![(
        "codec",
        Value::dict([
            ("strip", Value::List(vec![Value::str("PCMU")])),
            ("transcode", Value::List(vec![Value::str("opus")])),
        ]),
    )]
}

/// Offer and answer one call; returns the call and the Opus payload type given to B.
fn set_up(
    ng: &mut NgClient,
    index: usize,
    run_tag: &str,
    a: SocketAddrV4,
    b: SocketAddrV4,
) -> Result<(Call, u8), TranscodeError> {
    let call_id = format!("rtpgen-tc-{run_tag}-{index}");
    let from_tag = format!("a{index}");
    let to_tag = format!("b{index}");
    let setup = |source| TranscodeError::Setup {
        call: index,
        source,
    };
    let offer = codec_sdp(a.into(), 1, PCMU, "PCMU/8000", None);
    let for_b = ng
        .offer_sdp(&call_id, &from_tag, &offer, transcode_flags())
        .map_err(setup)?;
    let negotiation = |what, sdp: &str| TranscodeError::Negotiation {
        call: index,
        what,
        sdp: sdp.to_owned(),
    };
    let offered = audio_payload_types(&for_b);
    if offered
        .iter()
        .any(|(_, name)| name.eq_ignore_ascii_case("PCMU"))
    {
        return Err(negotiation(
            "PCMU was not stripped from the offer to B",
            &for_b,
        ));
    }
    let opus_pt = offered
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case("opus"))
        .map(|(pt, _)| *pt)
        .ok_or_else(|| negotiation("no Opus in the offer to B", &for_b))?;
    let relay_for_b = media_endpoint(&for_b)
        .map_err(|what| negotiation(what, &for_b))
        .and_then(|e| v4(e.0))?;
    let answer = codec_sdp(b.into(), 2, opus_pt, "opus/48000/2", Some("useinbandfec=1"));
    let for_a = ng
        .answer_sdp(&call_id, &from_tag, &to_tag, &answer)
        .map_err(setup)?;
    let answered = audio_payload_types(&for_a);
    if answered.first().map(|(pt, _)| *pt) != Some(PCMU) {
        return Err(negotiation("the answer to A is not PCMU first", &for_a));
    }
    let relay_for_a = media_endpoint(&for_a)
        .map_err(|what| negotiation(what, &for_a))
        .and_then(|e| v4(e.0))?;
    Ok((
        Call {
            call_id,
            from_tag,
            relay_for_a,
            relay_for_b,
        },
        opus_pt,
    ))
}

fn delete_calls(ng: &mut NgClient, calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|call| {
            ng.delete(&call.call_id, &call.from_tag)
                .inspect_err(|error| tracing::warn!(call = %call.call_id, %error, "delete failed"))
                .is_err()
        })
        .count()
}

struct SenderOutcome {
    streams: Vec<Stream>,
    errors: u64,
    lateness_max_us: u64,
    cpu_window: (Option<CpuTime>, Option<CpuTime>, Instant, Instant),
}

fn send(
    mut streams: Vec<Stream>,
    sockets: &[UdpSocket],
    signal: &Signal,
    config: &TranscodeConfig,
    relay_cpu: Option<&(dyn Fn() -> Option<CpuTime> + Sync)>,
) -> SenderOutcome {
    sys::tighten_timer_slack(5_000);
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + config.duration;
    let window_start = start + config.warmup;
    let mut window_cpu_before = None;
    let mut window_started = None;
    let mut errors = 0;
    let mut lateness_max_us = 0;
    let mut packet = [0u8; HEADER_LEN + OPUS_MAX_BYTES];
    // Index of the next packet of each stream; stream `s`'s packet `k` is due at
    // start + k × 20 ms + phase(s).
    let mut next = vec![0u64; streams.len()];
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window_started.is_none() && now >= window_start {
            window_cpu_before = relay_cpu.and_then(|f| f());
            window_started = Some(now);
        }
        for (s, stream) in streams.iter_mut().enumerate() {
            loop {
                let due = start + PTIME * (next[s] as u32) + stream.phase;
                if due > now || due >= end {
                    break;
                }
                let frame = (next[s] % FRAMES as u64) as usize;
                let payload: &[u8] = if stream.opus {
                    &signal.opus[frame]
                } else {
                    &signal.pcmu[frame]
                };
                packet[0] = 0x80;
                packet[1] = (u8::from(next[s] == 0) << 7) | stream.payload_type;
                packet[2..4].copy_from_slice(&stream.sequence.to_be_bytes());
                packet[4..8].copy_from_slice(&stream.timestamp.to_be_bytes());
                packet[8..12].copy_from_slice(&stream.ssrc.to_be_bytes());
                packet[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
                match sockets[stream.socket]
                    .send_to(&packet[..HEADER_LEN + payload.len()], stream.to)
                {
                    Ok(_) => {
                        if let Some(slot) = stream.first_sends.get_mut(stream.sent as usize) {
                            *slot = Some(Instant::now());
                        }
                        stream.sent += 1;
                    }
                    Err(_) => errors += 1,
                }
                lateness_max_us = lateness_max_us.max(now.duration_since(due).as_micros() as u64);
                stream.sequence = stream.sequence.wrapping_add(1);
                stream.timestamp = stream.timestamp.wrapping_add(if stream.opus {
                    OPUS_TICKS
                } else {
                    PCMU_BYTES as u32
                });
                next[s] += 1;
            }
        }
        std::thread::sleep(config.tick);
    }
    let window_cpu_after = relay_cpu.and_then(|f| f());
    let window_end = Instant::now();
    SenderOutcome {
        streams,
        errors,
        lateness_max_us,
        cpu_window: (
            window_cpu_before,
            window_cpu_after,
            window_started.unwrap_or(window_end),
            window_end,
        ),
    }
}

/// Receives on every socket until `stop`; socket `2c` is call `c`'s A side, `2c + 1` its B.
fn receive(
    sockets: &[UdpSocket],
    calls: &[Call],
    opus_pt: u8,
    stop: &AtomicBool,
) -> std::io::Result<Vec<Reception>> {
    let mut epoll = Epoll::new(256)?;
    for (index, socket) in sockets.iter().enumerate() {
        epoll.add(socket.as_raw_fd(), index as u64)?;
    }
    let mut receptions = vec![Reception::default(); sockets.len()];
    let mut batch = Batch::new(64);
    let mut ready = Vec::with_capacity(256);
    while !stop.load(Ordering::Relaxed) {
        ready.clear();
        ready.extend(epoll.wait(50)?);
        for &token in &ready {
            let index = token as usize;
            let call = &calls[index / 2];
            let on_a = index.is_multiple_of(2);
            let (expect_from, expect_pt) = if on_a {
                (call.relay_for_a, PCMU)
            } else {
                (call.relay_for_b, opus_pt)
            };
            while batch.receive(sockets[index].as_raw_fd())? > 0 {
                let arrived = Instant::now();
                for i in 0..batch.len() {
                    let Some((datagram, from)) = batch.get(i) else {
                        continue;
                    };
                    // RTCP (packet types 200–204 where RTP has marker + payload type) is not
                    // media and is not counted.
                    if datagram.get(1).is_some_and(|pt| (200..=204).contains(pt)) {
                        continue;
                    }
                    let Some(header) = RtpHeader::parse(datagram) else {
                        continue;
                    };
                    let reception = &mut receptions[index];
                    reception.first_arrival.get_or_insert(arrived);
                    if from != expect_from {
                        reception.unexpected_source += 1;
                    }
                    reception.on_packet(
                        &header,
                        header.payload_end - header.payload_offset,
                        expect_pt,
                        !on_a,
                    );
                }
            }
        }
    }
    Ok(receptions)
}

/// Runs a session; `relay_cpu` (if given) samples the relay's CPU at the window's edges.
pub fn run(
    config: &TranscodeConfig,
    relay_cpu: Option<&(dyn Fn() -> Option<CpuTime> + Sync)>,
) -> Result<TranscodeReport, TranscodeError> {
    config.validate()?;
    sys::raise_open_file_limit();
    let signal = Signal::new()?;
    let mut sockets = Vec::with_capacity(2 * config.calls);
    let mut addrs = Vec::with_capacity(2 * config.calls);
    let mut next_port = u32::from(*config.local_ports.start());
    for _ in 0..2 * config.calls {
        let (socket, addr) = bind_socket(
            config.local,
            &config.local_ports,
            &mut next_port,
            config.socket_buffer,
        )
        .map_err(|e| TranscodeError::Config(e.to_string()))?;
        sockets.push(socket);
        addrs.push(addr);
    }
    let mut ng = NgClient::connect(config.ng)?;
    if !ng.ping()? {
        tracing::warn!("ng ping was not answered with pong; trying offers anyway");
    }
    let run_tag = format!(
        "{:x}",
        crate::flow::mix(config.seed ^ u64::from(std::process::id()) ^ config.calls as u64)
    );
    let setup_started = Instant::now();
    let mut calls = Vec::with_capacity(config.calls);
    let mut opus_pt = None;
    for index in 0..config.calls {
        match set_up(
            &mut ng,
            index,
            &run_tag,
            addrs[2 * index],
            addrs[2 * index + 1],
        ) {
            Ok((call, pt)) => {
                opus_pt.get_or_insert(pt);
                calls.push(call);
            }
            Err(error) => {
                let _ = ng.delete(
                    &format!("rtpgen-tc-{run_tag}-{index}"),
                    &format!("a{index}"),
                );
                delete_calls(&mut ng, &calls);
                return Err(error);
            }
        }
    }
    let setup_s = setup_started.elapsed().as_secs_f64();
    let opus_pt = opus_pt.unwrap_or(FALLBACK_OPUS_PT);

    let streams_total = 2 * config.calls;
    let spacing = PTIME / streams_total as u32;
    let mut streams = Vec::with_capacity(streams_total);
    for (c, call) in calls.iter().enumerate() {
        for b_side in [false, true] {
            let id = (2 * c + usize::from(b_side)) as u64;
            let mixed = crate::flow::mix(config.seed ^ id.wrapping_mul(0x9e37_79b9));
            streams.push(Stream {
                socket: 2 * c + usize::from(b_side),
                to: if b_side {
                    call.relay_for_b
                } else {
                    call.relay_for_a
                },
                payload_type: if b_side { opus_pt } else { PCMU },
                opus: b_side,
                ssrc: mixed as u32,
                sequence: (mixed >> 32) as u16,
                timestamp: (mixed >> 40) as u32,
                phase: spacing * id as u32,
                sent: 0,
                first_sends: [None; STARTUP],
            });
        }
    }

    let stop = AtomicBool::new(false);
    let generator_before = (own_cpu(), Instant::now());
    let outcome = std::thread::scope(|scope| -> Result<_, TranscodeError> {
        let receiver = scope.spawn(|| receive(&sockets, &calls, opus_pt, &stop));
        let sent = send(streams, &sockets, &signal, config, relay_cpu);
        std::thread::sleep(config.drain);
        stop.store(true, Ordering::Relaxed);
        let received = receiver
            .join()
            .map_err(|_| TranscodeError::Panicked("receiver"))?
            .map_err(|source| TranscodeError::Io {
                what: "receiving",
                source,
            })?;
        Ok((sent, received))
    })?;
    let generator_cpu = own_cpu().since(generator_before.0);
    let generator_s = generator_before.1.elapsed().as_secs_f64();
    let (sent, received) = outcome;
    let delete_failures = delete_calls(&mut ng, &calls);

    let direction = |name: &str, b_side: bool| {
        let mut d = DirectionReport {
            name: name.to_owned(),
            ..DirectionReport::default()
        };
        for (c, _) in calls.iter().enumerate() {
            // A→B is sent on A's socket and received on B's, and the other way round.
            let (from, to) = if b_side {
                (2 * c + 1, 2 * c)
            } else {
                (2 * c, 2 * c + 1)
            };
            let stream = &sent.streams[from];
            let stream_sent = stream.sent;
            let r = &received[to];
            if let Some(first) = r.first_arrival {
                let before = stream
                    .first_sends
                    .iter()
                    .flatten()
                    .filter(|sent| **sent < first)
                    .count() as u64;
                d.startup_drops += before.saturating_sub(1);
            }
            d.sent += stream_sent;
            d.received += r.received;
            d.lost += stream_sent.saturating_sub(r.received);
            d.extra += r.received.saturating_sub(stream_sent);
            d.sequence_gaps += r.gaps;
            d.out_of_order += r.out_of_order;
            d.wrong_payload_type += r.wrong_payload_type;
            d.wrong_payload_size += r.wrong_payload_size;
            d.ssrc_changes += r.ssrc_changes;
            d.unexpected_source += r.unexpected_source;
            if r.received == 0 {
                d.silent_calls += 1;
            }
        }
        d.loss_pct = 100.0 * d.lost as f64 / d.sent.max(1) as f64;
        d.startup_drops = d.startup_drops.min(d.lost);
        d.loss_after_start_pct = 100.0 * (d.lost - d.startup_drops) as f64 / d.sent.max(1) as f64;
        d
    };
    let a_to_b = direction("PCMU→Opus", false);
    let b_to_a = direction("Opus→PCMU", true);
    let (cpu_before, cpu_after, window_start, window_end) = sent.cpu_window;
    let window_s = window_end.duration_since(window_start).as_secs_f64();
    let relay_cpu = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => Some(after.since(before)),
        _ => None,
    };
    let relay_cores = relay_cpu.map_or(0.0, |c| c.total_us() as f64 / 1e6 / window_s.max(1e-9));
    let lost = a_to_b.lost + b_to_a.lost;
    // Packets the relay delivered in the window, estimated from the whole run's delivery
    // ratio: an overloaded relay must not be credited with packets it dropped.
    let delivered =
        (a_to_b.received + b_to_a.received) as f64 / (a_to_b.sent + b_to_a.sent).max(1) as f64;
    let packets_in_window =
        2.0 * config.calls as f64 * window_s / PTIME.as_secs_f64() * delivered.min(1.0);
    Ok(TranscodeReport {
        calls: config.calls,
        duration_s: config.duration.as_secs_f64(),
        setup_s,
        opus_payload_type: opus_pt,
        loss_pct: 100.0 * lost as f64 / (a_to_b.sent + b_to_a.sent).max(1) as f64,
        loss_after_start_pct: 100.0 * (lost - a_to_b.startup_drops - b_to_a.startup_drops) as f64
            / (a_to_b.sent + b_to_a.sent).max(1) as f64,
        a_to_b,
        b_to_a,
        window_s,
        relay_cpu,
        relay_cores,
        relay_cpu_us_per_packet: relay_cpu
            .map_or(0.0, |c| c.total_us() as f64 / packets_in_window.max(1.0)),
        calls_per_core: if relay_cores > 0.0 {
            config.calls as f64 * delivered.min(1.0) / relay_cores
        } else {
            0.0
        },
        generator_cpu_cores: generator_cpu.total_us() as f64 / 1e6 / generator_s.max(1e-9),
        send_errors: sent.errors,
        send_lateness_us_max: sent.lateness_max_us,
        delete_failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(sequence: u16, ssrc: u32, payload_type: u8) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type,
            sequence,
            timestamp: 0,
            ssrc,
            payload_offset: HEADER_LEN,
            payload_end: HEADER_LEN + PCMU_BYTES,
        }
    }

    #[test]
    fn gaps_reordering_and_wrap_around_are_told_apart() {
        let mut r = Reception::default();
        for sequence in [65534u16, 65535, 0, 2, 1, 3, 3] {
            r.on_packet(&header(sequence, 7, PCMU), PCMU_BYTES, PCMU, false);
        }
        assert_eq!(r.received, 7);
        assert_eq!(r.gaps, 1, "1 was missing when 2 arrived");
        assert_eq!(r.out_of_order, 2, "1 late, 3 duplicated");
        assert_eq!(
            (r.wrong_payload_type, r.wrong_payload_size, r.ssrc_changes),
            (0, 0, 0)
        );
    }

    #[test]
    fn wrong_codec_size_and_source_changes_are_counted() {
        let mut r = Reception::default();
        r.on_packet(&header(10, 1, 111), 80, 111, true);
        r.on_packet(&header(11, 1, 0), 80, 111, true);
        r.on_packet(&header(12, 1, 111), 0, 111, true);
        r.on_packet(&header(500, 2, 111), 80, 111, true);
        r.on_packet(&header(501, 2, 111), 80, 111, true);
        assert_eq!(r.wrong_payload_type, 1);
        assert_eq!(r.wrong_payload_size, 1, "an empty Opus payload");
        assert_eq!(r.ssrc_changes, 1);
        assert_eq!(r.gaps, 0, "a new SSRC starts its own sequence space");
        let mut pcmu = Reception::default();
        pcmu.on_packet(&header(1, 1, PCMU), 80, PCMU, false);
        assert_eq!(pcmu.wrong_payload_size, 1, "PCMU must carry 20 ms");
    }

    #[test]
    fn the_signal_is_a_cycle_of_real_frames() {
        let signal = Signal::new().unwrap();
        assert_eq!((signal.pcmu.len(), signal.opus.len()), (FRAMES, FRAMES));
        assert!(
            signal
                .opus
                .iter()
                .all(|f| (2..=OPUS_MAX_BYTES).contains(&f.len()))
        );
        // A 440 Hz tone at -12 dBFS: the µ-law bytes are not all silence.
        assert!(signal.pcmu[1].iter().any(|&b| b != 0xff && b != 0x7f));
    }

    #[test]
    fn refuses_a_warm_up_as_long_as_the_run() {
        let mut config = TranscodeConfig::new("127.0.0.1:9".parse().unwrap(), 1);
        config.duration = config.warmup;
        assert!(matches!(run(&config, None), Err(TranscodeError::Config(_))));
        config.duration = Duration::from_secs(5);
        config.calls = 0;
        assert!(matches!(run(&config, None), Err(TranscodeError::Config(_))));
    }
}
