//! The relay capacity comparison: for each system under test and each rate, start the SUT,
//! run a generator session against it, and charge the SUT's CPU over the measurement window
//! to the packets it relayed.
//!
//! CPU per relayed packet = (user + system time of the SUT's process tree over the window) /
//! (measured packets the generator received). The table puts every SUT's cost next to
//! rtpengine's and the floor's **at the same rate in the same run** (ratios survive a noisy
//! shared machine; absolute times do not). The highest loss-free rate is the highest rate of
//! the list whose loss is below the threshold, refined by bisection towards the next
//! (failing) rate when `bisect_steps` > 0.
//!
//! [`run_transcoding`] is the same comparison for transcoding (P3): every SUT at every call
//! count of [`crate::transcode`] sessions (PCMU on one side, Opus on the other), with the
//! SUT's CPU per call, calls per core and the highest call count without loss.
//!
//! Deliberately not done: plotting; running SUTs concurrently (they would share the cores).

use crate::session::{self, SessionConfig, SessionReport};
use crate::sut::{Binaries, RunningSut, SutKind};
use crate::transcode::{self, TranscodeConfig, TranscodeReport};
use ferrovox_testkit::cpu::tree_cpu;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// What to compare.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    pub suts: Vec<SutKind>,
    pub rates: Vec<u64>,
    pub streams: usize,
    pub duration: Duration,
    pub bidirectional: bool,
    pub sender_threads: usize,
    pub receiver_threads: usize,
    pub calls_per_socket: usize,
    pub tick: Duration,
    pub binaries: Binaries,
    pub log_dir: PathBuf,
    /// Loss below this percentage counts as loss-free.
    pub loss_threshold_pct: f64,
    pub bisect_steps: u32,
    /// Pause between runs, so one run's tail does not reach the next window.
    pub settle: Duration,
    /// Nice value for the SUTs and the generator (0: leave as is).
    pub nice: i32,
    /// `SCHED_RR` priority for the SUTs (0: normal scheduling); the caller runs the generator
    /// at the same priority.
    pub realtime: i32,
}

/// One SUT at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub sut: SutKind,
    pub rate: u64,
    pub loss_pct: f64,
    pub relayed: u64,
    pub cpu_us_per_packet_user: f64,
    pub cpu_us_per_packet_system: f64,
    pub cpu_us_per_packet: f64,
    pub generator_cpu_cores: f64,
    pub achieved_send_pps: f64,
    pub from_bisection: bool,
    pub report: Option<SessionReport>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub streams: usize,
    pub bidirectional: bool,
    pub duration_s: f64,
    pub loss_threshold_pct: f64,
    pub clock_tick_us: u64,
    pub sysctls: Vec<(String, String)>,
    /// Nice value the SUTs and the generator ran at.
    pub nice: i32,
    /// Their `SCHED_RR` priority (0: normal scheduling).
    pub realtime: i32,
    pub points: Vec<Point>,
    /// `(sut, highest loss-free rate, whether that is just the highest rate tried)`.
    pub max_loss_free: Vec<(SutKind, Option<u64>, bool)>,
}

fn point(sut: SutKind, rate: u64, outcome: Result<SessionReport, String>) -> Point {
    match outcome {
        Ok(report) => {
            let relayed = report.received;
            let cpu = report.relay_cpu.unwrap_or_default();
            let per = |us: u64| us as f64 / relayed.max(1) as f64;
            Point {
                sut,
                rate,
                loss_pct: report.loss_pct,
                relayed,
                cpu_us_per_packet_user: per(cpu.user_us),
                cpu_us_per_packet_system: per(cpu.system_us),
                cpu_us_per_packet: per(cpu.total_us()),
                generator_cpu_cores: report.generator_cpu_cores,
                achieved_send_pps: report.achieved_send_pps,
                from_bisection: false,
                report: Some(report),
                error: None,
            }
        }
        Err(error) => Point {
            sut,
            rate,
            loss_pct: 100.0,
            relayed: 0,
            cpu_us_per_packet_user: 0.0,
            cpu_us_per_packet_system: 0.0,
            cpu_us_per_packet: 0.0,
            generator_cpu_cores: 0.0,
            achieved_send_pps: 0.0,
            from_bisection: false,
            report: None,
            error: Some(error),
        },
    }
}

