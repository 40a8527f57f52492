//! The SIP proxies under test ("SUTs") and the floor relay: starting them, finding all their
//! processes, and stopping them.
//!
//! Every SUT listens on UDP 127.0.0.1:5070 and relays to the SIPp UAS on 127.0.0.1:5080:
//! - [`SutKind::Kamailio`]: `kamailio -DD -E -m 1024 -M 32 -x tlsf -f <lab>/kamailio/stateful.cfg`
//!   (a foreground main process that forks its workers; all of them are measured);
//! - [`SutKind::FerrovoxUring`] / [`SutKind::FerrovoxPortable`]: `ferrovox proxy` with the
//!   io-uring or the portable backend and 2 threads;
//! - [`SutKind::Floor`]: this crate's `floor-relay` ([`crate::floor`]), which reports how many
//!   datagrams it relayed when it is stopped.
//!
//! A SUT that cannot start (binary missing, port taken, exits at once) is a [`SutError`] with
//! the reason and the tail of its output, never a panic, so one broken SUT does not stop the
//! run. Nothing is installed here: a missing binary names its Debian package.

use crate::floor::RelayCounts;
use ferrovox_testkit::cpu::process_tree;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The SUT's SIP port on 127.0.0.1.
pub const SUT_PORT: u16 = 5070;
/// The SIPp UAS port on 127.0.0.1 (the SUT's next hop).
pub const UAS_PORT: u16 = 5080;
/// The SIPp UAC port on 127.0.0.1.
pub const UAC_PORT: u16 = 5090;

/// Which proxy is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SutKind {
    Kamailio,
    FerrovoxUring,
    FerrovoxPortable,
    Floor,
}

impl SutKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kamailio => "kamailio",
            Self::FerrovoxUring => "ferrovox-uring",
            Self::FerrovoxPortable => "ferrovox-portable",
            Self::Floor => "floor",
        }
    }
}

/// A SUT that could not be started or did not stay up.
#[derive(Debug, thiserror::Error)]
pub enum SutError {
    #[error("failed to start: {0}")]
    FailedToStart(String),
    #[error("exited during the run: {0}")]
    Died(String),
}

/// Where the SUT binaries and configurations are.
#[derive(Debug, Clone)]
pub struct SutPaths {
    /// The lab directory (`shared/lab`), holding `kamailio/stateful.cfg` and `sipp/*.xml`.
    pub lab: PathBuf,
    /// The `ferrovox` binary.
    pub ferrovox: PathBuf,
    /// The `floor-relay` binary.
    pub floor_relay: PathBuf,
}

/// A started SUT. Dropping it kills its whole process tree.
pub struct RunningSut {
    pub kind: SutKind,
    child: Option<Child>,
    pids: BTreeSet<u32>,
    work: tempfile::TempDir,
}

/// Searches `PATH` and the sbin directories (root's `PATH` may lack them).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether any UDP socket (IPv4 or IPv6) is bound to `port`, from `/proc/net/udp{,6}`.
pub fn udp_port_bound(port: u16) -> bool {
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|file| {
        std::fs::read_to_string(file)
            .map(|text| udp_table_has_port(&text, port))
            .unwrap_or(false)
    })
}

/// Whether a `/proc/net/udp` table lists a local address on `port`.
pub fn udp_table_has_port(table: &str, port: u16) -> bool {
    let wanted = format!("{port:04X}");
    table.lines().skip(1).any(|line| {
        line.split_ascii_whitespace()
            .nth(1)
            .and_then(|local| local.rsplit_once(':'))
            .is_some_and(|(_, p)| p.eq_ignore_ascii_case(&wanted))
    })
}

/// Waits until `port` is free (a previous SUT's socket may take a moment to go).
pub fn wait_port_free(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while udp_port_bound(port) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn output_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    if tail.is_empty() {
        "(no output)".to_owned()
    } else {
        tail.join(" | ")
    }
}

