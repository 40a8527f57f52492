//! Starting and stopping the systems under test: ferrovox's media node, rtpengine
//! (userspace only, `--table=-1`) and the floor relay, each reachable over ng.
//!
//! [`SutKind::command`] builds the command line; [`RunningSut::start`] spawns it with its
//! output in a log file, waits until ng answers `ping`, and kills it on drop. Deliberately not
//! done: finding binaries on `PATH` beyond what `Command` does, or configuring anything but
//! loopback.

use crate::ng::NgClient;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a SUT could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SutError {
    #[error("starting {name} ({program}): {source}")]
    Spawn {
        name: &'static str,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited during start-up ({status}); log: {log}")]
    Exited {
        name: &'static str,
        status: String,
        log: String,
    },
    #[error("{name} did not answer ng ping on {ng} within {seconds} s; log: {log}")]
    NotReady {
        name: &'static str,
        ng: SocketAddr,
        seconds: u64,
        log: String,
    },
}

/// Which relay to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SutKind {
    Ferrovox,
    Rtpengine,
    Floor,
}

impl SutKind {
    pub fn name(self) -> &'static str {
        match self {
            SutKind::Ferrovox => "ferrovox",
            SutKind::Rtpengine => "rtpengine",
            SutKind::Floor => "floor",
        }
    }

    /// The command line that starts this SUT with ng on `ng`; `work_dir` holds its data
    /// (ferrovox's `--data-dir`). Media port ranges: ferrovox 30000–39999, rtpengine
    /// 40000–59999, the floor one socket on 29000.
    pub fn command(self, binaries: &Binaries, work_dir: &Path, ng: SocketAddr) -> Command {
        let ng = ng.to_string();
        match self {
            SutKind::Ferrovox => {
                let mut command = Command::new(&binaries.ferrovox);
                command
                    .arg("--data-dir")
                    .arg(work_dir.join("ferrovox-data"));
                command.args([
                    "--log-level",
                    "warn",
                    "media",
                    "--ng",
                    &ng,
                    "--interface",
                    "127.0.0.1",
                    "--rtp-ports",
                    "30000-39999",
                    "--sip",
                    "off",
                    "--admin",
                    "127.0.0.1:0",
                ]);
                command
            }
            SutKind::Rtpengine => {
                let mut command = Command::new(&binaries.rtpengine);
                command.args([
                    "--config-file=none",
                    "--foreground",
                    "--table=-1",
                    "--interface=127.0.0.1",
                    &format!("--listen-ng={ng}"),
                    "--port-min=40000",
                    "--port-max=59999",
                    "--num-threads=2",
                    "--delete-delay=0",
                    "--log-stderr",
                    "--log-level=5",
                ]);
                command
            }
            SutKind::Floor => {
                let mut command = Command::new(&binaries.floor);
                command.args(["--ng", &ng, "--media", "127.0.0.1:29000"]);
                command
            }
        }
    }
}

/// Where the SUT programs are.
#[derive(Debug, Clone, Serialize)]
pub struct Binaries {
    pub ferrovox: PathBuf,
    pub rtpengine: PathBuf,
    pub floor: PathBuf,
}

impl Binaries {
    /// `rtp-floor` next to the running executable, `rtpengine` from `PATH`, and ferrovox at
    /// `ferrovox` (the caller's choice).
    pub fn beside_current_exe(ferrovox: PathBuf) -> Self {
        let floor = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("rtp-floor")))
            .unwrap_or_else(|| PathBuf::from("rtp-floor"));
        Self {
            ferrovox,
            rtpengine: PathBuf::from("rtpengine"),
            floor,
        }
    }
}

