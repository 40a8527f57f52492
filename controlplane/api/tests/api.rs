//! The control plane's HTTP surface on the embedded engines and on the dev stack.

mod common;

use common::call;
use ferrovox_control::{AdminKey, ControlPlane, ensure_admin};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use ferrovox_testkit::wait::http_get;
use reqwest::Method;
use std::sync::{Arc, OnceLock};

fn metrics() -> ferrovox_control::RenderMetrics {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("one recorder per test process")
        })
        .clone();
    Arc::new(move || handle.render())
}

#[tokio::test]
async fn embedded_appliance_bootstraps_an_admin_key_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let engines = common::embedded(dir.path()).await;
    engines.store.migrate().await.unwrap();
    let token = match ensure_admin(engines.store.as_ref(), dir.path())
        .await
        .unwrap()
    {
        AdminKey::Created { token, file } => {
            assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600
            );
            token
        }
        other => panic!("first start must create a key: {other:?}"),
    };
    assert!(matches!(
        ensure_admin(engines.store.as_ref(), dir.path())
            .await
            .unwrap(),
        AdminKey::Existing { file: Some(_) }
    ));

    let api = ControlPlane::start(loopback(free_tcp_port()), engines, metrics())
        .await
        .unwrap();
    let base = format!("http://{}", api.addr());

    assert_eq!(http_get(&format!("{base}/health")).await.unwrap().0, 200);
    let (status, body) = http_get(&format!("{base}/ready")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["checks"]["store"]["kind"], "sqlite");
    assert_eq!(ready["checks"]["cache"]["kind"], "memory");
    assert_eq!(ready["checks"]["bus"]["kind"], "memory");

    let (status, customer) = call(&base, Method::GET, "/v1.0/customer", &token, None).await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["name"], "admin");
    assert_eq!(
        customer["permissions"],
        serde_json::json!(["customer_admin", "platform_admin"]),
        "the first start's key is the operator's"
    );
    assert!(
        customer.get("webhook_secret").is_none(),
        "secrets are not echoed"
    );

    let (status, body) = http_get(&format!("{base}/v1.0/customer?accesskey={token}"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    let (status, error) = call(&base, Method::GET, "/v1.0/customer", "ak_wrong", None).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"], "unauthorized");
    let (status, body) = http_get(&format!("{base}/v1.0/customer")).await.unwrap();
    assert_eq!(status, 401, "{body}");
    let (status, body) = http_get(&format!("{base}/v1.0/nothing-here"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"],
        "not_found"
    );

    let (status, text) = http_get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("ferrovox_http_requests_total"), "{text}");
    assert!(text.contains("status=\"401\""), "{text}");
    api.shutdown().await;
}

#[tokio::test]
async fn ready_names_the_dependency_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut engines = common::embedded(dir.path()).await;
    let closed = free_tcp_port();
    engines.cache = ferrovox_cache::open(&format!("redis://127.0.0.1:{closed}/")).unwrap();
    let api = ControlPlane::start(loopback(free_tcp_port()), engines, metrics())
        .await
        .unwrap();
    let (status, body) = http_get(&format!("http://{}/ready", api.addr()))
        .await
        .unwrap();
    assert_eq!(status, 503);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["failing"], serde_json::json!(["cache"]));
    assert_eq!(ready["checks"]["cache"]["kind"], "redis");
    assert!(
        ready["checks"]["cache"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(ready["checks"]["store"]["ok"], true);
}

#[tokio::test]
async fn dev_stack_engines_are_ready() {
    let engines = common::dev_stack().await;
    let api = ControlPlane::start(loopback(free_tcp_port()), engines, metrics())
        .await
        .unwrap();
    let body = ferrovox_testkit::wait::http_status(
        &format!("http://{}/ready", api.addr()),
        200,
        std::time::Duration::from_secs(15),
    )
    .await
    .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["checks"]["store"]["kind"], "mysql");
    assert_eq!(ready["checks"]["cache"]["kind"], "redis");
    assert_eq!(ready["checks"]["bus"]["kind"], "amqp");
}

#[tokio::test]
async fn a_port_in_use_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let error = ControlPlane::start(
        taken.local_addr().unwrap(),
        common::embedded(dir.path()).await,
        metrics(),
    )
    .await
    .err()
    .unwrap();
    assert!(error.to_string().contains("control.listen"), "{error}");
}
