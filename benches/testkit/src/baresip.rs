//! baresip (Debian package `baresip`) as a headless SIP phone for tests.
//!
//! [`Baresip::start`] writes a private config directory (no sound card: a sine source and a
//! file sink), one account line per [`Account`], loads `ctrl_tcp` and drives the phone with
//! its JSON-over-netstring commands ([`Baresip::command`]). [`Baresip::start_with`] takes
//! [`Options`]: answer incoming calls at once, log SIP traffic.
//!
//! The control connection (ctrl_tcp serves only its latest one) also collects every event
//! the phone reports (`REGISTER_OK`, `REGISTER_FAIL`, `CALL_ESTABLISHED`, `CALL_CLOSED`, …, see [`Event`]);
//! [`Baresip::wait_event`] waits for one, [`Baresip::wait_registered`] and
//! [`Baresip::wait_command`] poll `reginfo` / any command until its answer says so.
//!
//! baresip binds TLS on the SIP port + 1: keep the control port elsewhere. `ausine` only
//! runs at 48 kHz in stereo, so the source is fixed at that (the player at 48 kHz mono) and
//! baresip resamples to the
//! codec (G.711 at 8 kHz); otherwise answering a call fails.

use crate::process::ChildGuard;
use crate::{HarnessError, wait};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to run the phone beyond its accounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Answer incoming calls at once (`answermode=auto` on every account).
    pub auto_answer: bool,
    /// Log every SIP message sent and received (`baresip -s`) to [`Baresip::log`].
    pub sip_trace: bool,
}

/// One event baresip reported on its control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `register`, `call`, …
    pub class: String,
    /// `REGISTER_OK`, `REGISTER_FAIL`, `CALL_INCOMING`, `CALL_ESTABLISHED`, `CALL_CLOSED`, …
    pub kind: String,
    /// The account the event is about (`sip:alice@127.0.0.1`).
    pub account: String,
    /// The other party of a call event.
    pub peer: String,
    /// Free text: a status line (`401 Unauthorized`), a close reason (`Connection reset`).
    pub param: String,
}

impl Event {
    fn from_json(value: &serde_json::Value) -> Option<Self> {
        if value.get("event").and_then(|e| e.as_bool()) != Some(true) {
            return None;
        }
        let text = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Some(Self {
            class: text("class"),
            kind: text("type"),
            account: text("accountaor"),
            peer: text("peeruri"),
            param: text("param"),
        })
    }
}

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
    fn line(&self, options: &Options) -> String {
        let mut line = format!("<sip:{}@{}>", self.user, self.domain);
        if let Some(password) = &self.password {
            line.push_str(&format!(";auth_pass={password}"));
        }
        if let Some(outbound) = self.outbound {
            line.push_str(&format!(";outbound=\"sip:{outbound}\""));
        }
        line.push_str(&format!(";regint={}", self.regint));
        if options.auto_answer {
            line.push_str(";answermode=auto");
        }
        line
    }
}

/// A running baresip.
pub struct Baresip {
    child: ChildGuard,
    control: SocketAddr,
    pub sip: SocketAddr,
    dir: tempfile::TempDir,
    events: Arc<Mutex<Vec<Event>>>,
    /// The one control connection: baresip's ctrl_tcp talks to its latest connection only,
    /// so commands and events share it (a thread reads, answers come through `responses`).
    connection: Mutex<Option<Connection>>,
}

struct Connection {
    stream: TcpStream,
    responses: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl Baresip {
    /// Starts baresip listening for SIP on `sip` and for control commands on `control`.
    pub async fn start(
        sip: SocketAddr,
        control: SocketAddr,
        accounts: &[Account],
    ) -> Result<Self, HarnessError> {
        Self::start_with(sip, control, accounts, Options::default()).await
    }

    /// [`Baresip::start`] with [`Options`].
    pub async fn start_with(
        sip: SocketAddr,
        control: SocketAddr,
        accounts: &[Account],
        options: Options,
    ) -> Result<Self, HarnessError> {
        let dir = tempfile::tempdir().map_err(HarnessError::io("creating a baresip dir"))?;
        write_config(dir.path(), sip, control, accounts, &options)?;
        let log = std::fs::File::create(dir.path().join("baresip.log"))
            .map_err(HarnessError::io("creating the baresip log"))?;
        let log_err = log
            .try_clone()
            .map_err(HarnessError::io("cloning the baresip log handle"))?;
        let mut command = Command::new("baresip");
        command.arg("-f").arg(dir.path());
        if options.sip_trace {
            command.arg("-s");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(HarnessError::io("starting baresip (is it installed?)"))?;
        let mut phone = Self {
            child: ChildGuard::new("baresip", child),
            control,
            sip,
            dir,
            events: Arc::new(Mutex::new(Vec::new())),
            connection: Mutex::new(None),
        };
        wait::tcp_listening(control, Duration::from_secs(10))
            .await
            .map_err(|e| HarnessError::Failed(format!("{e}; log:\n{}", phone.log())))?;
        phone.listen_for_events()?;
        Ok(phone)
    }

    /// Opens the control connection; a thread keeps its events and hands command answers
    /// over. It ends when baresip closes the connection or the phone is dropped.
    fn listen_for_events(&mut self) -> Result<(), HarnessError> {
        let stream = TcpStream::connect(self.control)
            .map_err(HarnessError::io("connecting to baresip control"))?;
        let mut reader = stream
            .try_clone()
            .map_err(HarnessError::io("cloning the baresip control connection"))?;
        let events = self.events.clone();
        let (answers, responses) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("baresip-control".into())
            .spawn(move || {
                while let Ok(message) = read_netstring(&mut reader) {
                    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&message) else {
                        continue;
                    };
                    if value.get("response").and_then(|r| r.as_bool()) == Some(true) {
                        if answers.send(value).is_err() {
                            break;
                        }
                    } else if let Some(event) = Event::from_json(&value) {
                        events.lock().unwrap_or_else(|p| p.into_inner()).push(event);
                    }
                }
            })
            .map_err(HarnessError::io("starting the baresip control thread"))?;
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Connection { stream, responses });
        Ok(())
    }

