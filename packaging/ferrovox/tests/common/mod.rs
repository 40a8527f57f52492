//! Starting the real `ferrovox` binary on free ports for a test; the submodules hold what
//! the call tests share (`ferrovox proxy`, SIPp traces, RTP and ng).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod media;
pub mod proxy;
pub mod sip_trace;

use ferrovox_testkit::ports::{free_tcp_port, free_udp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_ferrovox");

/// A number no earlier call in this test binary got: keeps the test's own ng cookies, branches
/// and Call-IDs apart.
pub fn nonce() -> u64 {
    static NONCE: AtomicU64 = AtomicU64::new(1);
    NONCE.fetch_add(1, Ordering::Relaxed)
}

/// `ferrovox <args>` run to completion.
pub fn run(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir);
    clean_env(&mut command);
    command.envs(env.iter().copied());
    command.output().expect("run ferrovox")
}

/// Keeps a developer's own FERROVOX_* settings out of the test.
fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars() {
        if name.starts_with("FERROVOX_") {
            command.env_remove(name);
        }
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `ferrovox up` (or `media`/`control`) on free ports.
pub struct Appliance {
    pub child: ChildGuard,
    pub control: SocketAddr,
    pub media_admin: SocketAddr,
    pub ng: SocketAddr,
    pub sip: SocketAddr,
    pub data_dir: PathBuf,
    stdout_file: PathBuf,
    stderr_file: PathBuf,
}

impl Appliance {
    /// Starts `ferrovox <role>` with `extra` arguments and waits until `/health` answers.
    pub async fn start(role: &str, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let control = loopback(free_tcp_port());
        let media_admin = loopback(free_tcp_port());
        let ng = loopback(free_udp_port());
        let sip = loopback(free_udp_tcp_port());
        let stdout_file = data_dir.join(format!("{role}.stdout"));
        let stderr_file = data_dir.join(format!("{role}.stderr"));
        let mut command = Command::new(BINARY);
        command.arg(role).arg("--data-dir").arg(data_dir);
        if role != "media" {
            command.args(["--listen", &control.to_string()]);
        }
        if role != "control" {
            command.args(["--admin", &media_admin.to_string(), "--ng", &ng.to_string()]);
            if !extra.contains(&"--sip") {
                command.args(["--sip", &sip.to_string()]);
            }
        }
        command
            .args(extra)
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_file).unwrap())
            .stderr(std::fs::File::create(&stderr_file).unwrap());
        clean_env(&mut command);
        command.envs(env.iter().copied());
        let child = ChildGuard::new("ferrovox", command.spawn().expect("spawn ferrovox"));
        let appliance = Self {
            child,
            control,
            media_admin,
            ng,
            sip,
            data_dir: data_dir.to_owned(),
            stdout_file,
            stderr_file,
        };
        let health = if role == "media" {
            media_admin
        } else {
            control
        };
        if let Err(error) = ferrovox_testkit::wait::http_status(
            &format!("http://{health}/health"),
            200,
            Duration::from_secs(30),
        )
        .await
        {
            panic!(
                "ferrovox {role} did not come up: {error}\nstdout:\n{}\nstderr:\n{}",
                appliance.stdout(),
                appliance.stderr()
            );
        }
        // The banner is printed once every role is up, a moment after /health answers.
        let banner =
            ferrovox_testkit::wait::until("the start-up banner", Duration::from_secs(30), || {
                let text = appliance.stdout();
                async move { text.contains("Press Ctrl-C").then_some(()) }
            })
            .await;
        if let Err(error) = banner {
            panic!(
                "{error}\nstdout:\n{}\nstderr:\n{}",
                appliance.stdout(),
                appliance.stderr()
            );
        }
        appliance
    }

    pub fn control_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.control)
    }

    pub fn media_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.media_admin)
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_file).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// Ctrl-C, then the exit status; panics if it does not stop within 10 s.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        self.child.signal("INT").expect("send SIGINT");
        let status = self
            .child
            .wait_timeout(Duration::from_secs(10))
            .expect("wait");
        status.unwrap_or_else(|| {
            panic!(
                "ferrovox ignored Ctrl-C for 10 s\nstderr:\n{}",
                self.stderr()
            )
        })
    }
}

/// GET returning status and parsed JSON body.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let (status, body) = ferrovox_testkit::wait::http_get(url).await.unwrap();
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{url} body is not JSON ({e}): {body}"));
    (status, json)
}

/// Polls `/ready` until it answers `status`, returning the body.
pub async fn ready_becomes(url: &str, status: u16, within: Duration) -> serde_json::Value {
    let body = ferrovox_testkit::wait::http_status(url, status, within)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    serde_json::from_str(&body).unwrap()
}

/// Whether a process with this pid still exists.
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}
