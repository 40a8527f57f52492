//! `rtpgen`: the RTP load generator (`run`, `transcode`) and the relay capacity comparisons
//! (`capacity`, `transcode-capacity`).

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use ferrovox_rtpgen::capacity::{self, CapacityConfig, TranscodingConfig};
use ferrovox_rtpgen::session::{self, SessionConfig};
use ferrovox_rtpgen::sut::{Binaries, SutKind};
use ferrovox_rtpgen::sys;
use ferrovox_rtpgen::transcode::{self, TranscodeConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// RTP load generator over rtpengine's ng protocol, and relay capacity runner.
#[derive(Debug, Parser)]
#[command(name = "rtpgen")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set calls up on a running relay, send paced RTP through it and check what comes back.
    Run {
        /// The relay's ng address (UDP).
        #[arg(long, default_value = "127.0.0.1:22222")]
        ng: SocketAddr,
        #[command(flatten)]
        load: Load,
        /// Total packets per second over all streams.
        #[arg(long, default_value_t = 50_000)]
        pps: u64,
        /// Fail (exit code 1) when loss exceeds this percentage.
        #[arg(long, default_value_t = 0.0)]
        max_loss: f64,
        /// Write the JSON report here ("-" for standard output, the default).
        #[arg(long, default_value = "-")]
        json: String,
        /// Nice value for the generator's threads (negative needs root; 0: unchanged).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        nice: i32,
        /// SCHED_RR priority for the generator's threads (0: normal scheduling; needs root).
        #[arg(long, default_value_t = 0)]
        realtime: i32,
    },
    /// Compare relays: CPU per relayed packet and loss at each rate, same run.
    Capacity {
        /// Systems under test, in order.
        #[arg(long = "sut", value_enum, default_values_t = [SutKind::Ferrovox, SutKind::Rtpengine, SutKind::Floor])]
        suts: Vec<SutKind>,
        /// Rates to measure, packets per second (comma separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "40000,50000,100000,150000"
        )]
        rates: Vec<u64>,
        #[command(flatten)]
        load: Load,
        /// One-way streams instead of bidirectional calls.
        #[arg(long)]
        one_way: bool,
        /// The ferrovox binary (release build recommended).
        #[arg(long, default_value = "target/release/ferrovox")]
        ferrovox: PathBuf,
        /// The rtpengine binary.
        #[arg(long, default_value = "rtpengine")]
        rtpengine: PathBuf,
        /// The rtp-floor binary (default: next to rtpgen).
        #[arg(long)]
        floor: Option<PathBuf>,
        /// Loss below this percentage counts as loss-free.
        #[arg(long, default_value_t = 0.01)]
        loss_threshold: f64,
        /// Bisection steps between the highest passing and the lowest failing rate.
        #[arg(long, default_value_t = 0)]
        bisect: u32,
        /// Do not set the net.core socket buffer sysctls to 4 MiB.
        #[arg(long)]
        no_sysctl: bool,
        /// Where SUT logs go.
        #[arg(long, default_value = "/tmp/rtpgen-capacity")]
        log_dir: PathBuf,
        /// JSON report file.
        #[arg(long, default_value = "rtpgen-capacity.json")]
        json: PathBuf,
        /// Nice value for the SUTs and the generator (negative needs root; 0 leaves them at
        /// the default). A shared machine's compile jobs otherwise starve the measurement.
        #[arg(long, default_value_t = -10, allow_negative_numbers = true)]
        nice: i32,
        /// SCHED_RR priority for the SUTs and the generator (0: normal scheduling). Needs
        /// root; keeps unrelated work on a shared box from preempting the measurement.
        #[arg(long, default_value_t = 10)]
        realtime: i32,
    },
    /// Transcoded calls on a running relay: A sends PCMU, B Opus (ng codec strip/transcode),
    /// both directions checked.
    Transcode {
        /// The relay's ng address (UDP).
        #[arg(long, default_value = "127.0.0.1:22222")]
        ng: SocketAddr,
        /// Bidirectional calls.
        #[arg(long, default_value_t = 50)]
        calls: usize,
        #[command(flatten)]
        timing: Transcoding,
        /// Write the JSON report here ("-" for standard output, the default).
        #[arg(long, default_value = "-")]
        json: String,
    },
    /// Compare transcoding relays (P3): CPU per transcoded call and loss at each call count.
    TranscodeCapacity {
        /// Systems under test, in order (ferrovox, rtpengine).
        #[arg(long = "sut", value_enum, default_values_t = [SutKind::Ferrovox, SutKind::Rtpengine])]
        suts: Vec<SutKind>,
        /// Bidirectional call counts (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "25,50,100,150,200")]
        calls: Vec<usize>,
        #[command(flatten)]
        timing: Transcoding,
        /// The ferrovox binary (release build recommended).
        #[arg(long, default_value = "target/release/ferrovox")]
        ferrovox: PathBuf,
        /// The rtpengine binary.
        #[arg(long, default_value = "rtpengine")]
        rtpengine: PathBuf,
        /// Loss at or below this percentage counts as loss-free.
        #[arg(long, default_value_t = 0.0)]
        loss_threshold: f64,
        /// Do not set the net.core socket buffer sysctls to 4 MiB.
        #[arg(long)]
        no_sysctl: bool,
        #[arg(long, default_value = "/tmp/rtpgen-transcode")]
        log_dir: PathBuf,
        #[arg(long, default_value = "rtpgen-transcode.json")]
        json: PathBuf,
        /// Nice value for the SUTs and the generator (see `capacity`).
        #[arg(long, default_value_t = -10, allow_negative_numbers = true)]
        nice: i32,
        /// SCHED_RR priority for the SUTs and the generator; 0 (the default) keeps normal
        /// scheduling. Unlike relaying, transcoding can keep both cores busy: at equal RR
        /// priority a busy SUT thread then holds a core for whole 100 ms time slices, the
        /// generator sends 200 ms late and the "loss" is the scheduler's (measured).
        #[arg(long, default_value_t = 0)]
        realtime: i32,
    },
}

