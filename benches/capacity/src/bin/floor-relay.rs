//! `floor-relay --listen 127.0.0.1:5070 --uas 127.0.0.1:5080 [--count-file PATH]`: the minimal
//! UDP relay of [`ferrovox_capacity::floor`]. On SIGTERM or SIGINT it stops, prints
//! `relayed=N dropped=M` and writes the same line to the count file.

use anyhow::{Context, bail};
use clap::Parser;
use ferrovox_capacity::floor::{self, Route};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

#[derive(Debug, Parser)]
#[command(about = "Minimal recvmmsg/sendmmsg UDP relay: the floor for SIP proxy CPU per call")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:5070")]
    listen: SocketAddr,
    /// Datagrams from this address go to the UAC; all others go here.
    #[arg(long, default_value = "127.0.0.1:5080")]
    uas: SocketAddr,
    /// Where to write `relayed=N dropped=M` on exit.
    #[arg(long)]
    count_file: Option<PathBuf>,
}

/// Installs the stop handler without SA_RESTART, so a blocked recvmmsg returns EINTR.
fn install_stop_handler() -> anyhow::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with an async-signal-safe handler (one atomic store).
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            bail!("sigaction: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (Some(listen), Some(uas)) = (floor::v4(args.listen), floor::v4(args.uas)) else {
        bail!("the floor relay is IPv4 only");
    };
    install_stop_handler()?;
    let socket = floor::bind(listen).with_context(|| format!("binding {listen}"))?;
    let counts = floor::run(&socket, Route::new(uas), &STOP).context("relaying")?;
    let line = counts.to_line();
    print!("{line}");
    if let Some(path) = args.count_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &line).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
