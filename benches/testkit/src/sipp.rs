//! SIPp (Debian package `sip-tester`) as a test peer and load generator.
//!
//! [`Sipp`] builds a command line, runs SIPp headless (`-nostdin`, screen to a file) with
//! `-trace_stat` so its statistics land in a `;`-separated file that [`TraceStat`] parses. The
//! scenarios in `../shared/lab/sipp/` (Record-Route aware UAC/UAS) are found by
//! [`lab_scenario`].

use crate::process::ChildGuard;
use crate::{HarnessError, repo_root};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// The path of a scenario shipped in `../shared/lab/sipp/` (e.g. `"uac_rr.xml"`).
pub fn lab_scenario(name: &str) -> PathBuf {
    repo_root().join("../shared/lab/sipp").join(name)
}

/// The path of a scenario shipped with the harness in `benches/testkit/scenarios/`
/// (e.g. `"options.xml"`).
pub fn harness_scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Which scenario SIPp plays.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// One of SIPp's built-in scenarios (`uac`, `uas`, `uac_pcap`, …).
    Builtin(String),
    File(PathBuf),
}

/// A SIPp command line under construction.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: Scenario,
    remote: Option<SocketAddr>,
    local: SocketAddr,
    rate: Option<f64>,
    calls: Option<u64>,
    extra: Vec<String>,
}

impl Sipp {
    pub fn new(scenario: Scenario, local: SocketAddr) -> Self {
        Self {
            scenario,
            remote: None,
            local,
            rate: None,
            calls: None,
            extra: Vec::new(),
        }
    }

    pub fn remote(mut self, remote: SocketAddr) -> Self {
        self.remote = Some(remote);
        self
    }

    /// Calls per second (`-r`).
    pub fn rate(mut self, calls_per_second: f64) -> Self {
        self.rate = Some(calls_per_second);
        self
    }

    /// Stop after this many calls (`-m`).
    pub fn calls(mut self, calls: u64) -> Self {
        self.calls = Some(calls);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra.push(arg.into());
        self
    }

    /// Starts SIPp; its working files live in a fresh temporary directory.
    pub fn spawn(self) -> Result<SippRun, HarnessError> {
        let dir = tempfile::tempdir().map_err(HarnessError::io("creating a SIPp work dir"))?;
        let stat_file = dir.path().join("stat.csv");
        let screen_file = dir.path().join("screen.log");
        let mut command = Command::new("sipp");
        match &self.scenario {
            Scenario::Builtin(name) => command.args(["-sn", name]),
            Scenario::File(path) => command.arg("-sf").arg(path),
        };
        if let Some(remote) = self.remote {
            command.arg(remote.to_string());
        }
        command
            .args(["-i", &self.local.ip().to_string()])
            .args(["-p", &self.local.port().to_string()])
            .args(["-nostdin", "-trace_stat", "-fd", "1"])
            .arg("-stf")
            .arg(&stat_file)
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.path().join("errors.log"));
        if let Some(rate) = self.rate {
            command.args(["-r", &rate.to_string()]);
        }
        if let Some(calls) = self.calls {
            command.args(["-m", &calls.to_string()]);
        }
        command.args(&self.extra).current_dir(dir.path());
        let screen = std::fs::File::create(&screen_file)
            .map_err(HarnessError::io("creating the SIPp screen log"))?;
        command.stdout(Stdio::from(screen)).stderr(Stdio::piped());
        let child = command
            .spawn()
            .map_err(HarnessError::io("starting sipp (is sip-tester installed?)"))?;
        Ok(SippRun {
            child: ChildGuard::new("sipp", child),
            stat_file,
            dir,
        })
    }
}

/// A running SIPp.
pub struct SippRun {
    child: ChildGuard,
    stat_file: PathBuf,
    dir: tempfile::TempDir,
}

/// How a SIPp run ended.
#[derive(Debug)]
pub struct SippOutcome {
    pub status: ExitStatus,
    pub stats: TraceStat,
    /// SIPp's `-trace_err` output: unexpected messages and failures.
    pub errors: String,
}

