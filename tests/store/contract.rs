//! The contract every backend must meet (DESIGN.md §6, issue 3).

use chrono::{DateTime, Duration, TimeZone, Utc};
use kinga::domain::{Category, Report, ReportParts, Reporter, Severity, Source, Verification};
use kinga::store::{
    AuditEntry, InsertOutcome, ReportQuery, ScanCursor, TokenRecord, VerificationChange, announce_nothing,
    verify_audit_chain,
};
use uuid::Uuid;

use super::backends::Fresh;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2013, 3, 4, 6, 0, 0).unwrap()
}

pub fn report(n: u128, lon: f64, lat: f64, minutes: i64, category: Category) -> Report {
    Report::from_parts(ReportParts {
        id: Uuid::from_u128(n),
        lon,
        lat,
        occurred_at: t0() + Duration::minutes(minutes),
        received_at: t0() + Duration::minutes(minutes + 1),
        category,
        severity: Severity::new(3).unwrap(),
        source: Source::Monitor,
        description: Some(format!("report {n}")),
        reporter: None,
        tags: vec![],
        verification: Verification::Unverified,
    })
    .unwrap()
}

fn tricky() -> Report {
    Report::from_parts(ReportParts {
        id: Uuid::from_u128(0xABC),
        lon: 34.761_234_5,
        lat: -0.091_734_5,
        occurred_at: Utc.with_ymd_and_hms(2013, 3, 4, 6, 0, 0).unwrap() + Duration::microseconds(123_456),
        received_at: t0() + Duration::minutes(3),
        category: Category::HateSpeech,
        severity: Severity::new(4).unwrap(),
        source: Source::Hotline,
        description: Some("O'Brien said \"drop\"; DROP TABLE reports; -- 'x' \\ %_ ünïcödé 🕊\n=HYPERLINK()".into()),
        reporter: Some(Reporter {
            name: Some("Akinyi O'Neill".into()),
            phone: Some("+254 700 555123".into()),
            contact: None,
        }),
        tags: vec!["kondele".into(), "it's".into()],
        verification: Verification::Unverified,
    })
    .unwrap()
}

fn assert_same(a: &Report, b: &Report) {
    assert!(a.same_content(b), "{a:?}\n!=\n{b:?}");
    assert_eq!(a.received_at(), b.received_at());
    assert_eq!(a.verification(), b.verification());
}

