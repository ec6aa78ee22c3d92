//! Reading the archive back: the events of a time window (and modules), file by file,
//! in bounded memory. Files are chosen from the manifest (time range, `module=`
//! directory) and row groups are skipped by their timestamp statistics.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;
use sluice_core::Event;

use crate::manifest::{FileEntry, Manifest};
use crate::{ArchiveError, ArchiveHandle, RemoteArchive, io_err, partition_value, schema};

/// Rows handed to the visitor at a time.
const BATCH_ROWS: usize = 8192;

#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Empty: every module.
    pub modules: Vec<String>,
}

impl ScanRequest {
    fn contains(&self, ts: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| ts >= from) && self.to.is_none_or(|to| ts < to)
    }

    /// Whether `[min, max]` (micros) can hold rows of the window.
    fn overlaps_micros(&self, min: i64, max: i64) -> bool {
        self.from.is_none_or(|from| max >= from.timestamp_micros())
            && self.to.is_none_or(|to| min < to.timestamp_micros())
    }
}

/// A read-only view of the archive as of one manifest.
pub struct ArchiveReader {
    root: PathBuf,
    trash: PathBuf,
    manifest: Manifest,
    remote: Option<Arc<RemoteArchive>>,
}

impl ArchiveReader {
    /// Reads the manifest from disk, without taking the data dir's lock (another process
    /// may be writing; files it compacts meanwhile stay readable from the trash).
    pub fn open(root: &Path) -> Result<ArchiveReader, ArchiveError> {
        let manifest = Manifest::load(root)?;
        Ok(ArchiveReader { root: root.to_owned(), trash: crate::trash_dir(root), manifest, remote: None })
    }

    /// Reads files no longer kept in the data dir from the object store.
    pub fn with_remote(mut self, remote: Arc<RemoteArchive>) -> ArchiveReader {
        self.remote = Some(remote);
        self
    }

    /// The archive as the writing process sees it now.
    pub fn from_handle(handle: &ArchiveHandle) -> ArchiveReader {
        let shared = &handle.shared;
        ArchiveReader {
            root: shared.root.clone(),
            trash: shared.trash.clone(),
            manifest: shared.snapshot(),
            remote: shared.remote.get().cloned(),
        }
    }

    /// The files that may hold rows of `request`, oldest first.
    pub fn files(&self, request: &ScanRequest) -> Vec<&FileEntry> {
        let modules: Vec<String> = request.modules.iter().map(|m| partition_value(m)).collect();
        let mut files: Vec<&FileEntry> = self
            .manifest
            .files
            .iter()
            .filter(|f| {
                let (Some(min), Some(max)) = (f.min_ts, f.max_ts) else { return false };
                request.overlaps_micros(min.timestamp_micros(), max.timestamp_micros())
                    && (modules.is_empty() || modules.iter().any(|m| Some(m.as_str()) == file_module(&f.path)))
            })
            .collect();
        files.sort_by_key(|f| f.min_ts);
        files
    }

    /// Calls `visit` with the window's events, up to 8192 at a time, file by file (each
    /// file's rows in time order). Stops early when `visit` breaks. Returns the number
    /// of events visited.
    pub fn scan(
        &self,
        request: &ScanRequest,
        mut visit: impl FnMut(Vec<Event>) -> ControlFlow<()>,
    ) -> Result<u64, ArchiveError> {
        let mut visited = 0;
        for entry in self.files(request) {
            let file = self.open_file(&entry.path)?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            let row_groups: Vec<usize> = builder
                .metadata()
                .row_groups()
                .iter()
                .enumerate()
                .filter(|(_, group)| match group.column(0).statistics() {
                    Some(Statistics::Int64(stats)) => match (stats.min_opt(), stats.max_opt()) {
                        (Some(&min), Some(&max)) => request.overlaps_micros(min, max),
                        _ => true,
                    },
                    _ => true,
                })
                .map(|(i, _)| i)
                .collect();
            let reader = builder.with_row_groups(row_groups).with_batch_size(BATCH_ROWS).build()?;
            let module = file_module(&entry.path).unwrap_or("other");
            for batch in reader {
                let mut events = schema::events_from_batch(&batch?, module)?;
                events.retain(|e| request.contains(e.timestamp));
                if events.is_empty() {
                    continue;
                }
                visited += events.len() as u64;
                if visit(events).is_break() {
                    return Ok(visited);
                }
            }
        }
        Ok(visited)
    }

    /// A listed file: from the tree; if compaction has just replaced it, from the trash;
    /// if only the object store keeps it, downloaded into a temporary file.
    fn open_file(&self, relative: &str) -> Result<File, ArchiveError> {
        let path = self.root.join(relative);
        match File::open(&path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(&path)(e)),
            Err(_) => {}
        }
        if let Ok(entries) = fs::read_dir(&self.trash) {
            for entry in entries.flatten() {
                if let Ok(file) = File::open(entry.path().join(relative)) {
                    return Ok(file);
                }
            }
        }
        if let Some(remote) = &self.remote {
            let mut spool = tempfile::tempfile().map_err(io_err(&path))?;
            remote.download(relative, &mut spool)?;
            spool.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            return Ok(spool);
        }
        Err(io_err(&path)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "listed in the manifest but gone (removed by retention, or the trash was emptied)",
        )))
    }
}

/// The `module=` directory of a manifest path.
fn file_module(path: &str) -> Option<&str> {
    path.split('/').find_map(|part| part.strip_prefix("module="))
}
