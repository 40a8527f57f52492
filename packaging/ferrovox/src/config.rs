//! Configuration: defaults, then the TOML file (`--config`), then `FERROVOX_*` environment
//! variables, then command-line flags — each layer overrides the one before.
//!
//! Unknown keys and wrong types are errors, reported on one line that names where the bad
//! value came from: the file with its line and column, the environment variable, or the flag.

use ferrovox_node::PortRange;
use ferrovox_node::sip::{
    Backend, MediaRelayConfig, Peer, SipEdgeConfig, SipUser, Transport, parse_listen,
    parse_media_relay, parse_next_hop,
};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded database and the first admin access key live.
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub control: ControlConfig,
    pub store: StoreConfig,
    pub cache: CacheConfig,
    pub bus: BusConfig,
    pub media: MediaConfig,
    pub sip: SipConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `info,ferrovox_node=debug`, …
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// REST API, WebSocket, /health, /ready and /metrics.
    pub listen: SocketAddr,
    /// API requests per minute per customer (a bucket holds twice this).
    pub rate_api_per_minute: u32,
    /// Call creations per minute per customer.
    pub rate_calls_per_minute: u32,
    /// Login attempts and failed authentications per minute per source address.
    pub rate_logins_per_minute: u32,
    /// Signs agents' session tokens; unset: generated once and kept in the data directory.
    pub jwt_secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://…` or `mysql://…`; unset means `sqlite://<data_dir>/ferrovox.db`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// `memory://` or `redis://…`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `memory://` or `amqp://…`.
    pub url: String,
    /// Prefix of every exchange and queue, so deployments can share a broker.
    pub namespace: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Where SIP is received: `ADDR` (UDP and TCP), a comma-separated list of `udp:ADDR` /
    /// `tcp:ADDR`, or `off` (a bare relay).
    pub listen: SipListen,
    /// IO backend: `io-uring` (production) or `portable` (epoll + recvmmsg).
    pub backend: IoBackend,
    /// Core threads running the proxy; 0 = one per CPU.
    #[serde(deserialize_with = "count_or_text")]
    pub threads: usize,
    /// Digest realm, and a host name that designates this proxy.
    pub realm: String,
    /// Send every out-of-dialog request to this hop (`sip:IP:PORT[;transport=tcp]`), Request-URI
    /// unchanged: a plain stateful relay, e.g. for benchmarks.
    pub next_hop: Option<NextHop>,
    /// Callers outside every trunk must authenticate as one of `users`.
    pub require_auth: bool,
    /// Also offer SHA-256 digest (first, RFC 8760) besides MD5; some phones (baresip 1.0)
    /// reject a challenge list containing an algorithm they lack.
    pub digest_sha256: bool,
    /// No response at all from a gateway within this: the next one is tried.
    pub branch_response_timeout_ms: u64,
    /// Ringing without an answer this long ends the call with 408.
    pub invite_timeout_s: u64,
    /// Phones' SIP accounts served by the registrar (`[[sip.users]]`).
    pub users: Vec<SipUserConfig>,
    /// Carrier gateways (`[[sip.gateways]]`).
    pub gateways: Vec<ferrovox_routing::GatewayConfig>,
    /// Prefix routes over the gateways, longest prefix first (`[[sip.routes]]`).
    pub routes: Vec<ferrovox_routing::RouteConfig>,
    /// Gateway OPTIONS probing (`[sip.health]`).
    pub health: ferrovox_routing::HealthConfig,
    /// Per-source request rate limiting (`[sip.pike]`).
    pub pike: ferrovox_routing::PikeConfig,
    /// Trunks recognised by source address; their requests need no digest (`[[sip.trunks]]`).
    pub trunks: Vec<ferrovox_routing::TrunkConfig>,
    /// Anchor every call's media on an rtpengine-compatible ng relay (what Kamailio's
    /// `rtpengine_manage()` does): `udp:IP:PORT`, or `local` for this node's own `media.ng`.
    /// Unset: SDP passes through untouched.
    pub media_relay: Option<MediaRelay>,
    /// How long one ng command waits for the relay's reply.
    pub media_relay_timeout_ms: u64,
    /// Resends of an unanswered ng command.
    pub media_relay_retries: u32,
}

/// `sip.media_relay`: an ng address, or this node's own relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MediaRelay {
    Local,
    Udp(SocketAddr),
}

