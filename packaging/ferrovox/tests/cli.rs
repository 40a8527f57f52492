//! The binary on the embedded default: subcommands, configuration errors, migrations, and a
//! whole appliance that starts, answers and stops on Ctrl-C.

mod common;

use common::{Appliance, get_json, run, stderr, stdout};
use std::time::Duration;

#[test]
fn version_and_help_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let version = run(&["version"], dir.path(), &[]);
    assert!(version.status.success());
    assert_eq!(
        stdout(&version).trim(),
        format!("ferrovox {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in ["up", "media", "control", "migrate", "version"] {
        let help = run(&[sub, "--help"], dir.path(), &[]);
        assert!(help.status.success(), "{sub} --help");
        assert!(
            stdout(&help).contains("Usage: ferrovox"),
            "{sub}: {}",
            stdout(&help)
        );
    }
    let media = stdout(&run(&["media", "--help"], dir.path(), &[]));
    for flag in [
        "--ng",
        "--interface",
        "--rtp-ports",
        "--config",
        "--log-format",
    ] {
        assert!(media.contains(flag), "media --help lists {flag}");
    }
}

#[test]
fn migrate_twice_applies_once_then_says_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(&["migrate"], dir.path(), &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("applied migration 0001"),
        "{}",
        stdout(&first)
    );
    let second = run(&["migrate"], dir.path(), &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).starts_with("nothing to apply"),
        "{}",
        stdout(&second)
    );
    assert!(!stdout(&second).contains("applied migration"));
}

fn one_line_error(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "must fail");
    let text = stderr(output);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ferrovox:"))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {text}");
    lines[0].to_owned()
}

#[test]
fn bad_configuration_stops_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };

    let unknown = write(
        "unknown.toml",
        "[control]\nlisten = \"127.0.0.1:0\"\ncolour = \"blue\"\n",
    );
    let output = run(&["--config", &unknown, "up"], dir.path(), &[]);
    let line = one_line_error(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        line.contains("unknown.toml line 3") && line.contains("colour"),
        "{line}"
    );

    let wrong_type = write("type.toml", "[media]\nrtp_ports = 30000\n");
    let line = one_line_error(&run(&["--config", &wrong_type, "media"], dir.path(), &[]));
    assert!(
        line.contains("type.toml line 2") && line.contains("invalid type"),
        "{line}"
    );

    let line = one_line_error(&run(
        &["migrate"],
        dir.path(),
        &[("FERROVOX_STORE_URL", "postgres://x/y")],
    ));
    assert!(line.contains("postgres://x/y"), "{line}");

    let missing = dir.path().join("nope.toml").display().to_string();
    let line = one_line_error(&run(&["--config", &missing, "up"], dir.path(), &[]));
    assert!(line.contains("nope.toml"), "{line}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(&["control", "--listen", &addr], dir.path(), &[]);
    let line = one_line_error(&output);
    assert!(
        line.contains("control.listen") && line.contains(&addr) && line.contains("in use"),
        "{line}"
    );

    let ng_taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ng = ng_taken.local_addr().unwrap().to_string();
    let admin = format!("127.0.0.1:{}", ferrovox_testkit::ports::free_tcp_port());
    let line = one_line_error(&run(
        &["media", "--ng", &ng, "--admin", &admin],
        dir.path(),
        &[],
    ));
    assert!(line.contains("media.ng") && line.contains(&ng), "{line}");
}

