//! One generator session: set calls up over ng, latch, send paced RTP, receive and check it,
//! tear the calls down, report.
//!
//! Streams and calls: a *stream* is one direction of RTP. With `bidirectional`, `streams`
//! streams are `streams / 2` calls, each carrying A→B and B→A; without it, `streams` calls
//! each carry A→B only (B still sends latching warm-up packets so that both sides of the
//! relay are latched). Each call is `offer` (A's SDP) then `answer` (B's SDP); A sends to the
//! port in the answer's reply, B to the port in the offer's reply, and each side receives on
//! the socket it sends from (symmetric RTP).
//!
//! Pacing: every stream sends `pps / streams` packets per second (50 at 1,000 streams and
//! 50 kpps, i.e. one PCMU packet per 20 ms) and its RTP timestamps step by the real packet
//! interval in 8 kHz units, so RFC 3550 jitter measures the path, not a rate mismatch.
//!
//! Sockets: every `calls_per_socket` calls share one A and one B socket (1 by default: every
//! call has its own pair, as real endpoints do). Socket buffers are raised to
//! `socket_buffer` bytes (the `FORCE` options are used when running as root).
//!
//! The measurement window runs from the first measured packet to the end of the drain
//! period; the generator's own CPU ([`ferrovox_testkit::cpu::own_cpu`]) and, when a sampler is given,
//! the relay's CPU are taken at its edges.

use crate::flow::{Flow, phases};
use crate::ng::{NgClient, NgError};
use crate::receiver::{self, ReceiverResult};
use crate::sender::{self, SenderPlan, SenderResult};
use crate::stats::{Histogram, percentile};
use crate::sys;
use ferrovox_testkit::cpu::{CpuTime, own_cpu};
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a session failed before it could report.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("call {call} setup: {source}")]
    Setup {
        call: usize,
        #[source]
        source: NgError,
    },
    #[error("ng: {0}")]
    Ng(#[from] NgError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a {0} thread panicked")]
    Panicked(&'static str),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub ng: SocketAddr,
    /// Local address of the generator's media sockets.
    pub local: Ipv4Addr,
    pub streams: usize,
    /// Total packets per second over all streams.
    pub pps: u64,
    pub duration: Duration,
    pub sender_threads: usize,
    pub receiver_threads: usize,
    pub payload_size: usize,
    pub bidirectional: bool,
    pub calls_per_socket: usize,
    pub tick: Duration,
    pub socket_buffer: usize,
    /// Time to wait for the last packets after sending stops.
    pub drain: Duration,
    /// Seed for SSRCs and initial sequence numbers.
    pub seed: u64,
    /// Ports the generator's media sockets are bound in (ports in use are skipped). Kept
    /// apart from the relays' ranges and the kernel's ephemeral range: a relay that does not
    /// skip a port someone else holds fails the offer instead.
    pub local_ports: std::ops::RangeInclusive<u16>,
}

impl SessionConfig {
    /// Defaults for `streams` at `pps` against the ng server at `ng`.
    pub fn new(ng: SocketAddr, streams: usize, pps: u64) -> Self {
        Self {
            ng,
            local: Ipv4Addr::LOCALHOST,
            streams,
            pps,
            duration: Duration::from_secs(20),
            sender_threads: 2,
            receiver_threads: 1,
            payload_size: 160,
            bidirectional: false,
            calls_per_socket: 1,
            tick: Duration::from_micros(200),
            socket_buffer: 4 << 20,
            drain: Duration::from_millis(500),
            seed: 0x5eed,
            local_ports: 20000..=28999,
        }
    }

    fn calls(&self) -> usize {
        if self.bidirectional {
            self.streams / 2
        } else {
            self.streams
        }
    }

    fn validate(&self) -> Result<(), SessionError> {
        let fail = |m: &str| Err(SessionError::Config(m.to_owned()));
        if self.calls() == 0 {
            return fail("need at least one call (two streams when bidirectional)");
        }
        if self.pps == 0 || self.duration.is_zero() {
            return fail("rate and duration must be positive");
        }
        if self.payload_size < crate::rtp::PROBE_LEN
            || self.payload_size + crate::rtp::HEADER_LEN > sys::SLOT_BYTES
        {
            return fail("payload size must be between 20 and 2,000 bytes");
        }
        if self.sender_threads == 0 || self.receiver_threads == 0 || self.calls_per_socket == 0 {
            return fail("threads and calls per socket must be at least 1");
        }
        Ok(())
    }
}

/// Everything a session measured.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub calls: usize,
    pub streams: usize,
    pub bidirectional: bool,
    pub target_pps: u64,
    pub duration_s: f64,
    pub setup_s: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_pct: f64,
    pub duplicates: u64,
    pub reordered: u64,
    pub sequence_gaps: u64,
    pub timestamp_mismatches: u64,
    pub ssrc_changes: u64,
    pub payload_type_changes: u64,
    pub flows_silent: usize,
    pub warmup_sent: u64,
    pub warmup_received: u64,
    pub foreign: u64,
    pub misrouted: u64,
    pub unexpected_source: u64,
    pub send_errors: u64,
    pub send_refused: u64,
    pub jitter_ms_p50: f64,
    pub jitter_ms_p99: f64,
    pub jitter_ms_max: f64,
    pub delay_us_p50: u64,
    pub delay_us_p99: u64,
    pub delay_us_max: u64,
    pub send_lateness_us_p99: u64,
    pub send_lateness_us_max: u64,
    pub achieved_send_pps: f64,
    pub packets_per_sendmmsg: f64,
    pub packets_per_recvmmsg: f64,
    pub window_s: f64,
    pub generator_cpu: CpuTime,
    pub generator_cpu_cores: f64,
    /// Generator CPU per packet it sent or received.
    pub generator_cpu_us_per_packet: f64,
    /// The relay's CPU over the window, when a sampler was given.
    pub relay_cpu: Option<CpuTime>,
    pub delete_failures: usize,
}

