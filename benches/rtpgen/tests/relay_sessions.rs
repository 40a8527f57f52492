//! Short generator sessions against real relays on loopback: the floor relay (this crate's
//! `rtp-floor`), ferrovox's media node (the debug binary: see [`ferrovox_binary`]) and, for
//! transcoding, rtpengine (Debian's rtpengine-daemon, userspace only).

use ferrovox_rtpgen::session::{self, SessionConfig, SessionReport};
use ferrovox_rtpgen::sut::RunningSut;
use ferrovox_rtpgen::transcode::{self, TranscodeConfig, TranscodeError, TranscodeReport};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback UDP port")
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtpgen-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn small_session(ng: SocketAddr, seconds: u64) -> SessionConfig {
    let mut config = SessionConfig::new(ng, 20, 1000);
    config.duration = Duration::from_secs(seconds);
    config.bidirectional = true;
    config.sender_threads = 1;
    config
}

fn start_floor(drop_every: u64) -> (RunningSut, SocketAddr) {
    let ng = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_rtp-floor"));
    command
        .arg("--ng")
        .arg(ng.to_string())
        .arg("--media")
        .arg(format!("127.0.0.1:{}", free_udp_port()))
        .arg("--drop-every")
        .arg(drop_every.to_string());
    let sut = RunningSut::spawn(
        "floor",
        command,
        ng,
        &scratch_dir(&format!("floor{drop_every}")),
    )
    .expect("rtp-floor starts and answers ng");
    (sut, ng)
}

fn assert_clean(report: &SessionReport, expected_sent: u64) {
    let summary = report.summary();
    // Pacing on a loaded machine may lose a packet's worth of schedule at the edges.
    assert!(
        report.sent + 40 >= expected_sent && report.sent <= expected_sent + 40,
        "{summary}"
    );
    assert_eq!(report.lost, 0, "{summary}");
    assert_eq!(report.received, report.sent, "{summary}");
    assert_eq!(report.flows_silent, 0, "{summary}");
    assert_eq!(report.duplicates, 0, "{summary}");
    assert_eq!(report.timestamp_mismatches, 0, "{summary}");
    assert_eq!(report.ssrc_changes, 0, "{summary}");
    assert_eq!(report.unexpected_source, 0, "{summary}");
    assert_eq!(report.misrouted, 0, "{summary}");
    assert_eq!(report.warmup_received, report.warmup_sent, "{summary}");
    // 20 ms packet spacing; a sane relay adds well under a packet time of jitter.
    assert!(report.jitter_ms_p99 < 20.0, "{summary}");
    assert_eq!(report.delete_failures, 0, "{summary}");
}

#[test]
fn the_floor_relays_every_packet_of_every_flow() {
    let (_floor, ng) = start_floor(0);
    let report = session::run(&small_session(ng, 3), None).expect("session runs");
    assert_eq!((report.calls, report.streams), (10, 20));
    assert_clean(&report, 3000);
}

#[test]
fn packets_a_relay_drops_are_reported_as_loss() {
    let (_floor, ng) = start_floor(50);
    let report = session::run(&small_session(ng, 2), None).expect("session runs");
    let summary = report.summary();
    // Every 50th datagram (warm-up ones included) is dropped: about 2% of the measured ones.
    let expected = report.sent / 50;
    assert!(
        report.lost + 3 >= expected && report.lost <= expected + 3,
        "{summary}"
    );
    assert_eq!(report.received + report.lost, report.sent, "{summary}");
    assert!(
        report.sequence_gaps <= report.lost && report.sequence_gaps + 20 >= report.lost,
        "{summary}"
    );
}

/// The ferrovox binary: `FERROVOX_BIN`; else `ferrovox` beside this test's profile
/// directory (what `cargo build -p ferrovox` made in the same target directory — CI builds it
/// first); else a build of it into `<target>/rtpgen-ferrovox`. That last one is a separate
/// target directory on purpose: `cargo test` holds its own target directory's lock while tests
/// run, so a nested build there would wait forever.
fn ferrovox_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FERROVOX_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // <target>/debug/deps/relay_sessions-… → <target>/debug
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps");
    let beside = profile_dir.join("ferrovox");
    if beside.is_file() {
        eprintln!(
            "using {} (set FERROVOX_BIN to choose another)",
            beside.display()
        );
        return beside;
    }
    let target_dir = profile_dir
        .parent()
        .expect("<target>")
        .join("rtpgen-ferrovox");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    eprintln!("building ferrovox into {}", target_dir.display());
    let status = Command::new(cargo)
        .args(["build", "-p", "ferrovox", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p ferrovox failed");
    target_dir.join("debug").join("ferrovox")
}

#[test]
fn ferrovox_media_node_relays_without_loss_or_rewriting_errors() {
    let binary = ferrovox_binary();
    let ng = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    // Above the ephemeral range (32768–60999) so no client socket takes a relay port.
    let first = 61_000 + (std::process::id() % 40) * 100;
    let work = scratch_dir("ferrovox");
    let mut command = Command::new(&binary);
    command
        .arg("--data-dir")
        .arg(work.join("data"))
        .args(["--log-level", "warn", "media", "--ng", &ng.to_string()])
        .args([
            "--interface",
            "127.0.0.1",
            "--sip",
            "off",
            "--admin",
            "127.0.0.1:0",
        ])
        .arg("--rtp-ports")
        .arg(format!("{first}-{}", first + 99));
    let _node = RunningSut::spawn("ferrovox", command, ng, &work)
        .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()));
    let report = session::run(&small_session(ng, 3), None).expect("session runs");
    assert_clean(&report, 3000);
}

