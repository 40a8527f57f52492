//! Recordings end to end: rows made through the store (as the media side will), their files
//! in the data directory's recordings folder; the API lists, reads, downloads and deletes
//! them — never serving a file outside that folder — on the embedded engines and on real
//! MariaDB/Redis/RabbitMQ.

mod common;

use common::{call, expect};
use ferrovox_control::resource::Resource;
use ferrovox_control::resource::recording::{EndRecording, NewRecording, Recording};
use ferrovox_control::{ControlPlane, Engines, Options};
use ferrovox_store::{Effects, Store};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// A recording of a call of `customer_id`, stored as the media side stores it; ended when
/// `ended`. Its file is written when `audio` is given.
async fn stored_recording(
    store: &dyn Store,
    data_dir: &Path,
    customer_id: Uuid,
    ended: bool,
    audio: Option<&[u8]>,
) -> Recording {
    let mut recording = Recording::create(
        NewRecording {
            reference_type: "call".into(),
            reference_id: Uuid::new_v4(),
            format: None,
        },
        customer_id,
        Uuid::new_v4(),
    )
    .await
    .unwrap();
    if ended {
        recording
            .update(EndRecording {
                tm_end: recording.tm_start + chrono::Duration::seconds(3),
                duration: 3000,
            })
            .unwrap();
    }
    store
        .record_insert(
            Recording::TABLE,
            &recording.to_record(),
            &Effects::default(),
        )
        .await
        .unwrap();
    if let Some(audio) = audio {
        let folder = data_dir.join("recordings");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(&recording.filename), audio).unwrap();
    }
    recording
}

/// A WAV file (8 kHz, 16-bit mono) of `samples` samples of a ramp.
fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        out.extend_from_slice(&((i % 65_536) as u16).to_le_bytes());
    }
    out
}

