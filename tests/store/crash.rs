//! Crash safety (issue 3): a child process ingests batches and prints each id once its batch
//! is acknowledged; the parent kills it with SIGKILL at random moments, reopens the store, and
//! checks that every acknowledged id is present and intact and that no partial batch exists.
//!
//! The child is this same test binary, re-run with `KINGA_CRASH_CHILD` set.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kinga::domain::{Category, Report, ReportParts, Severity, Source, Verification};
use kinga::store::{ReportQuery, Store, sqlite::SqliteStore};
use uuid::Uuid;

const BATCH: usize = 200;
const CYCLES: usize = 12;

/// The report an id stands for: content derived from the id, so the parent can check it.
fn report_for(id: Uuid) -> Report {
    let b = id.as_bytes();
    Report::from_parts(ReportParts {
        id,
        lon: 34.5 + f64::from(b[0]) / 255.0 * 0.5,
        lat: -0.4 + f64::from(b[1]) / 255.0 * 0.4,
        occurred_at: Utc.with_ymd_and_hms(2013, 3, 4, 0, 0, 0).unwrap() + chrono::Duration::minutes(i64::from(b[2])),
        received_at: Utc.with_ymd_and_hms(2013, 3, 5, 0, 0, 0).unwrap(),
        category: Category::ALL[usize::from(b[3]) % Category::ALL.len()],
        severity: Severity::new(1 + i64::from(b[4]) % 5).unwrap(),
        source: Source::Sms,
        description: Some(format!("crash-test {id} with 'quotes' and ; -- text")),
        reporter: None,
        tags: vec![format!("batch-{}", b[5])],
        verification: Verification::Unverified,
    })
    .unwrap()
}

/// The child: writes batches forever, printing `ACK <id>` after each commit.
#[tokio::test]
async fn child_writer() {
    let Ok(url) = std::env::var("KINGA_CRASH_CHILD") else { return };
    let store = SqliteStore::open(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    loop {
        let batch: Vec<Report> = (0..BATCH).map(|_| report_for(Uuid::new_v4())).collect();
        store.insert_reports(&batch).await.expect("insert");
        let mut out = String::with_capacity(BATCH * 42);
        for r in &batch {
            let _ = writeln!(out, "ACK {}", r.id());
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes()).expect("stdout");
        stdout.flush().expect("flush");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_no_acknowledged_report() {
    if std::env::var("KINGA_CRASH_CHILD").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let seed = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(1) | 1;
    eprintln!("crash test seed {seed}");
    let mut x = seed;
    let mut acked: Vec<Uuid> = Vec::new();
    for cycle in 0..CYCLES {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash::child_writer", "--nocapture", "--test-threads=1"])
            .env("KINGA_CRASH_CHILD", &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ACK ").and_then(|id| Uuid::parse_str(id).ok()))
                .collect::<Vec<_>>()
        });
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let wait = Duration::from_millis(150 + x % 600);
        let started = Instant::now();
        while started.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
        child.wait().unwrap();
        let got = reader.join().unwrap();
        eprintln!("cycle {cycle}: killed after {wait:?}, {} acknowledged", got.len());
        acked.extend(got);

        // Reopen, as a restarted service would, and check.
        let store = SqliteStore::open(&url).await.expect("reopen without repair");
        store.migrate().await.unwrap();
        let total = store.count_reports().await.unwrap();
        assert_eq!(usize::try_from(total).unwrap() % BATCH, 0, "a partial batch was stored");
        // Every row reads back as a valid report (no partial rows), in one keyset scan.
        let mut stored = std::collections::HashMap::new();
        let mut after = None;
        loop {
            let page =
                store.query_reports(&ReportQuery { after, limit: 5_000, ..ReportQuery::default() }).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.received_at(), last.id()));
            stored.extend(page.into_iter().map(|r| (r.id(), r)));
        }
        let rows = stored.len() as u64;
        for id in &acked {
            let found = stored.get(id).unwrap_or_else(|| panic!("acknowledged {id} lost"));
            assert!(found.same_content(&report_for(*id)), "{id} not intact");
        }
        assert_eq!(rows, total);
        store.pool().close().await;
    }
    assert!(!acked.is_empty(), "the child never acknowledged anything");
}