impl SippRun {
    /// Waits up to `timeout` for SIPp to finish its calls.
    pub fn wait(mut self, timeout: Duration) -> Result<SippOutcome, HarnessError> {
        let status = self
            .child
            .wait_timeout(timeout)
            .map_err(HarnessError::io("waiting for sipp"))?
            .ok_or(HarnessError::Timeout {
                what: "sipp to finish".into(),
                seconds: timeout.as_secs_f64(),
            })?;
        self.outcome(status)
    }

    /// Stops a SIPp that runs until told (a UAS): SIGUSR1 makes it quit after a final dump.
    pub fn stop(mut self) -> Result<SippOutcome, HarnessError> {
        let _ = self.child.signal("USR1");
        let status = match self
            .child
            .wait_timeout(Duration::from_secs(5))
            .map_err(HarnessError::io("waiting for sipp"))?
        {
            Some(status) => status,
            None => {
                let _ = self.child.signal("KILL");
                self.child
                    .wait_timeout(Duration::from_secs(5))
                    .map_err(HarnessError::io("waiting for sipp"))?
                    .ok_or_else(|| HarnessError::Failed("sipp ignored SIGKILL".into()))?
            }
        };
        self.outcome(status)
    }

    fn outcome(&self, status: ExitStatus) -> Result<SippOutcome, HarnessError> {
        let text = std::fs::read_to_string(&self.stat_file).map_err(HarnessError::io(format!(
            "reading SIPp statistics {}",
            self.stat_file.display()
        )))?;
        let errors =
            std::fs::read_to_string(self.dir.path().join("errors.log")).unwrap_or_default();
        Ok(SippOutcome {
            status,
            stats: TraceStat::parse(&text)?,
            errors,
        })
    }

    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// SIPp's `-trace_stat` file: a header row and one row per dump period.
#[derive(Debug, Clone)]
pub struct TraceStat {
    rows: Vec<HashMap<String, String>>,
}

impl TraceStat {
    pub fn parse(text: &str) -> Result<Self, HarnessError> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| HarnessError::Failed("SIPp statistics file is empty".into()))?
            .split(';')
            .map(str::trim)
            .collect();
        let rows = lines
            .map(|line| {
                header
                    .iter()
                    .zip(line.split(';'))
                    .map(|(k, v)| ((*k).to_owned(), v.trim().to_owned()))
                    .collect()
            })
            .collect::<Vec<HashMap<_, _>>>();
        if rows.is_empty() {
            return Err(HarnessError::Failed(
                "SIPp statistics file has no data row".into(),
            ));
        }
        Ok(Self { rows })
    }

    pub fn rows(&self) -> &[HashMap<String, String>] {
        &self.rows
    }

    /// A cumulative counter from the last row, e.g. `"SuccessfulCall(C)"`.
    pub fn last_counter(&self, column: &str) -> Option<u64> {
        self.rows.last()?.get(column)?.parse().ok()
    }

    pub fn successful_calls(&self) -> u64 {
        self.last_counter("SuccessfulCall(C)").unwrap_or(0)
    }

    pub fn failed_calls(&self) -> u64 {
        self.last_counter("FailedCall(C)").unwrap_or(0)
    }

    pub fn created_calls(&self) -> u64 {
        self.last_counter("TotalCallCreated").unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::TraceStat;

    #[test]
    fn parses_the_last_cumulative_row() {
        let text = "StartTime;TotalCallCreated;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);\n\
                    2026-11-22 01:00:00.000;5;5;5;0;0;\n\
                    2026-11-22 01:00:01.000;10;4;9;1;1;\n";
        let stats = TraceStat::parse(text).unwrap();
        assert_eq!(stats.rows().len(), 2);
        assert_eq!(stats.created_calls(), 10);
        assert_eq!(stats.successful_calls(), 9);
        assert_eq!(stats.failed_calls(), 1);
    }

    #[test]
    fn rejects_files_without_data() {
        assert!(TraceStat::parse("").is_err());
        assert!(TraceStat::parse("a;b;\n").is_err());
    }
}
