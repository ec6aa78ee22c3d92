use std::sync::Arc;

use chrono::{TimeZone, Utc};
use parquet::file::reader::{FileReader, SerializedFileReader};
use sluice_core::Event;

use super::*;

fn event(secs: i64, module: &str) -> Event {
    let mut e = Event::new(Utc.timestamp_opt(1_763_600_000 + secs, 0).unwrap(), format!("event {secs}"));
    e.module = module.into();
    e.source = "nginx".into();
    e.fields.insert("status", 502.into());
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
    let order = dir.path().join("dt=2025-11-20/module=order/part-00000000000000000007-nginx.parquet");
    assert_eq!(rows_in(&order), 2);
    let first = &manifest
        .files
        .iter()
        .find(|f| {
            f.path.ends_with("module=order/part-00000000000000000007-nginx.parquet")
                && f.path.starts_with("dt=2025-11-20")
        })
        .unwrap();
    assert!(first.min_ts < first.max_ts);

    let reopened = Archive::open(dir.path()).unwrap();
    assert_eq!(reopened.committed_seq(), 7);
}

/// The bench's split of a flush must measure what a flush writes: the same files, byte for byte.
#[test]
fn flush_stages_encode_exactly_what_a_flush_writes() {
    // Two days, two modules, out of time order.
    let rows: Vec<Event> =
        (0..600).map(|i| event((i * 7919) % 100_000, if i % 3 == 0 { "payment" } else { "order" })).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    for row in rows.clone() {
        archive.push(row);
    }
    archive.flush(1).unwrap();
    let flushed: u64 = archive.manifest().files.iter().map(|f| f.bytes).sum();

    let stages = FlushStages::build_columns(rows).unwrap();
    assert_eq!(stages.files.len(), 4, "one file per day, module and source");
    assert_eq!(stages.encode_parquet(Some(FLUSH_ZSTD_LEVEL)).unwrap(), flushed);
    assert!(stages.encode_parquet(None).unwrap() > flushed, "uncompressed is larger");
}

#[test]
fn background_flushes_finish_in_order_and_a_flush_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    for batch in 0..5u64 {
        for i in 0..1000 {
            archive.push(event((batch * 1000 + i) as i64, "order"));
        }
        archive.flush_in_background(batch + 1).unwrap();
        assert_eq!(archive.buffered_rows(), 0);
    }
    archive.push(event(99_999, "payment"));
    archive.flush(6).unwrap();
    let manifest = archive.manifest();
    assert_eq!((manifest.wal_seq, manifest.total_rows(), manifest.files.len()), (6, 5001, 6));
    drop(archive);
    assert_eq!(Archive::open(dir.path()).unwrap().committed_seq(), 6);
}

#[test]
fn files_missing_from_the_manifest_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    archive.push(event(1, "order"));
    archive.flush(1).unwrap();
    let orphan = dir.path().join("dt=2025-11-20/module=order/part-00000000000000000002-nginx.parquet");
    fs::copy(dir.path().join("dt=2025-11-20/module=order/part-00000000000000000001-nginx.parquet"), &orphan).unwrap();
    fs::write(dir.path().join("dt=2025-11-20/module=order/x.parquet.tmp"), b"half").unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    assert!(!orphan.exists());
    assert_eq!(archive.manifest().files.len(), 1);
}

#[test]
fn rows_meet_in_their_partition_whatever_order_they_come_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    // Sources and modules interleaved, and two spellings of one partition directory.
    for (i, (source, module)) in
        [("nginx", "order"), ("app", "order"), ("nginx", "Order Svc"), ("nginx", "order"), ("nginx", "Order_Svc")]
            .into_iter()
            .enumerate()
    {
        let mut e = event(i as i64, module);
        e.source = source.into();
        archive.push(e);
    }
    archive.flush(3).unwrap();
    let rows = |path: &str| rows_in(&dir.path().join(format!("dt=2025-11-20/{path}")));
    assert_eq!(rows("module=order/part-00000000000000000003-nginx.parquet"), 2);
    assert_eq!(rows("module=order/part-00000000000000000003-app.parquet"), 1);
    assert_eq!(rows("module=Order_Svc/part-00000000000000000003-nginx.parquet"), 2);
    assert_eq!(archive.manifest().files.len(), 3);
}

