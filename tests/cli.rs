//! The `kinga` binary as a user runs it: tokens, migrate, import with a reject file, hotspots,
//! export, and the region rule.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;
use std::process::{Command, Output};

fn kinga(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinga")).arg("--database-url").arg(db).args(args).output().unwrap()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name).display().to_string()
}

#[test]
fn a_store_needs_a_region_once_then_remembers_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let out = kinga(&db, &["hotspots"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--region"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(kinga(&db, &["--region", &fixture("kisumu-region.geojson"), "hotspots"]).status.success());
    assert!(kinga(&db, &["hotspots"]).status.success(), "the region is remembered");
    let other = kinga(&db, &["--region", "0,0,1,1", "hotspots"]);
    assert!(!other.status.success() && String::from_utf8_lossy(&other.stderr).contains("differs"));
}

#[test]
fn token_create_prints_only_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let out = kinga(&db, &["token", "create", "--role", "analyst", "--name", "desk"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.trim().starts_with("kinga_") && stdout.trim().len() == 70, "{stdout}");
    let bad = kinga(&db, &["token", "create", "--role", "king"]);
    assert!(!bad.status.success());
    assert!(kinga(&db, &["migrate"]).status.success());
}

#[test]
fn import_reports_rejects_by_line_and_column_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let rejects = dir.path().join("rejects.csv");
    let args = [
        "--region",
        "34.40,-0.45,35.40,0.05",
        "import",
        &fixture("sample-reports.csv"),
        "--backfill",
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    let out = kinga(&db, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap().split(" (").next().unwrap(),
        "6 imported, 0 already present, 4 rejected"
    );
    let text = std::fs::read_to_string(&rejects).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows[0].starts_with("8,occurred_at,"), "{text}");
    assert!(rows[1].starts_with("9,\"lon,lat\","), "{text}");
    assert!(rows[2].starts_with("10,category,"), "{text}");
    assert!(rows[3].starts_with("11,severity,"), "{text}");
    let again = kinga(&db, &args);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("0 imported, 6 already present, 4 rejected"));

    // 06:00 in Kisumu (+03:00) is before the first report (06:10 +03:00): a replay sees nothing.
    let hot = kinga(&db, &["hotspots", "--format", "json", "--at", "2024-03-04T06:00:00+03:00", "--res", "8"]);
    let json: serde_json::Value = serde_json::from_slice(&hot.stdout).unwrap();
    assert!(json["hotspots"].as_array().unwrap().is_empty());
    let hot = kinga(&db, &["hotspots", "--format", "json", "--at", "2024-03-04T08:00:00+03:00", "--res", "8"]);
    let json: serde_json::Value = serde_json::from_slice(&hot.stdout).unwrap();
    assert_eq!(json["hotspots"][0]["top_categories"][0]["category"], "armed-clash", "{json}");
    let table = kinga(&db, &["hotspots", "--at", "2024-03-04T09:00:00+03:00"]);
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("rank"));

    let csv = dir.path().join("reports.csv");
    let out = kinga(&db, &["export", "--layer", "reports", "--format", "csv", "--out", csv.to_str().unwrap()]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 7);
    assert!(text.contains("'=HYPERLINK"), "formulas are neutralised: {text}");
}
