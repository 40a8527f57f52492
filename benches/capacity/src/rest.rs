//! The P5 run (TARGETS.md): GET of a cached resource at 500, 1,000 and 2,000 requests/s,
//! open loop, p50/p99 from the schedule — with the appliance's own cache and with Redis.
//!
//! For each cache backend: start `ferrovox up` on the embedded default (SQLite store,
//! in-process bus; `cache.url` from the backend), as `scripts/up` does (`migrate`, then `up`)
//! on free loopback ports and a fresh data directory; read the first admin access key from
//! the data directory; create a number over REST; GET it until it is served from the cache;
//! then run [`crate::http_load`] at each rate and charge the appliance's CPU (its process
//! tree, from `/proc`) over each run to the requests answered. When `wrk` is installed, the
//! same GET is also run closed-loop with it for a cross-check (its numbers suffer from
//! coordinated omission and are labelled as such).
//!
//! The API's per-customer rate limit (1,000 requests/min by default) would answer most of a
//! 2,000 req/s run with 429, which measures the limiter, not the GET. The run's configuration
//! therefore raises `control.rate_api_per_minute` to 100 million: the limiter still runs on
//! every request, it just never empties.
//!
//! Deliberately not done: POST latency (the other half of P5), JWT-authenticated GETs, TLS.

