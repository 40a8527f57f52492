//! Running the appliance's roles: wiring engines, the control plane and the media node.

use crate::cli::Command;
use crate::config::{Config, LogConfig, LogFormat, redact};
use anyhow::Context;
use ferrovox_contract::{AmqpBus, Bus, MemoryBus, NodeId};
use ferrovox_control::{AdminKey, ControlPlane, Engines, RenderMetrics};
use ferrovox_node::{MediaNode, NodeConfig};
use std::sync::Arc;

pub fn init_logging(log: &LogConfig) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level)
        .map_err(|e| format!("log.level {:?} is not a valid filter: {e}", log.level))?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

pub async fn command(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Version => Ok(()),
        Command::Migrate => migrate(&config).await,
        Command::Up { .. } => up(&config, true, true).await,
        Command::Control { .. } => up(&config, true, false).await,
        Command::Media { .. } => up(&config, false, true).await,
        Command::Proxy { .. } => proxy(&config).await,
    }
}

/// `ferrovox proxy`: the SIP edge alone, until Ctrl-C or SIGTERM.
async fn proxy(config: &Config) -> anyhow::Result<()> {
    let edge_config = config
        .sip
        .edge(None)
        .map_err(anyhow::Error::msg)?
        .context("sip.listen is off: the proxy needs somewhere to listen")?;
    let next_hop = edge_config.next_hop;
    let media_relay = edge_config.media_relay.map(|relay| relay.relay);
    let edge = ferrovox_node::sip::SipEdge::start(edge_config).context("starting the SIP proxy")?;
    let listen: Vec<String> = edge
        .listen_addrs()
        .iter()
        .map(|(transport, addr)| format!("{}:{addr}", format!("{transport:?}").to_lowercase()))
        .collect();
    println!("ferrovox SIP proxy");
    println!("  listening   {}", listen.join(", "));
    println!("  backend     {}", edge.backend());
    match next_hop {
        Some(hop) => println!(
            "  next hop    sip:{};transport={}",
            hop.addr,
            format!("{:?}", hop.transport).to_lowercase()
        ),
        None => println!("  routing     [sip] users, trunks and routes of the configuration"),
    }
    if let Some(relay) = media_relay {
        println!("  media       anchored on the ng relay udp:{relay}");
    }
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await;
    let stats = edge.stats();
    tokio::task::spawn_blocking(move || edge.shutdown())
        .await
        .context("stopping the SIP proxy")?
        .context("stopping the SIP proxy")?;
    tracing::info!(?stats, "SIP proxy stopped");
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config.store_url();
    let store = ferrovox_store::open(&url)
        .await
        .with_context(|| format!("store {}", redact(&url)))?;
    let report = store
        .migrate()
        .await
        .with_context(|| format!("migrating {}", redact(&url)))?;
    if report.applied.is_empty() {
        println!(
            "nothing to apply: the {} store {} already has all {} migrations",
            store.kind(),
            redact(&url),
            report.already_applied
        );
    } else {
        for (version, description) in &report.applied {
            println!("applied migration {version:04} {description}");
        }
        println!(
            "{} store {} migrated: {} applied now, {} before",
            store.kind(),
            redact(&url),
            report.applied.len(),
            report.already_applied
        );
    }
    Ok(())
}

fn metrics_recorder() -> anyhow::Result<RenderMetrics> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    metrics::gauge!("ferrovox_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(Arc::new(move || handle.render()))
}

/// The secret that signs session tokens: `control.jwt_secret`, or one generated at first
/// start and kept (mode 0600) in the data directory. Several control planes must share it.
fn jwt_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.control.jwt_secret {
        anyhow::ensure!(
            secret.len() >= 32,
            "control.jwt_secret must be at least 32 characters"
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        let secret = secret.trim();
        anyhow::ensure!(
            secret.len() >= 32,
            "{} holds a secret shorter than 32 characters",
            path.display()
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let secret = ferrovox_control::generate_token().replacen("ak_", "jwt_", 1);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        file.write_all(secret.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(secret.into_bytes())
}

fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    let url = &config.bus.url;
    if url == "memory://" || url == "memory" {
        Ok(Arc::new(MemoryBus::new()))
    } else if url.starts_with("amqp://") || url.starts_with("amqps://") {
        Ok(Arc::new(AmqpBus::new(url, &config.bus.namespace)?))
    } else {
        anyhow::bail!(
            "bus.url {:?} is not supported: use memory:// or amqp://user:pass@host:port/vhost",
            redact(url)
        )
    }
}

fn node_config(config: &Config) -> anyhow::Result<NodeConfig> {
    let name = match &config.media.node_id {
        Some(name) => name.clone(),
        None => default_node_id(),
    };
    let node_id = NodeId::new(name).context("media.node_id")?;
    Ok(NodeConfig {
        node_id,
        admin: config.media.admin,
        ng: config.media.ng,
        interface: config.media.interface,
        rtp_ports: config.media.rtp_ports,
        sip: config
            .sip
            .edge(Some(config.media.ng))
            .map_err(anyhow::Error::msg)?,
        media_backend: config.media.backend.0,
        media_threads: config.media.threads,
    })
}

/// The host name, made safe for a node id.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let safe: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if safe.is_empty() {
        "media-1".to_owned()
    } else {
        safe
    }
}

