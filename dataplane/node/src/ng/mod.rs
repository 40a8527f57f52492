//! rtpengine's ng control protocol: framing and dispatch (sans-IO).
//!
//! A datagram is `<cookie> <message>`, where the message is a bencode dictionary or, as
//! rtpengine also accepts, a JSON object. The reply echoes the cookie and uses the request's
//! encoding. A message without a cookie cannot be answered and is dropped; every other
//! malformed message gets `result: error` with an `error-reason`, as rtpengine does.
//!
//! This module decides replies; the node's ng task (`ng_socket`) reads the socket, runs
//! the commands on the media cores (`media_cores`) and sends the replies.
//! [`BaseCommands`] answers `ping` only; [`relay_commands::RelayCommands`] adds the media
//! commands (`offer`, `answer`, `delete`, `query`, `list`) on top of the relay core.

pub mod bencode;
pub(crate) mod codecs;
pub mod relay_commands;
#[cfg(test)]
pub(crate) mod srtp_oracle;

use bencode::Value;
use std::time::Instant;

/// How a command was encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Bencode,
    Json,
}

/// Answers the commands the node supports; unknown ones get an error reply.
/// `now` is the node's clock at the datagram's arrival (the commands are sans-IO).
pub trait Commands {
    fn execute(&mut self, command: &str, message: &Value, now: Instant) -> Value;
}

/// A reply with `result: error` and a reason, the form rtpengine uses.
pub fn error_reply(reason: impl Into<String>) -> Value {
    Value::dict([
        ("result", Value::bytes("error")),
        ("error-reason", Value::Bytes(reason.into().into_bytes())),
    ])
}

/// What [`answer`] made of a datagram, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub reply: Vec<u8>,
    /// The command name, or `None` when the message could not be decoded.
    pub command: Option<String>,
    pub ok: bool,
}

/// A decoded ng message: the command and its dictionary, or the error reply for a message
/// that cannot be run.
pub type Decoded = Result<(String, Value), Value>;

/// How a request was framed, to frame its reply the same way.
#[derive(Debug, Clone)]
pub struct Framing {
    cookie: Vec<u8>,
    encoding: Encoding,
}

impl Framing {
    /// Splits the cookie off and decodes the message (bencode, or JSON when it starts with
    /// `{`); `None` when the datagram has no cookie to answer to.
    pub fn decode(datagram: &[u8]) -> Option<(Self, Decoded)> {
        let space = datagram.iter().position(|b| *b == b' ')?;
        let (cookie, message) = (&datagram[..space], &datagram[space + 1..]);
        if cookie.is_empty() {
            return None;
        }
        let encoding = if message.first() == Some(&b'{') {
            Encoding::Json
        } else {
            Encoding::Bencode
        };
        let decoded = match encoding {
            Encoding::Bencode => {
                bencode::decode(message).map_err(|e| format!("Failed to decode bencode: {e}"))
            }
            Encoding::Json => serde_json::from_slice::<serde_json::Value>(message)
                .map_err(|e| format!("Failed to decode JSON: {e}"))
                .map(|json| from_json(&json)),
        };
        let body = match decoded {
            Err(reason) => Err(error_reply(reason)),
            Ok(message @ Value::Dict(_)) => match message.get("command").and_then(Value::as_str) {
                Some(command) => Ok((command.to_owned(), message)),
                None => Err(error_reply("No command specified")),
            },
            Ok(_) => Err(error_reply("Message is not a dictionary")),
        };
        let framing = Self {
            cookie: cookie.to_vec(),
            encoding,
        };
        Some((framing, body))
    }

    /// The reply datagram: the cookie echoed, `reply` in the request's encoding.
    pub fn encode(&self, reply: &Value) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.cookie.len() + 64);
        out.extend_from_slice(&self.cookie);
        out.push(b' ');
        match self.encoding {
            Encoding::Bencode => reply.encode(&mut out),
            Encoding::Json => {
                // Serialising a serde_json::Value to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &to_json(reply));
            }
        }
        out
    }
}

/// Whether a reply reports success (anything but `result: error`).
pub fn is_ok(reply: &Value) -> bool {
    reply.get("result").and_then(Value::as_str) != Some("error")
}

/// Decodes one datagram, runs its command and returns the reply datagram; `None` when the
/// datagram has no cookie to answer to.
pub fn answer(datagram: &[u8], commands: &mut impl Commands, now: Instant) -> Option<Answered> {
    let (framing, decoded) = Framing::decode(datagram)?;
    let (command, reply) = match decoded {
        Ok((command, message)) => {
            let reply = commands.execute(&command, &message, now);
            (Some(command), reply)
        }
        Err(reply) => (None, reply),
    };
    Some(Answered {
        reply: framing.encode(&reply),
        command,
        ok: is_ok(&reply),
    })
}

fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::bytes(""),
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::bytes(n.to_string()),
        },
        serde_json::Value::String(s) => Value::bytes(s),
        serde_json::Value::Array(items) => Value::List(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Dict(
            map.iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), from_json(v)))
                .collect(),
        ),
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Integer(i) => serde_json::Value::from(*i),
        Value::Bytes(bytes) => {
            serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Dict(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), to_json(v)))
                .collect(),
        ),
    }
}

/// The commands a node without a relay answers: `ping`.
#[derive(Debug, Default)]
pub struct BaseCommands;

impl Commands for BaseCommands {
    fn execute(&mut self, command: &str, _message: &Value, _now: Instant) -> Value {
        match command {
            "ping" => Value::dict([("result", Value::bytes("pong"))]),
            other => error_reply(format!("Unrecognized command '{other}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(datagram: &[u8]) -> Option<Answered> {
        answer(datagram, &mut BaseCommands, Instant::now())
    }

    #[test]
    fn ping_gets_pong_with_the_cookie_echoed() {
        let answered = reply(b"5323_1 d7:command4:pinge").unwrap();
        assert_eq!(answered.reply, b"5323_1 d6:result4:ponge".to_vec());
        assert_eq!(answered.command.as_deref(), Some("ping"));
        assert!(answered.ok);
    }

    #[test]
    fn json_requests_get_json_replies() {
        let answered = reply(br#"abc {"command":"ping"}"#).unwrap();
        assert_eq!(answered.reply, br#"abc {"result":"pong"}"#.to_vec());
    }

    #[test]
    fn errors_name_the_problem() {
        let unknown = reply(b"c1 d7:command5:bogose").unwrap();
        assert!(!unknown.ok);
        let text = String::from_utf8(unknown.reply).unwrap();
        assert!(text.starts_with("c1 d12:error-reason"), "{text}");
        assert!(text.contains("Unrecognized command 'bogos'"), "{text}");

        let no_command = String::from_utf8(reply(b"c2 d3:foo3:bare").unwrap().reply).unwrap();
        assert!(no_command.contains("No command specified"), "{no_command}");
        let garbage = String::from_utf8(reply(b"c3 d7:command").unwrap().reply).unwrap();
        assert!(garbage.contains("Failed to decode bencode"), "{garbage}");
        let list = String::from_utf8(reply(b"c4 le").unwrap().reply).unwrap();
        assert!(list.contains("not a dictionary"), "{list}");
    }

    #[test]
    fn datagrams_without_a_cookie_are_dropped() {
        assert_eq!(reply(b"d7:command4:pinge"), None);
        assert_eq!(reply(b" d7:command4:pinge"), None);
        assert_eq!(reply(b""), None);
    }
}
