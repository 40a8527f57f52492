//! A measurement, not a check (`cargo test -p ferrovox-runtime --test
//! throughput -- --ignored --nocapture`): one client keeps a window of
//! requests in flight against an echo core and reports messages per
//! second, system calls and loop iterations per message for each backend.
//! Debug builds measure the runtime's syscall economy, not its CPU cost.

#[path = "support/echo.rs"]
mod echo;

use echo::{echo_client, echo_runtime, exchange};
use ferrovox_runtime::Backend;
use std::time::{Duration, Instant};

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn echo_throughput_and_syscalls_per_message() {
    const MESSAGES: usize = 200_000;
    for window in [1usize, 64, 256] {
        for backend in [Backend::IoUring, Backend::Portable] {
            let (rt, server) = echo_runtime(backend);
            let c = echo_client();
            let started = Instant::now();
            exchange(&c, server, window, MESSAGES);
            let elapsed = started.elapsed();
            std::thread::sleep(Duration::from_millis(1200));
            let s = rt.stats();
            eprintln!(
                "{backend:>8} window {window:>3}: {:>7.0} msg/s, {:.3} syscalls/msg, {:.2} msg/iteration, dropped {}",
                MESSAGES as f64 / elapsed.as_secs_f64(),
                s.syscalls as f64 / s.rx_messages as f64,
                s.rx_messages as f64 / s.batches.max(1) as f64,
                s.dropped
            );
            rt.shutdown().expect("shutdown");
        }
    }
}
