//! Agents and their sessions: create an agent with an access key, log in as the agent, use
//! the JWT, log out; wrong credentials are indistinguishable; forged or expired tokens are
//! refused; an agent_user cannot manage agents; login floods get 429.

use ferrovox_contract::MemoryBus;
use ferrovox_control::{AdminKey, ControlPlane, Engines, Options, RateLimits, ensure_admin};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

struct Api(String);

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.0));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            "/v1.0/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }
}

fn forge(claims: Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn agents_log_in_use_their_session_and_log_out() {
    let dir = tempfile::tempdir().unwrap();
    let engines = Engines {
        store: ferrovox_store::open(&format!("sqlite://{}/a.db", dir.path().display()))
            .await
            .unwrap(),
        cache: ferrovox_cache::open("memory://").unwrap(),
        bus: Arc::new(MemoryBus::new()),
    };
    engines.store.migrate().await.unwrap();
    let AdminKey::Created { token: admin, .. } = ensure_admin(engines.store.as_ref(), dir.path())
        .await
        .unwrap()
    else {
        panic!("first start creates a key");
    };
    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let options = Options {
        rate_limits: RateLimits {
            logins_per_minute: 5,
            ..RateLimits::default()
        },
        jwt_secret: secret.clone(),
    };
    let control = ControlPlane::start_with(
        loopback(free_tcp_port()),
        engines,
        Arc::new(String::new),
        options,
    )
    .await
    .unwrap();
    let api = Api(format!("http://{}", control.addr()));
    let admin_auth = format!("AccessKey {admin}");

    // An admin creates a manager and a plain agent; passwords are never returned.
    let (status, manager) = api
        .call(Method::POST, "/v1.0/agents", Some(&admin_auth),
            Some(json!({"username": "maria", "password": "s3cret-pass", "permission": "customer_manager",
                        "addresses": [{"type": "tel", "target": "+15551234567"}]})))
        .await;
    assert_eq!(status, 201, "{manager}");
    assert!(
        manager.get("password").is_none() && manager.get("password_hash").is_none(),
        "{manager}"
    );
    assert_eq!(manager["status"], "offline");
    let (status, _) = api
        .call(
            Method::POST,
            "/v1.0/agents",
            Some(&admin_auth),
            Some(json!({"username": "pat", "password": "another-pass"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = api
        .call(
            Method::POST,
            "/v1.0/agents",
            Some(&admin_auth),
            Some(json!({"username": "maria", "password": "whatever12"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "usernames are unique"
    );
    let (status, body) = api
        .call(
            Method::POST,
            "/v1.0/agents",
            Some(&admin_auth),
            Some(json!({"username": "x y", "password": "whatever12"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("username")));
    let (status, body) = api
        .call(
            Method::POST,
            "/v1.0/agents",
            Some(&admin_auth),
            Some(json!({"username": "shorty", "password": "short"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("password")));

    // Login: a JWT that works as Bearer.
    let (status, session) = api.login("maria", "s3cret-pass").await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let (status, numbers) = api
        .call(Method::GET, "/v1.0/numbers", Some(&bearer), None)
        .await;
    assert_eq!(status, 200, "{numbers}");
    let (status, _) = api
        .call(
            Method::POST,
            "/v1.0/numbers",
            Some(&bearer),
            Some(json!({"number": "+15550001111"})),
        )
        .await;
    assert_eq!(status, 201, "a manager manages numbers");
    let (status, body) = api
        .call(
            Method::POST,
            "/v1.0/agents",
            Some(&bearer),
            Some(json!({"username": "eve", "password": "password1"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("permission_denied")),
        "only an admin manages agents"
    );

    // An agent_user cannot manage agents either.
    let (_, pat) = api.login("pat", "another-pass").await;
    let pat_bearer = format!("Bearer {}", pat["token"].as_str().unwrap());
    let (status, _) = api
        .call(Method::GET, "/v1.0/agents", Some(&pat_bearer), None)
        .await;
    assert_eq!(status, 200, "reading is allowed");
    let (status, _) = api
        .call(
            Method::POST,
            "/v1.0/agents",
            Some(&pat_bearer),
            Some(json!({"username": "eve", "password": "password1"})),
        )
        .await;
    assert_eq!(status, 403);

    // Wrong password and unknown user: the same answer.
    let wrong_password = api.login("maria", "not-her-password").await;
    let unknown_user = api.login("nobody", "not-her-password").await;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password, unknown_user, "no user enumeration");

    // Forged and expired tokens.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub": session["agent_id"], "customer_id": session["customer_id"], "agent_id": session["agent_id"],
                        "permissions": ["customer_admin"], "iat": now, "exp": now + 3600, "jti": "x"});
    let forged = forge(claims.clone(), b"not-the-secret-not-the-secret-00");
    assert_eq!(
        api.call(
            Method::GET,
            "/v1.0/numbers",
            Some(&format!("Bearer {forged}")),
            None
        )
        .await
        .0,
        401
    );
    let mut expired_claims = claims;
    expired_claims["iat"] = json!(now - 7200);
    expired_claims["exp"] = json!(now - 3600);
    let expired = forge(expired_claims, &secret);
    assert_eq!(
        api.call(
            Method::GET,
            "/v1.0/numbers",
            Some(&format!("Bearer {expired}")),
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        api.call(Method::GET, "/v1.0/numbers", Some("Bearer not.a.jwt"), None)
            .await
            .0,
        401
    );

    // Logout ends the session at once.
    let (status, _) = api
        .call(Method::POST, "/v1.0/auth/logout", Some(&bearer), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .call(Method::GET, "/v1.0/numbers", Some(&bearer), None)
        .await;
    assert_eq!(status, 401, "{body}");

    // Login floods: the bucket holds 10 attempts (2 x 5/min); more are refused with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(api.login("maria", "guess").await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        api.login("maria", "s3cret-pass").await.0,
        429,
        "even the right password waits"
    );
    control.shutdown().await;
}