impl TryFrom<String> for MediaRelay {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("local") {
            return Ok(Self::Local);
        }
        parse_media_relay(&text)
            .map(Self::Udp)
            .map_err(|e| format!("{e}; or \"local\""))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SipUserConfig {
    pub username: String,
    pub password: String,
}

/// The SIP listen list, or `off`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SipListen(pub Option<Vec<(Transport, SocketAddr)>>);

impl TryFrom<String> for SipListen {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        parse_listen(&text)
            .map(|listen| Self(Some(listen)))
            .map_err(|e| format!("{e}; or \"off\""))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IoBackend(pub Backend);

impl TryFrom<String> for IoBackend {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
            .map(Self)
            .map_err(|e: ferrovox_node::sip::ParseBackendError| e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct NextHop(pub Peer);

impl TryFrom<String> for NextHop {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        parse_next_hop(&text).map(Self)
    }
}

/// A count written as a TOML integer, or as text (environment variables and flags are text).
fn count_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(usize),
        Text(String),
    }
    match Count::deserialize(deserializer)? {
        Count::Number(n) => Ok(n),
        Count::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a whole number"))),
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SipListen(Some(vec![
                (Transport::Udp, SocketAddr::from(([0, 0, 0, 0], 5060))),
                (Transport::Tcp, SocketAddr::from(([0, 0, 0, 0], 5060))),
            ])),
            backend: IoBackend(Backend::IoUring),
            threads: 0,
            realm: "ferrovox".into(),
            next_hop: None,
            require_auth: true,
            digest_sha256: false,
            branch_response_timeout_ms: 5000,
            invite_timeout_s: 180,
            users: Vec::new(),
            gateways: Vec::new(),
            routes: Vec::new(),
            health: Default::default(),
            pike: Default::default(),
            trunks: Vec::new(),
            media_relay: None,
            media_relay_timeout_ms: 1000,
            media_relay_retries: 2,
        }
    }
}

impl SipConfig {
    /// The SIP edge this section describes, unless SIP is off. `local_ng` is this process's
    /// media node's ng address (`None` for the proxy alone), what `media_relay = "local"`
    /// means.
    pub fn edge(&self, local_ng: Option<SocketAddr>) -> Result<Option<SipEdgeConfig>, String> {
        let Some(listen) = self.listen.0.clone() else {
            return Ok(None);
        };
        let relay = match self.media_relay {
            None => None,
            Some(MediaRelay::Udp(addr)) => Some(addr),
            Some(MediaRelay::Local) => {
                let mut ng = local_ng.ok_or(
                    "sip.media_relay = \"local\" needs this process's media node \
                     (ferrovox up or ferrovox media); the proxy alone needs udp:IP:PORT",
                )?;
                // Bound to every address: reach it on loopback.
                if ng.ip().is_unspecified() {
                    ng.set_ip(match ng {
                        SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                Some(ng)
            }
        };
        if relay.is_some() && self.media_relay_timeout_ms == 0 {
            return Err("sip.media_relay_timeout_ms must be at least 1".into());
        }
        let mut edge = SipEdgeConfig::new(listen);
        edge.backend = self.backend.0;
        edge.threads = self.threads;
        edge.realm = self.realm.clone();
        edge.next_hop = self.next_hop.map(|hop| hop.0);
        edge.require_auth = self.require_auth;
        edge.digest_sha256 = self.digest_sha256;
        edge.users = self
            .users
            .iter()
            .map(|user| SipUser {
                username: user.username.clone(),
                password: user.password.clone(),
            })
            .collect();
        edge.gateways = self.gateways.clone();
        edge.routes = self.routes.clone();
        edge.health = self.health;
        edge.pike = self.pike;
        edge.trunks = self.trunks.clone();
        edge.branch_response_timeout = Duration::from_millis(self.branch_response_timeout_ms);
        edge.invite_timeout = Duration::from_secs(self.invite_timeout_s);
        edge.media_relay = relay.map(|relay| MediaRelayConfig {
            relay,
            timeout: Duration::from_millis(self.media_relay_timeout_ms),
            retries: self.media_relay_retries,
        });
        Ok(Some(edge))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The node's name on the bus; unset means the host name.
    pub node_id: Option<String>,
    /// Admin HTTP: /health, /ready, /metrics.
    pub admin: SocketAddr,
    /// rtpengine-compatible ng control (UDP).
    pub ng: SocketAddr,
    /// Address media is anchored on.
    pub interface: IpAddr,
    pub rtp_ports: PortRange,
    /// Relay IO backend: `io-uring` (production) or `portable` (epoll + recvmmsg).
    pub backend: IoBackend,
    /// Relay core threads (calls are sharded over them by Call-ID); 0 = one per CPU.
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ferrovox-data"),
            log: LogConfig::default(),
            control: ControlConfig::default(),
            store: StoreConfig::default(),
            cache: CacheConfig::default(),
            bus: BusConfig::default(),
            media: MediaConfig::default(),
            sip: SipConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_api_per_minute: 1000,
            rate_calls_per_minute: 100,
            rate_logins_per_minute: 10,
            jwt_secret: None,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            url: "memory://".into(),
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: "memory://".into(),
            namespace: "ferrovox".into(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            admin: SocketAddr::from(([127, 0, 0, 1], 9091)),
            ng: SocketAddr::from(([127, 0, 0, 1], 22222)),
            interface: IpAddr::from([127, 0, 0, 1]),
            rtp_ports: PortRange {
                first: 30000,
                last: 60000,
            },
            backend: IoBackend(Backend::IoUring),
            threads: 0,
        }
    }
}

impl Config {
    /// The store URL in effect.
    pub fn store_url(&self) -> String {
        self.store
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("ferrovox.db").display()))
    }
}

/// Environment variables and the key each one sets.
pub const ENVIRONMENT: &[(&str, &[&str])] = &[
    ("FERROVOX_DATA_DIR", &["data_dir"]),
    ("FERROVOX_LOG_FORMAT", &["log", "format"]),
    ("FERROVOX_LOG_LEVEL", &["log", "level"]),
    ("FERROVOX_CONTROL_LISTEN", &["control", "listen"]),
    ("FERROVOX_CONTROL_JWT_SECRET", &["control", "jwt_secret"]),
    ("FERROVOX_STORE_URL", &["store", "url"]),
    ("FERROVOX_CACHE_URL", &["cache", "url"]),
    ("FERROVOX_BUS_URL", &["bus", "url"]),
    ("FERROVOX_BUS_NAMESPACE", &["bus", "namespace"]),
    ("FERROVOX_MEDIA_NODE_ID", &["media", "node_id"]),
    ("FERROVOX_MEDIA_ADMIN", &["media", "admin"]),
    ("FERROVOX_MEDIA_NG", &["media", "ng"]),
    ("FERROVOX_MEDIA_INTERFACE", &["media", "interface"]),
    ("FERROVOX_MEDIA_RTP_PORTS", &["media", "rtp_ports"]),
    ("FERROVOX_MEDIA_BACKEND", &["media", "backend"]),
    ("FERROVOX_MEDIA_THREADS", &["media", "threads"]),
    ("FERROVOX_SIP_LISTEN", &["sip", "listen"]),
    ("FERROVOX_SIP_BACKEND", &["sip", "backend"]),
    ("FERROVOX_SIP_THREADS", &["sip", "threads"]),
    ("FERROVOX_SIP_REALM", &["sip", "realm"]),
    ("FERROVOX_SIP_NEXT_HOP", &["sip", "next_hop"]),
    ("FERROVOX_SIP_MEDIA_RELAY", &["sip", "media_relay"]),
];

/// One override from the environment or a flag: where it came from, the key, the value.
#[derive(Debug, Clone)]
pub struct Override {
    pub source: String,
    pub key: &'static [&'static str],
    pub value: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
}