pub async fn insert_and_get_round_trip_every_field(f: Fresh) {
    let r = tricky();
    assert_eq!(f.store.insert_reports(std::slice::from_ref(&r)).await.unwrap(), vec![InsertOutcome::Created]);
    let got = f.store.get_report(r.id()).await.unwrap().expect("stored");
    assert_same(&got, &r);
    assert_eq!(f.store.get_report(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(f.store.count_reports().await.unwrap(), 1);
}

pub async fn insert_is_idempotent_on_id(f: Fresh) {
    let r = report(1, 34.75, -0.1, 0, Category::Rumour);
    f.store.insert_reports(std::slice::from_ref(&r)).await.unwrap();
    // Same id, same content, even with another received_at: the original comes back.
    let mut replay = r.clone();
    replay.set_received_at(t0() + Duration::hours(5));
    let out = f.store.insert_reports(&[replay]).await.unwrap();
    assert_eq!(out, vec![InsertOutcome::Duplicate(Box::new(r.clone()))]);
    // Same id, different content: a conflict, nothing changes.
    let edited = report(1, 34.75, -0.1, 0, Category::Assault);
    assert_eq!(f.store.insert_reports(&[edited]).await.unwrap(), vec![InsertOutcome::Conflict]);
    assert_same(&f.store.get_report(r.id()).await.unwrap().unwrap(), &r);
    assert_eq!(f.store.count_reports().await.unwrap(), 1);
}

pub async fn batch_reports_one_outcome_per_item_in_order(f: Fresh) {
    let a = report(1, 34.75, -0.1, 0, Category::Rumour);
    let b = report(2, 34.76, -0.1, 1, Category::Rumour);
    let b_edit = report(2, 34.76, -0.1, 1, Category::Killing);
    let out = f.store.insert_reports(&[a.clone(), b.clone(), a.clone(), b_edit]).await.unwrap();
    assert_eq!(
        out,
        vec![
            InsertOutcome::Created,
            InsertOutcome::Created,
            InsertOutcome::Duplicate(Box::new(a.clone())),
            InsertOutcome::Conflict
        ]
    );
    assert_eq!(f.store.count_reports().await.unwrap(), 2);
    let many: Vec<Report> = (10..2_510).map(|n| report(n, 34.7, -0.1, 5, Category::Roadblock)).collect();
    let out = f.store.insert_reports(&many).await.unwrap();
    assert!(out.iter().all(|o| *o == InsertOutcome::Created));
    assert_eq!(f.store.count_reports().await.unwrap(), 2_502);
}

pub async fn concurrent_inserts_of_one_id_store_one_row(f: Fresh) {
    let r = report(7, 34.75, -0.1, 0, Category::Mobilisation);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = f.store.clone();
        let r = r.clone();
        tasks.push(tokio::spawn(async move { store.insert_reports(&[r]).await }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap().unwrap().remove(0) {
            InsertOutcome::Created => created += 1,
            InsertOutcome::Duplicate(_) => {}
            InsertOutcome::Conflict => panic!("identical content must not conflict"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(f.store.count_reports().await.unwrap(), 1);
}

pub async fn queries_filter_and_page_by_keyset(f: Fresh) {
    let mut all = Vec::new();
    for n in 0..50u128 {
        let cat = if n % 2 == 0 { Category::Rumour } else { Category::CattleRaid };
        all.push(report(n + 1, 34.70 + (n as f64) * 0.001, -0.10, i64::try_from(n).unwrap(), cat));
    }
    // Two points on either side of the antimeridian, one far away.
    all.push(report(100, 179.5, -18.0, 60, Category::Assault));
    all.push(report(101, -179.5, -17.0, 61, Category::Assault));
    all.push(report(102, 0.0, -17.0, 62, Category::Assault));
    f.store.insert_reports(&all).await.unwrap();
    f.store
        .set_verification(VerificationChange {
            report_id: Uuid::from_u128(3),
            status: Verification::Verified,
            actor: "v".into(),
            at: t0(),
            note: None,
        })
        .await
        .unwrap();

    let ids = |rs: Vec<Report>| rs.into_iter().map(|r| r.id().as_u128()).collect::<Vec<_>>();
    let q = |f: fn(&mut ReportQuery)| {
        let mut q = ReportQuery { limit: 1_000, ..ReportQuery::default() };
        f(&mut q);
        q
    };
    let fiji = q(|q| q.bbox = Some(kinga::domain::BBox::parse("177,-20,-178,-16").unwrap()));
    assert_eq!(ids(f.store.query_reports(&fiji).await.unwrap()), vec![100, 101]);
    let boxed = q(|q| q.bbox = Some(kinga::domain::BBox::parse("34.7045,-0.2,34.7095,0").unwrap()));
    assert_eq!(ids(f.store.query_reports(&boxed).await.unwrap()), vec![6, 7, 8, 9, 10]);
    let window = q(|q| {
        q.from = Some(t0() + Duration::minutes(10));
        q.to = Some(t0() + Duration::minutes(13));
    });
    assert_eq!(ids(f.store.query_reports(&window).await.unwrap()), vec![11, 12, 13]);
    let cattle = q(|q| q.categories = vec![Category::CattleRaid]);
    assert_eq!(f.store.query_reports(&cattle).await.unwrap().len(), 25);
    let verified = q(|q| q.verification = vec![Verification::Verified]);
    assert_eq!(ids(f.store.query_reports(&verified).await.unwrap()), vec![3]);

    // Keyset pages of 7 cover every report exactly once, in (received_at, id) order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = f.store.query_reports(&ReportQuery { after, limit: 7, ..ReportQuery::default() }).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        let last = page.last().unwrap();
        after = Some((last.received_at(), last.id()));
        seen.extend(page.iter().map(|r| r.id().as_u128()));
    }
    let mut expected: Vec<u128> = all.iter().map(|r| r.id().as_u128()).collect();
    expected.sort_by_key(|n| all.iter().find(|r| r.id().as_u128() == *n).unwrap().received_at());
    assert_eq!(seen, expected);
}

pub async fn verification_changes_are_recorded(f: Fresh) {
    let r = report(1, 34.75, -0.1, 0, Category::Rumour);
    f.store.insert_reports(std::slice::from_ref(&r)).await.unwrap();
    for (i, status) in [Verification::Disputed, Verification::Debunked].into_iter().enumerate() {
        let change = VerificationChange {
            report_id: r.id(),
            status,
            actor: format!("verifier-{i}"),
            at: t0() + Duration::hours(i64::try_from(i).unwrap()),
            note: Some(format!("checked with chief's office, round {i}")),
        };
        let updated = f.store.set_verification(change).await.unwrap().unwrap();
        assert_eq!(updated.verification(), status);
    }
    let history = f.store.verification_history(r.id()).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].status, Verification::Debunked);
    assert_eq!(history[1].actor, "verifier-1");
    assert_eq!(history[1].at, t0() + Duration::hours(1));
    assert_eq!(history[0].note.as_deref(), Some("checked with chief's office, round 0"));
    let missing = VerificationChange {
        report_id: Uuid::from_u128(99),
        status: Verification::Verified,
        actor: "v".into(),
        at: t0(),
        note: None,
    };
    assert_eq!(f.store.set_verification(missing).await.unwrap(), None);
    assert!(f.store.verification_history(Uuid::from_u128(99)).await.unwrap().is_empty());
}

pub async fn withdrawal_deletes_content_and_keeps_an_audit_record(f: Fresh) {
    let r = tricky();
    f.store.insert_reports(std::slice::from_ref(&r)).await.unwrap();
    f.store
        .set_verification(VerificationChange {
            report_id: r.id(),
            status: Verification::Verified,
            actor: "v".into(),
            at: t0(),
            note: Some("seen".into()),
        })
        .await
        .unwrap();
    assert!(f.store.withdraw_report(r.id(), "admin".into(), t0()).await.unwrap());
    assert_eq!(f.store.get_report(r.id()).await.unwrap(), None);
    assert!(f.store.verification_history(r.id()).await.unwrap().is_empty());
    assert!(!f.store.withdraw_report(r.id(), "admin".into(), t0()).await.unwrap());
    let log = f.store.audit_log(0, 100).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].action.as_str(), log[0].objects.clone()), ("withdraw", vec![r.id().to_string()]));
    let text = format!("{log:?}");
    assert!(!text.contains("555123") && !text.contains("7612345") && !text.contains("DROP"), "{text}");
}

