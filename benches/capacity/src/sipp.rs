//! SIPp as the load: the lab's Record-Route aware UAS and UAC, started through the test
//! harness ([`ferrovox_testkit::sipp`]) on fixed loopback ports (see [`crate::sut`]).
//!
//! The UAS runs in the foreground for the whole measurement and is stopped afterwards; the UAC
//! places `rate × duration` calls at `rate` calls/s and is waited for. SIPp's own CPU is
//! measured too (the UAS from `/proc`, the UAC from `getrusage(RUSAGE_CHILDREN)` once it has
//! been reaped), as a sanity check on the load generator: about 300 µs per call per side here.

use crate::sut::{SUT_PORT, UAC_PORT, UAS_PORT, find_program, udp_port_bound};
use ferrovox_testkit::HarnessError;
use ferrovox_testkit::cpu::{CpuTime, all_processes, descendants};
use ferrovox_testkit::ports::loopback;
use ferrovox_testkit::sipp::{Scenario, Sipp, SippOutcome, SippRun};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The message for a missing SIPp.
pub const SIPP_MISSING: &str =
    "sipp not found; install the Debian package `sip-tester` (apt-get install sip-tester)";

/// Whether `sipp` is installed.
pub fn sipp_installed() -> bool {
    find_program("sipp").is_some()
}

/// A running UAS and its process id.
pub struct Uas {
    pub run: SippRun,
    pub pid: Option<u32>,
}

/// Starts the UAS scenario on 127.0.0.1:[`UAS_PORT`] and waits until it listens.
pub fn start_uas(scenario: &Path) -> Result<Uas, HarnessError> {
    let before = sipp_children();
    let run = Sipp::new(Scenario::File(scenario.to_owned()), loopback(UAS_PORT)).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !udp_port_bound(UAS_PORT) {
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: format!("the SIPp UAS on udp 127.0.0.1:{UAS_PORT}"),
                seconds: 10.0,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = sipp_children().difference(&before).next().copied();
    Ok(Uas { run, pid })
}

/// SIPp processes started by this process.
fn sipp_children() -> BTreeSet<u32> {
    let processes = all_processes();
    let mine = descendants(std::process::id(), &processes);
    processes
        .iter()
        .filter(|p| p.comm == "sipp" && mine.contains(&p.pid))
        .map(|p| p.pid)
        .collect()
}

/// The UAC command: `rate` calls/s, `calls` calls, to the SUT on 127.0.0.1:[`SUT_PORT`].
pub fn uac(scenario: &Path, rate: u32, calls: u64) -> Sipp {
    Sipp::new(Scenario::File(scenario.to_owned()), loopback(UAC_PORT))
        .remote(loopback(SUT_PORT))
        .rate(f64::from(rate))
        .calls(calls)
        // A 180 overtaken by its 200 is legal on UDP and must not fail the call.
        .arg("-default_behaviors")
        .arg("all,-abortunexp")
        // A call stuck for 10 s counts as failed instead of holding the run.
        .arg("-recv_timeout")
        .arg("10000")
}

/// CPU of reaped children of this process (user, system), from `getrusage`.
pub fn reaped_children_cpu() -> CpuTime {
    // SAFETY: rusage is plain data; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid `who` and a pointer to a live rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return CpuTime::default();
    }
    let micros = |tv: libc::timeval| (tv.tv_sec as u64) * 1_000_000 + tv.tv_usec as u64;
    CpuTime {
        user_us: micros(usage.ru_utime),
        system_us: micros(usage.ru_stime),
    }
}

/// Runs the UAC to completion; returns its outcome and its CPU.
pub fn run_uac(command: Sipp, timeout: Duration) -> Result<(SippOutcome, CpuTime), HarnessError> {
    let before = reaped_children_cpu();
    let outcome = command.spawn()?.wait(timeout)?;
    Ok((outcome, reaped_children_cpu().since(before)))
}

/// The CPU of a live process so far (zero if it is gone).
pub fn process_cpu(pid: Option<u32>) -> CpuTime {
    pid.map(|pid| CpuTime::sample(&BTreeSet::from([pid])))
        .unwrap_or_default()
}

/// The lab scenario `name` under `lab/sipp`.
pub fn lab_scenario(lab: &Path, name: &str) -> PathBuf {
    lab.join("sipp").join(name)
}
