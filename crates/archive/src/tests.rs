use chrono::{TimeZone, Utc};
use parquet::file::reader::{FileReader, SerializedFileReader};
use sluice_core::Event;

use super::*;

fn event(secs: i64, module: &str) -> Event {
    let mut e = Event::new(Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap(), format!("event {secs}"));
    e.module = module.into();
    e.source = "nginx".into();
    e.fields.insert("status".into(), 502.into());
    e
}

fn rows_in(path: &Path) -> i64 {
    SerializedFileReader::new(File::open(path).unwrap()).unwrap().metadata().file_metadata().num_rows()
}

#[test]
fn flush_writes_partitioned_sorted_files_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    for (secs, module) in [(30, "order"), (10, "order"), (20, "payment"), (90_000, "order")] {
        archive.push(event(secs, module));
    }
    archive.flush(7).unwrap();
    let manifest = archive.manifest().clone();
    assert_eq!(manifest.wal_seq, 7);
    assert_eq!(manifest.total_rows(), 4);
    let order = dir.path().join("dt=2025-11-20/module=order/part-00000000000000000007.parquet");
    assert_eq!(rows_in(&order), 2);
    let first = &manifest
        .files
        .iter()
        .find(|f| {
            f.path.ends_with("module=order/part-00000000000000000007.parquet") && f.path.starts_with("dt=2025-11-20")
        })
        .unwrap();
    assert!(first.min_ts < first.max_ts);

    let reopened = Archive::open(dir.path()).unwrap();
    assert_eq!(reopened.committed_seq(), 7);
}

#[test]
fn files_missing_from_the_manifest_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    archive.push(event(1, "order"));
    archive.flush(1).unwrap();
    let orphan = dir.path().join("dt=2025-11-20/module=order/part-00000000000000000002.parquet");
    fs::copy(dir.path().join("dt=2025-11-20/module=order/part-00000000000000000001.parquet"), &orphan).unwrap();
    fs::write(dir.path().join("dt=2025-11-20/module=order/x.parquet.tmp"), b"half").unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    assert!(!orphan.exists());
    assert_eq!(archive.manifest().files.len(), 1);
}

#[test]
fn odd_module_names_make_safe_directories() {
    assert_eq!(partition_value("../etc"), "___etc");
    assert_eq!(partition_value(""), "other");
    assert_eq!(partition_value("order-v2"), "order-v2");
}

#[test]
fn retention_drops_whole_old_days_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    // 2025-11-20, 2025-11-21 and 2025-11-25.
    for (secs, module) in [(10, "order"), (20, "payment"), (90_000, "order"), (5 * 86_400, "order")] {
        archive.push(event(secs, module));
    }
    archive.flush(3).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2025, 11, 26).unwrap();
    let removed = archive.apply_retention(5, today).unwrap();
    assert_eq!(removed, vec!["dt=2025-11-20".to_string()]);
    assert!(!dir.path().join("dt=2025-11-20").exists());
    assert!(dir.path().join("dt=2025-11-21/module=order").is_dir());
    assert_eq!(archive.manifest().total_rows(), 2);
    assert!(archive.apply_retention(5, today).unwrap().is_empty(), "nothing left to remove");

    let reopened = Archive::open(dir.path()).unwrap();
    assert_eq!(reopened.manifest().total_rows(), 2);
    assert_eq!(reopened.committed_seq(), 3);
}
