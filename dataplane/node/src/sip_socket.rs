//! The node's SIP sockets (UDP and TCP on one address): read, ask [`crate::sip_edge`], write.
//!
//! TCP messages are framed by Content-Length ([`ferrovox_sip::frame_len`]); answers go back on
//! the connection the request came on. A connection that sends an unframeable message or more
//! than [`MAX_MESSAGE`] bytes without completing one is closed.

use crate::sip_edge::{self, Verdict};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

/// Largest SIP message accepted (UDP's maximum; far above any real request).
const MAX_MESSAGE: usize = 65_536;

fn record(transport: &'static str, verdict: &Verdict) {
    match verdict {
        Verdict::Respond { code, method } => {
            metrics::counter!("ferrovox_sip_responses_total", "transport" => transport, "method" => method.clone(), "code" => code.to_string())
                .increment(1);
        }
        Verdict::Pong => metrics::counter!("ferrovox_sip_keepalives_total", "transport" => transport).increment(1),
        Verdict::Drop { why } => {
            metrics::counter!("ferrovox_sip_dropped_total", "transport" => transport, "reason" => *why).increment(1)
        }
    }
}

pub(crate) async fn run_udp(
    socket: UdpSocket,
    salt: u64,
    mut stop: watch::Receiver<bool>,
    alive: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let mut out = Vec::with_capacity(2048);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            received = socket.recv_from(&mut buffer) => {
                let Ok((length, peer)) = received else { continue };
                let verdict = sip_edge::answer(&buffer[..length], salt, &mut out);
                record("udp", &verdict);
                let reply: &[u8] = match verdict {
                    Verdict::Respond { .. } => &out,
                    Verdict::Pong => b"\r\n",
                    Verdict::Drop { .. } => continue,
                };
                if let Err(error) = socket.send_to(reply, peer).await {
                    tracing::debug!(%error, %peer, "SIP reply not sent");
                }
            }
        }
    }
    alive.store(false, Ordering::Relaxed);
}

pub(crate) async fn run_tcp(
    listener: TcpListener,
    salt: u64,
    mut stop: watch::Receiver<bool>,
    alive: Arc<AtomicBool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, salt, stop.clone()));
                }
                Err(error) => tracing::warn!(%error, "SIP TCP accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    alive.store(false, Ordering::Relaxed);
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    salt: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16_384];
    let mut out = Vec::with_capacity(2048);
    loop {
        // Answer every complete message already buffered.
        loop {
            let keepalive = ferrovox_sip::leading_keepalive(&buffer);
            if keepalive == buffer.len() && keepalive > 0 {
                if keepalive >= 4 {
                    record("tcp", &Verdict::Pong);
                    if stream.write_all(b"\r\n").await.is_err() {
                        return;
                    }
                }
                buffer.clear();
                break;
            }
            match ferrovox_sip::frame_len(&buffer) {
                Ok(Some(length)) => {
                    let message = &buffer[keepalive..length];
                    let verdict = sip_edge::answer(message, salt, &mut out);
                    record("tcp", &verdict);
                    if matches!(verdict, Verdict::Respond { .. })
                        && stream.write_all(&out).await.is_err()
                    {
                        return;
                    }
                    buffer.drain(..length);
                }
                Ok(None) if buffer.len() > MAX_MESSAGE => {
                    tracing::debug!(%peer, "SIP TCP message too large; closing");
                    return;
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%peer, %error, "unframeable SIP over TCP; closing");
                    record("tcp", &Verdict::Drop { why: "unframeable" });
                    return;
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            },
        }
    }
}