impl SessionReport {
    /// A few human-readable lines.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} calls, {} streams ({}), target {} pps for {:.1} s (setup {:.2} s)\n\
             sent {} ({:.0} pps achieved), received {}, lost {} ({:.4}%), duplicates {}, reordered {}\n\
             sequence gaps {}, timestamp mismatches {}, SSRC changes {}, silent flows {}\n\
             jitter p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; delay p50 {} µs, p99 {} µs, max {} µs\n\
             send lateness p99 {} µs, max {} µs; {:.2} packets/sendmmsg, {:.2} packets/recvmmsg\n\
             generator CPU {:.2} cores ({:.2} µs per packet sent or received: user {} ms, system {} ms over {:.2} s)",
            self.calls,
            self.streams,
            if self.bidirectional {
                "bidirectional"
            } else {
                "one-way"
            },
            self.target_pps,
            self.duration_s,
            self.setup_s,
            self.sent,
            self.achieved_send_pps,
            self.received,
            self.lost,
            self.loss_pct,
            self.duplicates,
            self.reordered,
            self.sequence_gaps,
            self.timestamp_mismatches,
            self.ssrc_changes,
            self.flows_silent,
            self.jitter_ms_p50,
            self.jitter_ms_p99,
            self.jitter_ms_max,
            self.delay_us_p50,
            self.delay_us_p99,
            self.delay_us_max,
            self.send_lateness_us_p99,
            self.send_lateness_us_max,
            self.packets_per_sendmmsg,
            self.packets_per_recvmmsg,
            self.generator_cpu_cores,
            self.generator_cpu_us_per_packet,
            self.generator_cpu.user_us / 1000,
            self.generator_cpu.system_us / 1000,
            self.window_s,
        );
        if self.foreign + self.misrouted + self.unexpected_source + self.send_errors > 0 {
            text.push_str(&format!(
                "\nforeign {}, misrouted {}, unexpected source {}, send errors {}, refused {}",
                self.foreign,
                self.misrouted,
                self.unexpected_source,
                self.send_errors,
                self.send_refused
            ));
        }
        if let Some(cpu) = self.relay_cpu {
            let per = |us: u64| us as f64 / self.received.max(1) as f64;
            text.push_str(&format!(
                "\nrelay CPU {:.2} µs/packet (user {:.2}, system {:.2})",
                per(cpu.total_us()),
                per(cpu.user_us),
                per(cpu.system_us)
            ));
        }
        text
    }
}

/// One set-up call.
struct Call {
    call_id: String,
    from_tag: String,
}

