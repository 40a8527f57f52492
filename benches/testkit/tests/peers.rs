//! The harness drives real peers: SIPp calls SIPp, baresip answers its control port.

use ferrovox_testkit::baresip::{Account, Baresip};
use ferrovox_testkit::ports::{free_tcp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::sipp::{Scenario, Sipp};
use std::time::Duration;

#[test]
fn sipp_uac_completes_calls_against_sipp_uas_and_stats_are_parsed() {
    let uas_addr = loopback(free_udp_tcp_port());
    let uas = Sipp::new(Scenario::Builtin("uas".into()), uas_addr)
        .spawn()
        .expect("start uas");
    let uac = Sipp::new(
        Scenario::Builtin("uac".into()),
        loopback(free_udp_tcp_port()),
    )
    .remote(uas_addr)
    .rate(20.0)
    .calls(10)
    .arg("-default_behaviors")
    .arg("all,-abortunexp")
    .spawn()
    .expect("start uac");
    let outcome = uac.wait(Duration::from_secs(60)).expect("uac finishes");
    assert!(
        outcome.status.success(),
        "uac exit {:?}: {}",
        outcome.status,
        outcome.errors
    );
    assert_eq!(outcome.stats.successful_calls(), 10);
    assert_eq!(outcome.stats.failed_calls(), 0);
    let uas_outcome = uas.stop().expect("uas stops");
    assert!(
        uas_outcome.stats.created_calls() >= 10,
        "uas saw {} calls",
        uas_outcome.stats.created_calls()
    );
}

#[tokio::test]
async fn baresip_starts_headless_and_answers_control_commands() {
    let account = Account {
        user: "alice".into(),
        domain: "127.0.0.1".into(),
        password: Some("secret".into()),
        outbound: None,
        regint: 0,
    };
    let mut phone = Baresip::start(
        loopback(free_udp_tcp_port()),
        loopback(free_tcp_port()),
        &[account],
    )
    .await
    .expect("baresip starts");
    assert!(phone.is_running());
    let accounts = phone.command("reginfo", "").expect("reginfo answers");
    assert!(
        accounts.contains("alice"),
        "reginfo lists the account: {accounts}\n{}",
        phone.log()
    );
    assert!(phone.command("no_such_command_xyz", "").is_err());
}