/// Starts `kind` (with the configured priority) unless it still runs.
fn ensure_running(
    sut: &mut Option<RunningSut>,
    kind: SutKind,
    binaries: &Binaries,
    log_dir: &std::path::Path,
    nice: i32,
    realtime: i32,
) -> Result<(), String> {
    if sut.as_mut().is_some_and(RunningSut::is_running) {
        return Ok(());
    }
    *sut = None;
    let ng = crate::sut::free_ng_address();
    let mut command = kind.command(binaries, log_dir, ng);
    if nice != 0 {
        crate::sys::nice_on_exec(&mut command, nice);
    }
    if realtime > 0 {
        crate::sys::realtime_on_exec(&mut command, realtime);
    }
    *sut = Some(RunningSut::spawn(kind.name(), command, ng, log_dir).map_err(|e| e.to_string())?);
    Ok(())
}

impl CapacityConfig {
    fn session(&self, ng: std::net::SocketAddr, rate: u64) -> SessionConfig {
        let mut session = SessionConfig::new(ng, self.streams, rate);
        session.duration = self.duration;
        session.bidirectional = self.bidirectional;
        session.sender_threads = self.sender_threads;
        session.receiver_threads = self.receiver_threads;
        session.calls_per_socket = self.calls_per_socket;
        session.tick = self.tick;
        session.seed ^= rate;
        session
    }

    fn measure(&self, sut: &mut Option<RunningSut>, kind: SutKind, rate: u64) -> Point {
        if let Err(error) = ensure_running(
            sut,
            kind,
            &self.binaries,
            &self.log_dir,
            self.nice,
            self.realtime,
        ) {
            return point(kind, rate, Err(error));
        }
        let Some(running) = sut.as_ref() else {
            return point(kind, rate, Err("not running".into()));
        };
        let (pid, ng) = (running.pid(), running.ng());
        let sampler = move || tree_cpu(pid).ok();
        tracing::info!(sut = kind.name(), rate, "measuring");
        let outcome =
            session::run(&self.session(ng, rate), Some(&sampler)).map_err(|e| e.to_string());
        std::thread::sleep(self.settle);
        point(kind, rate, outcome)
    }
}

/// Runs the comparison; `progress` sees every point as it is measured.
pub fn run(
    config: &CapacityConfig,
    sysctls: Vec<(String, String)>,
    mut progress: impl FnMut(&Point),
) -> CapacityReport {
    let mut points = Vec::new();
    let mut max_loss_free = Vec::new();
    let passes = |p: &Point| p.error.is_none() && p.loss_pct < config.loss_threshold_pct;
    for &kind in &config.suts {
        let mut sut = None;
        let mut outcomes = Vec::new();
        for &rate in &config.rates {
            let p = config.measure(&mut sut, kind, rate);
            progress(&p);
            outcomes.push((rate, passes(&p)));
            points.push(p);
        }
        let mut best = outcomes.iter().filter(|(_, ok)| *ok).map(|(r, _)| *r).max();
        let first_failure = outcomes
            .iter()
            .filter(|(r, ok)| !ok && best.is_none_or(|b| *r > b))
            .map(|(r, _)| *r)
            .min();
        let mut untested_top = first_failure.is_none();
        if let (Some(mut low), Some(mut high)) = (best, first_failure) {
            for _ in 0..config.bisect_steps {
                let mid = (low + high) / 2;
                if high - low < 1000 {
                    break;
                }
                let mut p = config.measure(&mut sut, kind, mid);
                p.from_bisection = true;
                progress(&p);
                if passes(&p) {
                    low = mid;
                } else {
                    high = mid;
                }
                points.push(p);
            }
            best = Some(low);
            untested_top = false;
        }
        max_loss_free.push((kind, best, untested_top && best.is_some()));
        drop(sut);
    }
    CapacityReport {
        streams: config.streams,
        bidirectional: config.bidirectional,
        duration_s: config.duration.as_secs_f64(),
        loss_threshold_pct: config.loss_threshold_pct,
        clock_tick_us: ferrovox_testkit::cpu::tick_micros(),
        sysctls,
        nice: config.nice,
        realtime: config.realtime,
        points,
        max_loss_free,
    }
}

