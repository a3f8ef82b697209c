//! SQLite-only: a store written by an older schema is carried over by the migrations intact.

use std::borrow::Cow;

use chrono::Duration;
use kinga::domain::{Category, Report, Verification};
use kinga::store::sqlite::SqliteStore;
use kinga::store::{InsertOutcome, ScanCursor, Store, VerificationChange};

use crate::contract::{report, t0};

/// Migration 0005 rebuilds the reports table (random-id clustering → arrival order). A store
/// filled under 0001–0004, with verification history (whose foreign key cascades when the old
/// table is dropped), keeps every report, field and change, and reads back in arrival order.
#[tokio::test]
async fn reports_and_their_history_survive_the_table_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kinga.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = Cow::Owned(before.migrations.iter().filter(|m| m.version < 5).cloned().collect());
    assert_eq!(before.migrations.len(), 4);
    before.run(store.pool()).await.unwrap();

    // Ids in descending order of arrival: the old table held them in the opposite order.
    let reports: Vec<Report> = (0..300u32)
        .map(|i| report(u128::from(1_000 - i), 34.5 + f64::from(i) * 0.001, -0.1, i64::from(i), Category::Rumour))
        .collect();
    store.insert_reports(&reports).await.unwrap();
    for (i, r) in reports.iter().enumerate().step_by(50) {
        let change = VerificationChange {
            report_id: r.id(),
            status: Verification::Verified,
            actor: format!("verifier-{i}"),
            at: t0() + Duration::hours(1),
            note: Some("seen by two monitors".into()),
        };
        store.set_verification(change).await.unwrap().unwrap();
    }
    let stored_before: Vec<Report> = {
        let mut v = Vec::new();
        for r in &reports {
            v.push(store.get_report(r.id()).await.unwrap().unwrap());
        }
        v
    };

    store.migrate().await.unwrap();

    let layout: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'reports'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!layout.contains("WITHOUT ROWID"), "{layout}");
    for (r, was) in reports.iter().zip(&stored_before) {
        assert_eq!(&store.get_report(r.id()).await.unwrap().unwrap(), was);
    }
    for (i, r) in reports.iter().enumerate() {
        let history = store.verification_history(r.id()).await.unwrap();
        if i % 50 == 0 {
            assert_eq!(history.len(), 1, "report {i}");
            assert_eq!(history[0].actor, format!("verifier-{i}"));
            assert_eq!(history[0].note.as_deref(), Some("seen by two monitors"));
        } else {
            assert!(history.is_empty());
        }
    }
    // The rebuild scan reads arrival order: the rows went in by received_at.
    let (page, _) = store.scan_cores(ScanCursor::default(), 1_000).await.unwrap();
    let ids: Vec<_> = page.iter().map(|c| c.id).collect();
    assert_eq!(ids, reports.iter().map(Report::id).collect::<Vec<_>>());
    // Still the idempotency key and the parent of verification changes.
    let replays = store.insert_reports(&reports[..3]).await.unwrap();
    assert!(replays.iter().all(|o| matches!(o, InsertOutcome::Duplicate(_))), "{replays:?}");
    assert_eq!(
        store.query_reports(&kinga::store::ReportQuery { limit: 1_000, ..Default::default() }).await.unwrap().len(),
        300
    );
    assert!(store.withdraw_report(reports[0].id(), "admin".into(), t0()).await.unwrap());
    assert!(store.verification_history(reports[0].id()).await.unwrap().is_empty());
    let orphans: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_check").fetch_one(store.pool()).await.unwrap();
    assert_eq!(orphans, 0);
}