#[test]
fn min_max_statistics_are_kept_where_readers_prune() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    for secs in [1, 2] {
        let mut e = event(secs, "order");
        e.fields.insert_str("path", &format!("/api/order/{secs}"));
        archive.push(e);
    }
    archive.flush(1).unwrap();
    let file = dir.path().join("dt=2025-11-20/module=order/part-00000000000000000001-nginx.parquet");
    let reader = SerializedFileReader::new(File::open(file).unwrap()).unwrap();
    let group = reader.metadata().row_group(0);
    let has_statistics = |name: &str| {
        let column = group.columns().iter().find(|c| c.column_path().string() == name).unwrap();
        column.statistics().is_some_and(|s| s.min_bytes_opt().is_some())
    };
    for name in ["timestamp", "source", "level", "host", "status"] {
        assert!(has_statistics(name), "{name} keeps min/max");
    }
    for name in ["message", "path", "fields"] {
        assert!(!has_statistics(name), "{name} has no min/max: it prunes nothing");
    }
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
    let removed = archive.handle().apply_retention(5, today).unwrap();
    assert_eq!(removed, vec!["dt=2025-11-20".to_string()]);
    assert!(!dir.path().join("dt=2025-11-20").exists());
    assert!(dir.path().join("dt=2025-11-21/module=order").is_dir());
    assert_eq!(archive.manifest().total_rows(), 2);
    assert!(archive.handle().apply_retention(5, today).unwrap().is_empty(), "nothing left to remove");

    let reopened = Archive::open(dir.path()).unwrap();
    assert_eq!(reopened.manifest().total_rows(), 2);
    assert_eq!(reopened.committed_seq(), 3);
}

fn read_all(reader: &ArchiveReader, request: &ScanRequest) -> Vec<Event> {
    let mut events = Vec::new();
    reader
        .scan(request, |batch| {
            events.extend(batch);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    events
}

#[test]
fn reader_returns_the_events_of_a_window_as_they_were_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    let mut pushed = Vec::new();
    for (secs, module) in [(10, "order"), (20, "payment"), (30, "order"), (90_000, "order")] {
        let mut e = event(secs, module);
        e.fields.insert("trace_id", format!("t{secs}").into());
        e.host = "web-1".into();
        pushed.push(e.clone());
        archive.push(e);
    }
    archive.flush(1).unwrap();
    let reader = ArchiveReader::open(dir.path()).unwrap();
    let all = read_all(&reader, &ScanRequest::default());
    assert_eq!(all.len(), 4);
    for e in &pushed {
        assert!(all.contains(e), "{e:?} read back unchanged");
    }
    let window =
        ScanRequest { from: Some(pushed[1].timestamp), to: Some(pushed[3].timestamp), modules: vec!["order".into()] };
    assert_eq!(read_all(&reader, &window), vec![pushed[2].clone()]);
}

#[test]
fn compaction_merges_small_files_into_one_sorted_file_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap().keep();
    let root = dir.join("archive");
    let mut archive = Archive::open(&root).unwrap();
    // Ten flushes of interleaved times into one finished day: one cold merge.
    for flush in 0..10 {
        for i in 0..50 {
            archive.push(event(i * 10 + flush, "order"));
        }
        archive.flush(flush as u64 + 1).unwrap();
    }
    let before = read_all(&ArchiveReader::open(&root).unwrap(), &ScanRequest::default());
    let stale = ArchiveReader::open(&root).unwrap();
    assert_eq!(archive.manifest().files.len(), 10);

    let now = Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap();
    let report = archive.handle().compact(now).unwrap();
    assert_eq!((report.inputs, report.outputs, report.rows), (10, 1, 500));
    let manifest = archive.manifest();
    assert_eq!(manifest.files.len(), 1);
    assert_eq!(manifest.files[0].level, 3);
    assert_eq!(manifest.wal_seq, 10, "compaction keeps the WAL position");
    let merged = root.join(&manifest.files[0].path);
    assert_eq!(rows_in(&merged), 500);

    let after = read_all(&ArchiveReader::open(&root).unwrap(), &ScanRequest::default());
    assert!(after.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "the merged file is sorted by time");
    let mut sorted_before = before.clone();
    sorted_before.sort_by_key(|e| (e.timestamp, e.message.clone()));
    let mut sorted_after = after.clone();
    sorted_after.sort_by_key(|e| (e.timestamp, e.message.clone()));
    assert_eq!(sorted_after, sorted_before);

    // Only the merged file is left in the tree; a reader that planned before the merge
    // still reads the replaced files from the trash.
    let parquet_files = fs::read_dir(merged.parent().unwrap()).unwrap().count();
    assert_eq!(parquet_files, 1);
    assert_eq!(read_all(&stale, &ScanRequest::default()).len(), 500);
    // Ten minutes later the trash is emptied.
    archive.handle().compact(now + chrono::Duration::minutes(11)).unwrap();
    assert!(read_all_result(&stale).is_err());
    assert!(Archive::open(&root).unwrap().manifest().files.len() == 1);
    fs::remove_dir_all(dir).unwrap();
}

fn read_all_result(reader: &ArchiveReader) -> Result<u64, ArchiveError> {
    reader.scan(&ScanRequest::default(), |_| std::ops::ControlFlow::Continue(()))
}

#[test]
fn export_writer_holds_every_module_in_one_file() {
    let mut out = Vec::new();
    let mut writer = EventsParquetWriter::new(&mut out).unwrap();
    for (secs, module) in [(1, "order"), (2, "payment")] {
        writer.write(event(secs, module)).unwrap();
    }
    assert_eq!(writer.rows(), 2);
    writer.finish().unwrap();
    let bytes = bytes::Bytes::from(out);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let mut events = Vec::new();
    for batch in reader {
        events.extend(schema::events_from_batch(&batch.unwrap(), "ignored").unwrap());
    }
    assert_eq!(events, vec![event(1, "order"), event(2, "payment")]);
}