/// Binds the next free port of `ports` at or after `*next`.
pub(crate) fn bind_socket(
    local: Ipv4Addr,
    ports: &std::ops::RangeInclusive<u16>,
    next: &mut u32,
    buffer: usize,
) -> Result<(UdpSocket, SocketAddrV4), SessionError> {
    let socket = loop {
        if *next > u32::from(*ports.end()) || *next < u32::from(*ports.start()) {
            return Err(SessionError::Config(format!(
                "no free port left in {}-{} for the generator's sockets",
                ports.start(),
                ports.end()
            )));
        }
        let port = *next as u16;
        *next += 1;
        match UdpSocket::bind(SocketAddrV4::new(local, port)) {
            Ok(socket) => break socket,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(source) => {
                return Err(SessionError::Io {
                    what: "binding a media socket",
                    source,
                });
            }
        }
    };
    socket
        .set_nonblocking(true)
        .map_err(|source| SessionError::Io {
            what: "making a media socket non-blocking",
            source,
        })?;
    sys::set_socket_buffers(std::os::fd::AsRawFd::as_raw_fd(&socket), buffer);
    let addr = match socket.local_addr() {
        Ok(SocketAddr::V4(addr)) => addr,
        Ok(SocketAddr::V6(_)) => return Err(SessionError::Config("media must be IPv4".into())),
        Err(source) => {
            return Err(SessionError::Io {
                what: "reading a socket's address",
                source,
            });
        }
    };
    Ok((socket, addr))
}

fn v4(endpoint: crate::ng::RelayEndpoint) -> Result<SocketAddrV4, SessionError> {
    match endpoint.0 {
        SocketAddr::V4(addr) => Ok(addr),
        SocketAddr::V6(addr) => Err(SessionError::Config(format!(
            "relay offered IPv6 media {addr}; the generator is IPv4 only"
        ))),
    }
}

/// Deletes `calls`; returns how many deletes failed.
fn delete_calls(ng: &mut NgClient, calls: &[Call]) -> usize {
    let mut failures = 0;
    for call in calls {
        if let Err(error) = ng.delete(&call.call_id, &call.from_tag) {
            failures += 1;
            tracing::warn!(call = %call.call_id, %error, "delete failed");
        }
    }
    failures
}