/// A started SUT; killed on drop.
pub struct RunningSut {
    pub name: &'static str,
    ng: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl RunningSut {
    /// Starts `kind` with ng on a free loopback port, logging to `log_dir/<name>.log`, and
    /// waits for ng to answer.
    pub fn start(kind: SutKind, binaries: &Binaries, log_dir: &Path) -> Result<Self, SutError> {
        let ng = free_ng_address();
        let command = kind.command(binaries, log_dir, ng);
        Self::spawn(kind.name(), command, ng, log_dir)
    }

    /// Spawns `command` (any relay that answers ng on `ng`), logging to
    /// `log_dir/<name>.log`, and waits for ng to answer `ping`.
    pub fn spawn(
        name: &'static str,
        mut command: Command,
        ng: SocketAddr,
        log_dir: &Path,
    ) -> Result<Self, SutError> {
        let log = log_dir.join(format!("{name}.log"));
        let program = command.get_program().to_string_lossy().into_owned();
        let spawn_error = |source| SutError::Spawn {
            name,
            program: program.clone(),
            source,
        };
        let file = std::fs::File::create(&log).map_err(spawn_error)?;
        let err_file = file.try_clone().map_err(spawn_error)?;
        command.stdin(Stdio::null()).stdout(file).stderr(err_file);
        let child = command.spawn().map_err(spawn_error)?;
        let mut sut = Self {
            name,
            ng,
            child,
            log,
        };
        sut.wait_ready(Duration::from_secs(20))?;
        Ok(sut)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{} …{}", self.log.display(), &text[start..])
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), SutError> {
        let started = Instant::now();
        let ng = self.ng;
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(SutError::Exited {
                    name: self.name,
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            let pong = NgClient::connect(ng)
                .map(|c| c.with_retries(Duration::from_millis(200), 1))
                .and_then(|mut c| c.ping());
            if let Ok(true) = pong {
                // Someone else may own the port; make sure the pong was our child's.
                std::thread::sleep(Duration::from_millis(200));
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(SutError::Exited {
                        name: self.name,
                        status: status.to_string(),
                        log: self.log_tail(),
                    });
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(SutError::NotReady {
            name: self.name,
            ng,
            seconds: limit.as_secs(),
            log: self.log_tail(),
        })
    }

    /// Where it answers ng.
    pub fn ng(&self) -> SocketAddr {
        self.ng
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Ports the SUTs' ng sockets are picked from: below every media range (generator
/// 20000–28999, floor 29000, ferrovox 30000–39999, rtpengine 40000–59999) and below the
/// kernel's ephemeral range, so no media allocation can collide with them.
pub const NG_PORTS: std::ops::RangeInclusive<u16> = 19000..=19999;

/// A loopback UDP address in [`NG_PORTS`] no socket holds right now, for a SUT's ng (a fixed
/// port collides with other test runs on a shared machine).
pub fn free_ng_address() -> SocketAddr {
    let start = (std::process::id() as u16) % 1000;
    (0..1000u16)
        .map(|i| NG_PORTS.start() + (start + i) % 1000)
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .find(|addr| std::net::UdpSocket::bind(addr).is_ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 22222)))
}

impl Drop for RunningSut {
    fn drop(&mut self) {
        // SIGTERM first so the SUT can release its ports; SIGKILL if it lingers.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpengine_runs_in_userspace_on_loopback() {
        let binaries = Binaries::beside_current_exe(PathBuf::from("ferrovox"));
        let ng = SocketAddr::from(([127, 0, 0, 1], 2223));
        let command = SutKind::Rtpengine.command(&binaries, Path::new("/tmp"), ng);
        let args: Vec<_> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--table=-1".to_owned()));
        assert!(args.contains(&"--listen-ng=127.0.0.1:2223".to_owned()));
        assert!(args.contains(&"--foreground".to_owned()));
    }

    #[test]
    fn a_missing_program_is_a_start_error() {
        let binaries = Binaries {
            ferrovox: PathBuf::from("/nonexistent/ferrovox"),
            rtpengine: PathBuf::from("/nonexistent/rtpengine"),
            floor: PathBuf::from("/nonexistent/rtp-floor"),
        };
        let dir = std::env::temp_dir();
        assert!(matches!(
            RunningSut::start(SutKind::Ferrovox, &binaries, &dir),
            Err(SutError::Spawn { .. })
        ));
    }
}
