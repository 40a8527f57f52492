//! One measurement cell: a SUT at a rate, with SIPp on both sides.
//!
//! Order: UAS up, SUT up (and settled), CPU sampled, UAC run to completion, CPU sampled again,
//! SUT checked alive and stopped, UAS stopped. The window is the whole UAC run, so CPU per call
//! is simply the SUT's CPU over the window divided by the successful calls.

use crate::report::{Cell, Measurement, Outcome};
use crate::sipp::{lab_scenario, process_cpu, run_uac, start_uas, uac};
use crate::sut::{RunningSut, SutKind, SutPaths, UAC_PORT, UAS_PORT, wait_port_free};
use ferrovox_testkit::cpu::{CpuTime, MachineCpu};
use std::time::{Duration, Instant};

/// Measures `kind` at `rate` calls/s for `duration` seconds of calls.
pub fn measure(kind: SutKind, rate: u32, duration_s: u32, paths: &SutPaths) -> Cell {
    let outcome = match try_measure(kind, rate, duration_s, paths) {
        Ok(measurement) => Outcome::Measured(measurement),
        Err(reason) => Outcome::Failed { reason },
    };
    Cell {
        sut: kind,
        rate,
        outcome,
    }
}

fn try_measure(
    kind: SutKind,
    rate: u32,
    duration_s: u32,
    paths: &SutPaths,
) -> Result<Measurement, String> {
    for port in [UAS_PORT, UAC_PORT] {
        if !wait_port_free(port, Duration::from_secs(5)) {
            return Err(format!(
                "UDP port {port} is in use by another process; SIPp needs it"
            ));
        }
    }
    let uas =
        start_uas(&lab_scenario(&paths.lab, "uas_rr.xml")).map_err(|e| format!("SIPp UAS: {e}"))?;
    let mut sut = RunningSut::start(kind, paths).map_err(|e| e.to_string())?;
    let calls = u64::from(rate) * u64::from(duration_s);
    let command = uac(&lab_scenario(&paths.lab, "uac_rr.xml"), rate, calls);
    // Room for a slow SUT to finish, plus SIPp's 10 s receive timeout.
    let timeout = Duration::from_secs(u64::from(duration_s) * 3 + 30);

    let sut_before = CpuTime::sample(sut.pids());
    let uas_before = process_cpu(uas.pid);
    let machine_before = MachineCpu::read().ok();
    let started = Instant::now();
    let uac_result = run_uac(command, timeout);
    let wall_seconds = started.elapsed().as_secs_f64();
    let sut_cpu = CpuTime::sample(sut.pids()).since(sut_before);
    let uas_cpu = process_cpu(uas.pid).since(uas_before);
    let machine_busy = match (machine_before, MachineCpu::read().ok()) {
        (Some(before), Some(after)) => after.busy_fraction_since(before),
        _ => 0.0,
    };

    let alive = sut.check_alive();
    let sut_processes = sut.pids().len();
    let relay = sut.stop();
    let _ = uas.run.stop();
    let (outcome, uac_cpu) = uac_result.map_err(|e| format!("SIPp UAC: {e}"))?;
    alive.map_err(|e| e.to_string())?;
    if kind == SutKind::Floor && relay.is_none() {
        return Err("the floor relay did not report its message count".into());
    }
    if !outcome.errors.is_empty() {
        let first = outcome
            .errors
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ");
        tracing::warn!(sut = kind.name(), rate, "SIPp UAC errors: {first}");
    }
    Ok(Measurement {
        calls_created: outcome.stats.created_calls(),
        calls_ok: outcome.stats.successful_calls(),
        calls_failed: outcome.stats.failed_calls(),
        sut_cpu,
        sut_processes,
        sipp_cpu: CpuTime {
            user_us: uac_cpu.user_us + uas_cpu.user_us,
            system_us: uac_cpu.system_us + uas_cpu.system_us,
        },
        wall_seconds,
        machine_busy,
        relay,
    })
}