impl CapacityReport {
    fn cost(&self, sut: SutKind, rate: u64) -> Option<f64> {
        self.points
            .iter()
            .find(|p| p.sut == sut && p.rate == rate && p.error.is_none() && p.relayed > 0)
            .map(|p| p.cpu_us_per_packet)
    }

    /// The comparison as a markdown table, then the highest loss-free rates.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} streams ({}), {:.0} s per point, CPU tick {} µs\n",
            self.streams,
            if self.bidirectional {
                "bidirectional calls"
            } else {
                "one-way"
            },
            self.duration_s,
            self.clock_tick_us
        );
        out.push_str(
            "| SUT | rate (pps) | achieved (pps) | loss % | µs/pkt user | µs/pkt system | µs/pkt total | × rtpengine | × floor | generator cores |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut sorted: Vec<&Point> = self.points.iter().collect();
        sorted.sort_by_key(|p| (p.rate, p.sut as u8));
        for p in sorted {
            if let Some(error) = &p.error {
                let _ = writeln!(
                    out,
                    "| {} | {} | – | failed: {} | | | | | | |",
                    p.sut.name(),
                    p.rate,
                    error.replace('|', "/")
                );
                continue;
            }
            let ratio = |other: SutKind| {
                self.cost(other, p.rate)
                    .filter(|c| *c > 0.0)
                    .map_or("–".to_owned(), |c| {
                        format!("{:.2}", p.cpu_us_per_packet / c)
                    })
            };
            let _ = writeln!(
                out,
                "| {}{} | {} | {:.0} | {:.4} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} |",
                p.sut.name(),
                if p.from_bisection { " (bisect)" } else { "" },
                p.rate,
                p.achieved_send_pps,
                p.loss_pct,
                p.cpu_us_per_packet_user,
                p.cpu_us_per_packet_system,
                p.cpu_us_per_packet,
                ratio(SutKind::Rtpengine),
                ratio(SutKind::Floor),
                p.generator_cpu_cores
            );
        }
        let _ = writeln!(
            out,
            "\nHighest rate with loss < {}%:",
            self.loss_threshold_pct
        );
        for (sut, rate, top) in &self.max_loss_free {
            let _ = match rate {
                Some(rate) if *top => writeln!(
                    out,
                    "- {}: ≥ {} pps (every rate tried passed)",
                    sut.name(),
                    rate
                ),
                Some(rate) => writeln!(out, "- {}: {} pps", sut.name(), rate),
                None => writeln!(out, "- {}: none of the rates tried", sut.name()),
            };
        }
        out
    }
}

/// What to compare in a transcoding run.
#[derive(Debug, Clone)]
pub struct TranscodingConfig {
    pub suts: Vec<SutKind>,
    /// Bidirectional transcoded calls per point.
    pub calls: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub binaries: Binaries,
    pub log_dir: PathBuf,
    /// Loss at or below this percentage (both directions) counts as loss-free.
    pub loss_threshold_pct: f64,
    pub settle: Duration,
    pub nice: i32,
    pub realtime: i32,
}