/// Builds the configuration from a file (if any), the environment and flag overrides.
pub fn load(
    file: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
    flags: Vec<Override>,
) -> Result<Config, ConfigError> {
    let mut table = toml::Table::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Deserialising the text (not the table) keeps line and column for errors.
        toml::from_str::<Config>(&text).map_err(|e| ConfigError::Invalid {
            location: locate(path, &text, e.span()),
            message: e.message().trim().to_owned(),
        })?;
        table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                location: locate(path, &text, e.span()),
                message: e.message().trim().to_owned(),
            })?;
    }
    let environment: Vec<Override> = environment
        .into_iter()
        .filter_map(|(name, value)| {
            let (_, key) = ENVIRONMENT.iter().find(|(known, _)| *known == name)?;
            Some(Override {
                source: format!("environment variable {name}"),
                key,
                value,
            })
        })
        .collect();
    for change in environment.into_iter().chain(flags) {
        set(&mut table, change.key, change.value.clone());
        Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            ConfigError::Invalid {
                location: change.source.clone(),
                message: format!(
                    "{} = {:?}: {}",
                    change.key.join("."),
                    change.value,
                    e.message().trim()
                ),
            }
        })?;
    }
    Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
        location: "configuration".into(),
        message: e.message().trim().to_owned(),
    })
}

fn set(table: &mut toml::Table, key: &[&str], value: String) {
    match key {
        [] => {}
        [last] => {
            table.insert((*last).to_owned(), toml::Value::String(value));
        }
        [first, rest @ ..] => {
            let entry = table
                .entry((*first).to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set(inner, rest, value);
            }
        }
    }
}

fn locate(path: &Path, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{} line {line}, column {column}", path.display())
        }
        None => path.display().to_string(),
    }
}

