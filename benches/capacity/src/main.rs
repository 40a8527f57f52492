//! `capacity sip --rates 200,500,1000 --duration 20 --sut kamailio --sut floor ...`: CPU per
//! call of each SUT at each rate, in one run; prints a markdown table and writes JSON.
//! `capacity sip-dialogs --concurrent 50000 --sut kamailio`: resident memory per held dialog.
//! `capacity http --url URL --rate 2000 --duration 30s`: open-loop GET load, latency from the
//! schedule. `capacity rest`: the whole P5 run against a freshly started appliance.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ferrovox_capacity::http_load::{self, LoadConfig};
use ferrovox_capacity::machine::Machine;
use ferrovox_capacity::report::{self, Cell, MESSAGES_PER_CALL};
use ferrovox_capacity::rest::{self, CacheBackend, RestConfig};
use ferrovox_capacity::sut::{SutKind, SutPaths};
use ferrovox_capacity::{dialogs, measure, sipp, tuning};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "capacity", about = "ferrovox capacity runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// SIP proxy CPU per call (TARGETS.md P1) against Kamailio and the floor relay.
    Sip {
        /// Call rates (calls/s), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "200,500,1000")]
        rates: Vec<u32>,
        /// Seconds of calls per SUT and rate (calls = rate × duration).
        #[arg(long, default_value_t = 20)]
        duration: u32,
        /// SUTs to measure (repeat the flag); default: all.
        #[arg(long = "sut", value_enum)]
        suts: Vec<SutKind>,
        /// The ferrovox binary.
        #[arg(long, value_name = "PATH")]
        ferrovox: Option<PathBuf>,
        /// The lab directory with kamailio/stateful.cfg and sipp/*.xml.
        #[arg(long, value_name = "DIR")]
        lab: Option<PathBuf>,
        /// Where to write the JSON report.
        #[arg(long, value_name = "FILE", default_value = "capacity-sip.json")]
        out: PathBuf,
    },
    /// Resident memory per proxied dialog: calls held open until N are up at once.
    SipDialogs {
        /// Concurrent dialogs to reach.
        #[arg(long, default_value_t = 50_000)]
        concurrent: u64,
        /// Call rate while ramping up (calls/s).
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, value_enum)]
        sut: SutKind,
        /// The ferrovox binary.
        #[arg(long, value_name = "PATH")]
        ferrovox: Option<PathBuf>,
        /// The lab directory with kamailio/stateful.cfg and sipp/*.xml.
        #[arg(long, value_name = "DIR")]
        lab: Option<PathBuf>,
    },
    /// Open-loop HTTP GET load at a fixed rate; latency measured from each request's scheduled
    /// send time (no coordinated omission).
    Http {
        /// http://host:port/path
        #[arg(long)]
        url: String,
        /// Request header `Name: value` (repeat the flag).
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// Requests per second.
        #[arg(long, default_value_t = 2000)]
        rate: u32,
        /// Length of the schedule, e.g. 30s, 500ms, 2m.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        duration: Duration,
        /// Keep-alive connections (each carries rate/N requests per second).
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Write the JSON report here too.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// P5: GET of a cached resource at several rates against a freshly started appliance,
    /// with the embedded cache and/or Redis, plus wrk's closed-loop figures when installed.
    Rest {
        /// Rates (requests/s), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
        rates: Vec<u32>,
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Cache backends to measure (repeat the flag); default: embedded.
        #[arg(long = "cache", value_enum)]
        caches: Vec<CacheBackend>,
        /// Redis for `--cache redis` (the dev stack's: scripts/devstack start redis).
        #[arg(long, default_value = "redis://127.0.0.1:36379/")]
        redis_url: String,
        /// Skip the wrk cross-check.
        #[arg(long)]
        no_wrk: bool,
        /// The ferrovox binary.
        #[arg(long, value_name = "PATH")]
        ferrovox: Option<PathBuf>,
        /// Where the appliances' data directories and logs go.
        #[arg(long, default_value = "/tmp/capacity-rest")]
        work_dir: PathBuf,
        /// Nice value for the appliance and this generator (negative needs root; 0: as is).
        #[arg(long, default_value_t = -10, allow_negative_numbers = true)]
        nice: i32,
        #[arg(long, value_name = "FILE", default_value = "capacity-rest.json")]
        out: PathBuf,
    },
}

/// `30s`, `500ms`, `2m` or a plain number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let value: f64 = text[..split]
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 500ms or 2m"))?;
    let seconds = match &text[split..] {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        unit => return Err(format!("unknown unit {unit:?} (use ms, s or m)")),
    };
    if seconds.is_finite() && seconds > 0.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{text:?} must be positive"))
    }
}

fn sut_paths(ferrovox: Option<PathBuf>, lab: Option<PathBuf>) -> anyhow::Result<SutPaths> {
    let root = ferrovox_testkit::repo_root();
    let exe = std::env::current_exe().context("locating this binary")?;
    Ok(SutPaths {
        lab: lab.unwrap_or_else(|| root.join("../shared/lab")),
        ferrovox: ferrovox.unwrap_or_else(|| root.join("target/release/ferrovox")),
        floor_relay: exe.with_file_name("floor-relay"),
    })
}