/// One SUT at one call count.
#[derive(Debug, Clone, Serialize)]
pub struct TranscodePoint {
    pub sut: SutKind,
    pub calls: usize,
    /// Loss after start over both directions (start-up drops excluded), %.
    pub loss_pct: f64,
    pub loss_pcmu_to_opus_pct: f64,
    pub loss_opus_to_pcmu_pct: f64,
    /// Packets swallowed before a stream's first output (both directions).
    pub startup_drops: u64,
    /// Codec, size, SSRC or source errors seen by the receiver (must be 0).
    pub check_failures: u64,
    pub sut_cores: f64,
    /// SUT CPU per call: milliseconds of CPU per second of call.
    pub cpu_ms_per_call_second: f64,
    pub cpu_us_per_packet: f64,
    pub calls_per_core: f64,
    pub generator_cpu_cores: f64,
    pub report: Option<TranscodeReport>,
    pub error: Option<String>,
}

fn transcode_point(
    sut: SutKind,
    calls: usize,
    outcome: Result<TranscodeReport, String>,
) -> TranscodePoint {
    match outcome {
        Ok(r) => {
            let checks = |d: &transcode::DirectionReport| {
                d.wrong_payload_type + d.wrong_payload_size + d.ssrc_changes + d.unexpected_source
            };
            TranscodePoint {
                sut,
                calls,
                loss_pct: r.loss_after_start_pct,
                loss_pcmu_to_opus_pct: r.a_to_b.loss_after_start_pct,
                loss_opus_to_pcmu_pct: r.b_to_a.loss_after_start_pct,
                startup_drops: r.a_to_b.startup_drops + r.b_to_a.startup_drops,
                check_failures: checks(&r.a_to_b) + checks(&r.b_to_a),
                sut_cores: r.relay_cores,
                cpu_ms_per_call_second: r.relay_cores * 1000.0 / calls.max(1) as f64,
                cpu_us_per_packet: r.relay_cpu_us_per_packet,
                calls_per_core: r.calls_per_core,
                generator_cpu_cores: r.generator_cpu_cores,
                report: Some(r),
                error: None,
            }
        }
        Err(error) => TranscodePoint {
            sut,
            calls,
            loss_pct: 100.0,
            loss_pcmu_to_opus_pct: 100.0,
            loss_opus_to_pcmu_pct: 100.0,
            startup_drops: 0,
            check_failures: 0,
            sut_cores: 0.0,
            cpu_ms_per_call_second: 0.0,
            cpu_us_per_packet: 0.0,
            calls_per_core: 0.0,
            generator_cpu_cores: 0.0,
            report: None,
            error: Some(error),
        },
    }
}

/// The transcoding comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TranscodingReport {
    pub duration_s: f64,
    pub warmup_s: f64,
    pub loss_threshold_pct: f64,
    pub clock_tick_us: u64,
    pub sysctls: Vec<(String, String)>,
    pub nice: i32,
    pub realtime: i32,
    pub points: Vec<TranscodePoint>,
    /// `(sut, highest call count that was loss-free and passed every check)`.
    pub max_loss_free: Vec<(SutKind, Option<usize>)>,
}