pub async fn audit_log_is_a_verifiable_chain(f: Fresh) {
    for i in 0..5 {
        f.store
            .append_audit(AuditEntry {
                seq: 0,
                at: t0() + Duration::seconds(i),
                actor: "analyst-1".into(),
                action: "export".into(),
                objects: vec!["reports".into()],
                filter: format!("bbox=34,-1,35,0&page={i}"),
                count: i,
                prev_hash: String::new(),
                hash: String::new(),
            })
            .await
            .unwrap();
    }
    let log = f.store.audit_log(0, 100).await.unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(verify_audit_chain(&log), Ok(()));
    let mut tampered = log.clone();
    tampered[2].count = 1_000;
    assert_eq!(verify_audit_chain(&tampered), Err(3));
    assert_eq!(f.store.audit_log(3, 100).await.unwrap().len(), 2);
}

pub async fn tokens_and_settings_round_trip(f: Fresh) {
    let token = TokenRecord { hash: "ab".repeat(32), role: "verifier".into(), name: "desk-1".into(), created_at: t0() };
    f.store.insert_token(token.clone()).await.unwrap();
    assert_eq!(f.store.find_token("ab".repeat(32)).await.unwrap(), Some(token));
    assert_eq!(f.store.find_token("cd".repeat(32)).await.unwrap(), None);
    assert_eq!(f.store.setting("region").await.unwrap(), None);
    f.store.set_setting("region", "34.4,-0.45,35.4,0.05".into()).await.unwrap();
    f.store.set_setting("region", "34.5,-0.45,35.4,0.05".into()).await.unwrap();
    assert_eq!(f.store.setting("region").await.unwrap().as_deref(), Some("34.5,-0.45,35.4,0.05"));
}

pub async fn nul_bytes_are_refused_clearly_and_store_nothing(f: Fresh) {
    let mut parts_text = report(5, 34.75, -0.1, 0, Category::Rumour);
    let with_nul = Report::from_parts(ReportParts {
        id: parts_text.id(),
        lon: parts_text.lon(),
        lat: parts_text.lat(),
        occurred_at: parts_text.occurred_at(),
        received_at: parts_text.received_at(),
        category: parts_text.category(),
        severity: parts_text.severity(),
        source: parts_text.source(),
        description: Some("before\0after".into()),
        reporter: None,
        tags: vec![],
        verification: Verification::Unverified,
    })
    .unwrap();
    let ok = report(6, 34.75, -0.1, 0, Category::Rumour);
    let err = f.store.insert_reports(&[ok, with_nul]).await.unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    assert_eq!(f.store.count_reports().await.unwrap(), 0);
    parts_text.set_verification(Verification::Unverified);
}