fn buffer_sysctls(no_sysctl: bool) -> anyhow::Result<Vec<(String, String)>> {
    let sysctls = if no_sysctl {
        sys::read_buffer_sysctls()
    } else {
        sys::set_buffer_sysctls(4 << 20).context("setting net.core buffer sysctls")?
    };
    for (name, value) in &sysctls {
        eprintln!(
            "{} {name} = {value}",
            if no_sysctl { "current" } else { "set" }
        );
    }
    Ok(sysctls)
}

#[derive(Debug, Args)]
struct Transcoding {
    /// Seconds of sending per point, warm-up included.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds from the start of sending to the start of the CPU window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
}

#[derive(Debug, Args)]
struct Load {
    /// Streams (one direction of RTP each).
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Sender threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Receiver threads.
    #[arg(long, default_value_t = 1)]
    receiver_threads: usize,
    /// RTP payload bytes (at least 20: the probe).
    #[arg(long, default_value_t = 160)]
    payload_size: usize,
    /// Calls sharing one A/B socket pair (1: every call has its own sockets).
    #[arg(long, default_value_t = 1)]
    calls_per_socket: usize,
    /// Pacing granularity: minimum time between two wake-ups of a sender, µs.
    #[arg(long, default_value_t = 200)]
    tick_us: u64,
    /// Send both directions of every call (streams/2 calls) instead of one (streams calls).
    #[arg(long)]
    bidirectional: bool,
}