/// Runs every SUT at every call count; `progress` sees every point as it is measured.
pub fn run_transcoding(
    config: &TranscodingConfig,
    sysctls: Vec<(String, String)>,
    mut progress: impl FnMut(&TranscodePoint),
) -> TranscodingReport {
    let mut points = Vec::new();
    let mut max_loss_free = Vec::new();
    for &kind in &config.suts {
        let mut sut = None;
        let mut best = None;
        for &calls in &config.calls {
            let outcome = ensure_running(
                &mut sut,
                kind,
                &config.binaries,
                &config.log_dir,
                config.nice,
                config.realtime,
            )
            .and_then(|()| {
                let running = sut.as_ref().ok_or("not running")?;
                let pid = running.pid();
                let mut session = TranscodeConfig::new(running.ng(), calls);
                session.duration = config.duration;
                session.warmup = config.warmup;
                session.seed ^= calls as u64;
                let sampler = move || tree_cpu(pid).ok();
                tracing::info!(sut = kind.name(), calls, "measuring transcoding");
                transcode::run(&session, Some(&sampler)).map_err(|e| e.to_string())
            });
            let p = transcode_point(kind, calls, outcome);
            progress(&p);
            if p.error.is_none() && p.check_failures == 0 && p.loss_pct <= config.loss_threshold_pct
            {
                best = best.max(Some(calls));
            }
            points.push(p);
            std::thread::sleep(config.settle);
        }
        max_loss_free.push((kind, best));
    }
    TranscodingReport {
        duration_s: config.duration.as_secs_f64(),
        warmup_s: config.warmup.as_secs_f64(),
        loss_threshold_pct: config.loss_threshold_pct,
        clock_tick_us: ferrovox_testkit::cpu::tick_micros(),
        sysctls,
        nice: config.nice,
        realtime: config.realtime,
        points,
        max_loss_free,
    }
}

