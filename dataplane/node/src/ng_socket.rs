//! The ng control socket: reads datagrams, runs their commands on the media cores
//! ([`crate::media_cores`]) and sends the replies, counting each result.
//!
//! Commands are handled one at a time in arrival order: a signalling proxy waits for the
//! reply to its offer before it sends the answer, and a command takes a core only between
//! two batches of packets (tens of microseconds), so one task keeps up with call setup
//! rates far above what the relay's packet capacity allows.

use crate::media_cores::MediaCores;
use crate::ng::{self, Framing};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// ng messages carry whole SDP bodies; 64 KiB is the UDP maximum.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// Answers ng datagrams on `socket` until `stop` changes; `alive` goes false when it ends.
pub(crate) async fn serve(
    socket: UdpSocket,
    cores: Arc<MediaCores>,
    mut stop: watch::Receiver<bool>,
    alive: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = stop.changed() => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (length, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from earlier replies surface here; they do not end the socket.
                tracing::debug!(%error, "ng receive error");
                continue;
            }
        };
        let Some((framing, decoded)) = Framing::decode(&buffer[..length]) else {
            metrics::counter!("ferrovox_ng_dropped_total").increment(1);
            tracing::debug!(%peer, "ng datagram without cookie dropped");
            continue;
        };
        let (command, reply) = match decoded {
            Ok((command, message)) => {
                let reply = cores.execute(command.clone(), message).await;
                (command, reply)
            }
            Err(reply) => ("invalid".to_owned(), reply),
        };
        let result = if ng::is_ok(&reply) { "ok" } else { "error" };
        metrics::counter!("ferrovox_ng_commands_total", "command" => command, "result" => result)
            .increment(1);
        if let Err(error) = socket.send_to(&framing.encode(&reply), peer).await {
            tracing::debug!(%error, %peer, "ng reply not sent");
        }
    }
    alive.store(false, Ordering::Relaxed);
}
