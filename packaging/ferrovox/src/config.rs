//! Configuration: defaults, then the TOML file (`--config`), then `FERROVOX_*` environment
//! variables, then command-line flags — each layer overrides the one before.
//!
//! Unknown keys and wrong types are errors, reported on one line that names where the bad
//! value came from: the file with its line and column, the environment variable, or the flag.

use ferrovox_node::PortRange;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

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
    /// SIP on UDP and TCP at this address, or `off` (a bare relay).
    pub listen: SipListen,
}

/// An address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SipListen(pub Option<SocketAddr>);

impl TryFrom<String> for SipListen {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        text.parse()
            .map(|addr| Self(Some(addr)))
            .map_err(|_| format!("{text:?} is neither an address (e.g. 0.0.0.0:5060) nor \"off\""))
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SipListen(Some(SocketAddr::from(([0, 0, 0, 0], 5060)))),
        }
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
    ("FERROVOX_SIP_LISTEN", &["sip", "listen"]),
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
        assert_eq!(
            config.sip.listen,
            SipListen(Some("0.0.0.0:5060".parse().unwrap()))
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