use crate::http_load::{self, LoadConfig, LoadReport};
use ferrovox_testkit::cpu::{CpuTime, tree_cpu};
use ferrovox_testkit::ports::{free_tcp_port, free_udp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Why the REST run failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ferrovox {step} failed: {detail}")]
    Appliance { step: &'static str, detail: String },
    #[error("{request}: {detail}")]
    Api { request: String, detail: String },
    #[error(transparent)]
    Load(#[from] http_load::LoadError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestError {
    let what = what.into();
    move |source| RestError::Io { what, source }
}

/// Where the appliance keeps its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// The in-process cache of the embedded default (`memory://`).
    Embedded,
    /// Redis at `--redis-url` (the dev stack's by default).
    Redis,
}

impl CacheBackend {
    pub fn name(self) -> &'static str {
        match self {
            CacheBackend::Embedded => "embedded",
            CacheBackend::Redis => "redis",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RestConfig {
    pub ferrovox: PathBuf,
    pub caches: Vec<CacheBackend>,
    pub redis_url: String,
    pub rates: Vec<u32>,
    pub duration: Duration,
    pub connections: usize,
    /// Also run `wrk` (closed loop) when it is installed.
    pub wrk: bool,
    pub work_dir: PathBuf,
    /// Nice value for the appliance (and, set by the caller, the generator); 0: unchanged.
    /// On a shared box other people's builds otherwise preempt both for milliseconds, which
    /// is exactly the scale of a p99 target.
    pub nice: i32,
}

/// One open-loop run and the appliance's CPU over it.
#[derive(Debug, Clone, Serialize)]
pub struct RestPoint {
    pub cache: CacheBackend,
    pub load: LoadReport,
    pub appliance_cpu: CpuTime,
    /// Appliance CPU per answered request, µs.
    pub appliance_cpu_us_per_request: f64,
}

/// wrk's closed-loop figures for the same GET.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WrkResult {
    pub cache: CacheBackend,
    pub command: String,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
}

/// The whole P5 run.
#[derive(Debug, Clone, Serialize)]
pub struct RestReport {
    pub ferrovox: String,
    pub path: String,
    pub points: Vec<RestPoint>,
    pub wrk: Vec<WrkResult>,
    /// Backends that could not be measured, and why.
    pub skipped: Vec<(CacheBackend, String)>,
}

/// A started appliance on free ports; killed on drop.
struct Appliance {
    child: ChildGuard,
    base: String,
    key: String,
}

fn run_migrate(ferrovox: &Path, config: &Path, data_dir: &Path) -> Result<(), RestError> {
    let output = Command::new(ferrovox)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("migrate")
        .env_remove("FERROVOX_CONFIG")
        .output()
        .map_err(io(format!("running {} migrate", ferrovox.display())))?;
    if !output.status.success() {
        return Err(RestError::Appliance {
            step: "migrate",
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}

async fn start_appliance(
    config: &RestConfig,
    cache: CacheBackend,
    dir: &Path,
) -> Result<Appliance, RestError> {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
    let cache_url = match cache {
        CacheBackend::Embedded => "memory://",
        CacheBackend::Redis => config.redis_url.as_str(),
    };
    let config_file = dir.join("ferrovox.toml");
    std::fs::write(
        &config_file,
        format!("[control]\nrate_api_per_minute = 100000000\n\n[cache]\nurl = \"{cache_url}\"\n"),
    )
    .map_err(io(format!("writing {}", config_file.display())))?;
    run_migrate(&config.ferrovox, &config_file, &data_dir)?;
    let listen = loopback(free_tcp_port());
    let log = dir.join("ferrovox.log");
    let log_file =
        std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
    let mut command = if config.nice != 0 {
        let mut nice = Command::new("nice");
        nice.arg("-n")
            .arg(config.nice.to_string())
            .arg(&config.ferrovox);
        nice
    } else {
        Command::new(&config.ferrovox)
    };
    command
        .arg("--config")
        .arg(&config_file)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--log-level", "warn", "up", "--listen"])
        .arg(listen.to_string())
        .arg("--admin")
        .arg(loopback(free_tcp_port()).to_string())
        .arg("--ng")
        .arg(loopback(free_udp_port()).to_string())
        .args(["--sip", "off"])
        .env_remove("FERROVOX_CONFIG")
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(io("duplicating the log file"))?,
        )
        .stderr(log_file);
    for (name, _) in std::env::vars() {
        if name.starts_with("FERROVOX_") {
            command.env_remove(name);
        }
    }
    let child = ChildGuard::new(
        "ferrovox",
        command
            .spawn()
            .map_err(io(format!("starting {}", config.ferrovox.display())))?,
    );
    let base = format!("http://{listen}");
    let log_tail = || std::fs::read_to_string(&log).unwrap_or_default();
    ferrovox_testkit::wait::http_status(&format!("{base}/ready"), 200, Duration::from_secs(30))
        .await
        .map_err(|error| RestError::Appliance {
            step: "up",
            detail: format!("{error}; log:\n{}", log_tail()),
        })?;
    let key_file = data_dir.join("admin-accesskey");
    let key = std::fs::read_to_string(&key_file)
        .map_err(io(format!("reading {}", key_file.display())))?
        .trim()
        .to_owned();
    Ok(Appliance { child, base, key })
}

/// Creates a number and returns its resource path.
async fn create_number(appliance: &Appliance) -> Result<String, RestError> {
    let client = reqwest::Client::new();
    let request = format!("POST {}/v1.0/numbers", appliance.base);
    let api = |detail: String| RestError::Api {
        request: request.clone(),
        detail,
    };
    let response = client
        .post(format!("{}/v1.0/numbers", appliance.base))
        .header("Authorization", format!("AccessKey {}", appliance.key))
        .json(&serde_json::json!({"number": "+15551230000"}))
        .send()
        .await
        .map_err(|e| api(e.to_string()))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| api(e.to_string()))?;
    if !status.is_success() {
        return Err(api(format!("{status}: {body}")));
    }
    let id = body
        .get("id")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| api(format!("no id in {body}")))?;
    Ok(format!("/v1.0/numbers/{id}"))
}

/// GETs `url` until it answers 200 (the first read fills the cache), then a few more times.
async fn warm(url: &str, key: &str) -> Result<(), RestError> {
    let client = reqwest::Client::new();
    for _ in 0..50 {
        let response = client
            .get(url)
            .header("Authorization", format!("AccessKey {key}"))
            .send()
            .await
            .map_err(|e| RestError::Api {
                request: format!("GET {url}"),
                detail: e.to_string(),
            })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(RestError::Api {
                request: format!("GET {url}"),
                detail: format!("status {}", response.status()),
            });
        }
    }
    Ok(())
}

/// Runs wrk (closed loop) against `url`; `None` when wrk is not installed.
pub fn run_wrk(
    url: &str,
    header: &str,
    connections: usize,
    duration: Duration,
) -> Option<Result<(String, WrkParsed), String>> {
    let args = [
        "-t1".to_owned(),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs().max(1)),
        "--latency".to_owned(),
        "-H".to_owned(),
        header.to_owned(),
        url.to_owned(),
    ];
    let output = match Command::new("wrk").args(&args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("running wrk: {e}"))),
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.starts_with("Authorization") {
                "'Authorization: AccessKey …'".to_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    let command = format!("wrk {}", shown.join(" "));
    Some(
        WrkParsed::parse(&text)
            .map(|parsed| (command, parsed))
            .ok_or_else(|| format!("unreadable wrk output:\n{text}")),
    )
}

