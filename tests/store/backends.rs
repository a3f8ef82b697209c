//! How each backend under test is created: a fresh, migrated, empty store per test.

use std::sync::Arc;

use kinga::store::{Store, sqlite::SqliteStore};

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
