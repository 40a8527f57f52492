//! `/ready` follows the dev stack's services going away and coming back, without a restart.
//!
//! This stops shared services, so it runs on its own after the other tests (the
//! nextest profile `serial`; `scripts/test` runs it last).

mod common;

use common::{Appliance, ready_becomes};
use ferrovox_testkit::devstack::{DevStack, Service};
use std::time::Duration;

const DETECT: Duration = Duration::from_secs(20);
const RECOVER: Duration = Duration::from_secs(60);

#[tokio::test]
async fn ready_names_each_stopped_dependency_and_recovers() {
    let stack = DevStack::get();
    let dir = tempfile::tempdir().unwrap();
    let database = stack.fresh_mysql_database().unwrap();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let appliance = Appliance::start(
        "up",
        dir.path(),
        &[],
        &[
            ("FERROVOX_STORE_URL", &database),
            ("FERROVOX_CACHE_URL", &stack.cache_url),
            ("FERROVOX_BUS_URL", &stack.bus_url),
            ("FERROVOX_BUS_NAMESPACE", &namespace),
        ],
    )
    .await;
    let control_ready = appliance.control_url("/ready");
    ready_becomes(&control_ready, 200, RECOVER).await;

    for (service, check) in [
        (Service::Redis, "cache"),
        (Service::Mariadb, "store"),
        (Service::Rabbitmq, "bus"),
    ] {
        stack.stop(service).unwrap();
        let down = ready_becomes(&control_ready, 503, DETECT).await;
        assert_eq!(
            down["failing"],
            serde_json::json!([check]),
            "{} stopped: {down}",
            service.name()
        );
        assert_eq!(down["status"], "unavailable");
        assert!(
            down["checks"][check]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{down}"
        );
        if service == Service::Rabbitmq {
            let media = ready_becomes(&appliance.media_url("/ready"), 503, DETECT).await;
            assert_eq!(media["failing"], serde_json::json!(["bus"]), "{media}");
        }
        stack.start_service(service).unwrap();
        let up = ready_becomes(&control_ready, 200, RECOVER).await;
        assert_eq!(
            up["failing"],
            serde_json::json!([]),
            "{} back: {up}",
            service.name()
        );
    }
    ready_becomes(&appliance.media_url("/ready"), 200, RECOVER).await;
    assert!(appliance.interrupt().success());
}
