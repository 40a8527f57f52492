//! Generic resource records, the outbox and the audit trail on both stores.

use chrono::Duration;
use ferrovox_store::model::now;
use ferrovox_store::{
    AuditEntry, ColumnType, Effects, OutboxEvent, Record, SqlValue, Store, StoreError, TableSpec,
};
use ferrovox_testkit::devstack::DevStack;
use std::sync::Arc;
use uuid::Uuid;

static NUMBERS: TableSpec = TableSpec {
    name: "numbers",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("number", ColumnType::Text),
        ("flow_id", ColumnType::OptionalText),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("status", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

fn number(customer: &str, digits: &str, created: chrono::NaiveDateTime) -> Record {
    Record::from([
        ("id", SqlValue::from(Uuid::new_v4().to_string())),
        ("customer_id", customer.into()),
        ("number", digits.into()),
        ("flow_id", SqlValue::Null),
        ("name", "main line".into()),
        ("detail", "".into()),
        ("status", "active".into()),
        ("tm_create", created.into()),
        ("tm_update", created.into()),
        ("tm_delete", ferrovox_store::LIVE.into()),
    ])
}

fn event(kind: &str) -> OutboxEvent {
    OutboxEvent {
        event_id: Uuid::new_v4().to_string(),
        event_type: kind.into(),
        payload: format!("{{\"event_type\":\"{kind}\"}}"),
    }
}

fn id_of(record: &Record) -> String {
    record["id"].as_text().unwrap().to_owned()
}

async fn records_behave(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    let customer = Uuid::new_v4().to_string();
    let other = Uuid::new_v4().to_string();
    let base = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let record = number(
            &customer,
            &format!("+1555000000{i}"),
            base + Duration::milliseconds(i),
        );
        ids.push(id_of(&record));
        let effects = Effects {
            events: vec![event("number.created")],
            audit: None,
        };
        store
            .record_insert(&NUMBERS, &record, &effects)
            .await
            .unwrap();
    }
    store
        .record_insert(
            &NUMBERS,
            &number(&other, "+15559999999", base),
            &Effects::default(),
        )
        .await
        .unwrap();

    // Pages of two, newest first, across the whole list, with no overlap.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .record_list(&NUMBERS, &customer, 2, cursor.as_ref())
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.records.iter().map(id_of));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(
        seen, newest_first,
        "every row once, newest first, own customer only"
    );

    // Get, update, soft delete — always scoped to the owner.
    let first = &ids[0];
    let got = store
        .record_get(&NUMBERS, &customer, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["number"], SqlValue::from("+15550000000"));
    assert_eq!(got["flow_id"], SqlValue::Null);
    assert_eq!(
        store.record_get(&NUMBERS, &other, first).await.unwrap(),
        None
    );

    let flow = Uuid::new_v4().to_string();
    let set = Record::from([
        ("flow_id", SqlValue::from(flow.clone())),
        ("name", "sales".into()),
    ]);
    let audit = AuditEntry {
        id: Uuid::new_v4().to_string(),
        customer_id: customer.clone(),
        actor: "accesskey:test".into(),
        action: "update".into(),
        resource: "number".into(),
        resource_id: first.clone(),
        before: Some("{}".into()),
        after: Some("{}".into()),
        at: now(),
    };
    let effects = Effects {
        events: vec![event("number.updated")],
        audit: Some(audit),
    };
    assert!(
        store
            .record_update(&NUMBERS, &customer, first, &set, &effects)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_update(&NUMBERS, &other, first, &set, &effects)
            .await
            .unwrap(),
        "not the owner"
    );
    let updated = store
        .record_get(&NUMBERS, &customer, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated["flow_id"], SqlValue::from(flow));
    assert_eq!(updated["name"], SqlValue::from("sales"));
    assert!(updated["tm_update"].as_time().unwrap() >= got["tm_update"].as_time().unwrap());

    let deleted_at = now();
    let effects = Effects {
        events: vec![event("number.deleted")],
        audit: None,
    };
    assert!(
        store
            .record_soft_delete(&NUMBERS, &customer, first, deleted_at, &effects)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_soft_delete(&NUMBERS, &customer, first, deleted_at, &effects)
            .await
            .unwrap()
    );
    assert_eq!(
        store.record_get(&NUMBERS, &customer, first).await.unwrap(),
        None
    );
    let remaining = store
        .record_list(&NUMBERS, &customer, 50, None)
        .await
        .unwrap();
    assert_eq!(remaining.records.len(), 4);

    // The outbox holds every event of a committed change, in order; a refused change wrote none.
    let pending = store.outbox_pending(100).await.unwrap();
    let kinds: Vec<String> = pending.iter().map(|p| p.payload.clone()).collect();
    assert_eq!(
        pending.len(),
        7,
        "5 created + 1 updated + 1 deleted: {kinds:?}"
    );
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(kinds[5].contains("number.updated") && kinds[6].contains("number.deleted"));
    let seqs: Vec<i64> = pending.iter().take(3).map(|p| p.seq).collect();
    store.outbox_mark_published(&seqs, now()).await.unwrap();
    assert_eq!(store.outbox_pending(100).await.unwrap().len(), 4);

    // Lookups by a column across customers see live rows only.
    let found = store
        .record_find(&NUMBERS, "number", "+15550000001", 10)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(id_of).collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    assert!(
        store
            .record_find(&NUMBERS, "number", "+15550000000", 10)
            .await
            .unwrap()
            .is_empty(),
        "deleted"
    );
    assert!(matches!(
        store.record_find(&NUMBERS, "no_such_column", "x", 10).await,
        Err(StoreError::UnknownColumn { .. })
    ));

    // Column names come from specs, and a wrong one is an error, not SQL.
    let bad = Record::from([("nope", SqlValue::from("x"))]);
    assert!(matches!(
        store
            .record_update(&NUMBERS, &customer, &ids[1], &bad, &Effects::default())
            .await,
        Err(StoreError::UnknownColumn { .. })
    ));
    let duplicate = store
        .record_get(&NUMBERS, &customer, &ids[1])
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store
            .record_insert(
                &NUMBERS,
                &duplicate,
                &Effects {
                    events: vec![event("number.created")],
                    audit: None
                }
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.outbox_pending(100).await.unwrap().len(),
        4,
        "a failed insert leaves no event behind"
    );
}

#[tokio::test]
async fn sqlite_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = ferrovox_store::open(&format!("sqlite://{}/r.db", dir.path().display()))
        .await
        .unwrap();
    records_behave(store).await;
}

#[tokio::test]
async fn mysql_records() {
    let store = ferrovox_store::open(&DevStack::get().fresh_mysql_database().unwrap())
        .await
        .unwrap();
    records_behave(store).await;
}
