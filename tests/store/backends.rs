//! How each backend under test is created: a fresh, migrated, empty store per test.

use std::str::FromStr;
use std::sync::Arc;

use kinga::store::{Store, postgis::PostgisStore, sqlite::SqliteStore};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// Keeps whatever the store needs alive (a temporary directory) for the test's duration.
pub struct Fresh {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("kinga.db").display());
    let store = SqliteStore::open(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    Fresh { store: Arc::new(store), _dir: Some(dir) }
}

/// The URL of the throwaway PostGIS database; panics (never skips) when it is not set.
pub fn postgis_url() -> String {
    std::env::var("KINGA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "KINGA_TEST_DATABASE_URL is not set: the PostGIS half of the store suite needs a database. \
             Run ./scripts/test.sh (it starts a throwaway PostGIS), or by hand: \
             `source scripts/pg-test-cluster.sh && pg_test_start target/pg-test && cargo test --test store; \
             pg_test_stop target/pg-test`"
        )
    })
}

/// Creates a new, empty schema in the test database and returns its name.
pub async fn create_test_schema() -> String {
    let options = PgConnectOptions::from_str(&postgis_url()).expect("KINGA_TEST_DATABASE_URL is a PostgreSQL URL");
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&options).await.expect("connect to the test PostGIS");
    // The name is generated above (hex digits only); DDL cannot take a bind parameter.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    admin.close().await.expect("close admin connection");
    schema
}

/// Connect options for a new, empty schema of its own (first in the search path; PostGIS types
/// stay reachable in `public`), so each test has its own tables and `_sqlx_migrations`.
pub async fn postgis_schema_options() -> PgConnectOptions {
    let schema = create_test_schema().await;
    PgConnectOptions::from_str(&postgis_url())
        .expect("KINGA_TEST_DATABASE_URL is a PostgreSQL URL")
        .options([("search_path", format!("{schema},public"))])
}

pub async fn postgis() -> Fresh {
    let store = PostgisStore::open_with(postgis_schema_options().await).await.expect("open postgis");
    store.migrate().await.expect("migrate postgis");
    Fresh { store: Arc::new(store), _dir: None }
}