impl Load {
    fn apply(&self, config: &mut SessionConfig) {
        config.duration = Duration::from_secs_f64(self.duration.max(0.001));
        config.sender_threads = self.threads;
        config.receiver_threads = self.receiver_threads;
        config.payload_size = self.payload_size;
        config.calls_per_socket = self.calls_per_socket;
        config.tick = Duration::from_micros(self.tick_us);
        config.bidirectional = self.bidirectional;
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("rtpgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Sets the main thread's priority before any other thread exists, so all inherit it.
fn apply_priority(nice: i32, realtime: i32) {
    if nice != 0 && !sys::set_thread_nice(nice) {
        eprintln!("could not set nice {nice}; running at the default priority");
    }
    if realtime > 0 && !sys::set_thread_realtime(realtime) {
        eprintln!("could not switch to SCHED_RR {realtime}; running with normal scheduling");
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            ng,
            load,
            pps,
            max_loss,
            json,
            nice,
            realtime,
        } => {
            apply_priority(nice, realtime);
            let mut config = SessionConfig::new(ng, load.streams, pps);
            load.apply(&mut config);
            let report = session::run(&config, None)?;
            eprintln!("{}", report.summary());
            let text = serde_json::to_string_pretty(&report)?;
            if json == "-" {
                println!("{text}");
            } else {
                std::fs::write(&json, text).with_context(|| format!("writing {json}"))?;
            }
            if report.loss_pct > max_loss {
                eprintln!(
                    "loss {:.4}% exceeds --max-loss {max_loss}%",
                    report.loss_pct
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Capacity {
            suts,
            mut rates,
            load,
            one_way,
            ferrovox,
            rtpengine,
            floor,
            loss_threshold,
            bisect,
            no_sysctl,
            log_dir,
            json,
            nice,
            realtime,
        } => {
            // Same priority as the SUTs: above them, the generator's receiver preempts the SUT
            // on every packet (batches of one, more wake-ups), and the two together cross the
            // kernel's 95% RT throttle on 2 cores, which then starves both (measured: 1-37%
            // loss at 40 kpps instead of 0).
            apply_priority(nice, realtime);
            rates.sort_unstable();
            rates.dedup();
            let sysctls = buffer_sysctls(no_sysctl)?;
            std::fs::create_dir_all(&log_dir)
                .with_context(|| format!("creating {}", log_dir.display()))?;
            let mut binaries = Binaries::beside_current_exe(ferrovox);
            binaries.rtpengine = rtpengine;
            if let Some(floor) = floor {
                binaries.floor = floor;
            }
            let mut template =
                SessionConfig::new(ferrovox_rtpgen::sut::free_ng_address(), load.streams, 1);
            load.apply(&mut template);
            let config = CapacityConfig {
                suts,
                rates,
                streams: load.streams,
                duration: template.duration,
                bidirectional: !one_way,
                sender_threads: template.sender_threads,
                receiver_threads: template.receiver_threads,
                calls_per_socket: template.calls_per_socket,
                tick: template.tick,
                binaries,
                log_dir,
                loss_threshold_pct: loss_threshold,
                bisect_steps: bisect,
                settle: Duration::from_secs(1),
                nice,
                realtime,
            };
            let report = capacity::run(&config, sysctls, |p| match (&p.report, &p.error) {
                (Some(r), _) => eprintln!("[{} @ {} pps]\n{}", p.sut.name(), p.rate, r.summary()),
                (None, Some(e)) => eprintln!("[{} @ {} pps] failed: {e}", p.sut.name(), p.rate),
                (None, None) => {}
            });
            std::fs::write(&json, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", json.display()))?;
            println!("{}", report.markdown());
            eprintln!("JSON report: {}", json.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcode {
            ng,
            calls,
            timing,
            json,
        } => {
            let mut config = TranscodeConfig::new(ng, calls);
            config.duration = Duration::from_secs_f64(timing.duration.max(0.001));
            config.warmup = Duration::from_secs_f64(timing.warmup.max(0.0));
            let report = transcode::run(&config, None)?;
            eprintln!("{}", report.summary());
            let text = serde_json::to_string_pretty(&report)?;
            if json == "-" {
                println!("{text}");
            } else {
                std::fs::write(&json, text).with_context(|| format!("writing {json}"))?;
            }
            Ok(if report.loss_pct > 0.0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::TranscodeCapacity {
            suts,
            mut calls,
            timing,
            ferrovox,
            rtpengine,
            loss_threshold,
            no_sysctl,
            log_dir,
            json,
            nice,
            realtime,
        } => {
            if suts.contains(&SutKind::Floor) {
                anyhow::bail!(
                    "the floor relay cannot transcode; use --sut ferrovox and/or --sut rtpengine"
                );
            }
            apply_priority(nice, realtime);
            calls.sort_unstable();
            calls.dedup();
            let sysctls = buffer_sysctls(no_sysctl)?;
            std::fs::create_dir_all(&log_dir)
                .with_context(|| format!("creating {}", log_dir.display()))?;
            let mut binaries = Binaries::beside_current_exe(ferrovox);
            binaries.rtpengine = rtpengine;
            let config = TranscodingConfig {
                suts,
                calls,
                duration: Duration::from_secs_f64(timing.duration.max(0.001)),
                warmup: Duration::from_secs_f64(timing.warmup.max(0.0)),
                binaries,
                log_dir,
                loss_threshold_pct: loss_threshold,
                settle: Duration::from_secs(1),
                nice,
                realtime,
            };
            let report =
                capacity::run_transcoding(&config, sysctls, |p| match (&p.report, &p.error) {
                    (Some(r), _) => {
                        eprintln!("[{} @ {} calls]\n{}", p.sut.name(), p.calls, r.summary())
                    }
                    (None, Some(e)) => {
                        eprintln!("[{} @ {} calls] failed: {e}", p.sut.name(), p.calls)
                    }
                    (None, None) => {}
                });
            std::fs::write(&json, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", json.display()))?;
            println!("{}", report.markdown());
            eprintln!("JSON report: {}", json.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
