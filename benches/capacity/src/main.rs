//! `capacity sip --rates 200,500,1000 --duration 20 --sut kamailio --sut floor ...`: CPU per
//! call of each SUT at each rate, in one run; prints a markdown table and writes JSON.
//! `capacity sip-dialogs --concurrent 50000 --sut kamailio`: resident memory per held dialog.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ferrovox_capacity::machine::Machine;
use ferrovox_capacity::report::{self, Cell, MESSAGES_PER_CALL};
use ferrovox_capacity::sut::{SutKind, SutPaths};
use ferrovox_capacity::{cpu, dialogs, measure, sipp, tuning};
use std::path::PathBuf;

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
    if !sipp::sipp_installed() {
        bail!(sipp::SIPP_MISSING);
    }
    let (rates, duration, suts, ferrovox, lab, out) = match Cli::parse().command {
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
        cpu::tick_micros(),
        MESSAGES_PER_CALL
    );
    text.push_str(&report::markdown_table(&rows));
    println!("{text}");
    let json = JsonReport {
        machine: &machine,
        duration_seconds: duration,
        clock_tick_us: cpu::tick_micros(),
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