impl TranscodingReport {
    /// The comparison as a markdown table, then the highest loss-free call counts.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Bidirectional PCMU ↔ Opus calls (20 ms, 50 pps per direction), {:.0} s per point, CPU over the last {:.0} s, tick {} µs; loss excludes start-up drops (packets sent before a stream's first output arrived, counted apart)\n",
            self.duration_s,
            self.duration_s - self.warmup_s,
            self.clock_tick_us
        );
        out.push_str(
            "| SUT | calls | loss PCMU→Opus % | loss Opus→PCMU % | start-up drops | check failures | SUT cores | CPU ms per call-second | µs per packet | calls per core | × rtpengine (µs/packet) | generator cores |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut sorted: Vec<&TranscodePoint> = self.points.iter().collect();
        sorted.sort_by_key(|p| (p.calls, p.sut as u8));
        for p in sorted {
            if let Some(error) = &p.error {
                let _ = writeln!(
                    out,
                    "| {} | {} | failed: {} | | | | | | | | | |",
                    p.sut.name(),
                    p.calls,
                    error.replace('|', "/").replace('\n', " ")
                );
                continue;
            }
            // Per delivered packet, so an overloaded SUT is not made cheap by what it dropped.
            let ratio = self
                .points
                .iter()
                .find(|o| o.sut == SutKind::Rtpengine && o.calls == p.calls && o.error.is_none())
                .filter(|o| o.cpu_us_per_packet > 0.0)
                .map_or("–".to_owned(), |o| {
                    format!("{:.2}", p.cpu_us_per_packet / o.cpu_us_per_packet)
                });
            let _ = writeln!(
                out,
                "| {} | {} | {:.4} | {:.4} | {} | {} | {:.2} | {:.2} | {:.1} | {:.0} | {} | {:.2} |",
                p.sut.name(),
                p.calls,
                p.loss_pcmu_to_opus_pct,
                p.loss_opus_to_pcmu_pct,
                p.startup_drops,
                p.check_failures,
                p.sut_cores,
                p.cpu_ms_per_call_second,
                p.cpu_us_per_packet,
                p.calls_per_core,
                ratio,
                p.generator_cpu_cores
            );
        }
        let _ = writeln!(
            out,
            "\nHighest call count with loss after start ≤ {}% and every check passed:",
            self.loss_threshold_pct
        );
        for (sut, calls) in &self.max_loss_free {
            let _ = match calls {
                Some(calls) => writeln!(out, "- {}: {calls} calls", sut.name()),
                None => writeln!(out, "- {}: none of the counts tried", sut.name()),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(sut: SutKind, rate: u64, cost: f64) -> Point {
        Point {
            sut,
            rate,
            loss_pct: 0.0,
            relayed: 1000,
            cpu_us_per_packet_user: cost / 4.0,
            cpu_us_per_packet_system: cost * 3.0 / 4.0,
            cpu_us_per_packet: cost,
            generator_cpu_cores: 0.5,
            achieved_send_pps: rate as f64,
            from_bisection: false,
            report: None,
            error: None,
        }
    }

    fn transcoded(sut: SutKind, calls: usize, cores: f64, loss: f64) -> TranscodePoint {
        let mut p = transcode_point(sut, calls, Err(String::new()));
        p.error = None;
        p.loss_pct = loss;
        p.loss_pcmu_to_opus_pct = loss;
        p.loss_opus_to_pcmu_pct = 0.0;
        p.sut_cores = cores;
        p.cpu_ms_per_call_second = cores * 1000.0 / calls as f64;
        p.cpu_us_per_packet = cores * 1e6 / (calls as f64 * 100.0);
        p.calls_per_core = calls as f64 / cores;
        p
    }

    #[test]
    fn the_transcoding_table_compares_cpu_per_call_at_the_same_call_count() {
        let report = TranscodingReport {
            duration_s: 20.0,
            warmup_s: 2.0,
            loss_threshold_pct: 0.0,
            clock_tick_us: 10_000,
            sysctls: vec![],
            nice: 0,
            realtime: 0,
            points: vec![
                transcoded(SutKind::Rtpengine, 100, 1.0, 0.0),
                transcoded(SutKind::Ferrovox, 100, 0.5, 0.0),
                transcoded(SutKind::Ferrovox, 200, 1.0, 0.0),
                transcode_point(SutKind::Rtpengine, 200, Err("ng timeout".into())),
            ],
            max_loss_free: vec![
                (SutKind::Ferrovox, Some(200)),
                (SutKind::Rtpengine, Some(100)),
            ],
        };
        let table = report.markdown();
        let line = |prefix: &str| {
            table
                .lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{table}"))
                .to_owned()
        };
        assert!(
            line("| ferrovox | 100 |").contains("| 0.50 | 5.00 | 50.0 | 200 | 0.50 |"),
            "{table}"
        );
        assert!(
            line("| ferrovox | 200 |").contains("| 200 | – |"),
            "{table}"
        );
        assert!(
            line("| rtpengine | 200 |").contains("failed: ng timeout"),
            "{table}"
        );
        assert!(table.contains("- ferrovox: 200 calls"));
    }

    #[test]
    fn the_table_puts_each_cost_against_rtpengine_and_the_floor_at_the_same_rate() {
        let report = CapacityReport {
            streams: 1000,
            bidirectional: true,
            duration_s: 20.0,
            loss_threshold_pct: 0.01,
            clock_tick_us: 10_000,
            sysctls: vec![],
            nice: 0,
            realtime: 0,
            points: vec![
                measured(SutKind::Ferrovox, 40_000, 12.0),
                measured(SutKind::Rtpengine, 40_000, 20.0),
                measured(SutKind::Floor, 40_000, 10.0),
                measured(SutKind::Ferrovox, 50_000, 11.0),
            ],
            max_loss_free: vec![
                (SutKind::Ferrovox, Some(50_000), true),
                (SutKind::Rtpengine, None, false),
            ],
        };
        let table = report.markdown();
        let ferrovox_40k = table
            .lines()
            .find(|l| l.starts_with("| ferrovox | 40000"))
            .unwrap();
        assert!(
            ferrovox_40k.contains("| 12.00 | 0.60 | 1.20 |"),
            "{ferrovox_40k}"
        );
        let ferrovox_50k = table
            .lines()
            .find(|l| l.starts_with("| ferrovox | 50000"))
            .unwrap();
        assert!(ferrovox_50k.contains("| 11.00 | – | – |"), "{ferrovox_50k}");
        assert!(table.contains("- ferrovox: ≥ 50000 pps"));
        assert!(table.contains("- rtpengine: none of the rates tried"));
    }
}
