//! What only the PostGIS backend has: the durability check at open, the spatial schema (a
//! `geometry(Point, 4326)` column with a `GiST` index) and `geom` kept equal to the exact
//! `lon`/`lat`, and the database-enforced append-only audit log.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kinga::domain::Category;
use kinga::store::{AuditEntry, Store, StoreError, postgis::PostgisStore};
use sqlx::Row;

use super::backends::{create_test_schema, postgis_schema_options, postgis_url};
use super::contract::report;

/// A migrated store in its own schema, kept as the concrete type (for its pool).
async fn fresh() -> PostgisStore {
    let store = PostgisStore::open_with(postgis_schema_options().await).await.expect("open postgis");
    store.migrate().await.expect("migrate postgis");
    store
}

#[tokio::test]
async fn open_accepts_the_durable_test_cluster() {
    let store = PostgisStore::open(&postgis_url()).await.expect("fsync, synchronous_commit, full_page_writes are on");
    store.ping().await.expect("ping");
    let settings: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(settings, ("on".into(), "on".into(), "on".into()));
}

#[tokio::test]
async fn connect_opens_and_migrates_a_postgres_url() {
    // The harness URL plus `options=-c search_path=<fresh schema>,public`, percent-encoded.
    let url = format!("{}&options=-c%20search_path%3D{},public", postgis_url(), create_test_schema().await);
    let store = kinga::store::connect(&url).await.expect("connect");
    assert_eq!(store.backend(), "postgis");
    assert_eq!(store.count_reports().await.unwrap(), 0);
    store.insert_reports(&[report(1, 34.75, -0.1, 0, Category::Rumour)]).await.unwrap();
    assert_eq!(store.count_reports().await.unwrap(), 1);
}

#[tokio::test]
async fn open_refuses_synchronous_commit_off() {
    let options = postgis_schema_options().await.options([("synchronous_commit", "off")]);
    match PostgisStore::open_with(options).await {
        Err(StoreError::UnsafeDurability(msg)) => assert!(msg.contains("synchronous_commit = off"), "{msg}"),
        other => panic!("expected UnsafeDurability, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://kinga@localhost:5432/kinga_test?host={}&sslmode=disable", dir.path().display());
    match kinga::store::connect(&url).await {
        Err(StoreError::Unavailable(_)) => {}
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("expected Unavailable, got a store"),
    }
}

#[tokio::test]
async fn reports_have_a_point_4326_column_with_a_gist_index() {
    let store = fresh().await;
    let (kind, srid, dims): (String, i32, i32) = sqlx::query_as(
        "SELECT type, srid, coord_dimension FROM geometry_columns \
         WHERE f_table_schema = current_schema() AND f_table_name = 'reports' AND f_geometry_column = 'geom'",
    )
    .fetch_one(store.pool())
    .await
    .expect("reports.geom is registered in geometry_columns");
    assert_eq!((kind.as_str(), srid, dims), ("POINT", 4326, 2));
    let methods: Vec<String> = sqlx::query_scalar(
        "SELECT am.amname::text FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_am am ON am.oid = ic.relam \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = 'reports'::regclass AND a.attname = 'geom'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(methods, vec!["gist".to_string()]);
    let cell_type: String = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'reports'::regclass AND attname = 'cell'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(cell_type, "bigint");
}

#[tokio::test]
async fn geom_is_exactly_lon_lat_and_the_bbox_query_can_use_the_gist_index() {
    let store = fresh().await;
    let rs = vec![
        report(1, 34.761_234_567_890_12, -0.091_734_5, 0, Category::Rumour),
        report(2, -180.0, -0.0, 1, Category::Rumour),
        report(3, 179.999_999_999_999_97, 89.999_999_999, 2, Category::Rumour),
        report(4, 35.4, 0.05, 3, Category::Rumour),
    ];
    store.insert_reports(&rs).await.unwrap();
    let rows = sqlx::query(
        "SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y, ST_SRID(geom) AS srid, GeometryType(geom) AS kind \
         FROM reports ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), rs.len());
    for (row, r) in rows.iter().zip(&rs) {
        assert_eq!(row.get::<uuid::Uuid, _>("id"), r.id());
        assert_eq!(row.get::<f64, _>("x").to_bits(), r.lon().to_bits(), "{:?}", r.id());
        assert_eq!(row.get::<f64, _>("y").to_bits(), r.lat().to_bits(), "{:?}", r.id());
        assert_eq!(row.get::<i32, _>("srid"), 4326);
        assert_eq!(row.get::<String, _>("kind"), "POINT");
    }
    // The schema itself refuses a geom that disagrees with lon/lat.
    let err = sqlx::query("UPDATE reports SET geom = ST_SetSRID(ST_MakePoint(0, 0), 4326) WHERE id = $1")
        .bind(rs[0].id())
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reports_geom_is_lon_lat"), "{err}");

    // With sequential scans priced out, the planner answers the bbox filter from the GiST index.
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM reports WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) \
         AND lon BETWEEN $1 AND $3 AND lat BETWEEN $2 AND $4",
    )
    .bind(34.4_f64)
    .bind(-0.45_f64)
    .bind(35.4_f64)
    .bind(0.05_f64)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    sqlx::query("RESET enable_seqscan").execute(&mut *conn).await.unwrap();
    assert!(plan.iter().any(|l| l.contains("reports_geom")), "{plan:#?}");
}

#[tokio::test]
async fn the_database_refuses_to_change_the_audit_log() {
    let store = Arc::new(fresh().await);
    let entry = AuditEntry {
        seq: 0,
        at: Utc.with_ymd_and_hms(2013, 3, 4, 6, 0, 0).unwrap(),
        actor: "analyst-1".into(),
        action: "export".into(),
        objects: vec!["reports".into()],
        filter: "bbox=34,-1,35,0".into(),
        count: 3,
        prev_hash: String::new(),
        hash: String::new(),
    };
    store.append_audit(entry).await.unwrap();
    for sql in ["UPDATE audit_log SET count = 1000", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let err = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(store.audit_log(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_audit_appends_form_one_chain() {
    let store = Arc::new(fresh().await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(AuditEntry {
                    seq: 0,
                    at: Utc.with_ymd_and_hms(2013, 3, 4, 6, 0, 0).unwrap(),
                    actor: format!("analyst-{i}"),
                    action: "export".into(),
                    objects: vec![],
                    filter: String::new(),
                    count: i,
                    prev_hash: String::new(),
                    hash: String::new(),
                })
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("append");
    }
    let log = store.audit_log(0, 100).await.unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=16).collect::<Vec<_>>());
    assert_eq!(kinga::store::verify_audit_chain(&log), Ok(()));
}