/// The figures read from wrk's `--latency` output.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkParsed {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
}

impl WrkParsed {
    /// Reads `Requests/sec:`, the latency distribution lines (`50%  1.23ms`) and
    /// `Non-2xx or 3xx responses:`.
    pub fn parse(text: &str) -> Option<Self> {
        let duration_ms = |value: &str| -> Option<f64> {
            let number_end = value
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(value.len());
            let number: f64 = value[..number_end].parse().ok()?;
            let scale = match &value[number_end..] {
                "us" => 0.001,
                "ms" => 1.0,
                "s" => 1000.0,
                "m" => 60_000.0,
                _ => return None,
            };
            Some(number * scale)
        };
        let mut parsed = Self {
            requests_per_second: f64::NAN,
            p50_ms: f64::NAN,
            p90_ms: f64::NAN,
            p99_ms: f64::NAN,
            non_2xx: 0,
        };
        for line in text.lines().map(str::trim) {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next()) {
                (Some("Requests/sec:"), Some(value)) => {
                    parsed.requests_per_second = value.parse().ok()?;
                }
                (Some("50%"), Some(value)) => parsed.p50_ms = duration_ms(value)?,
                (Some("90%"), Some(value)) => parsed.p90_ms = duration_ms(value)?,
                (Some("99%"), Some(value)) => parsed.p99_ms = duration_ms(value)?,
                _ if line.starts_with("Non-2xx or 3xx responses:") => {
                    parsed.non_2xx = line.rsplit(' ').next()?.parse().ok()?;
                }
                _ => {}
            }
        }
        [
            parsed.requests_per_second,
            parsed.p50_ms,
            parsed.p90_ms,
            parsed.p99_ms,
        ]
        .iter()
        .all(|v| v.is_finite())
        .then_some(parsed)
    }
}

/// Measures one backend: start, create, warm, every rate, wrk.
fn measure_backend(
    config: &RestConfig,
    cache: CacheBackend,
    report: &mut RestReport,
) -> Result<(), RestError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("starting a runtime"))?;
    let dir = config.work_dir.join(cache.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let appliance = runtime.block_on(start_appliance(config, cache, &dir))?;
    let path = runtime.block_on(create_number(&appliance))?;
    let url = format!("{}{path}", appliance.base);
    runtime.block_on(warm(&url, &appliance.key))?;
    report.path = "/v1.0/numbers/{id}".into();
    let header = format!("Authorization: AccessKey {}", appliance.key);
    let pid = appliance.child.id().unwrap_or_default();
    for &rate in &config.rates {
        tracing::info!(cache = cache.name(), rate, "open-loop GET");
        let before = tree_cpu(pid).unwrap_or_default();
        let load = http_load::run(&LoadConfig {
            url: url.clone(),
            headers: vec![header.clone()],
            rate,
            duration: config.duration,
            connections: config.connections,
            drain: Duration::from_secs(2),
        })?;
        let cpu = tree_cpu(pid)
            .map_err(|e| RestError::Appliance {
                step: "up",
                detail: format!("stopped during the run: {e}"),
            })?
            .since(before);
        tracing::info!("{}", load.summary());
        report.points.push(RestPoint {
            cache,
            appliance_cpu_us_per_request: cpu.total_us() as f64 / load.ok.max(1) as f64,
            appliance_cpu: cpu,
            load,
        });
        std::thread::sleep(Duration::from_secs(1));
    }
    if config.wrk {
        match run_wrk(&url, &header, config.connections, config.duration) {
            None => tracing::warn!("wrk is not installed (apt-get install wrk); no cross-check"),
            Some(Err(error)) => tracing::warn!("{error}"),
            Some(Ok((command, parsed))) => report.wrk.push(WrkResult {
                cache,
                command,
                requests_per_second: parsed.requests_per_second,
                p50_ms: parsed.p50_ms,
                p90_ms: parsed.p90_ms,
                p99_ms: parsed.p99_ms,
                non_2xx: parsed.non_2xx,
            }),
        }
    }
    drop(appliance);
    Ok(())
}

