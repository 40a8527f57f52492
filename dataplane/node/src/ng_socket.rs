//! The ng control socket's per-datagram step: lets [`crate::ng`] decide, counts the result.
//! The socket itself is read by the media task ([`crate::media_socket`]), which owns the
//! relay the commands act on.

use crate::ng::{self, Commands};
use std::net::SocketAddr;
use std::time::Instant;

/// ng messages carry whole SDP bodies; 64 KiB is the UDP maximum.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// The reply datagram for `datagram`, or `None` when it has no cookie to answer to.
pub(crate) fn reply(
    datagram: &[u8],
    peer: SocketAddr,
    commands: &mut impl Commands,
    now: Instant,
) -> Option<Vec<u8>> {
    let Some(answered) = ng::answer(datagram, commands, now) else {
        metrics::counter!("ferrovox_ng_dropped_total").increment(1);
        tracing::debug!(%peer, "ng datagram without cookie dropped");
        return None;
    };
    let command = answered.command.unwrap_or_else(|| "invalid".to_owned());
    let result = if answered.ok { "ok" } else { "error" };
    metrics::counter!("ferrovox_ng_commands_total", "command" => command, "result" => result)
        .increment(1);
    Some(answered.reply)
}
