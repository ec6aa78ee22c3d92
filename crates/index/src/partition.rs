//! One UTC day of events: a tantivy index of its own under `index/YYYY-MM-DD/`. A search
//! opens only the days its window touches, merges stay within a day, and retention deletes
//! a whole directory instead of deleting documents one by one.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tantivy::schema::Value;
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy};

use crate::IndexError;
use crate::schema::{self, Fields};

/// Written into a day's directory before tantivy's own files. Its term dictionaries are
/// SSTables (tantivy built with its `quickwit` feature, as Quickwit builds it: cheaper to
/// write and merge than an FST). Days written before it hold FST dictionaries, which this
/// build cannot read: a directory with `meta.json` and no marker is re-indexed by
/// [`crate::migrate`].
pub(crate) const FORMAT_FILE: &str = "sluice-format.json";
pub(crate) const FORMAT: &str = r#"{"version":2,"term_dictionary":"sstable"}"#;

/// Whether the day in `dir` was written by an older Sluice in a format this one cannot
/// read (see [`FORMAT_FILE`]).
pub(crate) fn is_old_format(dir: &Path) -> bool {
    dir.join("meta.json").exists() && !dir.join(FORMAT_FILE).exists()
}

/// The name of a day's directory.
pub(crate) fn dir_name(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The day a directory name stands for, if it is one.
pub(crate) fn parse_dir_name(name: &str) -> Option<NaiveDate> {
    (name.len() == 10).then(|| NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()).flatten()
}

/// The UTC day an event belongs to.
pub(crate) fn day_of(timestamp: DateTime<Utc>) -> NaiveDate {
    timestamp.date_naive()
}

#[derive(Clone)]
pub(crate) struct Partition {
    pub day: NaiveDate,
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
}

impl Partition {
    /// Opens the day's index under `root`, creating it if needed.
    pub(crate) fn open_or_create(root: &Path, day: NaiveDate) -> Result<Partition, IndexError> {
        let dir = Partition::path(root, day);
        std::fs::create_dir_all(&dir).map_err(|source| IndexError::Io { path: dir.clone(), source })?;
        if is_old_format(&dir) {
            return Err(IndexError::OldLayout(dir));
        }
        let marker = dir.join(FORMAT_FILE);
        if !marker.exists() {
            write_synced(&marker, FORMAT.as_bytes()).map_err(|source| IndexError::Io { path: marker, source })?;
        }
        let mmap = tantivy::directory::MmapDirectory::open(&dir)
            .map_err(|e| IndexError::Tantivy(tantivy::TantivyError::from(e)))?;
        // A day keeps the schema it was created with: days written before fieldnorms were
        // turned off still have them, and read the same.
        let exists = Index::exists(&mmap).map_err(|e| IndexError::Tantivy(tantivy::TantivyError::from(e)))?;
        let index =
            if exists { Index::open(mmap)? } else { Index::create(mmap, schema::build(), IndexSettings::default())? };
        Partition::from_index(day, index)
    }

    /// Opens an existing day's index (searches from another process than the writer's).
    pub(crate) fn open_existing(dir: &Path, day: NaiveDate) -> Result<Partition, IndexError> {
        Partition::from_index(day, Index::open_in_dir(dir)?)
    }

    /// A partition that lives in memory (queries over events outside the index).
    pub(crate) fn in_ram(day: NaiveDate) -> Result<Partition, IndexError> {
        Partition::from_index(day, Index::create_in_ram(schema::build()))
    }

    fn from_index(day: NaiveDate, index: Index) -> Result<Partition, IndexError> {
        schema::register_tokenizers(&index);
        let fields = Fields::resolve(&index.schema())?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Partition { day, index, reader, fields })
    }

    pub(crate) fn path(root: &Path, day: NaiveDate) -> PathBuf {
        root.join(dir_name(day))
    }

    /// Whether any of `[from, to)` falls on this day.
    pub(crate) fn overlaps(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
        let start = self.day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let end = start + TimeDelta::days(1);
        from.is_none_or(|from| from < end) && to.is_none_or(|to| to > start)
    }

    /// The WAL sequence number of this day's last commit: it holds every event of the day
    /// up to there.
    pub(crate) fn committed_seq(&self) -> Result<u64, IndexError> {
        Ok(wal_seq_of(self.index.load_metas()?.payload.as_deref()))
    }

    pub(crate) fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// Writes a small file and syncs it and its directory, so it exists before anything that
/// relies on it.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub(crate) fn wal_seq_of(payload: Option<&str>) -> u64 {
    payload
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|v| v["wal_seq"].as_u64())
        .unwrap_or(0)
}

/// Reads the stored event and its sort key of a document.
pub(crate) fn stored_event(
    fields: &Fields,
    doc: &tantivy::TantivyDocument,
) -> Option<Result<sluice_core::Event, serde_json::Error>> {
    let source = doc.get_first(fields.source_json).and_then(|v| v.as_str())?;
    Some(serde_json::from_str(source))
}