pub async fn bbox_edges_are_inclusive_and_exact(f: Fresh) {
    // Edges count as inside; a point a hair (1e-9 degrees, well below float4 precision, which
    // spatial index boxes use) outside an edge does not.
    let eps = 1e-9;
    let rs = vec![
        report(1, 34.7, -0.1, 0, Category::Rumour),            // west edge
        report(2, 34.8, 0.0, 1, Category::Rumour),             // north-east corner
        report(3, 34.7 - eps, -0.05, 2, Category::Rumour),     // just west
        report(4, 34.75, 0.0 + eps, 3, Category::Rumour),      // just north
        report(5, 34.8 + eps, -0.05, 4, Category::Rumour),     // just east
        report(6, 34.75, -0.1 - eps, 5, Category::Rumour),     // just south
        report(7, 179.0, -17.0, 6, Category::Assault),         // antimeridian box, west edge
        report(8, 179.0 - eps, -17.0, 7, Category::Assault),   // just outside it
        report(9, -178.0, -16.0, 8, Category::Assault),        // east edge, north edge
        report(10, -178.0 + eps, -16.5, 9, Category::Assault), // just outside it
        report(11, -180.0, -16.5, 10, Category::Assault),      // on the antimeridian itself
    ];
    f.store.insert_reports(&rs).await.unwrap();
    let ids = |rs: Vec<Report>| rs.into_iter().map(|r| r.id().as_u128()).collect::<Vec<_>>();
    let in_box = |b: &str| ReportQuery {
        bbox: Some(kinga::domain::BBox::parse(b).unwrap()),
        limit: 100,
        ..ReportQuery::default()
    };
    assert_eq!(ids(f.store.query_reports(&in_box("34.7,-0.1,34.8,0")).await.unwrap()), vec![1, 2]);
    assert_eq!(ids(f.store.query_reports(&in_box("179,-20,-178,-16")).await.unwrap()), vec![7, 9, 11]);
}

pub async fn keyset_breaks_received_at_ties_by_id_byte_order(f: Fresh) {
    // Every report received in the same microsecond: pages follow the ids' byte order.
    let at = t0() + Duration::microseconds(7);
    let mut x: u128 = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210;
    let rs: Vec<Report> = (0..40)
        .map(|_| {
            x = x.wrapping_mul(0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645).wrapping_add(0x5851_F42D_4C95_7F2D);
            let mut r = report(x, 34.75, -0.1, 0, Category::Rumour);
            r.set_received_at(at);
            r
        })
        .collect();
    f.store.insert_reports(&rs).await.unwrap();
    let mut expected: Vec<Uuid> = rs.iter().map(Report::id).collect();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = f.store.query_reports(&ReportQuery { after, limit: 3, ..ReportQuery::default() }).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.received_at(), last.id()));
        seen.extend(page.iter().map(Report::id));
    }
    assert_eq!(seen, expected);
}

pub async fn concurrent_overlapping_batches_never_fail(f: Fresh) {
    // Batches sharing ids, each in another order, written at once: no error (no deadlock),
    // every id created exactly once, the others see a duplicate.
    const N: u128 = 3_000;
    let rs: Vec<Report> = (1..=N).map(|n| report(n, 34.75, -0.1, 0, Category::Roadblock)).collect();
    // Open several connections first, so that the batches really run side by side.
    let pings: Vec<_> = (0..6).map(|_| f.store.clone()).map(|s| tokio::spawn(async move { s.ping().await })).collect();
    for p in pings {
        p.await.expect("ping task").expect("ping");
    }
    let mut tasks = Vec::new();
    for k in 0..6usize {
        let mut batch = rs.clone();
        batch.rotate_left(k * 499);
        if k % 2 == 1 {
            batch.reverse();
        }
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            let out = store.insert_reports(&batch).await;
            (batch, out)
        }));
    }
    let mut created = std::collections::HashMap::new();
    for t in tasks {
        let (batch, out) = t.await.expect("insert task");
        for (r, o) in batch.iter().zip(out.expect("overlapping batches must not fail")) {
            match o {
                InsertOutcome::Created => *created.entry(r.id()).or_insert(0) += 1,
                InsertOutcome::Duplicate(stored) => assert_same(&stored, r),
                InsertOutcome::Conflict => panic!("identical content must not conflict"),
            }
        }
    }
    assert_eq!(created.len(), usize::try_from(N).expect("small"));
    assert!(created.values().all(|n| *n == 1));
    assert_eq!(f.store.count_reports().await.expect("count"), 3_000);
}