    /// Every event reported so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until an event satisfying `matches` has been reported (also one reported before
    /// the call) and returns it; the error names the events seen and the log.
    pub async fn wait_event(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Event) -> bool,
    ) -> Result<Event, HarnessError> {
        let found = wait::until(what, timeout, || {
            let event = self.events().into_iter().find(|e| matches(e));
            async move { event }
        })
        .await;
        found.map_err(|e| {
            HarnessError::Failed(format!(
                "{e}; events: {:#?}\nlog:\n{}",
                self.events(),
                self.log()
            ))
        })
    }

    /// Polls `command params` until `accept` holds for its answer (ANSI colours removed);
    /// returns that answer.
    pub async fn wait_command(
        &self,
        command: &str,
        params: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<String, HarnessError> {
        let what = format!("baresip {command} {params}");
        let mut last = String::new();
        let found = wait::until(&what, timeout, || {
            let answer = self.command(command, params).map(|a| strip_ansi(&a));
            let hit = match answer {
                Ok(answer) if accept(&answer) => Some(answer),
                Ok(answer) => {
                    last = answer;
                    None
                }
                Err(_) => None,
            };
            async move { hit }
        })
        .await;
        found.map_err(|e| {
            HarnessError::Failed(format!(
                "{e}; last answer:\n{last}\nevents: {:#?}\nlog:\n{}",
                self.events(),
                self.log()
            ))
        })
    }

    /// `reginfo` without colours: one line per account with its state (`OK`, `ERR`, `zzz`).
    pub fn reginfo(&self) -> Result<String, HarnessError> {
        self.command("reginfo", "").map(|a| strip_ansi(&a))
    }

    /// Waits until `reginfo` shows the account whose AOR contains `user` registered (`OK`).
    pub async fn wait_registered(&self, user: &str, timeout: Duration) -> Result<(), HarnessError> {
        self.wait_command("reginfo", "", timeout, |info| {
            info.lines()
                .any(|l| l.contains(user) && l.split_whitespace().any(|w| w == "OK"))
        })
        .await
        .map(|_| ())
    }

    /// Runs one control command (`reginfo`, `dial sip:…`, `hangup`, …) and returns its
    /// `data` text; an `ok: false` answer is an error.
    pub fn command(&self, command: &str, params: &str) -> Result<String, HarnessError> {
        let mut guard = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let connection = guard
            .as_mut()
            .ok_or_else(|| HarnessError::Failed("baresip control is not connected".into()))?;
        // An answer that came after its command gave up belongs to nobody.
        while connection.responses.try_recv().is_ok() {}
        let request = serde_json::json!({ "command": command, "params": params, "token": "t" });
        let body = request.to_string();
        connection
            .stream
            .write_all(format!("{}:{},", body.len(), body).as_bytes())
            .map_err(HarnessError::io("sending a baresip command"))?;
        let value = connection
            .responses
            .recv_timeout(Duration::from_secs(5))
            .map_err(|e| HarnessError::Failed(format!("baresip {command} {params}: {e}")))?;
        let data = value
            .get("data")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_owned();
        if value.get("ok").and_then(|o| o.as_bool()) == Some(true) {
            Ok(data)
        } else {
            Err(HarnessError::Failed(format!(
                "baresip {command} {params}: {data}"
            )))
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

impl Drop for Baresip {
    fn drop(&mut self) {
        // Ends the control thread even if the process outlived its guard for a moment.
        let connection = self
            .connection
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(connection) = connection {
            let _ = connection.stream.shutdown(Shutdown::Both);
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
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
    options: &Options,
) -> Result<(), HarnessError> {
    let config = format!(
        "# Written by ferrovox-testkit: headless baresip for tests.\n\
         poll_method epoll\n\
         sip_listen {sip}\n\
         sip_trans_def udp\n\
         audio_player aufile,{received}\n\
         audio_source ausine,1000\n\
         ausrc_srate 48000\n\
         auplay_srate 48000\n\
         ausrc_channels 2\n\
         auplay_channels 1\n\
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
    let accounts: String = accounts.iter().map(|a| a.line(options) + "\n").collect();
    std::fs::write(dir.join("accounts"), accounts)
        .map_err(HarnessError::io("writing baresip accounts"))?;
    std::fs::write(dir.join("contacts"), "")
        .map_err(HarnessError::io("writing baresip contacts"))?;
    Ok(())
}
