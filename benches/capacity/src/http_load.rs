//! Open-loop HTTP load: GET one URL at a fixed rate over keep-alive HTTP/1.1 connections and
//! measure latency **from the time each request was scheduled**, not from when it left.
//!
//! Why open loop: a closed-loop tool (wrk, ab) sends the next request only when the previous
//! one is answered, so while the server stalls it stops asking, and the stall shows up as one
//! slow sample instead of the hundreds of requests that would have waited in a real client
//! population ("coordinated omission"). Here request *i* is due at `start + i / rate` whatever
//! happened before; if its connection is still busy it queues, and that wait counts.
//!
//! How: one scheduler thread sleeps (with a tightened timer slack) until each due time and
//! hands the request to connection `i mod N` over a channel; each connection is a tokio task
//! owning one HTTP/1.1 keep-alive connection (hyper's low-level client, no pool, no
//! pipelining), so a connection carries `rate / N` requests per second on its own schedule,
//! as wrk2 does. A connection that fails is re-opened for its next request; the failed
//! request counts as an error. At the end the runner waits `drain` for outstanding answers;
//! requests still queued or in flight then count as unfinished, so
//! `ok + http_errors + io_errors + unfinished == scheduled` always holds.
//!
//! Reported: achieved rate (answers with a 2xx per second of schedule), errors by kind,
//! latency from the schedule at p50/p90/p99/p99.9/max (exact: every sample is kept), the
//! service time alone (from the moment the request was written) and how late the scheduler
//! itself handed requests over, so a slow generator is told from a slow server.
//!
//! Deliberately not done: HTTP/2, TLS, request bodies, pipelining, several URLs.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid header {header:?}: expected `Name: value`")]
    Header { header: String },
    #[error("rate, duration and connections must be positive")]
    Shape,
    #[error("resolving {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the client runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("first connection to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://host:port/path?query`.
    pub url: String,
    /// Extra request headers as `Name: value`.
    pub headers: Vec<String>,
    /// Requests per second.
    pub rate: u32,
    pub duration: Duration,
    /// Keep-alive connections the requests are spread over.
    pub connections: usize,
    /// How long to wait for outstanding answers after the last request is due.
    pub drain: Duration,
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` as written (for the Host header).
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let bad = |reason: &str| LoadError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| bad("port is not a number from 1 to 65535"))?,
            ),
            _ => (authority, 80),
        };
        if port == 0 {
            return Err(bad("port 0"));
        }
        Ok(Self {
            authority: authority.to_owned(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path,
        })
    }
}

fn parse_header(
    header: &str,
) -> Result<(hyper::header::HeaderName, hyper::header::HeaderValue), LoadError> {
    let bad = || LoadError::Header {
        header: header.to_owned(),
    };
    let (name, value) = header.split_once(':').ok_or_else(bad)?;
    let name = hyper::header::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = hyper::header::HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let rank = |q: f64| {
            let index = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index]
        };
        Self {
            p50_us: rank(0.50),
            p90_us: rank(0.90),
            p99_us: rank(0.99),
            p999_us: rank(0.999),
            max_us: samples[samples.len() - 1],
            mean_us: samples.iter().sum::<u64>() as f64 / samples.len() as f64,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub url: String,
    pub target_rate: u32,
    pub duration_s: f64,
    pub connections: usize,
    /// Requests due over the run (`rate × duration`).
    pub scheduled: u64,
    /// Answered with a 2xx status.
    pub ok: u64,
    /// Answered with another status.
    pub http_errors: u64,
    /// Connection, write or read failures.
    pub io_errors: u64,
    /// Still queued or in flight when the drain period ended.
    pub unfinished: u64,
    /// Answers by status code.
    pub statuses: Vec<(u16, u64)>,
    /// Connections opened (more than `connections` means some were re-opened).
    pub connects: u64,
    /// 2xx answers per second of schedule.
    pub achieved_rate: f64,
    /// From the scheduled time to the end of the answer (2xx only): what a client sees.
    pub latency: Percentiles,
    /// From writing the request to the end of the answer (2xx only): the server alone.
    pub service: Percentiles,
    /// How late the scheduler handed requests to their connection (all requests).
    pub dispatch_lateness: Percentiles,
    /// The generator's own CPU over the run, in cores.
    pub generator_cpu_cores: f64,
}

impl LoadReport {
    /// Two human-readable lines.
    pub fn summary(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "{} req/s for {:.0} s over {} connections: {} scheduled, {} ok ({:.1}/s), {} HTTP errors, {} IO errors, {} unfinished\n\
             latency from schedule p50 {:.2} ms, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}; service p50 {:.2} ms, p99 {:.2}; dispatch late p99 {:.2} ms; generator {:.2} cores",
            self.target_rate,
            self.duration_s,
            self.connections,
            self.scheduled,
            self.ok,
            self.achieved_rate,
            self.http_errors,
            self.io_errors,
            self.unfinished,
            ms(self.latency.p50_us),
            ms(self.latency.p90_us),
            ms(self.latency.p99_us),
            ms(self.latency.p999_us),
            ms(self.latency.max_us),
            ms(self.service.p50_us),
            ms(self.service.p99_us),
            ms(self.dispatch_lateness.p99_us),
            self.generator_cpu_cores,
        )
    }
}

/// One request handed to a connection: when it was due and when it was handed over.
struct Due {
    scheduled: Instant,
    dispatched: Instant,
}

#[derive(Default)]
struct ConnectionResult {
    latency_us: Vec<u64>,
    service_us: Vec<u64>,
    dispatch_us: Vec<u64>,
    statuses: std::collections::BTreeMap<u16, u64>,
    http_errors: u64,
    io_errors: u64,
    connects: u64,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    // The connection future drives the socket; it ends when the sender is dropped or the
    // peer closes, and its error (if any) also surfaces on the next send.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn connection_task(
    addr: SocketAddr,
    request: hyper::Request<Empty<Bytes>>,
    mut due: mpsc::UnboundedReceiver<Due>,
    deadline: Instant,
) -> ConnectionResult {
    let mut result = ConnectionResult::default();
    let mut sender: Option<Sender> = None;
    let deadline = tokio::time::Instant::from_std(deadline);
    while let Some(next) = due.recv().await {
        if tokio::time::Instant::now() >= deadline {
            // Past the drain period: this and every request still queued are unfinished.
            break;
        }
        result
            .dispatch_us
            .push(next.dispatched.duration_since(next.scheduled).as_micros() as u64);
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = match connect(addr).await {
                Ok(s) => {
                    result.connects += 1;
                    Some(s)
                }
                Err(error) => {
                    tracing::debug!(%error, "connect failed");
                    result.io_errors += 1;
                    continue;
                }
            };
        }
        let Some(live) = sender.as_mut() else {
            continue;
        };
        if live.ready().await.is_err() {
            result.io_errors += 1;
            sender = None;
            continue;
        }
        let written = Instant::now();
        let mut copy = hyper::Request::new(Empty::new());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        let exchange = async {
            let response = live.send_request(copy).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        };
        let Ok(answer) = tokio::time::timeout_at(deadline, exchange).await else {
            break; // still unanswered at the deadline: unfinished
        };
        let done = Instant::now();
        match answer {
            Ok(status) => {
                *result.statuses.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    result
                        .latency_us
                        .push(done.duration_since(next.scheduled).as_micros() as u64);
                    result
                        .service_us
                        .push(done.duration_since(written).as_micros() as u64);
                } else {
                    result.http_errors += 1;
                }
            }
            Err(error) => {
                tracing::debug!(%error, "request failed");
                result.io_errors += 1;
                sender = None;
            }
        }
    }
    result
}

/// Runs the load and reports; blocks the calling thread (it becomes the scheduler).
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.rate == 0 || config.duration.is_zero() || config.connections == 0 {
        return Err(LoadError::Shape);
    }
    let target = Target::parse(&config.url)?;
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(target.host.as_str(), target.port))
        .map_err(|source| LoadError::Resolve {
            host: target.host.clone(),
            source,
        })?
        .next()
        .ok_or_else(|| LoadError::Resolve {
            host: target.host.clone(),
            source: std::io::Error::other("no address"),
        })?;
    let mut request = hyper::Request::new(Empty::<Bytes>::new());
    *request.uri_mut() = target.path.parse().map_err(|_| LoadError::Url {
        url: config.url.clone(),
        reason: "path is not a valid request target".into(),
    })?;
    let headers = request.headers_mut();
    headers.insert(
        hyper::header::HOST,
        hyper::header::HeaderValue::from_str(&target.authority).map_err(|_| LoadError::Url {
            url: config.url.clone(),
            reason: "host is not a valid header value".into(),
        })?,
    );
    for header in &config.headers {
        let (name, value) = parse_header(header)?;
        headers.append(name, value);
    }

    // One worker: on a 2-core box the server under test needs the other core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    // Fail fast on a wrong address instead of reporting a run of connect errors.
    runtime
        .block_on(tokio::net::TcpStream::connect(addr))
        .map_err(|source| LoadError::Connect { addr, source })?;

    let start = Instant::now() + Duration::from_millis(10);
    let deadline = start + config.duration + config.drain;
    let mut queues = Vec::with_capacity(config.connections);
    let mut tasks = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let (tx, rx) = mpsc::unbounded_channel();
        queues.push(tx);
        tasks.push(runtime.spawn(connection_task(addr, request.clone(), rx, deadline)));
    }

    let scheduled = (f64::from(config.rate) * config.duration.as_secs_f64()).round() as u64;
    let interval_ns = 1e9 / f64::from(config.rate);
    tighten_timer_slack();
    let cpu_before = ferrovox_testkit::cpu::own_cpu();
    for i in 0..scheduled {
        let due = start + Duration::from_nanos((i as f64 * interval_ns) as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let dispatched = Instant::now();
        // A closed queue means its task ended early (it cannot before the cut-off).
        let _ = queues[(i % config.connections as u64) as usize].send(Due {
            scheduled: due,
            dispatched,
        });
    }
    drop(queues);
    let mut merged = ConnectionResult::default();
    for task in tasks {
        // Every task ends by the deadline (its exchange is bounded by it); a panicked one
        // loses its samples, which then count as unfinished.
        if let Ok(result) = runtime.block_on(task) {
            merged.latency_us.extend(result.latency_us);
            merged.service_us.extend(result.service_us);
            merged.dispatch_us.extend(result.dispatch_us);
            for (status, count) in result.statuses {
                *merged.statuses.entry(status).or_default() += count;
            }
            merged.http_errors += result.http_errors;
            merged.io_errors += result.io_errors;
            merged.connects += result.connects;
        }
    }
    let cpu = ferrovox_testkit::cpu::own_cpu().since(cpu_before);
    let elapsed = Instant::now().duration_since(start);
    runtime.shutdown_background();

    let ok = merged.latency_us.len() as u64;
    let finished = ok + merged.http_errors + merged.io_errors;
    Ok(LoadReport {
        url: config.url.clone(),
        target_rate: config.rate,
        duration_s: config.duration.as_secs_f64(),
        connections: config.connections,
        scheduled,
        ok,
        http_errors: merged.http_errors,
        io_errors: merged.io_errors,
        unfinished: scheduled.saturating_sub(finished),
        statuses: merged.statuses.into_iter().collect(),
        connects: merged.connects,
        achieved_rate: ok as f64 / config.duration.as_secs_f64(),
        latency: Percentiles::of(&mut merged.latency_us),
        service: Percentiles::of(&mut merged.service_us),
        dispatch_lateness: Percentiles::of(&mut merged.dispatch_us),
        generator_cpu_cores: cpu.total_us() as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9),
    })
}

/// Wake-ups of `nanosleep` are otherwise rounded up by 50 µs of default slack.
fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_with_and_without_port_and_path() {
        let t = Target::parse("http://127.0.0.1:8080/v1.0/numbers/x?a=1").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.path.as_str(),
                t.authority.as_str()
            ),
            ("127.0.0.1", 8080, "/v1.0/numbers/x?a=1", "127.0.0.1:8080")
        );
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = Target::parse("http://[::1]:9000?x").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9000, "/?x")
        );
        for bad in [
            "https://a/",
            "http://",
            "http://a:0/",
            "http://a:x/",
            "ftp://a",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_need_a_name_and_a_colon() {
        let (name, value) = parse_header("Authorization: AccessKey ak_1").unwrap();
        assert_eq!(name.as_str(), "authorization");
        assert_eq!(value.to_str().unwrap(), "AccessKey ak_1");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": empty name").is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!(
            (p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us),
            (500, 900, 990, 999, 1000)
        );
        assert!((p.mean_us - 500.5).abs() < 1e-9);
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
