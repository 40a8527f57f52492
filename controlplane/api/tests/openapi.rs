//! The served OpenAPI document validates with an independent validator
//! (openapi-spec-validator, installed by scripts/install-deps), lists every endpoint, and
//! every operation it lists exists.

use ferrovox_contract::MemoryBus;
use ferrovox_control::{AdminKey, ControlPlane, Engines, ensure_admin};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use ferrovox_testkit::repo_root;
use std::sync::Arc;

#[tokio::test]
async fn the_openapi_document_is_valid_complete_and_true() {
    let dir = tempfile::tempdir().unwrap();
    let engines = Engines {
        store: ferrovox_store::open(&format!("sqlite://{}/o.db", dir.path().display()))
            .await
            .unwrap(),
        cache: ferrovox_cache::open("memory://").unwrap(),
        bus: Arc::new(MemoryBus::new()),
    };
    engines.store.migrate().await.unwrap();
    let AdminKey::Created { token, .. } = ensure_admin(engines.store.as_ref(), dir.path())
        .await
        .unwrap()
    else {
        panic!("first start creates a key");
    };
    let control = ControlPlane::start(loopback(free_tcp_port()), engines, Arc::new(String::new))
        .await
        .unwrap();
    let base = format!("http://{}", control.addr());
    let (status, body) = ferrovox_testkit::wait::http_get(&format!("{base}/v1.0/openapi.json"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();

    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, &body).unwrap();
    let validator = repo_root().join(".state/venv/bin/openapi-spec-validator");
    assert!(
        validator.exists(),
        "run scripts/install-deps: {} is missing",
        validator.display()
    );
    let output = std::process::Command::new(&validator)
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let paths = document["paths"].as_object().unwrap();
    for route in [
        "/health",
        "/ready",
        "/metrics",
        "/v1.0/customer",
        "/v1.0/customer/webhook_secret",
        "/v1.0/customers",
        "/v1.0/customers/{id}",
        "/v1.0/deadletters/{subscriber}",
        "/v1.0/auth/login",
        "/v1.0/auth/logout",
        "/v1.0/numbers",
        "/v1.0/numbers/{id}",
        "/v1.0/accesskeys",
        "/v1.0/agents",
        "/v1.0/providers",
        "/v1.0/routes",
        "/v1.0/trunks",
        "/v1.0/extensions/{id}",
        "/v1.0/flows",
        "/v1.0/flows/{id}",
        "/v1.0/recordings",
        "/v1.0/recordings/{id}",
        "/v1.0/recordings/{id}/file",
        "/v1.0/ws",
        "/v1.0/openapi.json",
        "/v1.0/docs",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} is served but not documented"
        );
    }

    // Every documented operation is routed: the fallback's "no such endpoint" never answers.
    let client = reqwest::Client::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = format!(
                "{base}{}",
                path.replace("{id}", &uuid::Uuid::new_v4().to_string())
            );
            let mut request = client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("Authorization", format!("AccessKey {token}"));
            if method == "post" || method == "put" {
                request = request.json(&serde_json::json!({}));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert!(
                status != 405 && !text.contains("no such endpoint"),
                "{method} {path}: {status} {text}"
            );
        }
    }

    let (status, page) = ferrovox_testkit::wait::http_get(&format!("{base}/v1.0/docs"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("/v1.0/openapi.json"));
    control.shutdown().await;
}