/// Hides the password of a URL (`scheme://user:secret@host` → `scheme://user:***@host`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn layers_override_in_order() {
        let file =
            write("[control]\nlisten = \"127.0.0.1:1000\"\n[cache]\nurl = \"redis://h:1/\"\n");
        let env = vec![
            (
                "FERROVOX_CONTROL_LISTEN".to_owned(),
                "127.0.0.1:2000".to_owned(),
            ),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let flags = vec![Override {
            source: "--ng".into(),
            key: &["media", "ng"],
            value: "127.0.0.1:3000".into(),
        }];
        let config = load(Some(file.path()), env, flags).unwrap();
        assert_eq!(config.control.listen.port(), 2000, "env beats file");
        assert_eq!(config.cache.url, "redis://h:1/", "file beats default");
        assert_eq!(config.media.ng.port(), 3000, "flag beats default");
        assert_eq!(config.bus.url, "memory://", "defaults stay");
    }

    #[test]
    fn defaults_are_the_documented_ports() {
        let config = load(None, Vec::new(), Vec::new()).unwrap();
        assert_eq!(config.control.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.media.ng.to_string(), "127.0.0.1:22222");
        assert_eq!(config.media.admin.to_string(), "127.0.0.1:9091");
        let any: SocketAddr = "0.0.0.0:5060".parse().unwrap();
        assert_eq!(
            config.sip.listen,
            SipListen(Some(vec![(Transport::Udp, any), (Transport::Tcp, any)]))
        );
        assert_eq!(config.store_url(), "sqlite://ferrovox-data/ferrovox.db");
    }

    #[test]
    fn errors_name_the_key_and_where_it_came_from() {
        let unknown = write("[control]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n");
        let error = load(Some(unknown.path()), Vec::new(), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 3") && error.contains("lisen"),
            "{error}"
        );

        let wrong_type = write("[control]\nlisten = 8080\n");
        let error = load(Some(wrong_type.path()), Vec::new(), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("invalid type"),
            "{error}"
        );

        let env = vec![("FERROVOX_MEDIA_RTP_PORTS".to_owned(), "9-1".to_owned())];
        let error = load(None, env, Vec::new()).unwrap_err().to_string();
        assert!(
            error.contains("FERROVOX_MEDIA_RTP_PORTS") && error.contains("media.rtp_ports"),
            "{error}"
        );
        assert!(!error.contains('\n'), "one line: {error}");
    }

    #[test]
    fn sip_can_be_turned_off() {
        let env = vec![("FERROVOX_SIP_LISTEN".to_owned(), "off".to_owned())];
        assert_eq!(
            load(None, env, Vec::new()).unwrap().sip.listen,
            SipListen(None)
        );
        let env = vec![("FERROVOX_SIP_LISTEN".to_owned(), "nowhere".to_owned())];
        let error = load(None, env, Vec::new()).unwrap_err().to_string();
        assert!(
            error.contains("sip.listen") && error.contains("off"),
            "{error}"
        );
    }

    #[test]
    fn media_relay_is_an_ng_address_or_the_local_node() {
        let relay = |value: &str| {
            let env = vec![("FERROVOX_SIP_MEDIA_RELAY".to_owned(), value.to_owned())];
            load(None, env, Vec::new()).map(|c| c.sip)
        };
        let sip = relay("udp:127.0.0.1:2223").unwrap();
        let edge = sip.edge(None).unwrap().unwrap();
        assert_eq!(
            edge.media_relay,
            Some(MediaRelayConfig {
                relay: "127.0.0.1:2223".parse().unwrap(),
                timeout: Duration::from_secs(1),
                retries: 2,
            })
        );
        let local = relay("local").unwrap();
        let node_ng: SocketAddr = "0.0.0.0:22222".parse().unwrap();
        assert_eq!(
            local
                .edge(Some(node_ng))
                .unwrap()
                .unwrap()
                .media_relay
                .map(|r| r.relay),
            Some("127.0.0.1:22222".parse().unwrap()),
            "a wildcard ng address is reached on loopback"
        );
        let alone = local.edge(None).unwrap_err();
        assert!(alone.contains("media node"), "{alone}");
        let error = relay("tcp:127.0.0.1:1").unwrap_err().to_string();
        assert!(
            error.contains("sip.media_relay") && error.contains("UDP"),
            "{error}"
        );
        assert_eq!(
            load(None, Vec::new(), Vec::new())
                .unwrap()
                .sip
                .edge(None)
                .unwrap()
                .unwrap()
                .media_relay,
            None,
            "no anchoring unless asked"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("mysql://u:secret@h:1/db"), "mysql://u:***@h:1/db");
        assert_eq!(redact("memory://"), "memory://");
        assert_eq!(redact("redis://h:1/"), "redis://h:1/");
    }
}

#[cfg(test)]
mod packaged_default {
    use super::*;

    #[test]
    fn the_packaged_config_is_valid_and_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/ferrovox.toml");
        let packaged = load(Some(&path), Vec::new(), Vec::new()).unwrap();
        assert_eq!(packaged, load(None, Vec::new(), Vec::new()).unwrap());
    }
}
