//! Background compaction: the sink flushes a small file per partition every minute;
//! this merges them so readers open a few large files per day and module.
//!
//! Policy (bounded write amplification, like a tiered LSM):
//! - in a partition still being written (today and yesterday, UTC), every 10 files of
//!   the same level merge into one of the next level, up to level 2;
//! - once a day is over (older than yesterday), its small files merge into as few
//!   files as possible (up to 10 million rows each) at the cold level, 3, written with a
//!   slow, tight zstd level. Files arriving for a settled day (an import or backfill of
//!   old logs) join its settled file only when they hold at least as many rows as it
//!   does, or once the day has been quiet for ten minutes, or when an import ends: a
//!   backfill that keeps writing a day rewrites it a few times (each rewrite at least
//!   doubles it), not once a minute. Until then they merge in tens like a hot day's.
//!
//! A merge streams its inputs (each sorted by time) through a k-way merge into one
//! sorted file (write, fsync, rename), swaps the manifest, then moves the inputs out of
//! the tree into `archive-trash/<unix time>/`, where readers that planned from the old
//! manifest still find them for ten minutes. A crash at any point leaves either the
//! inputs or the output listed, and the unlisted side is removed on the next open.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use tracing::{debug, info, warn};

use crate::manifest::FileEntry;
use crate::{
    ArchiveError, ArchiveHandle, FLUSH_ZSTD_LEVEL, io_err, partition_day, partition_value, schema, write_atomically,
};

const MERGE_FACTOR: usize = 10;
/// Levels merged while a partition is hot; a merge of level-1 files makes level 2.
const HOT_LEVELS: u8 = 2;
const COLD_LEVEL: u8 = 3;
const MAX_MERGE_ROWS: u64 = 10_000_000;
const MAX_MERGE_INPUTS: usize = 200;
const BATCH_ROWS: usize = 8192;
/// Finished days are written once more, so they get zstd's slower, tighter levels (on
/// generated shop logs 15 makes the archive smaller than `zstd -3` of the raw text).
const COLD_ZSTD_LEVEL: i32 = 15;
/// How long a finished day must go without new files before they join its settled one
/// whatever their size.
const COLD_QUIET: Duration = Duration::from_secs(10 * 60);
/// How long replaced files stay readable for readers holding an older manifest.
const TRASH_GRACE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Files replaced by merges.
    pub inputs: usize,
    /// Files the merges wrote.
    pub outputs: usize,
    pub rows: u64,
}

impl ArchiveHandle {
    /// Runs every merge the policy calls for now, then empties expired trash.
    pub fn compact(&self, now: DateTime<Utc>) -> Result<CompactionReport, ArchiveError> {
        self.compact_with(now, Settle::WhenQuiet)
    }

    /// As [`ArchiveHandle::compact`], and every finished day's new files join its settled
    /// files now, without waiting for the day to go quiet: the last pass of an import,
    /// after which nothing more arrives.
    pub fn settle(&self, now: DateTime<Utc>) -> Result<CompactionReport, ArchiveError> {
        self.compact_with(now, Settle::Now)
    }

    fn compact_with(&self, now: DateTime<Utc>, settle: Settle) -> Result<CompactionReport, ArchiveError> {
        let mut report = CompactionReport::default();
        // Only files still in the data dir (older days may live in the object store only).
        let local = |files: Vec<FileEntry>| -> Vec<FileEntry> {
            files.into_iter().filter(|f| self.shared.root.join(&f.path).exists()).collect()
        };
        while let Some(plan) = next_merge(&local(self.shared.snapshot().files), now, settle) {
            // False when the manifest changed under us (retention): plan again from it.
            if self.merge(&plan, now)? {
                report.inputs += plan.inputs.len();
                report.outputs += 1;
                report.rows += plan.inputs.iter().map(|f| f.rows).sum::<u64>();
            }
        }
        self.purge_trash(now);
        if report.outputs > 0 {
            info!(inputs = report.inputs, outputs = report.outputs, rows = report.rows, "compacted archive files");
        }
        Ok(report)
    }