pub async fn alerts_keep_their_lifecycle_and_actions(f: Fresh) {
    use kinga::store::{AlertAction, AlertEvent, AlertRecord};
    let alert = |n: u128, minutes: i64| AlertRecord {
        id: Uuid::from_u128(n),
        kind: "high_risk".into(),
        cell: "887a6b6219fffff".into(),
        res: 8,
        opened_at: t0() + Duration::minutes(minutes),
        status: "open".into(),
        level: "high".into(),
        score: 61.5,
        reason: "risk score 62 (high)".into(),
        closed_at: None,
    };
    f.store.insert_alert(alert(1, 0), "kinga".into(), announce_nothing()).await.unwrap();
    f.store.insert_alert(alert(2, 10), "kinga".into(), announce_nothing()).await.unwrap();
    let step = |status: &str, actor: &str, minutes: i64| AlertEvent {
        status: status.into(),
        actor: actor.into(),
        at: t0() + Duration::minutes(minutes),
        note: Some(format!("{status} by {actor}")),
    };
    let acked = f
        .store
        .set_alert_status(Uuid::from_u128(1), step("acknowledged", "ocs-kisumu", 5), announce_nothing())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((acked.status.as_str(), acked.closed_at), ("acknowledged", None));
    let action = AlertAction {
        action: "peace committee sent to Kondele".into(),
        actor: "ocs-kisumu".into(),
        at: t0() + Duration::minutes(20),
    };
    let after_action = f.store.add_alert_action(Uuid::from_u128(1), action.clone(), announce_nothing()).await.unwrap();
    assert_eq!(after_action.map(|a| a.status), Some("acknowledged".to_string()));
    assert_eq!(f.store.add_alert_action(Uuid::from_u128(9), action.clone(), announce_nothing()).await.unwrap(), None);
    let resolved = f
        .store
        .set_alert_status(Uuid::from_u128(1), step("resolved", "ocs-kisumu", 90), announce_nothing())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.closed_at, Some(t0() + Duration::minutes(90)));
    let missing = f.store.set_alert_status(Uuid::from_u128(9), step("resolved", "x", 1), announce_nothing());
    assert_eq!(missing.await.unwrap(), None);
    let (a, events, actions) = f.store.get_alert(Uuid::from_u128(1)).await.unwrap().unwrap();
    assert_eq!(a.score, 61.5);
    assert_eq!(events.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(), ["open", "acknowledged", "resolved"]);
    assert_eq!(events[1].note.as_deref(), Some("acknowledged by ocs-kisumu"));
    assert_eq!(actions, vec![action]);
    let active = f.store.list_alerts(true, 10).await.unwrap();
    assert_eq!(active.iter().map(|a| a.id.as_u128()).collect::<Vec<_>>(), [2]);
    let all = f.store.list_alerts(false, 10).await.unwrap();
    assert_eq!(all.iter().map(|a| a.id.as_u128()).collect::<Vec<_>>(), [2, 1], "newest first");
}

/// The rebuild scan: every report's engine columns exactly once across pages, equal to what
/// was stored.
pub async fn scan_cores_pages_through_every_report_once(f: Fresh) {
    let stored: Vec<Report> = (0..250u32)
        .map(|i| {
            let n = u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1;
            report(n, 34.5 + f64::from(i) * 0.001, -0.1, i64::from(i), Category::ALL[i as usize % Category::ALL.len()])
        })
        .collect();
    f.store.insert_reports(&stored).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = ScanCursor::default();
    let mut pages = 0;
    loop {
        let (page, next) = f.store.scan_cores(cursor, 64).await.unwrap();
        assert!(page.len() <= 64);
        if page.is_empty() {
            break;
        }
        pages += 1;
        cursor = next;
        seen.extend(page);
    }
    assert_eq!(pages, 4, "250 reports in pages of 64");
    // Each backend reads in its own storage order; every report exactly once, as stored.
    seen.sort_by_key(|c| c.id);
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "no repeats");
    let mut want: Vec<_> =
        f.store.query_reports(&ReportQuery { limit: 1_000, ..ReportQuery::default() }).await.unwrap();
    want.sort_by_key(Report::id);
    assert_eq!(seen, want.iter().map(Report::core).collect::<Vec<_>>());
}

