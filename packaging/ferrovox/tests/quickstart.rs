//! README command 1 (`scripts/up`): builds, migrates and runs the appliance in the foreground
//! on the embedded default; Ctrl-C stops it and leaves no process behind.

mod common;

use ferrovox_testkit::ports::{free_tcp_port, free_udp_port, free_udp_tcp_port};
use ferrovox_testkit::process::ChildGuard;
use ferrovox_testkit::repo_root;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn scripts_up_runs_the_embedded_appliance_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let admin = format!("127.0.0.1:{}", free_tcp_port());
    let ng = format!("127.0.0.1:{}", free_udp_port());
    let sip = format!("127.0.0.1:{}", free_udp_tcp_port());
    let stdout = dir.path().join("stdout");
    let mut command = Command::new(repo_root().join("scripts/up"));
    command
        .args([
            "--listen", &listen, "--admin", &admin, "--ng", &ng, "--sip", &sip,
        ])
        .env("FERROVOX_BUILD_PROFILE", "dev")
        .env("FERROVOX_DATA_DIR", dir.path())
        .env_remove("FERROVOX_CONFIG")
        .env_remove("FERROVOX_STORE_URL")
        .env_remove("FERROVOX_CACHE_URL")
        .env_remove("FERROVOX_BUS_URL")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(Stdio::null());
    let mut child = ChildGuard::new("scripts/up", command.spawn().unwrap());

    let read_stdout = || std::fs::read_to_string(&stdout).unwrap_or_default();
    let banner = ferrovox_testkit::wait::until("the banner", Duration::from_secs(300), || async {
        let text = read_stdout();
        text.contains("Press Ctrl-C").then_some(text)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", read_stdout()));
    assert!(
        banner.contains("applied migration 0001"),
        "migrations applied first: {banner}"
    );
    assert!(
        banner.contains(&format!("http://{listen}/v1.0")),
        "{banner}"
    );
    assert!(banner.contains("admin key      ak_"), "{banner}");
    assert!(
        banner.contains(&format!("SIP            udp+tcp {sip}")),
        "{banner}"
    );

    let (status, ready) = common::get_json(&format!("http://{listen}/ready")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        common::get_json(&format!("http://{admin}/ready")).await.0,
        200
    );

    let pid = child.id().unwrap();
    child.signal("INT").unwrap();
    let status = child
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("stops on Ctrl-C");
    assert!(status.success(), "{status:?}");
    assert!(!common::process_exists(pid));
    assert!(
        std::net::TcpListener::bind(&listen).is_ok(),
        "the REST port is free again: nothing kept running"
    );
}