    /// Writes the merged file and swaps it in. False if an input is no longer listed.
    fn merge(&self, plan: &Merge, now: DateTime<Utc>) -> Result<bool, ArchiveError> {
        let root = &self.shared.root;
        let source = plan.inputs[0].source.clone();
        // Several merges of a pass share `now`; the inputs tell them apart (a set of inputs
        // is merged once: afterwards those files are gone).
        let mut inputs_hash = std::hash::DefaultHasher::new();
        for input in &plan.inputs {
            input.path.hash(&mut inputs_hash);
        }
        let relative = format!(
            "{}/part-m{:020}-{:016x}-{}.parquet",
            plan.partition,
            now.timestamp_micros(),
            inputs_hash.finish(),
            partition_value(&source)
        );
        let output = root.join(&relative);
        let level = if plan.level == COLD_LEVEL { COLD_ZSTD_LEVEL } else { FLUSH_ZSTD_LEVEL };
        let bytes = merge_sorted(root, &plan.inputs, &output, level)?;
        let entry = FileEntry {
            path: relative,
            source,
            rows: plan.inputs.iter().map(|f| f.rows).sum(),
            bytes,
            level: plan.level,
            min_ts: plan.inputs.iter().filter_map(|f| f.min_ts).min(),
            max_ts: plan.inputs.iter().filter_map(|f| f.max_ts).max(),
            // The rows are as new as the newest input: a merge does not restart the
            // quiet period of a finished day.
            written_at: plan.inputs.iter().filter_map(|f| f.written_at).max().or(Some(now)),
        };
        let swapped = self.shared.update(|manifest| {
            let listed = plan.inputs.iter().all(|input| manifest.files.iter().any(|f| f.path == input.path));
            if listed {
                manifest.files.retain(|f| !plan.inputs.iter().any(|input| input.path == f.path));
                manifest.files.push(entry);
            }
            listed
        })?;
        if !swapped {
            crate::remove_if_present(&output)?;
            return Ok(false);
        }
        let trash = self.shared.trash.join(now.timestamp().to_string());
        for input in &plan.inputs {
            let (from, to) = (root.join(&input.path), trash.join(&input.path));
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            if let Err(error) = fs::rename(&from, &to) {
                warn!(path = %from.display(), %error, "cannot move a compacted file to the trash; deleting it");
                crate::remove_if_present(&from)?;
            }
        }
        debug!(partition = %plan.partition, inputs = plan.inputs.len(), level = plan.level, "merged");
        Ok(true)
    }

    fn purge_trash(&self, now: DateTime<Utc>) {
        let Ok(entries) = fs::read_dir(&self.shared.trash) else { return };
        let cutoff = now.timestamp() - TRASH_GRACE.as_secs() as i64;
        for entry in entries.flatten() {
            let expired = entry.file_name().to_str().and_then(|n| n.parse::<i64>().ok()).is_some_and(|t| t < cutoff);
            if expired && let Err(error) = fs::remove_dir_all(entry.path()) {
                warn!(path = %entry.path().display(), %error, "cannot empty archive trash");
            }
        }
    }
}

#[derive(Debug)]
struct Merge {
    /// `dt=.../module=...`
    partition: String,
    inputs: Vec<FileEntry>,
    level: u8,
}

/// When a finished day's new files join its settled files regardless of their size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Once the day has had no new file for [`COLD_QUIET`].
    WhenQuiet,
    /// Now (nothing more is coming).
    Now,
}

/// The first merge the policy calls for at `now`, if any.
fn next_merge(files: &[FileEntry], now: DateTime<Utc>, settle: Settle) -> Option<Merge> {
    // Files merge with files of the same partition and source.
    let mut groups: BTreeMap<(&str, &str), Vec<&FileEntry>> = BTreeMap::new();
    for file in files {
        if let Some((partition, _)) = file.path.rsplit_once('/') {
            groups.entry((partition, file.source.as_str())).or_default().push(file);
        }
    }
    let hot_since = now.date_naive() - chrono::Days::new(1);
    for ((partition, _), mut members) in groups {
        members.sort_by_key(|f| (f.min_ts, f.path.clone()));
        let cold = partition_day(partition).is_some_and(|day| day < hot_since);
        let mut plan = if cold { settle_day(&members, now, settle) } else { None };
        if plan.is_none() {
            // A day still being written, or new files of a settled day not yet due to
            // join it: tens of the same level merge into one of the next.
            plan = (0..HOT_LEVELS)
                .map(|level| members.iter().filter(|f| f.level == level).take(MERGE_FACTOR).collect::<Vec<_>>())
                .find(|same_level| same_level.len() == MERGE_FACTOR)
                .map(|group| {
                    let level = group[0].level + 1;
                    (group.into_iter().map(|f| (*f).clone()).collect(), level)
                });
        }
        if let Some((inputs, level)) = plan {
            return Some(Merge { partition: partition.to_owned(), inputs, level });
        }
    }
    None
}

