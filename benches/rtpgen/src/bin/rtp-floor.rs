//! `rtp-floor`: the minimal recvmmsg/sendmmsg relay (see `ferrovox_rtpgen::floor`).

use clap::Parser;
use std::net::{SocketAddr, UdpSocket};

/// The floor relay: one media socket, recvmmsg → address map → sendmmsg; answers a minimal
/// ng (ping, offer, answer, delete, statistics) on its control port.
#[derive(Debug, Parser)]
#[command(name = "rtp-floor")]
struct Args {
    /// ng control address (UDP).
    #[arg(long, default_value = "127.0.0.1:2224")]
    ng: SocketAddr,
    /// The single media address advertised for every call.
    #[arg(long, default_value = "127.0.0.1:29000")]
    media: SocketAddr,
    /// Socket buffer size of the media socket, bytes.
    #[arg(long, default_value_t = 4 << 20)]
    socket_buffer: usize,
    /// Fault injection: drop every n-th datagram (0: never).
    #[arg(long, default_value_t = 0)]
    drop_every: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let media = UdpSocket::bind(args.media)?;
    let ng = UdpSocket::bind(args.ng)?;
    eprintln!(
        "rtp-floor: media {} ng {}",
        media.local_addr()?,
        ng.local_addr()?
    );
    ferrovox_rtpgen::floor::serve(media, ng, args.socket_buffer, args.drop_every)?;
    Ok(())
}