#[tokio::test]
async fn embedded_appliance_serves_then_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let appliance = Appliance::start("up", dir.path(), &["--log-format", "json"], &[]).await;

    let (status, ready) = get_json(&appliance.control_url("/ready")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["store"]["kind"], "sqlite");
    let (status, media_ready) = get_json(&appliance.media_url("/ready")).await;
    assert_eq!(status, 200, "{media_ready}");
    assert_eq!(get_json(&appliance.media_url("/health")).await.0, 200);

    let banner = appliance.stdout();
    assert!(
        banner.contains(&format!("http://{}/v1.0", appliance.control)),
        "{banner}"
    );
    assert!(banner.contains(&appliance.ng.to_string()), "{banner}");
    let key = std::fs::read_to_string(dir.path().join("admin-accesskey")).unwrap();
    assert!(
        banner.contains(key.trim()),
        "the banner shows the new admin key: {banner}"
    );
    let (status, customer) =
        get_json(&appliance.control_url(&format!("/v1.0/customer?accesskey={}", key.trim()))).await;
    assert_eq!(status, 200, "{customer}");

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(b"c1 d7:command4:pinge", appliance.ng)
        .await
        .unwrap();
    let mut reply = [0u8; 256];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply[..n], b"c1 d6:result4:ponge");

    assert!(
        banner.contains(&format!("SIP            udp+tcp {}", appliance.sip)),
        "{banner}"
    );
    sip_options_are_answered_over_udp_and_tcp(appliance.sip).await;

    let (status, text) = ferrovox_testkit::wait::http_get(&appliance.control_url("/metrics"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("ferrovox_build_info"), "{text}");
    assert!(text.contains("ferrovox_ng_commands_total"), "{text}");
    assert!(text.contains("ferrovox_sip_responses_total"), "{text}");

    let stderr_text = appliance.stderr();
    let first_log = stderr_text.lines().next().unwrap_or_default();
    let log: serde_json::Value = serde_json::from_str(first_log)
        .unwrap_or_else(|e| panic!("json logs ({e}): {stderr_text}"));
    assert!(
        log.get("level").is_some() && log.get("fields").is_some(),
        "{log}"
    );

    let pid = appliance.child.id().unwrap();
    let status = appliance.interrupt();
    assert!(status.success(), "Ctrl-C is a clean exit: {status:?}");
    assert!(
        !common::process_exists(pid),
        "no ferrovox process left behind"
    );

    // Second start: same database, no new key, the banner says where the first one is.
    let again = Appliance::start("up", dir.path(), &[], &[]).await;
    assert!(
        again.stdout().contains("created at first start"),
        "{}",
        again.stdout()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin-accesskey")).unwrap(),
        key
    );
    assert!(again.interrupt().success());
}

/// SIPp's OPTIONS probes get 200 OK over UDP; over TCP, two pipelined requests in one write
/// get two answers on the same connection, and a malformed one gets 400.
async fn sip_options_are_answered_over_udp_and_tcp(sip: std::net::SocketAddr) {
    use ferrovox_testkit::sipp::{Scenario, Sipp, harness_scenario};
    let probe = Sipp::new(
        Scenario::File(harness_scenario("options.xml")),
        ferrovox_testkit::ports::loopback(ferrovox_testkit::ports::free_udp_tcp_port()),
    )
    .remote(sip)
    .rate(50.0)
    .calls(20)
    .spawn()
    .unwrap();
    let outcome = tokio::task::spawn_blocking(move || probe.wait(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
    assert!(
        outcome.status.success(),
        "{:?}: {}",
        outcome.status,
        outcome.errors
    );
    assert_eq!(outcome.stats.successful_calls(), 20);

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = |cseq: u32, call_id: &str| {
        format!(
            "OPTIONS sip:ferrovox@{sip} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-{cseq}\r\n\
             From: <sip:t@127.0.0.1>;tag=t{cseq}\r\nTo: <sip:ferrovox@{sip}>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut stream = tokio::net::TcpStream::connect(sip).await.unwrap();
    let pipelined = format!("{}{}", request(1, "a"), request(2, "b"));
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    let mut received = String::new();
    let mut chunk = [0u8; 4096];
    while received.matches("SIP/2.0 200 OK").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early: {received}");
        received.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(
        received.contains("CSeq: 1 OPTIONS") && received.contains("CSeq: 2 OPTIONS"),
        "{received}"
    );
    let no_call_id = request(3, "c").replace("Call-ID: c\r\n", "");
    stream.write_all(no_call_id.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&chunk[..n]).into_owned();
    assert!(answer.starts_with("SIP/2.0 400 "), "{answer}");
}

#[tokio::test]
async fn a_bare_relay_node_starts_with_the_documented_flags() {
    let dir = tempfile::tempdir().unwrap();
    let node = Appliance::start(
        "media",
        dir.path(),
        &[
            "--interface",
            "127.0.0.1",
            "--rtp-ports",
            "30000-30999",
            "--sip",
            "off",
        ],
        &[],
    )
    .await;
    let (status, ready) = get_json(&node.media_url("/ready")).await;
    assert_eq!(status, 200, "{ready}");
    assert!(
        !dir.path().join("ferrovox-data").exists() && !dir.path().join("ferrovox.db").exists(),
        "a media node needs no database"
    );
    assert!(node.interrupt().success());
}
