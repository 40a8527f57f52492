//! The ng control socket: receives datagrams, lets [`crate::ng`] decide, sends replies.

use crate::ng::{self, BaseCommands};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// ng messages carry whole SDP bodies; 64 KiB is the UDP maximum.
const MAX_DATAGRAM: usize = 65_536;

pub(crate) async fn run(
    socket: UdpSocket,
    mut stop: watch::Receiver<bool>,
    alive: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let mut commands = BaseCommands;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            received = socket.recv_from(&mut buffer) => {
                let (length, peer) = match received {
                    Ok(received) => received,
                    Err(error) => {
                        // ICMP errors from earlier replies surface here; they do not end the socket.
                        tracing::debug!(%error, "ng receive error");
                        continue;
                    }
                };
                let Some(answered) = ng::answer(&buffer[..length], &mut commands) else {
                    metrics::counter!("ferrovox_ng_dropped_total").increment(1);
                    tracing::debug!(%peer, "ng datagram without cookie dropped");
                    continue;
                };
                let command = answered.command.unwrap_or_else(|| "invalid".to_owned());
                let result = if answered.ok { "ok" } else { "error" };
                metrics::counter!("ferrovox_ng_commands_total", "command" => command, "result" => result)
                    .increment(1);
                if let Err(error) = socket.send_to(&answered.reply, peer).await {
                    tracing::debug!(%error, %peer, "ng reply not sent");
                }
            }
        }
    }
    alive.store(false, Ordering::Relaxed);
}