/// Runs a session; `relay_cpu` (if given) samples the relay's CPU at the window's edges.
pub fn run(
    config: &SessionConfig,
    relay_cpu: Option<&dyn Fn() -> Option<CpuTime>>,
) -> Result<SessionReport, SessionError> {
    config.validate()?;
    sys::raise_open_file_limit();
    let calls = config.calls();
    let groups = calls.div_ceil(config.calls_per_socket);
    let mut sockets = Vec::with_capacity(2 * groups);
    let mut addrs = Vec::with_capacity(2 * groups);
    let mut next_port = u32::from(*config.local_ports.start());
    for _ in 0..2 * groups {
        let (socket, addr) = bind_socket(
            config.local,
            &config.local_ports,
            &mut next_port,
            config.socket_buffer,
        )?;
        sockets.push(socket);
        addrs.push(addr);
    }
    let mut ng = NgClient::connect(config.ng)?;
    if !ng.ping()? {
        tracing::warn!("ng ping was not answered with pong; trying offers anyway");
    }
    let setup_started = Instant::now();
    let mut set_up = Vec::with_capacity(calls);
    let mut flows = Vec::with_capacity(2 * calls);
    let mut latch_only = Vec::new();
    let run_tag = format!(
        "{:x}",
        crate::flow::mix(config.seed ^ u64::from(std::process::id()))
    );
    for call in 0..calls {
        let (a, b) = (
            call / config.calls_per_socket,
            groups + call / config.calls_per_socket,
        );
        let call_id = format!("rtpgen-{run_tag}-{call}");
        let from_tag = format!("a{call}");
        let to_tag = format!("b{call}");
        let negotiated = ng
            .offer(&call_id, &from_tag, addrs[a].into())
            .and_then(|for_b| {
                ng.answer(&call_id, &from_tag, &to_tag, addrs[b].into())
                    .map(|for_a| (for_a, for_b))
            })
            .map_err(|source| SessionError::Setup { call, source })
            .and_then(|(for_a, for_b)| Ok((v4(for_a)?, v4(for_b)?)));
        let (relay_for_a, relay_for_b) = match negotiated {
            Ok(endpoints) => endpoints,
            Err(error) => {
                // Leave the relay as it was: delete what was set up (and the half-made call).
                let _ = ng.delete(&call_id, &from_tag);
                delete_calls(&mut ng, &set_up);
                return Err(error);
            }
        };
        let id = flows.len() as u32;
        flows.push(Flow::new(
            id,
            true,
            a,
            b,
            relay_for_a,
            relay_for_b,
            config.seed,
        ));
        let reverse = Flow::new(
            id + 1,
            config.bidirectional,
            b,
            a,
            relay_for_b,
            relay_for_a,
            config.seed,
        );
        if config.bidirectional {
            flows.push(reverse);
        } else {
            latch_only.push(reverse);
        }
        set_up.push(Call { call_id, from_tag });
    }
    let setup_s = setup_started.elapsed().as_secs_f64();
    // Latch-only flows get ids after the measured ones so probes still index `flows`.
    for (i, flow) in latch_only.iter_mut().enumerate() {
        flow.id = (flows.len() + i) as u32;
    }
    flows.extend(latch_only);

    let epoch = Instant::now();
    let stop = AtomicBool::new(false);
    let receiver_threads = config.receiver_threads.min(sockets.len());
    let measured_streams = flows.iter().filter(|f| f.measured).count();
    let period_ns = (measured_streams as u64 * 1_000_000_000) / config.pps;
    let schedule = phases(&flows, period_ns);
    let samples_per_packet =
        ((period_ns as f64 * f64::from(crate::rtp::CLOCK_RATE) / 1e9).round() as u32).max(1);
    let outcome = std::thread::scope(|scope| -> Result<_, SessionError> {
        let receivers: Vec<_> = (0..receiver_threads)
            .map(|r| {
                let mine: Vec<usize> = (0..sockets.len())
                    .filter(|s| s % receiver_threads == r)
                    .collect();
                let (flows, sockets, stop) = (&flows, &sockets, &stop);
                scope.spawn(move || {
                    receiver::run(&mine, samples_per_packet, flows, sockets, epoch, stop)
                })
            })
            .collect();
        let warmup_sent = sender::send_warmup(
            &flows,
            &sockets,
            epoch,
            config.payload_size,
            samples_per_packet,
            Duration::from_millis(100),
        );
        std::thread::sleep(Duration::from_millis(300));
        let start_ns = epoch.elapsed().as_nanos() as u64 + 20_000_000;
        let end_ns = start_ns + config.duration.as_nanos() as u64;
        let threads = config.sender_threads.min(schedule.len()).max(1);
        // Whole sockets per thread, so that flows sharing a socket batch together.
        let plans: Vec<SenderPlan> = (0..threads)
            .map(|t| SenderPlan {
                schedule: schedule
                    .iter()
                    .copied()
                    .filter(|(_, f)| flows[*f].send_socket % threads == t)
                    .collect(),
                period_ns,
                start_ns,
                end_ns,
                tick_ns: config.tick.as_nanos() as u64,
                payload_size: config.payload_size,
                samples_per_packet,
            })
            .collect();
        sys::tighten_timer_slack(5_000);
        let sleep_to = |offset: u64| {
            let target = epoch + Duration::from_nanos(offset);
            if let Some(wait) = target.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        };
        sleep_to(start_ns);
        let cpu_before = (own_cpu(), relay_cpu.and_then(|f| f()), Instant::now());
        let senders: Vec<_> = plans
            .into_iter()
            .map(|plan| {
                let (flows, sockets) = (&flows, &sockets);
                scope.spawn(move || sender::run(&plan, flows, sockets, epoch))
            })
            .collect();
        let sent: Vec<SenderResult> = senders
            .into_iter()
            .map(|h| h.join().map_err(|_| SessionError::Panicked("sender")))
            .collect::<Result<_, _>>()?;
        let send_done = Instant::now();
        std::thread::sleep(config.drain);
        let cpu_after = (own_cpu(), relay_cpu.and_then(|f| f()), Instant::now());
        stop.store(true, Ordering::Relaxed);
        let received: Vec<ReceiverResult> = receivers
            .into_iter()
            .map(|h| match h.join() {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(source)) => Err(SessionError::Io {
                    what: "receiving",
                    source,
                }),
                Err(_) => Err(SessionError::Panicked("receiver")),
            })
            .collect::<Result<_, _>>()?;
        let send_window = send_done.duration_since(cpu_before.2);
        Ok((
            sent,
            received,
            warmup_sent,
            cpu_before,
            cpu_after,
            send_window,
        ))
    })?;
    let (sent, received, warmup_sent, before, after, send_window) = outcome;

    let delete_failures = delete_calls(&mut ng, &set_up);

    let mut sent_per_flow = vec![0u64; flows.len()];
    let mut lateness = Histogram::default();
    let (mut send_errors, mut refused, mut batches) = (0, 0, 0);
    for result in &sent {
        for &(flow, count) in &result.sent {
            sent_per_flow[flow] += count;
        }
        lateness.merge(&result.lateness);
        send_errors += result.send_errors;
        refused += result.refused;
        batches += result.batches;
    }
    let mut delay = Histogram::default();
    let mut report = SessionReport {
        calls,
        streams: measured_streams,
        bidirectional: config.bidirectional,
        target_pps: config.pps,
        duration_s: config.duration.as_secs_f64(),
        setup_s,
        sent: sent_per_flow.iter().sum(),
        received: 0,
        lost: 0,
        loss_pct: 0.0,
        duplicates: 0,
        reordered: 0,
        sequence_gaps: 0,
        timestamp_mismatches: 0,
        ssrc_changes: 0,
        payload_type_changes: 0,
        flows_silent: 0,
        warmup_sent,
        warmup_received: 0,
        foreign: 0,
        misrouted: 0,
        unexpected_source: 0,
        send_errors,
        send_refused: refused,
        jitter_ms_p50: 0.0,
        jitter_ms_p99: 0.0,
        jitter_ms_max: 0.0,
        delay_us_p50: 0,
        delay_us_p99: 0,
        delay_us_max: 0,
        send_lateness_us_p99: lateness.quantile(0.99),
        send_lateness_us_max: lateness.max(),
        achieved_send_pps: 0.0,
        packets_per_sendmmsg: 0.0,
        packets_per_recvmmsg: 0.0,
        window_s: after.2.duration_since(before.2).as_secs_f64(),
        generator_cpu: after.0.since(before.0),
        generator_cpu_cores: 0.0,
        generator_cpu_us_per_packet: 0.0,
        relay_cpu: match (before.1, after.1) {
            (Some(b), Some(a)) => Some(a.since(b)),
            _ => None,
        },
        delete_failures,
    };
    let mut received_per_flow = vec![0u64; flows.len()];
    let mut jitters = Vec::new();
    let (mut receive_calls, mut datagrams) = (0u64, 0u64);
    for result in &received {
        delay.merge(&result.delay);
        report.warmup_received += result.warmup;
        report.foreign += result.foreign;
        report.misrouted += result.misrouted;
        report.unexpected_source += result.unexpected_source;
        receive_calls += result.receive_calls;
        datagrams += result.datagrams;
        for (flow, stats) in &result.flows {
            received_per_flow[*flow] += stats.unique();
            report.received += stats.received;
            report.duplicates += stats.duplicates;
            report.reordered += stats.reordered;
            report.sequence_gaps += stats.sequence_gaps();
            report.timestamp_mismatches += stats.timestamp_mismatches;
            report.ssrc_changes += stats.ssrc_changes;
            report.payload_type_changes += stats.payload_type_changes;
            if stats.received >= 2 {
                jitters.push(stats.jitter / f64::from(crate::rtp::CLOCK_RATE) * 1000.0);
            }
        }
    }
    for flow in flows.iter().filter(|f| f.measured) {
        let index = flow.id as usize;
        report.lost += sent_per_flow[index].saturating_sub(received_per_flow[index]);
        if sent_per_flow[index] > 0 && received_per_flow[index] == 0 {
            report.flows_silent += 1;
        }
    }
    report.loss_pct = 100.0 * report.lost as f64 / report.sent.max(1) as f64;
    report.jitter_ms_p50 = percentile(&mut jitters, 0.5);
    report.jitter_ms_p99 = percentile(&mut jitters, 0.99);
    report.jitter_ms_max = jitters.last().copied().unwrap_or(0.0);
    report.delay_us_p50 = delay.quantile(0.5);
    report.delay_us_p99 = delay.quantile(0.99);
    report.delay_us_max = delay.max();
    report.achieved_send_pps = report.sent as f64 / send_window.as_secs_f64().max(1e-9);
    report.packets_per_sendmmsg = report.sent as f64 / batches.max(1) as f64;
    report.packets_per_recvmmsg = datagrams as f64 / receive_calls.max(1) as f64;
    report.generator_cpu_cores =
        report.generator_cpu.total_us() as f64 / 1e6 / report.window_s.max(1e-9);
    report.generator_cpu_us_per_packet =
        report.generator_cpu.total_us() as f64 / (report.sent + report.received).max(1) as f64;
    Ok(report)
}