fn sip_dialogs(concurrent: u64, rate: u32, sut: SutKind, paths: &SutPaths) -> anyhow::Result<()> {
    let sysctl = tuning::raise();
    let result = dialogs::measure(sut, concurrent, rate, paths);
    tuning::restore(&sysctl);
    let memory = result.map_err(anyhow::Error::msg)?;
    println!(
        "Machine: {}\n{}: {} of {} dialogs up; resident (PSS) {:.1} MiB idle, {:.1} MiB loaded; {} bytes per dialog",
        Machine::describe().line(),
        sut.name(),
        memory.reached,
        memory.wanted,
        memory.idle_resident_bytes as f64 / 1_048_576.0,
        memory.loaded_resident_bytes as f64 / 1_048_576.0,
        memory
            .bytes_per_dialog
            .map_or_else(|| "–".into(), |b| format!("{b:.0}")),
    );
    println!("{}", serde_json::to_string(&memory)?);
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct JsonReport<'a> {
    machine: &'a Machine,
    duration_seconds: u32,
    clock_tick_us: u64,
    messages_per_call_for_floor: f64,
    sysctl: &'a [tuning::SysctlChange],
    cells: &'a [Cell],
    rows: &'a [report::Row],
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let command = Cli::parse().command;
    if matches!(command, Command::Sip { .. } | Command::SipDialogs { .. })
        && !sipp::sipp_installed()
    {
        bail!(sipp::SIPP_MISSING);
    }
    let (rates, duration, suts, ferrovox, lab, out) = match command {
        Command::Sip {
            rates,
            duration,
            suts,
            ferrovox,
            lab,
            out,
        } => (rates, duration, suts, ferrovox, lab, out),
        Command::SipDialogs {
            concurrent,
            rate,
            sut,
            ferrovox,
            lab,
        } => return sip_dialogs(concurrent, rate, sut, &sut_paths(ferrovox, lab)?),
        Command::Http {
            url,
            headers,
            rate,
            duration,
            connections,
            json,
        } => {
            let report = http_load::run(&LoadConfig {
                url,
                headers,
                rate,
                duration,
                connections,
                drain: Duration::from_secs(2),
            })?;
            println!("{}", report.summary());
            if let Some(json) = json {
                std::fs::write(&json, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("writing {}", json.display()))?;
            }
            return Ok(());
        }
        Command::Rest {
            rates,
            duration,
            connections,
            caches,
            redis_url,
            no_wrk,
            ferrovox,
            work_dir,
            nice,
            out,
        } => {
            if nice != 0 {
                // Before any thread exists, so the client runtime's threads inherit it.
                // SAFETY: setpriority on this process has no memory-safety preconditions.
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
                    eprintln!(
                        "could not set nice {nice}; the generator runs at the default priority"
                    );
                }
            }
            let config = RestConfig {
                ferrovox: sut_paths(ferrovox, None)?.ferrovox,
                caches: if caches.is_empty() {
                    vec![CacheBackend::Embedded]
                } else {
                    caches
                },
                redis_url,
                rates,
                duration,
                connections,
                wrk: !no_wrk,
                work_dir,
                nice,
            };
            let machine = Machine::describe();
            let report = rest::run(&config);
            println!(
                "Machine: {}\nREST GET {} (a number, cache hit), open loop, {} s per rate, {} keep-alive connections; latency from the scheduled send time.\n\n{}",
                machine.line(),
                report.path,
                duration.as_secs_f64(),
                connections,
                report.markdown()
            );
            std::fs::write(&out, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("JSON report: {}", out.display());
            return Ok(());
        }
    };
    let suts = if suts.is_empty() {
        vec![
            SutKind::Kamailio,
            SutKind::FerrovoxUring,
            SutKind::FerrovoxPortable,
            SutKind::Floor,
        ]
    } else {
        suts
    };
    let paths = sut_paths(ferrovox, lab)?;
    let machine = Machine::describe();
    let sysctl = tuning::raise();
    for change in &sysctl {
        match &change.error {
            None if change.after != change.before => eprintln!(
                "sysctl {}: {} -> {} (restored at exit)",
                change.name, change.before, change.after
            ),
            None => eprintln!("sysctl {}: {} (kept)", change.name, change.before),
            Some(error) => eprintln!(
                "sysctl {}: {} (cannot raise: {error})",
                change.name, change.before
            ),
        }
    }

    let mut cells = Vec::new();
    for &rate in &rates {
        for &kind in &suts {
            tracing::info!(sut = kind.name(), rate, duration, "measuring");
            let cell = measure::measure(kind, rate, duration, &paths);
            match &cell.outcome {
                report::Outcome::Measured(m) => tracing::info!(
                    sut = kind.name(),
                    rate,
                    ok = m.calls_ok,
                    failed = m.calls_failed,
                    cpu_us = m.sut_cpu.total_us(),
                    "measured"
                ),
                report::Outcome::Failed { reason } => {
                    tracing::warn!(sut = kind.name(), rate, "{reason}")
                }
            }
            cells.push(cell);
        }
    }
    tuning::restore(&sysctl);

    let rows = report::rows(&cells);
    let mut text = format!(
        "Machine: {}\nSIP capacity: {} s of calls per cell (SIPp uac_rr/uas_rr, UDP loopback); CPU of all SUT processes from /proc over the whole UAC run ÷ successful calls; clock tick {} µs. Floor = {} × the floor relay's CPU per relayed message at the same rate.\n\n",
        machine.line(),
        duration,
        ferrovox_testkit::cpu::tick_micros(),
        MESSAGES_PER_CALL
    );
    text.push_str(&report::markdown_table(&rows));
    println!("{text}");
    let json = JsonReport {
        machine: &machine,
        duration_seconds: duration,
        clock_tick_us: ferrovox_testkit::cpu::tick_micros(),
        messages_per_call_for_floor: MESSAGES_PER_CALL,
        sysctl: &sysctl,
        cells: &cells,
        rows: &rows,
    };
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("JSON report: {}", out.display());
    Ok(())
}