async fn download(base: &str, id: &str, key: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1.0/recordings/{id}/file"))
        .header("Authorization", format!("AccessKey {key}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn recordings_behave(engines: Engines, data_dir: &Path) {
    let admin = common::admin_key(&engines, data_dir).await;
    let store = engines.store.as_ref();
    let control = ControlPlane::start_with_data_dir(
        loopback(free_tcp_port()),
        engines.clone(),
        Arc::new(String::new),
        Options::default(),
        data_dir,
    )
    .await
    .unwrap();
    let base = format!("http://{}", control.addr());
    let (_, customer) = call(&base, Method::GET, "/v1.0/customer", &admin, None).await;
    let customer_id = Uuid::parse_str(customer["id"].as_str().unwrap()).unwrap();
    let agent = common::key_for(store, customer_id, &["agent_user"]).await;
    let stranger = common::key_for(
        store,
        common::new_customer(store).await,
        &["customer_admin"],
    )
    .await;

    // Several 64 KiB chunks and a tail.
    let audio = wav(100_000);
    let recording = stored_recording(store, data_dir, customer_id, true, Some(&audio)).await;
    let id = recording.id.to_string();

    // Read: the metadata, then the audio, byte for byte, as audio/wav.
    let (status, read) = call(
        &base,
        Method::GET,
        &format!("/v1.0/recordings/{id}"),
        &agent,
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        (
            read["reference_type"].as_str(),
            read["reference_id"].as_str(),
            read["status"].as_str(),
            read["format"].as_str(),
            read["duration"].as_u64(),
        ),
        (
            Some("call"),
            Some(recording.reference_id.to_string().as_str()),
            Some("ended"),
            Some("wav"),
            Some(3000)
        ),
        "{read}"
    );
    let (status, content_type, body) = download(&base, &id, &agent).await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("audio/wav"));
    assert_eq!(body.len(), audio.len());
    assert!(body == audio, "the file comes back unchanged");

    // A recording still running has no end yet; one whose file is gone answers 404.
    let running = stored_recording(store, data_dir, customer_id, false, None).await;
    let (_, read) = call(
        &base,
        Method::GET,
        &format!("/v1.0/recordings/{}", running.id),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (read["status"].as_str(), read["duration"].as_u64()),
        (Some("recording"), Some(0))
    );
    assert!(read["tm_end"].as_str().unwrap().starts_with("9999"));
    let (status, _, body) = download(&base, &running.id.to_string(), &admin).await;
    assert_eq!(status, 404);
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"], "not_found", "{error}");

    // Never a file outside the recordings folder: not by a crafted id, not by a stored name.
    std::fs::write(data_dir.join("secret.wav"), b"TOP SECRET").unwrap();
    let mut escaping = stored_recording(store, data_dir, customer_id, true, None).await;
    escaping.filename = "../secret.wav".into();
    let set = ferrovox_store::Record::from([(
        "filename",
        ferrovox_store::SqlValue::from(escaping.filename.clone()),
    )]);
    assert!(
        store
            .record_update(
                Recording::TABLE,
                &customer_id.to_string(),
                &escaping.id.to_string(),
                &set,
                &Effects::default(),
            )
            .await
            .unwrap()
    );
    let (status, _, body) = download(&base, &escaping.id.to_string(), &admin).await;
    assert_ne!(status, 200);
    assert!(!String::from_utf8_lossy(&body).contains("TOP SECRET"));
    for path in [
        "/v1.0/recordings/..%2Fsecret.wav/file",
        "/v1.0/recordings/%2E%2E/file",
    ] {
        let (status, body) = call(&base, Method::GET, path, &admin, None).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        assert!(!body.to_string().contains("TOP SECRET"));
    }

    // The API does not make or change recordings; an agent may not delete them.
    expect(
        &base,
        Method::POST,
        "/v1.0/recordings",
        &admin,
        Some(json!({})),
        405,
    )
    .await;
    expect(
        &base,
        Method::PUT,
        &format!("/v1.0/recordings/{id}"),
        &admin,
        Some(json!({"status": "ended"})),
        405,
    )
    .await;
    let (status, error) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/recordings/{id}"),
        &agent,
        None,
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("permission_denied"))
    );

    // Another customer's recording and its file do not exist for them.
    for path in [
        format!("/v1.0/recordings/{id}"),
        format!("/v1.0/recordings/{id}/file"),
    ] {
        let (status, body) = call(&base, Method::GET, &path, &stranger, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    expect(
        &base,
        Method::DELETE,
        &format!("/v1.0/recordings/{id}"),
        &stranger,
        None,
        404,
    )
    .await;
    let (_, theirs) = call(&base, Method::GET, "/v1.0/recordings", &stranger, None).await;
    assert_eq!(theirs["result"], json!([]));

    // Pagination across pages: 3 so far and 9 more, every one once, newest first.
    let mut newest = None;
    for _ in 0..9 {
        newest = Some(
            stored_recording(store, data_dir, customer_id, true, None)
                .await
                .id,
        );
    }
    let (recordings, pages) = common::all_pages(&base, &admin, "/v1.0/recordings", 5).await;
    let seen: Vec<String> = recordings
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((pages, seen.len()), (3, 12));
    assert_eq!(
        seen.iter().collect::<std::collections::HashSet<_>>().len(),
        12
    );
    assert_eq!(seen.first(), newest.map(|id| id.to_string()).as_ref());
    assert_eq!(seen.last(), Some(&id));

    // Soft delete: answered with tm_delete set; then the recording and its file are gone.
    let deleted = expect(
        &base,
        Method::DELETE,
        &format!("/v1.0/recordings/{id}"),
        &admin,
        None,
        200,
    )
    .await;
    assert!(!deleted["tm_delete"].as_str().unwrap().starts_with("9999"));
    for path in [
        format!("/v1.0/recordings/{id}"),
        format!("/v1.0/recordings/{id}/file"),
    ] {
        let (status, body) = call(&base, Method::GET, &path, &admin, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (_, page) = call(
        &base,
        Method::GET,
        "/v1.0/recordings?page_size=100",
        &admin,
        None,
    )
    .await;
    let listed: Vec<&str> = page["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 11);
    assert!(!listed.contains(&id.as_str()));
    control.shutdown().await;
}

on_both_stacks!(recordings_behave:
    recordings_on_the_embedded_engines,
    recordings_on_mariadb_redis_rabbitmq);