/// The cold merge of a finished day's partition, if due: its new files (below the cold
/// level) together with its settled files, up to the row limit. Due when the new files
/// hold at least as many rows as the settled ones (so each rewrite at least doubles the
/// settled file, and a backfill rewrites a day a few times, not once a pass), when the
/// day has gone quiet, or when settling now. A finished day's lone small file is
/// rewritten once at the cold level too: every finished day ends up equally compressed.
fn settle_day(members: &[&FileEntry], now: DateTime<Utc>, settle: Settle) -> Option<(Vec<FileEntry>, u8)> {
    let fresh: Vec<&FileEntry> = members.iter().copied().filter(|f| f.level < COLD_LEVEL).collect();
    let mut rows = 0;
    let picked: Vec<FileEntry> = fresh
        .iter()
        .copied()
        .filter(|f| f.rows < MAX_MERGE_ROWS)
        .chain(members.iter().copied().filter(|f| f.level >= COLD_LEVEL && f.rows < MAX_MERGE_ROWS))
        .take_while(|f| {
            rows += f.rows;
            rows <= MAX_MERGE_ROWS
        })
        .take(MAX_MERGE_INPUTS)
        .cloned()
        .collect();
    // Never rewrite settled files alone: that would repeat forever.
    if picked.first().is_none_or(|f| f.level >= COLD_LEVEL) {
        return None;
    }
    let (fresh_rows, settled_rows) = picked.iter().fold((0, 0), |(fresh, settled), f| {
        if f.level < COLD_LEVEL { (fresh + f.rows, settled) } else { (fresh, settled + f.rows) }
    });
    let newest = fresh.iter().filter_map(|f| f.written_at).max();
    let quiet = newest.is_none_or(|t| now.signed_duration_since(t).to_std().is_ok_and(|age| age >= COLD_QUIET));
    let due = fresh_rows >= settled_rows || quiet || settle == Settle::Now;
    due.then_some((picked, COLD_LEVEL))
}

/// One input's position in the k-way merge.
struct Cursor {
    reader: ParquetRecordBatchReader,
    /// Index of the current batch in the merge's batch list.
    slot: usize,
    timestamps: TimestampMicrosecondArray,
    row: usize,
}

