//! baresip (Debian package `baresip`) as a headless SIP phone for tests.
//!
//! [`Baresip::start`] writes a private config directory (no sound card: a sine source and a
//! file sink), one account line per [`Account`], loads `ctrl_tcp` and drives the phone with
//! its JSON-over-netstring commands ([`Baresip::command`]).

use crate::process::ChildGuard;
use crate::{HarnessError, wait};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One SIP account of the phone (`<sip:user@domain>;auth_pass=…`).
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub domain: String,
    pub password: Option<String>,
    /// Where to send REGISTER (`outbound`); `None` registers with `domain` directly.
    pub outbound: Option<SocketAddr>,
    /// Registration interval in seconds; 0 disables REGISTER.
    pub regint: u32,
}

impl Account {
    fn line(&self) -> String {
        let mut line = format!("<sip:{}@{}>", self.user, self.domain);
        if let Some(password) = &self.password {
            line.push_str(&format!(";auth_pass={password}"));
        }
        if let Some(outbound) = self.outbound {
            line.push_str(&format!(";outbound=\"sip:{outbound}\""));
        }
        line.push_str(&format!(";regint={}", self.regint));
        line
    }
}

/// A running baresip.
pub struct Baresip {
    child: ChildGuard,
    control: SocketAddr,
    pub sip: SocketAddr,
    dir: tempfile::TempDir,
}

impl Baresip {
    /// Starts baresip listening for SIP on `sip` and for control commands on `control`.
    pub async fn start(
        sip: SocketAddr,
        control: SocketAddr,
        accounts: &[Account],
    ) -> Result<Self, HarnessError> {
        let dir = tempfile::tempdir().map_err(HarnessError::io("creating a baresip dir"))?;
        write_config(dir.path(), sip, control, accounts)?;
        let log = std::fs::File::create(dir.path().join("baresip.log"))
            .map_err(HarnessError::io("creating the baresip log"))?;
        let log_err = log
            .try_clone()
            .map_err(HarnessError::io("cloning the baresip log handle"))?;
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(HarnessError::io("starting baresip (is it installed?)"))?;
        let phone = Self {
            child: ChildGuard::new("baresip", child),
            control,
            sip,
            dir,
        };
        wait::tcp_listening(control, Duration::from_secs(10))
            .await
            .map_err(|e| HarnessError::Failed(format!("{e}; log:\n{}", phone.log())))?;
        Ok(phone)
    }

    /// Runs one control command (`reginfo`, `dial sip:…`, `hangup`, …) and returns its
    /// `data` text; an `ok: false` answer is an error.
    pub fn command(&self, command: &str, params: &str) -> Result<String, HarnessError> {
        let request = serde_json::json!({ "command": command, "params": params, "token": "t" });
        let body = request.to_string();
        let mut stream = TcpStream::connect(self.control)
            .map_err(HarnessError::io("connecting to baresip control"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(HarnessError::io("setting a read timeout"))?;
        stream
            .write_all(format!("{}:{},", body.len(), body).as_bytes())
            .map_err(HarnessError::io("sending a baresip command"))?;
        loop {
            let message = read_netstring(&mut stream)?;
            let value: serde_json::Value = serde_json::from_slice(&message)
                .map_err(|e| HarnessError::Failed(format!("baresip sent invalid JSON: {e}")))?;
            // Events share the connection with responses; skip them.
            if value.get("response").and_then(|r| r.as_bool()) != Some(true) {
                continue;
            }
            let data = value
                .get("data")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_owned();
            return if value.get("ok").and_then(|o| o.as_bool()) == Some(true) {
                Ok(data)
            } else {
                Err(HarnessError::Failed(format!(
                    "baresip {command} {params}: {data}"
                )))
            };
        }
    }

    /// Everything baresip printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn read_netstring(stream: &mut TcpStream) -> Result<Vec<u8>, HarnessError> {
    let mut length = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream
            .read_exact(&mut byte)
            .map_err(HarnessError::io("reading from baresip control"))?;
        match byte[0] {
            b':' => break,
            b'0'..=b'9' if length.len() < 9 => length.push(byte[0]),
            other => {
                return Err(HarnessError::Failed(format!(
                    "baresip control sent a bad netstring length byte {other:#x}"
                )));
            }
        }
    }
    let length: usize = std::str::from_utf8(&length)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            HarnessError::Failed("baresip control sent an empty netstring length".into())
        })?;
    let mut body = vec![0u8; length + 1];
    stream
        .read_exact(&mut body)
        .map_err(HarnessError::io("reading from baresip control"))?;
    if body.pop() != Some(b',') {
        return Err(HarnessError::Failed(
            "baresip netstring lacks its trailing comma".into(),
        ));
    }
    Ok(body)
}

fn write_config(
    dir: &Path,
    sip: SocketAddr,
    control: SocketAddr,
    accounts: &[Account],
) -> Result<(), HarnessError> {
    let config = format!(
        "# Written by ferrovox-testkit: headless baresip for tests.\n\
         poll_method epoll\n\
         sip_listen {sip}\n\
         sip_trans_def udp\n\
         audio_player aufile,{received}\n\
         audio_source ausine,1000\n\
         audio_alert aufile,/dev/null\n\
         rtp_ports 40000-40999\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\n\
         module ausine.so\n\
         module aufile.so\n\
         module_app account.so\n\
         module_app menu.so\n\
         module_app ctrl_tcp.so\n\
         ctrl_tcp_listen {control}\n",
        received = dir.join("received.wav").display(),
    );
    std::fs::write(dir.join("config"), config)
        .map_err(HarnessError::io("writing baresip config"))?;
    let accounts: String = accounts.iter().map(|a| a.line() + "\n").collect();
    std::fs::write(dir.join("accounts"), accounts)
        .map_err(HarnessError::io("writing baresip accounts"))?;
    std::fs::write(dir.join("contacts"), "")
        .map_err(HarnessError::io("writing baresip contacts"))?;
    Ok(())
}