/// The webhook outbox: messages are written with the alert change that makes them (from the
/// alert as stored after it), come due oldest first, and end delivered, retried later or failed.
pub async fn outbox_is_written_with_the_change_and_drained_in_order(f: Fresh) {
    use kinga::store::{AlertAction, AlertEvent, AlertRecord, Announce, OutboxCounts, OutboxMessage};
    let announce = |tag: &'static str| -> Announce {
        Box::new(move |a: &AlertRecord| {
            vec![OutboxMessage {
                id: Uuid::now_v7(),
                target: "http://127.0.0.1:9/hook".into(),
                alert_id: a.id,
                body: format!("{{\"tag\":\"{tag}\",\"status\":\"{}\"}}", a.status),
                created_at: t0(),
                attempts: 0,
            }]
        })
    };
    let alert = AlertRecord {
        id: Uuid::from_u128(7),
        kind: "trigger".into(),
        cell: "887a6b6219fffff".into(),
        res: 8,
        opened_at: t0(),
        status: "open".into(),
        level: "high".into(),
        score: 70.0,
        reason: "verified killing".into(),
        closed_at: None,
    };
    f.store.insert_alert(alert, "kinga".into(), announce("opened")).await.unwrap();
    let step = AlertEvent { status: "acknowledged".into(), actor: "ocs".into(), at: t0(), note: None };
    f.store.set_alert_status(Uuid::from_u128(7), step, announce("ack")).await.unwrap().unwrap();
    let action = AlertAction { action: "patrol sent".into(), actor: "ocs".into(), at: t0() };
    f.store.add_alert_action(Uuid::from_u128(7), action.clone(), announce("action")).await.unwrap().unwrap();
    // A change to a missing alert enqueues nothing.
    assert!(f.store.add_alert_action(Uuid::from_u128(8), action, announce("ghost")).await.unwrap().is_none());

    let due = f.store.due_deliveries(t0(), 10).await.unwrap();
    let bodies: Vec<&str> = due.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            r#"{"tag":"opened","status":"open"}"#,
            r#"{"tag":"ack","status":"acknowledged"}"#,
            r#"{"tag":"action","status":"acknowledged"}"#
        ]
    );
    assert!(due.iter().all(|m| m.alert_id == Uuid::from_u128(7) && m.attempts == 0));
    assert!(f.store.due_deliveries(t0() - Duration::seconds(1), 10).await.unwrap().is_empty());

    f.store.record_delivery(due[0].id, Ok(t0())).await.unwrap();
    f.store.record_delivery(due[1].id, Err((Some(t0() + Duration::seconds(2)), "HTTP 503".into()))).await.unwrap();
    f.store.record_delivery(due[2].id, Err((None, "gone".into()))).await.unwrap();
    assert_eq!(f.store.outbox_counts().await.unwrap(), OutboxCounts { pending: 1, delivered: 1, failed: 1 });
    assert!(f.store.due_deliveries(t0() + Duration::seconds(1), 10).await.unwrap().is_empty());
    let retry = f.store.due_deliveries(t0() + Duration::seconds(2), 10).await.unwrap();
    assert_eq!((retry.len(), retry[0].id, retry[0].attempts), (1, due[1].id, 1));
    assert_eq!(retry[0].body, due[1].body, "a retry sends the same bytes");
}

/// Instantiates every contract test for one backend constructor.
#[macro_export]
macro_rules! contract_suite {
    ($module:ident, $fresh:path) => {
        mod $module {
            use $crate::contract;
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        contract::$name($fresh().await).await;
                    }
                };
            }
            case!(insert_and_get_round_trip_every_field);
            case!(insert_is_idempotent_on_id);
            case!(batch_reports_one_outcome_per_item_in_order);
            case!(concurrent_inserts_of_one_id_store_one_row);
            case!(queries_filter_and_page_by_keyset);
            case!(verification_changes_are_recorded);
            case!(withdrawal_deletes_content_and_keeps_an_audit_record);
            case!(audit_log_is_a_verifiable_chain);
            case!(tokens_and_settings_round_trip);
            case!(nul_bytes_are_refused_clearly_and_store_nothing);
            case!(alerts_keep_their_lifecycle_and_actions);
            case!(bbox_edges_are_inclusive_and_exact);
            case!(keyset_breaks_received_at_ties_by_id_byte_order);
            case!(concurrent_overlapping_batches_never_fail);
            case!(outbox_is_written_with_the_change_and_drained_in_order);
            case!(scan_cores_pages_through_every_report_once);
        }
    };
}

contract_suite!(sqlite, crate::backends::sqlite);
contract_suite!(postgis, crate::backends::postgis);
