//! A running `ferrovox proxy` with its own config file and data directory, on a free port,
//! started once its banner is out and stopped by Ctrl-C, which it must obey cleanly.

use super::{BINARY, clean_env};
use ferrovox_testkit::ports::{free_udp_tcp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct ProxyProcess {
    child: ChildGuard,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Listening on UDP and TCP, with `config` as its [sip] table body and `args` appended.
    pub fn start(config: &str, args: &[&str]) -> Self {
        Self::spawn(&["udp", "tcp"], config, args)
    }

    /// As [`ProxyProcess::start`], listening on UDP only.
    pub fn start_udp(config: &str, args: &[&str]) -> Self {
        Self::spawn(&["udp"], config, args)
    }

    fn spawn(transports: &[&str], config: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = loopback(free_udp_tcp_port());
        let listen: Vec<String> = transports.iter().map(|t| format!("{t}:{addr}")).collect();
        let config_path = dir.path().join("ferrovox.toml");
        std::fs::write(
            &config_path,
            format!("[sip]\nlisten = \"{}\"\n{config}\n", listen.join(",")),
        )
        .unwrap();
        let mut command = Command::new(BINARY);
        command
            .arg("proxy")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        clean_env(&mut command);
        let child = ChildGuard::new("ferrovox proxy", command.spawn().expect("spawn ferrovox"));
        let proxy = Self { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !proxy.stdout().contains("Press Ctrl-C") {
            assert!(
                Instant::now() < deadline,
                "ferrovox proxy did not start\nstdout:\n{}\nstderr:\n{}",
                proxy.stdout(),
                proxy.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Ctrl-C: the proxy must exit cleanly within 10 s.
    pub fn stop(mut self) {
        self.child.signal("INT").expect("SIGINT");
        let status = self
            .child
            .wait_timeout(Duration::from_secs(10))
            .expect("wait for the proxy");
        match status {
            Some(status) => assert!(status.success(), "{status:?}\n{}", self.stderr()),
            None => panic!("the proxy ignored Ctrl-C\n{}", self.stderr()),
        }
    }
}
