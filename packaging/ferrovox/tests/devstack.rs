//! The same binary on the dev stack's real MariaDB, Redis and RabbitMQ.

mod common;

use common::{Appliance, get_json, run, stderr, stdout};
use ferrovox_testkit::devstack::DevStack;
use ferrovox_testkit::repo_root;

#[test]
fn migrate_twice_on_mariadb() {
    let dir = tempfile::tempdir().unwrap();
    let url = DevStack::get().fresh_mysql_database().unwrap();
    let env = [("FERROVOX_STORE_URL", url.as_str())];
    let first = run(&["migrate"], dir.path(), &env);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("applied migration 0001"),
        "{}",
        stdout(&first)
    );
    assert!(
        !stdout(&first).contains(":ferrovox@"),
        "the password is not printed: {}",
        stdout(&first)
    );
    let second = run(&["migrate"], dir.path(), &env);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).starts_with("nothing to apply: the mysql store"),
        "{}",
        stdout(&second)
    );
}

#[tokio::test]
async fn appliance_runs_on_the_dev_stack_config_file() {
    let stack = DevStack::get();
    let config = repo_root().join(".state/devstack/ferrovox.toml");
    assert!(
        config.exists(),
        "scripts/devstack writes {}",
        config.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let database = stack.fresh_mysql_database().unwrap();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let appliance = Appliance::start(
        "up",
        dir.path(),
        &["--config", &config.display().to_string()],
        &[
            ("FERROVOX_STORE_URL", &database),
            ("FERROVOX_BUS_NAMESPACE", &namespace),
        ],
    )
    .await;
    let ready = common::ready_becomes(
        &appliance.control_url("/ready"),
        200,
        std::time::Duration::from_secs(15),
    )
    .await;
    assert_eq!(ready["checks"]["store"]["kind"], "mysql");
    assert_eq!(ready["checks"]["cache"]["kind"], "redis");
    assert_eq!(ready["checks"]["bus"]["kind"], "amqp");
    let (status, media) = get_json(&appliance.media_url("/ready")).await;
    assert_eq!(status, 200, "{media}");
    assert_eq!(media["checks"]["bus"]["kind"], "amqp");
    let key = std::fs::read_to_string(dir.path().join("admin-accesskey")).unwrap();
    let (status, customer) =
        get_json(&appliance.control_url(&format!("/v1.0/customer?accesskey={}", key.trim()))).await;
    assert_eq!(
        status, 200,
        "the admin key is stored in MariaDB: {customer}"
    );
    let pid = appliance.child.id().unwrap();
    assert!(appliance.interrupt().success());
    assert!(!common::process_exists(pid));
}
