//! Converts indexes written by older Sluice versions, once, when a newer Sluice first
//! opens the index for writing. Both conversions read the events back from their stored
//! `_source` (the document store's format has not changed) and index them again.
//!
//! - An index written before day partitions (one tantivy index directly in `index/`)
//!   becomes day partitions.
//! - A day written before the SSTable term dictionaries (no format marker, see
//!   [`partition::is_old_format`]) is indexed again with them.
//!
//! The old index is first renamed aside, then read into a fresh index, then renamed once
//! more and deleted; a crash at any point leaves either the whole aside copy in place (the
//! next start builds the new index again from it) or a copy marked as discarded (the next
//! start finishes deleting it).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sluice_core::Event;
use tantivy::schema::Value;
use tantivy::{Index, TantivyDocument};

use crate::partition::{self, Partition, wal_seq_of};
use crate::{EventIndex, IndexError};

/// Whether `root` holds an index of the old, single-directory layout.
pub(crate) fn is_single(root: &Path) -> bool {
    root.join("meta.json").exists()
}

/// Whether some day under `root` still needs [`old_days_to_current`].
pub(crate) fn has_old_days(root: &Path) -> bool {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| matches!(entry_kind(&entry), EntryKind::Aside(_) | EntryKind::OldDay(_)))
}

/// What a directory under the index root is to the day conversion.
enum EntryKind {
    /// An old copy whose conversion finished, left by a deletion cut short.
    Discarded,
    /// A day being converted, renamed aside.
    Aside(NaiveDate),
    /// A day in an older format, not yet touched.
    OldDay(NaiveDate),
    Other,
}

fn entry_kind(entry: &std::fs::DirEntry) -> EntryKind {
    let name = entry.file_name();
    let Some(name) = name.to_str() else { return EntryKind::Other };
    if name.ends_with(DISCARDED_SUFFIX) {
        EntryKind::Discarded
    } else if let Some(day) = name.strip_suffix(OLD_DAY_SUFFIX).and_then(partition::parse_dir_name) {
        EntryKind::Aside(day)
    } else if let Some(day) = partition::parse_dir_name(name)
        && partition::is_old_format(&entry.path())
    {
        EntryKind::OldDay(day)
    } else {
        EntryKind::Other
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + use<> {
    let path = path.to_owned();
    move |source| IndexError::Io { path, source }
}

/// Marks an old copy whose conversion finished. Renaming is atomic: a deletion cut short
/// never leaves part of a copy under the name that means "convert from here".
const DISCARDED_SUFFIX: &str = ".discarded";

fn discarded(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(DISCARDED_SUFFIX);
    PathBuf::from(name)
}

fn discard(dir: &Path) -> Result<(), IndexError> {
    let trash = discarded(dir);
    std::fs::rename(dir, &trash).map_err(io_error(dir))?;
    std::fs::remove_dir_all(&trash).map_err(io_error(&trash))
}

fn aside(root: &Path) -> PathBuf {
    let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("index");
    root.with_file_name(format!("{name}-single"))
}

pub(crate) fn single_to_daily(root: &Path) -> Result<(), IndexError> {
    let old = aside(root);
    let trash = discarded(&old);
    if trash.exists() {
        std::fs::remove_dir_all(&trash).map_err(io_error(&trash))?;
    }
    if is_single(root) {
        std::fs::rename(root, &old).map_err(io_error(root))?;
    }
    if !old.exists() {
        return Ok(());
    }
    tracing::info!(from = %old.display(), to = %root.display(), "converting the index into day partitions");
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(io_error(root))?;
    }
    std::fs::create_dir_all(root).map_err(io_error(root))?;
    let single = Index::open_in_dir(&old)?;
    let wal_seq = wal_seq_of(single.load_metas()?.payload.as_deref());
    let index = EventIndex::open_dir(root, true)?;
    let mut writer = index.writer(64 << 20)?;
    let mut converted: u64 = 0;
    for_each_stored_event(&single, |event, _ord| {
        // Ordinals below any new record's: pseudo-records of 2^24 events.
        writer.add(converted >> 24, &event)?;
        converted += 1;
        Ok(())
    })?;
    writer.commit(wal_seq)?;
    writer.finish()?;
    discard(&old)?;
    tracing::info!(events = converted, "index converted into day partitions");
    Ok(())
}

/// What an old-format day's directory is renamed to while it is converted (not a day's
/// name, so nothing else opens it).
const OLD_DAY_SUFFIX: &str = ".old-format";

/// Indexes every day written in an older format again in the current one, keeping each
/// event's ordinal and the day's commit payload (the WAL position it holds).
pub(crate) fn old_days_to_current(root: &Path) -> Result<(), IndexError> {
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(()) };
    let mut days = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        match entry_kind(&entry) {
            EntryKind::Discarded => std::fs::remove_dir_all(&path).map_err(io_error(&path))?,
            // A conversion cut short: start it again from the aside copy.
            EntryKind::Aside(day) => days.push(day),
            EntryKind::OldDay(day) => {
                std::fs::rename(&path, old_day_path(root, day)).map_err(io_error(&path))?;
                days.push(day);
            }
            EntryKind::Other => {}
        }
    }
    days.sort();
    for day in days {
        convert_day(root, day)?;
    }
    Ok(())
}