impl Cursor {
    /// The next non-empty batch, if any.
    fn next_batch(reader: &mut ParquetRecordBatchReader) -> Result<Option<RecordBatch>, ArchiveError> {
        for batch in reader.by_ref() {
            let batch = batch?;
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }
}

fn timestamps_of(batch: &RecordBatch) -> Result<TimestampMicrosecondArray, ArchiveError> {
    batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .cloned()
        .ok_or_else(|| ArchiveError::Arrow(arrow_schema::ArrowError::SchemaError("timestamp column".into())))
}

/// Merges time-sorted files into one time-sorted file; returns its size.
fn merge_sorted(root: &Path, inputs: &[FileEntry], output: &Path, level: i32) -> Result<u64, ArchiveError> {
    let schema = Arc::new(schema::arrow_schema());
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Option<Cursor>> = Vec::with_capacity(inputs.len());
    let mut heap = BinaryHeap::new();
    for input in inputs {
        let path = root.join(&input.path);
        let file = File::open(&path).map_err(io_err(&path))?;
        let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(BATCH_ROWS).build()?;
        let cursor = match Cursor::next_batch(&mut reader)? {
            Some(batch) => {
                let timestamps = timestamps_of(&batch)?;
                heap.push(Reverse((timestamps.value(0), cursors.len())));
                batches.push(batch);
                Some(Cursor { reader, slot: batches.len() - 1, timestamps, row: 0 })
            }
            None => None,
        };
        cursors.push(cursor);
    }
    write_atomically(output, schema.clone(), level, |writer| {
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(BATCH_ROWS);
        while let Some(Reverse((_, c))) = heap.pop() {
            let cursor = cursors[c].as_mut().expect("a cursor in the heap is live");
            order.push((cursor.slot, cursor.row));
            cursor.row += 1;
            if cursor.row < cursor.timestamps.len() {
                heap.push(Reverse((cursor.timestamps.value(cursor.row), c)));
            } else if let Some(batch) = Cursor::next_batch(&mut cursor.reader)? {
                cursor.timestamps = timestamps_of(&batch)?;
                cursor.row = 0;
                batches.push(batch);
                cursor.slot = batches.len() - 1;
                heap.push(Reverse((cursor.timestamps.value(0), c)));
            } else {
                cursors[c] = None;
            }
            if order.len() == BATCH_ROWS || heap.is_empty() {
                writer.write(&interleave(&schema, &batches, &order)?)?;
                order.clear();
                // Keep only the batches cursors still read from.
                let mut kept = Vec::new();
                for cursor in cursors.iter_mut().flatten() {
                    kept.push(batches[cursor.slot].clone());
                    cursor.slot = kept.len() - 1;
                }
                batches = kept;
            }
        }
        Ok(())
    })
}

fn interleave(
    schema: &arrow_schema::SchemaRef,
    batches: &[RecordBatch],
    order: &[(usize, usize)],
) -> Result<RecordBatch, ArchiveError> {
    let columns = (0..schema.fields().len())
        .map(|i| {
            let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            arrow_select::interleave::interleave(&arrays, order)
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn entry(path: &str, level: u8, rows: u64) -> FileEntry {
        FileEntry {
            path: path.into(),
            source: "nginx".into(),
            rows,
            bytes: 0,
            level,
            min_ts: None,
            max_ts: None,
            written_at: None,
        }
    }

    fn written(mut file: FileEntry, at: DateTime<Utc>) -> FileEntry {
        file.written_at = Some(at);
        file
    }

    fn noon(day: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    #[test]
    fn hot_partitions_merge_in_tens_and_cold_ones_merge_whole() {
        let now = noon(22);
        let next = |files: &[FileEntry]| next_merge(files, now, Settle::WhenQuiet);
        let hot: Vec<FileEntry> =
            (0..9).map(|i| entry(&format!("dt=2026-11-22/module=order/part-{i}.parquet"), 0, 100)).collect();
        assert!(next(&hot).is_none(), "nine small files wait for a tenth");
        let mut ten = hot.clone();
        ten.push(entry("dt=2026-11-22/module=order/part-9.parquet", 0, 100));
        let plan = next(&ten).unwrap();
        assert_eq!((plan.inputs.len(), plan.level), (10, 1));

        let cold = vec![
            entry("dt=2026-11-19/module=order/a.parquet", 0, 100),
            entry("dt=2026-11-19/module=order/b.parquet", 1, 1000),
            entry("dt=2026-11-19/module=order/c.parquet", COLD_LEVEL, 5000),
        ];
        let plan = next(&cold).unwrap();
        assert_eq!((plan.inputs.len(), plan.level), (3, COLD_LEVEL), "late files of a quiet day join the settled one");
        assert!(next(&cold[2..]).is_none(), "a settled day is left alone");
        let plan = next(&cold[1..2]).unwrap();
        assert_eq!(
            (plan.inputs.len(), plan.level),
            (1, COLD_LEVEL),
            "a finished day's lone file is rewritten once at the cold level"
        );
        let huge = vec![
            entry("dt=2026-11-19/module=order/a.parquet", 0, 100),
            entry("dt=2026-11-19/module=order/c.parquet", COLD_LEVEL, MAX_MERGE_ROWS - 10),
        ];
        let plan = next(&huge).unwrap();
        assert_eq!(plan.inputs.len(), 1, "a settled file near the row limit is not rewritten for a late one");
        assert!(next(&ten[..1]).is_none(), "a lone file of a day still being written waits");
    }

    #[test]
    fn a_backfilled_day_is_rewritten_when_it_doubles_goes_quiet_or_settles() {
        let now = noon(22);
        let settled = entry("dt=2026-11-19/module=order/s.parquet", COLD_LEVEL, 10_000);
        let just_written =
            |i: u64, rows: u64| written(entry(&format!("dt=2026-11-19/module=order/new-{i}.parquet"), 0, rows), now);
        // A backfill still writing the day: a minute's files do not rewrite it yet.
        let writing = vec![settled.clone(), just_written(0, 3_000), just_written(1, 3_000)];
        assert!(next_merge(&writing, now, Settle::WhenQuiet).is_none());
        let plan = next_merge(&writing, now, Settle::Now).unwrap();
        assert_eq!((plan.inputs.len(), plan.level), (3, COLD_LEVEL), "an import's last pass settles it");
        let later = now + COLD_QUIET;
        assert_eq!(next_merge(&writing, later, Settle::WhenQuiet).unwrap().inputs.len(), 3, "quiet: settled");
        // As many new rows as settled ones: the rewrite at least doubles the day.
        let doubled = [writing.clone(), vec![just_written(2, 4_000)]].concat();
        let plan = next_merge(&doubled, now, Settle::WhenQuiet).unwrap();
        assert_eq!((plan.inputs.len(), plan.level), (4, COLD_LEVEL));
        // Meanwhile the new files merge in tens, as a hot day's do.
        let many: Vec<FileEntry> = (0..10).map(|i| just_written(i, 10)).chain([settled]).collect();
        let plan = next_merge(&many, now, Settle::WhenQuiet).unwrap();
        assert_eq!((plan.inputs.len(), plan.level), (10, 1));
        assert!(plan.inputs.iter().all(|f| f.level == 0));
    }
}
