//! Memory per proxied dialog (TARGETS.md P6/P7): SIPp calls held open through the SUT until
//! `concurrent` are up at once, then the SUT's resident memory against its idle figure.
//!
//! The UAC plays `benches/testkit/scenarios/uac_rr_hold.xml` (the lab UAC with a `-d` pause
//! between ACK and BYE) at `rate` calls/s with `-l concurrent`; the hold time is long enough
//! that no call ends before the count is reached. Resident memory is the proportional set size
//! summed over the SUT's processes ([`crate::memory`]), so Kamailio's shared pool, touched by
//! all its workers, is counted once. Kamailio without the dialog module keeps no dialog state:
//! its growth is transactions and memory-pool pages first touched, not dialogs.

use crate::memory::tree_resident_bytes;
use crate::sipp::{lab_scenario, start_uas};
use crate::sut::{RunningSut, SUT_PORT, SutKind, SutPaths, UAC_PORT};
use ferrovox_testkit::ports::loopback;
use ferrovox_testkit::sipp::{Scenario, Sipp, TraceStat, harness_scenario};
use std::time::{Duration, Instant};

/// What the dialog run found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DialogMemory {
    pub sut: SutKind,
    pub wanted: u64,
    /// Concurrent calls SIPp reported when memory was read.
    pub reached: u64,
    pub idle_resident_bytes: u64,
    pub loaded_resident_bytes: u64,
    pub bytes_per_dialog: Option<f64>,
}

/// Runs the dialog-memory measurement for one SUT.
pub fn measure(
    kind: SutKind,
    concurrent: u64,
    rate: u32,
    paths: &SutPaths,
) -> Result<DialogMemory, String> {
    let _uas =
        start_uas(&lab_scenario(&paths.lab, "uas_rr.xml")).map_err(|e| format!("SIPp UAS: {e}"))?;
    let sut = RunningSut::start(kind, paths).map_err(|e| e.to_string())?;
    let idle_resident_bytes = tree_resident_bytes(sut.pids());
    let ramp = Duration::from_secs_f64(concurrent as f64 / f64::from(rate.max(1)));
    let hold = ramp + Duration::from_secs(60);
    let uac = Sipp::new(
        Scenario::File(harness_scenario("uac_rr_hold.xml")),
        loopback(UAC_PORT),
    )
    .remote(loopback(SUT_PORT))
    .rate(f64::from(rate))
    .calls(concurrent)
    .arg("-l")
    .arg(concurrent.to_string())
    .arg("-d")
    .arg(hold.as_millis().to_string())
    .arg("-default_behaviors")
    .arg("all,-abortunexp")
    .spawn()
    .map_err(|e| format!("SIPp UAC: {e}"))?;
    let stat_file = uac.work_dir().join("stat.csv");
    let deadline = Instant::now() + ramp + Duration::from_secs(30);
    let mut reached = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let current = std::fs::read_to_string(&stat_file)
            .ok()
            .and_then(|text| TraceStat::parse(&text).ok())
            .and_then(|stats| stats.last_counter("CurrentCall"))
            .unwrap_or(0);
        reached = current;
        if current >= concurrent {
            break;
        }
    }
    // Let the last ACKs land before reading memory.
    std::thread::sleep(Duration::from_secs(2));
    let loaded_resident_bytes = tree_resident_bytes(sut.pids());
    drop(uac);
    drop(sut);
    let grown = loaded_resident_bytes.saturating_sub(idle_resident_bytes);
    Ok(DialogMemory {
        sut: kind,
        wanted: concurrent,
        reached,
        idle_resident_bytes,
        loaded_resident_bytes,
        bytes_per_dialog: (reached > 0).then(|| grown as f64 / reached as f64),
    })
}