fn old_day_path(root: &Path, day: NaiveDate) -> PathBuf {
    root.join(format!("{}{OLD_DAY_SUFFIX}", partition::dir_name(day)))
}

fn convert_day(root: &Path, day: NaiveDate) -> Result<(), IndexError> {
    let old = old_day_path(root, day);
    let new = Partition::path(root, day);
    tracing::info!(%day, "indexing a day written by an older Sluice again (SSTable term dictionaries)");
    if new.exists() {
        std::fs::remove_dir_all(&new).map_err(io_error(&new))?;
    }
    let source = Index::open_in_dir(&old)?;
    let payload = source.load_metas()?.payload;
    let target = Partition::open_or_create(root, day)?;
    let mut writer = target.index.writer_with_num_threads::<TantivyDocument>(1, 64 << 20)?;
    let mut converted: u64 = 0;
    for_each_stored_event(&source, |event, ord| {
        writer.add_document(target.fields.document(&event, ord.unwrap_or(converted)))?;
        converted += 1;
        Ok(())
    })?;
    let mut prepared = writer.prepare_commit()?;
    if let Some(payload) = &payload {
        prepared.set_payload(payload);
    }
    prepared.commit()?;
    writer.wait_merging_threads()?;
    discard(&old)?;
    tracing::info!(%day, events = converted, "index day converted");
    Ok(())
}

/// Calls `add` with every live event stored in `index` and its ordinal, when the index
/// has the `ord` column. Only the document store and fast fields are read, never the term
/// dictionaries (which may be in a format this build cannot read).
fn for_each_stored_event(
    index: &Index,
    mut add: impl FnMut(Event, Option<u64>) -> Result<(), IndexError>,
) -> Result<(), IndexError> {
    let source_field = index.schema().get_field("_source")?;
    let searcher = index.reader()?.searcher();
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(64).map_err(|e| IndexError::Tantivy(e.into()))?;
        let ords = segment.fast_fields().u64("ord").ok();
        for doc_id in 0..segment.max_doc() {
            if segment.alive_bitset().is_some_and(|a| !a.is_alive(doc_id)) {
                continue;
            }
            let doc: TantivyDocument = store.get(doc_id)?;
            let Some(json) = doc.get_first(source_field).and_then(|v| v.as_str()) else { continue };
            match serde_json::from_str(json) {
                Ok(event) => add(event, ords.as_ref().and_then(|column| column.first(doc_id)))?,
                Err(error) => tracing::warn!(%error, "skipping unreadable stored event"),
            }
        }
    }
    Ok(())
}