fn short_transcoding(ng: SocketAddr) -> TranscodeConfig {
    let mut config = TranscodeConfig::new(ng, 5);
    config.duration = Duration::from_secs(3);
    config.warmup = Duration::from_secs(1);
    config
}

/// Both directions carried every packet in the other codec, one SSRC and sequence space each.
fn assert_transcoded(report: &TranscodeReport) {
    let summary = report.summary();
    assert_ne!(report.opus_payload_type, 0, "{summary}");
    for d in [&report.a_to_b, &report.b_to_a] {
        // 5 calls × 50 packets/s × 3 s, give or take a packet per stream at the edges.
        assert!((745..=755).contains(&d.sent), "{summary}");
        assert_eq!(d.lost, d.startup_drops, "only start-up drops: {summary}");
        assert!(
            d.startup_drops <= 5,
            "at most the first packet per stream: {summary}"
        );
        assert_eq!(d.received + d.lost, d.sent, "{summary}");
        assert_eq!(d.extra, 0, "{summary}");
        assert_eq!(d.sequence_gaps, 0, "{summary}");
        assert_eq!(d.out_of_order, 0, "{summary}");
        assert_eq!(d.wrong_payload_type, 0, "{summary}");
        assert_eq!(d.wrong_payload_size, 0, "{summary}");
        assert_eq!(d.ssrc_changes, 0, "{summary}");
        assert_eq!(d.unexpected_source, 0, "{summary}");
        assert_eq!(d.silent_calls, 0, "{summary}");
    }
    let cpu = report.relay_cpu.expect("sampled");
    // Decoding and encoding 500 packets/s costs the relay something measurable.
    assert!(cpu.total_us() > 0, "{summary}");
    assert!(report.calls_per_core > 0.0, "{summary}");
    assert_eq!(report.delete_failures, 0, "{summary}");
}

#[test]
fn ferrovox_media_node_transcodes_pcmu_and_opus_both_ways() {
    let binary = ferrovox_binary();
    let ng = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let first = 61_000 + ((std::process::id() + 13) % 40) * 100;
    let work = scratch_dir("ferrovox-transcode");
    let mut command = Command::new(&binary);
    command
        .arg("--data-dir")
        .arg(work.join("data"))
        .args(["--log-level", "warn", "media", "--ng", &ng.to_string()])
        .args([
            "--interface",
            "127.0.0.1",
            "--sip",
            "off",
            "--admin",
            "127.0.0.1:0",
        ])
        .arg("--rtp-ports")
        .arg(format!("{first}-{}", first + 99));
    let node = RunningSut::spawn("ferrovox", command, ng, &work)
        .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()));
    let pid = node.pid();
    let sampler = move || ferrovox_testkit::cpu::tree_cpu(pid).ok();
    let report = transcode::run(&short_transcoding(ng), Some(&sampler)).expect("session runs");
    assert_eq!(
        report.loss_pct,
        0.0,
        "ferrovox drops nothing: {}",
        report.summary()
    );
    assert_transcoded(&report);
}

#[test]
fn rtpengine_transcodes_pcmu_and_opus_both_ways() {
    let ng = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let first = 61_000 + ((std::process::id() + 26) % 40) * 100;
    let work = scratch_dir("rtpengine-transcode");
    let mut command = Command::new("rtpengine");
    command.args([
        "--config-file=none",
        "--foreground",
        "--table=-1",
        "--interface=127.0.0.1",
        &format!("--listen-ng={ng}"),
        &format!("--port-min={first}"),
        &format!("--port-max={}", first + 99),
        "--num-threads=1",
        "--delete-delay=0",
        "--log-stderr",
        "--log-level=4",
    ]);
    let engine = RunningSut::spawn("rtpengine", command, ng, &work)
        .unwrap_or_else(|e| panic!("rtpengine (Debian rtpengine-daemon) starts: {e}"));
    let pid = engine.pid();
    let sampler = move || ferrovox_testkit::cpu::tree_cpu(pid).ok();
    let report = transcode::run(&short_transcoding(ng), Some(&sampler)).expect("session runs");
    assert_transcoded(&report);
}

#[test]
fn a_relay_that_cannot_transcode_fails_the_session() {
    // The floor relays whatever it gets: its offer to B still carries PCMU.
    let (_floor, ng) = start_floor(0);
    let error = transcode::run(&short_transcoding(ng), None).unwrap_err();
    assert!(
        matches!(error, TranscodeError::Negotiation { call: 0, .. }),
        "{error}"
    );
}