impl RunningSut {
    /// Starts `kind` and waits until it listens on [`SUT_PORT`].
    pub fn start(kind: SutKind, paths: &SutPaths) -> Result<Self, SutError> {
        let fail = |reason: String| SutError::FailedToStart(reason);
        let work = tempfile::tempdir().map_err(|e| fail(format!("temp dir: {e}")))?;
        let mut command = match kind {
            SutKind::Kamailio => {
                let binary = find_program("kamailio").ok_or_else(|| {
                    fail("kamailio not found; install the Debian package `kamailio` (apt-get install kamailio)".into())
                })?;
                let config = paths.lab.join("kamailio/stateful.cfg");
                if !config.is_file() {
                    return Err(fail(format!("{} not found", config.display())));
                }
                let mut command = Command::new(binary);
                command
                    .args(["-DD", "-E", "-m", "1024", "-M", "32", "-x", "tlsf", "-f"])
                    .arg(config);
                command
            }
            SutKind::FerrovoxUring | SutKind::FerrovoxPortable => {
                if !paths.ferrovox.is_file() {
                    return Err(fail(format!(
                        "{} not found (build it: cargo build --release -p ferrovox)",
                        paths.ferrovox.display()
                    )));
                }
                let backend = if kind == SutKind::FerrovoxUring {
                    "io-uring"
                } else {
                    "portable"
                };
                let mut command = Command::new(&paths.ferrovox);
                command
                    .arg("proxy")
                    .args(["--listen", &format!("udp:127.0.0.1:{SUT_PORT}")])
                    .args(["--next-hop", &format!("sip:127.0.0.1:{UAS_PORT}")])
                    .args(["--backend", backend, "--threads", "2"]);
                command
            }
            SutKind::Floor => {
                if !paths.floor_relay.is_file() {
                    return Err(fail(format!(
                        "{} not found (build it: cargo build --release -p ferrovox-capacity --bins)",
                        paths.floor_relay.display()
                    )));
                }
                let mut command = Command::new(&paths.floor_relay);
                command
                    .args(["--listen", &format!("127.0.0.1:{SUT_PORT}")])
                    .args(["--uas", &format!("127.0.0.1:{UAS_PORT}")])
                    .arg("--count-file")
                    .arg(work.path().join("counts"));
                command
            }
        };
        if !wait_port_free(SUT_PORT, Duration::from_secs(5)) {
            return Err(fail(format!(
                "UDP port {SUT_PORT} is already in use by another process"
            )));
        }
        let log_path = work.path().join("output.log");
        let log = std::fs::File::create(&log_path).map_err(|e| fail(format!("log file: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| fail(format!("log file: {e}")))?;
        command
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = command
            .spawn()
            .map_err(|e| fail(format!("spawning {:?}: {e}", command.get_program())))?;
        let mut sut = Self {
            kind,
            child: Some(child),
            pids: BTreeSet::new(),
            work,
        };
        sut.wait_ready(&log_path)?;
        Ok(sut)
    }

    fn wait_ready(&mut self, log_path: &Path) -> Result<(), SutError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.exit_status() {
                return Err(SutError::FailedToStart(format!(
                    "exited with {status}: {}",
                    output_tail(log_path)
                )));
            }
            if udp_port_bound(SUT_PORT) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(SutError::FailedToStart(format!(
                    "not listening on udp 127.0.0.1:{SUT_PORT} after 15 s: {}",
                    output_tail(log_path)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Kamailio binds before it forks its workers: let them all appear and settle.
        std::thread::sleep(Duration::from_millis(700));
        if let Some(status) = self.exit_status() {
            return Err(SutError::FailedToStart(format!(
                "exited with {status} right after binding: {}",
                output_tail(log_path)
            )));
        }
        self.pids = self.root_pid().map(process_tree).unwrap_or_default();
        Ok(())
    }

    fn root_pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The SUT's processes as found when it became ready.
    pub fn pids(&self) -> &BTreeSet<u32> {
        &self.pids
    }

    /// An error if the SUT's main process has exited.
    pub fn check_alive(&mut self) -> Result<(), SutError> {
        match self.exit_status() {
            Some(status) => Err(SutError::Died(format!(
                "{status}: {}",
                output_tail(&self.work.path().join("output.log"))
            ))),
            None => Ok(()),
        }
    }

    /// Stops the SUT (SIGTERM, then SIGKILL to every process of its tree after 5 s) and, for
    /// the floor relay, returns the datagrams it relayed.
    pub fn stop(mut self) -> Option<RelayCounts> {
        self.terminate();
        let text = std::fs::read_to_string(self.work.path().join("counts")).ok()?;
        RelayCounts::from_line(&text)
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let tree = process_tree(child.id())
            .into_iter()
            .chain(self.pids.iter().copied());
        let tree: BTreeSet<u32> = tree.collect();
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        // Workers that outlived their parent: they were ours (found through parent links).
        for pid in tree {
            if pid != child.id() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                // SAFETY: kill(2) on a process we started (a descendant of our child).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for RunningSut {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_bound_port_in_the_udp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                     1234: 0100007F:13CE 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n";
        assert!(udp_table_has_port(table, 5070));
        assert!(!udp_table_has_port(table, 5080));
        assert!(!udp_table_has_port("header only\n", 5070));
    }

    #[test]
    fn sees_a_socket_this_process_bound() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        assert!(udp_port_bound(port));
        drop(socket);
        assert!(wait_port_free(port, Duration::from_secs(2)));
    }

    #[test]
    fn a_missing_ferrovox_binary_is_a_start_failure_not_a_panic() {
        let paths = SutPaths {
            lab: PathBuf::from("/nonexistent"),
            ferrovox: PathBuf::from("/nonexistent/ferrovox"),
            floor_relay: PathBuf::from("/nonexistent/floor-relay"),
        };
        for kind in [SutKind::FerrovoxUring, SutKind::Floor] {
            match RunningSut::start(kind, &paths) {
                Err(SutError::FailedToStart(reason)) => {
                    assert!(reason.contains("not found"), "{reason}")
                }
                Err(other) => panic!("unexpected error {other}"),
                Ok(_) => panic!("started without a binary"),
            }
        }
    }
}