/// Runs every backend; a backend that fails is recorded as skipped, the others still run.
pub fn run(config: &RestConfig) -> RestReport {
    let mut report = RestReport {
        ferrovox: config.ferrovox.display().to_string(),
        path: String::new(),
        points: Vec::new(),
        wrk: Vec::new(),
        skipped: Vec::new(),
    };
    for &cache in &config.caches {
        if let Err(error) = measure_backend(config, cache, &mut report) {
            tracing::warn!(cache = cache.name(), "{error}");
            report.skipped.push((cache, error.to_string()));
        }
    }
    report
}

impl RestReport {
    /// The figures as a markdown table, then wrk's and the skipped backends.
    pub fn markdown(&self) -> String {
        let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
        let mut out = String::from(
            "| cache | rate (req/s) | conns | achieved (req/s) | errors | unfinished | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | service p99 ms | appliance µs CPU/req | generator cores |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for p in &self.points {
            let l = &p.load;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} |",
                p.cache.name(),
                l.target_rate,
                l.connections,
                l.achieved_rate,
                l.http_errors + l.io_errors,
                l.unfinished,
                ms(l.latency.p50_us),
                ms(l.latency.p90_us),
                ms(l.latency.p99_us),
                ms(l.latency.p999_us),
                ms(l.latency.max_us),
                ms(l.service.p99_us),
                p.appliance_cpu_us_per_request,
                l.generator_cpu_cores,
            );
        }
        if !self.wrk.is_empty() {
            out.push_str(
                "\nwrk (closed loop, as fast as the connections go; latency hides coordinated omission):\n\n\
                 | cache | req/s | p50 ms | p90 ms | p99 ms | non-2xx | command |\n|---|---:|---:|---:|---:|---:|---|\n",
            );
            for w in &self.wrk {
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | `{}` |",
                    w.cache.name(),
                    w.requests_per_second,
                    w.p50_ms,
                    w.p90_ms,
                    w.p99_ms,
                    w.non_2xx,
                    w.command
                );
            }
        }
        for (cache, why) in &self.skipped {
            let _ = writeln!(out, "\n{} not measured: {why}", cache.name());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 10s test @ http://127.0.0.1:8080/v1.0/numbers/x
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   412.33us  201.10us   9.87ms   91.20%
    Req/Sec    19.50k     1.02k   21.00k    70.00%
  Latency Distribution
     50%  380.00us
     75%  450.00us
     90%  560.00us
     99%    1.21ms
  194000 requests in 10.00s, 60.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  19400.12
Transfer/sec:      6.00MB
";

    #[test]
    fn reads_wrk_latency_distribution_and_rate() {
        let parsed = WrkParsed::parse(WRK).unwrap();
        assert!((parsed.requests_per_second - 19400.12).abs() < 1e-6);
        assert!((parsed.p50_ms - 0.38).abs() < 1e-9);
        assert!((parsed.p90_ms - 0.56).abs() < 1e-9);
        assert!((parsed.p99_ms - 1.21).abs() < 1e-9);
        assert_eq!(parsed.non_2xx, 3);
    }

    #[test]
    fn wrk_output_without_a_distribution_is_refused() {
        assert_eq!(WrkParsed::parse("Requests/sec: 10\n"), None);
        assert_eq!(
            WrkParsed::parse(&WRK.replace("99%    1.21ms", "99%    1.21xs")),
            None
        );
    }
}
