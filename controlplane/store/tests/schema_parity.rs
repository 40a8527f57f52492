//! Both dialects' migrations describe the same tables and columns.

use ferrovox_testkit::devstack::DevStack;

#[tokio::test]
async fn sqlite_and_mysql_schemas_expose_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = ferrovox_store::open(&format!("sqlite://{}/parity.db", dir.path().display()))
        .await
        .unwrap();
    let mysql = ferrovox_store::open(&DevStack::get().fresh_mysql_database().unwrap())
        .await
        .unwrap();
    let sqlite_report = sqlite.migrate().await.unwrap();
    let mysql_report = mysql.migrate().await.unwrap();
    assert_eq!(
        sqlite_report.applied, mysql_report.applied,
        "same migrations, same order"
    );

    let sqlite_schema = sqlite.schema().await.unwrap();
    let mysql_schema = mysql.schema().await.unwrap();
    assert!(sqlite_schema.contains_key("customers") && sqlite_schema.contains_key("accesskeys"));
    assert_eq!(sqlite_schema, mysql_schema);
}
