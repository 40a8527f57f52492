//! Command-line interface.

use crate::config::{LogFormat, Override};
use clap::{Args, Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// ferrovox: SIP edge, media relay and media server in one appliance, with its control plane.
#[derive(Debug, Parser)]
#[command(name = "ferrovox", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). FERROVOX_* environment variables and flags override it.
    #[arg(long, global = true, env = "FERROVOX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log output format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `info,ferrovox_node=debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Directory for the embedded database and the first admin access key.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole appliance in one process: control plane and a media node.
    Up {
        #[command(flatten)]
        control: ControlFlags,
        #[command(flatten)]
        media: MediaFlags,
    },
    /// Run a media node (dataplane) that takes commands over the bus and ng.
    Media {
        #[command(flatten)]
        media: MediaFlags,
    },
    /// Run the SIP proxy alone: no database, no media relay, no control plane.
    ///
    /// With --next-hop it relays everything statefully with Record-Route to one hop (what a
    /// minimal Kamailio `t_relay()` config does); otherwise it serves [sip] users, trunks and
    /// carrier routes from the configuration file.
    Proxy {
        #[command(flatten)]
        proxy: ProxyFlags,
    },
    /// Run the control plane (REST API) without a media node.
    Control {
        #[command(flatten)]
        control: ControlFlags,
    },
    /// Apply pending database migrations to the configured store, then exit.
    Migrate,
    /// Print the version and exit.
    Version,
}

#[derive(Debug, Args)]
pub struct ControlFlags {
    /// REST API address (overrides control.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ProxyFlags {
    /// Where to receive SIP: `udp:ADDR`, `tcp:ADDR` or `ADDR` (both); repeatable
    /// (overrides sip.listen).
    #[arg(long = "listen", value_name = "[udp:|tcp:]ADDR")]
    pub listen: Vec<String>,
    /// Relay every out-of-dialog request to this hop, e.g. sip:127.0.0.1:5080
    /// (overrides sip.next_hop).
    #[arg(long, value_name = "SIP-URI")]
    pub next_hop: Option<String>,
    /// IO backend: io-uring or portable (overrides sip.backend).
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Core threads; 0 = one per CPU (overrides sip.threads).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Anchor every call's media on this rtpengine-compatible ng relay, e.g.
    /// udp:127.0.0.1:22222 (overrides sip.media_relay).
    #[arg(long, value_name = "udp:IP:PORT")]
    pub media_relay: Option<String>,
}

#[derive(Debug, Args)]
pub struct MediaFlags {
    /// rtpengine ng control address, UDP (overrides media.ng).
    #[arg(long, value_name = "ADDR")]
    pub ng: Option<SocketAddr>,
    /// Address media is anchored on (overrides media.interface).
    #[arg(long, value_name = "IP")]
    pub interface: Option<IpAddr>,
    /// RTP port range FIRST-LAST (overrides media.rtp_ports).
    #[arg(long, value_name = "FIRST-LAST")]
    pub rtp_ports: Option<String>,
    /// Media node admin/metrics address (overrides media.admin).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Node name on the bus (overrides media.node_id).
    #[arg(long, value_name = "NAME")]
    pub node_id: Option<String>,
    /// SIP address for UDP and TCP, a list of udp:ADDR / tcp:ADDR, or `off`
    /// (overrides sip.listen).
    #[arg(long, value_name = "ADDR|off")]
    pub sip: Option<String>,
    /// Relay IO backend: io-uring or portable (overrides media.backend).
    #[arg(long, value_name = "BACKEND")]
    pub media_backend: Option<String>,
    /// Relay core threads; 0 = one per CPU (overrides media.threads).
    #[arg(long, value_name = "N")]
    pub media_threads: Option<usize>,
}

fn flag(name: &str, key: &'static [&'static str], value: Option<String>) -> Option<Override> {
    value.map(|value| Override {
        source: format!("flag --{name}"),
        key,
        value,
    })
}

impl Cli {
    /// The flags that override configuration keys, in the order they apply.
    pub fn overrides(&self) -> Vec<Override> {
        let mut overrides: Vec<Override> = [
            flag(
                "data-dir",
                &["data_dir"],
                self.data_dir.as_ref().map(|d| d.display().to_string()),
            ),
            flag(
                "log-format",
                &["log", "format"],
                self.log_format.map(|f| match f {
                    LogFormat::Human => "human".to_owned(),
                    LogFormat::Json => "json".to_owned(),
                }),
            ),
            flag("log-level", &["log", "level"], self.log_level.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let (control, media) = match &self.command {
            Command::Up { control, media } => (Some(control), Some(media)),
            Command::Media { media } => (None, Some(media)),
            Command::Control { control } => (Some(control), None),
            Command::Proxy { proxy } => {
                let listen = (!proxy.listen.is_empty()).then(|| proxy.listen.join(","));
                overrides.extend(
                    [
                        flag("listen", &["sip", "listen"], listen),
                        flag("next-hop", &["sip", "next_hop"], proxy.next_hop.clone()),
                        flag("backend", &["sip", "backend"], proxy.backend.clone()),
                        flag(
                            "threads",
                            &["sip", "threads"],
                            proxy.threads.map(|n| n.to_string()),
                        ),
                        flag(
                            "media-relay",
                            &["sip", "media_relay"],
                            proxy.media_relay.clone(),
                        ),
                    ]
                    .into_iter()
                    .flatten(),
                );
                (None, None)
            }
            Command::Migrate | Command::Version => (None, None),
        };
        if let Some(control) = control {
            overrides.extend(flag(
                "listen",
                &["control", "listen"],
                control.listen.map(|a| a.to_string()),
            ));
        }
        if let Some(media) = media {
            overrides.extend(
                [
                    flag("ng", &["media", "ng"], media.ng.map(|a| a.to_string())),
                    flag(
                        "interface",
                        &["media", "interface"],
                        media.interface.map(|a| a.to_string()),
                    ),
                    flag(
                        "rtp-ports",
                        &["media", "rtp_ports"],
                        media.rtp_ports.clone(),
                    ),
                    flag(
                        "admin",
                        &["media", "admin"],
                        media.admin.map(|a| a.to_string()),
                    ),
                    flag("node-id", &["media", "node_id"], media.node_id.clone()),
                    flag("sip", &["sip", "listen"], media.sip.clone()),
                    flag(
                        "media-backend",
                        &["media", "backend"],
                        media.media_backend.clone(),
                    ),
                    flag(
                        "media-threads",
                        &["media", "threads"],
                        media.media_threads.map(|n| n.to_string()),
                    ),
                ]
                .into_iter()
                .flatten(),
            );
        }
        overrides
    }
}
