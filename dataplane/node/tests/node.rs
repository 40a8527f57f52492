//! A media node on the in-process bus: admin endpoints, ng control, bus requests, events.

use ferrovox_contract::{Bus, MemoryBus, NodeId, Request, Response};
use ferrovox_node::{MediaNode, NodeConfig, NodeError};
use ferrovox_testkit::ports::{free_tcp_port, free_udp_port, loopback};
use std::sync::Arc;
use std::time::Duration;

fn config(node: &str) -> NodeConfig {
    NodeConfig {
        node_id: NodeId::new(node).unwrap(),
        admin: loopback(free_tcp_port()),
        ng: loopback(free_udp_port()),
        interface: "127.0.0.1".parse().unwrap(),
        rtp_ports: "30000-30100".parse().unwrap(),
        sip: None,
        media_backend: ferrovox_runtime::Backend::IoUring,
        media_threads: 2,
    }
}

fn metrics() -> ferrovox_node::RenderMetrics {
    Arc::new(|| "# metrics\n".to_owned())
}

async fn ng_exchange(ng: std::net::SocketAddr, datagram: &[u8]) -> Vec<u8> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(datagram, ng).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
        .await
        .expect("ng reply")
        .unwrap();
    buffer.truncate(n);
    buffer
}

#[tokio::test]
async fn node_serves_admin_ng_and_bus_and_announces_itself() {
    let bus = Arc::new(MemoryBus::new());
    let mut events = bus.subscribe("node.*").await.unwrap();
    let node = MediaNode::start(config("m1"), bus.clone(), metrics())
        .await
        .unwrap();

    let started = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.event_type, "node.started");
    assert_eq!(started.publisher, "m1");
    assert_eq!(started.data["ng"], node.ng_addr().to_string());

    let base = format!("http://{}", node.admin_addr());
    let health = reqwest_get(&format!("{base}/health")).await;
    assert_eq!(health.0, 200);
    let ready = reqwest_get(&format!("{base}/ready")).await;
    assert_eq!(ready.0, 200, "{}", ready.1);
    let ready: serde_json::Value = serde_json::from_str(&ready.1).unwrap();
    assert_eq!(ready["checks"]["bus"]["kind"], "memory");
    assert_eq!(
        reqwest_get(&format!("{base}/metrics")).await,
        (200, "# metrics\n".to_owned())
    );
    assert_eq!(reqwest_get(&format!("{base}/nope")).await.0, 404);

    assert_eq!(
        ng_exchange(node.ng_addr(), b"k1 d7:command4:pinge").await,
        b"k1 d6:result4:ponge"
    );
    let error = String::from_utf8(ng_exchange(node.ng_addr(), b"k2 garbage").await).unwrap();
    assert!(
        error.starts_with("k2 ") && error.contains("error"),
        "{error}"
    );

    match bus
        .call(
            &NodeId::new("m1").unwrap(),
            &Request::Ping,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
    {
        Response::Pong {
            node_id, version, ..
        } => {
            assert_eq!(node_id.as_str(), "m1");
            assert_eq!(version, env!("CARGO_PKG_VERSION"));
        }
        other => panic!("{other:?}"),
    }

    node.shutdown().await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.event_type, "node.stopped");
    assert!(
        bus.call(
            &NodeId::new("m1").unwrap(),
            &Request::Ping,
            Duration::from_secs(1)
        )
        .await
        .is_err(),
        "a stopped node no longer answers"
    );
}

#[tokio::test]
async fn a_port_in_use_names_the_setting() {
    let bus = Arc::new(MemoryBus::new());
    let first = MediaNode::start(config("m2"), bus.clone(), metrics())
        .await
        .unwrap();
    let mut clash = config("m3");
    clash.ng = first.ng_addr();
    let error = MediaNode::start(clash, bus, metrics()).await.err().unwrap();
    assert!(matches!(
        error,
        NodeError::Bind {
            setting: "media.ng",
            ..
        }
    ));
    assert!(
        error.to_string().contains(&first.ng_addr().to_string()),
        "{error}"
    );
}

async fn reqwest_get(url: &str) -> (u16, String) {
    ferrovox_testkit::wait::http_get(url).await.unwrap()
}