async fn up(config: &Config, with_control: bool, with_media: bool) -> anyhow::Result<()> {
    let metrics = metrics_recorder()?;
    let bus = open_bus(config)?;

    let mut control = None;
    let mut admin_key = None;
    if with_control {
        let url = config.store_url();
        let store = ferrovox_store::open(&url)
            .await
            .with_context(|| format!("store {}", redact(&url)))?;
        let report = store
            .migrate()
            .await
            .with_context(|| format!("applying migrations to {}", redact(&url)))?;
        for (version, description) in &report.applied {
            tracing::info!(version, %description, "applied migration");
        }
        admin_key = Some(ferrovox_control::ensure_admin(store.as_ref(), &config.data_dir).await?);
        let cache = ferrovox_cache::open(&config.cache.url)
            .with_context(|| format!("cache {}", redact(&config.cache.url)))?;
        let engines = Engines {
            store,
            cache,
            bus: bus.clone(),
        };
        control = Some(
            ControlPlane::start_with_data_dir(
                config.control.listen,
                engines,
                metrics.clone(),
                ferrovox_control::Options {
                    rate_limits: ferrovox_control::RateLimits {
                        api_per_minute: config.control.rate_api_per_minute,
                        calls_per_minute: config.control.rate_calls_per_minute,
                        logins_per_minute: config.control.rate_logins_per_minute,
                    },
                    jwt_secret: jwt_secret(config)?,
                },
                &config.data_dir,
            )
            .await?,
        );
    }
    let node = if with_media {
        Some(MediaNode::start(node_config(config)?, bus.clone(), metrics.clone()).await?)
    } else {
        None
    };

    print_banner(config, control.as_ref(), node.as_ref(), admin_key.as_ref());
    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(node) = node {
        node.shutdown().await;
    }
    if let Some(control) = control {
        control.shutdown().await;
    }
    Ok(())
}

fn print_banner(
    config: &Config,
    control: Option<&ControlPlane>,
    node: Option<&MediaNode>,
    admin_key: Option<&AdminKey>,
) {
    println!("ferrovox {} is running", env!("CARGO_PKG_VERSION"));
    if let Some(control) = control {
        let base = format!("http://{}", control.addr());
        println!("  REST API       {base}/v1.0");
        println!("  health/ready   {base}/health  {base}/ready  (metrics: {base}/metrics)");
        println!(
            "  engines        store {}  cache {}  bus {}",
            redact(&config.store_url()),
            redact(&config.cache.url),
            redact(&config.bus.url)
        );
    }
    if let Some(node) = node {
        match node.sip_addr() {
            Some(sip) => println!(
                "  SIP            udp+tcp {sip}  (stateful proxy, registrar for [[sip.users]], [[sip.routes]] to carriers)"
            ),
            None => println!("  SIP            off"),
        }
        println!(
            "  ng control     udp {}  (rtpengine ng protocol)",
            node.ng_addr()
        );
        println!(
            "  media admin    http://{}/health  /ready  /metrics",
            node.admin_addr()
        );
        println!(
            "  media          interface {}  rtp ports {}",
            config.media.interface, config.media.rtp_ports
        );
    }
    match admin_key {
        Some(AdminKey::Created { token, file }) => {
            println!("  admin key      {token}");
            println!(
                "                 (created now; shown once, also saved to {})",
                file.display()
            );
            println!(
                "                 try: curl -H 'Authorization: AccessKey {token}' http://{}/v1.0/customer",
                config.control.listen
            );
        }
        Some(AdminKey::Existing { file: Some(file) }) => {
            println!(
                "  admin key      created at first start, saved in {}",
                file.display()
            );
        }
        Some(AdminKey::Existing { file: None }) => {
            println!("  admin key      created at first start (its file was removed)");
        }
        None => {}
    }
    println!("Press Ctrl-C to stop.");
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
