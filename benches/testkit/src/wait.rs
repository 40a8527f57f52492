//! Readiness waits with a deadline: never sleep a fixed time and hope.

use crate::HarnessError;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` until it returns `Some`, or fails after `timeout`.
pub async fn until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if start.elapsed() >= timeout {
            return Err(HarnessError::Timeout {
                what: what.to_owned(),
                seconds: timeout.as_secs_f64(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn tcp_listening(addr: SocketAddr, timeout: Duration) -> Result<(), HarnessError> {
    until(&format!("TCP {addr}"), timeout, || async move {
        tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
    })
    .await
}

/// Waits until `GET url` answers with `status`; returns the body.
pub async fn http_status(
    url: &str,
    status: u16,
    timeout: Duration,
) -> Result<String, HarnessError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| HarnessError::Failed(format!("http client: {e}")))?;
    until(&format!("GET {url} -> {status}"), timeout, || {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.ok()?;
            if response.status().as_u16() == status {
                response.text().await.ok()
            } else {
                None
            }
        }
    })
    .await
}

/// One `GET url`: its status and body.
pub async fn http_get(url: &str) -> Result<(u16, String), HarnessError> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| HarnessError::Failed(format!("GET {url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| HarnessError::Failed(format!("GET {url} body: {e}")))?;
    Ok((status, body))
}