#[test]
fn sync_mirrors_to_the_object_store_and_readers_fall_back_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (root, store) = (dir.path().join("archive"), dir.path().join("bucket"));
    let url = format!("file://{}", store.display());
    let remote = Arc::new(RemoteArchive::connect(&url, &Default::default()).unwrap());
    let mut archive = Archive::open(&root).unwrap();
    archive.set_remote(remote.clone());
    // 2025-11-20 and 2025-11-25.
    for (secs, module) in [(10, "order"), (20, "payment"), (5 * 86_400, "order")] {
        archive.push(event(secs, module));
    }
    archive.flush(1).unwrap();
    let handle = archive.handle();
    let today = chrono::NaiveDate::from_ymd_opt(2025, 11, 26).unwrap();

    // Keep two days locally: the 20th is uploaded and dropped, the 25th uploaded and kept.
    let report = handle.sync_remote(2, today).unwrap();
    assert_eq!((report.uploaded, report.deleted_remote, report.dropped_local), (3, 0, 2));
    assert!(store.join("_manifest.json").exists());
    assert!(store.join("dt=2025-11-20/module=order/part-00000000000000000001-nginx.parquet").exists());
    assert!(!root.join("dt=2025-11-20/module=order/part-00000000000000000001-nginx.parquet").exists());
    assert!(root.join("dt=2025-11-25/module=order/part-00000000000000000001-nginx.parquet").exists());
    assert_eq!(handle.sync_remote(2, today).unwrap(), SyncReport::default(), "nothing left to do");

    // Every event still reads back, the dropped day from the store.
    let local_only = ArchiveReader::open(&root).unwrap();
    assert!(read_all_result(&local_only).is_err(), "without the store the 20th is gone");
    let reader = ArchiveReader::open(&root).unwrap().with_remote(remote);
    assert_eq!(read_all(&reader, &ScanRequest::default()).len(), 3);
    assert_eq!(read_all(&ArchiveReader::from_handle(&handle), &ScanRequest::default()).len(), 3);

    // Retention removes the day from the manifest; the next sync deletes its objects.
    handle.apply_retention(5, today).unwrap();
    let report = handle.sync_remote(2, today).unwrap();
    assert_eq!(report.deleted_remote, 2);
    assert!(!store.join("dt=2025-11-20/module=order/part-00000000000000000001-nginx.parquet").exists());
}

#[test]
fn typed_columns_round_trip_every_value_exactly() {
    let mut events = Vec::new();
    for (i, fields) in [
        serde_json::json!({"status": 502, "path": "/api/pay", "bytes": 12, "request_time_ms": 3.5, "slow": true}),
        // Same keys with other JSON types stay in `fields` and come back as they were.
        serde_json::json!({"status": "502", "bytes": u64::MAX, "request_time_ms": 12, "slow": "yes", "path": 7}),
        serde_json::json!({"status": 99_999_999_999_i64, "query_time_ms": 0.0, "nested": {"a": [1, 2]}}),
        serde_json::json!({}),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(i as i64, "order");
        e.fields = fields.as_object().unwrap().clone().into();
        events.push(e);
    }
    let schema = Arc::new(schema::arrow_schema());
    let batch = schema::record_batch(schema, &events).unwrap();
    assert_eq!(batch.column_by_name("status").unwrap().null_count(), 3, "only the integer status is typed");
    // A column filled only in a middle row, and one no row fills, still span every row.
    let query_time = batch.column_by_name("query_time_ms").unwrap();
    assert_eq!((query_time.len(), query_time.null_count(), query_time.is_valid(2)), (4, 3, true));
    let trace_id = batch.column_by_name("trace_id").unwrap();
    assert_eq!((trace_id.len(), trace_id.null_count()), (4, 4));
    assert_eq!(schema::events_from_batch(&batch, "order").unwrap(), events);
}

#[test]
fn several_merges_in_one_pass_each_get_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::open(dir.path()).unwrap();
    // Twenty flushes into a day still being written: two merges of ten in one pass.
    for flush in 0..20 {
        for i in 0..50 {
            archive.push(event(i * 100 + flush, "order"));
        }
        archive.flush(flush as u64 + 1).unwrap();
    }
    let now = Utc.timestamp_opt(1_763_600_000, 0).unwrap();
    let report = archive.handle().compact(now).unwrap();
    assert_eq!((report.inputs, report.outputs, report.rows), (20, 2, 1000));
    let manifest = archive.manifest();
    assert_eq!(manifest.files.len(), 2);
    assert!(manifest.files.iter().all(|f| f.level == 1));
    assert_ne!(manifest.files[0].path, manifest.files[1].path);
    let mut messages: Vec<String> = read_all(&ArchiveReader::open(dir.path()).unwrap(), &ScanRequest::default())
        .into_iter()
        .map(|e| e.message)
        .collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 1000, "every pushed event, once");
}
