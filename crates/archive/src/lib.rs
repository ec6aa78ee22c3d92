//! The columnar archive: every event kept in Parquet for years. The only crate that links
//! arrow, parquet and object_store.
//!
//! Layout (Hive-style, so DuckDB, Spark, Trino, pyarrow and polars read the tree as one
//! partitioned table):
//! ```text
//! archive/_manifest.json                                what exists, and the WAL position it covers
//! archive/dt=2026-11-20/module=order/part-<wal seq>-<source>.parquet   flushed by the sink
//! archive/dt=2026-11-20/module=order/part-m<micros>-<inputs>-<source>.parquet   by compaction
//! archive-trash/<unix time>/dt=.../...                  replaced files, readable ten more minutes
//! ```
//! A file is written to a temporary name, fsynced and renamed, then the manifest is
//! replaced the same way. Files the manifest does not list (a crash between the two) are
//! deleted on open; their rows come back from the WAL (or, for a merge, are still in the
//! listed inputs).

mod compact;
mod export;
mod manifest;
mod read;
mod remote;
mod schema;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{NaiveDate, Utc};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sluice_core::Event;
use tracing::{info, warn};

pub use compact::CompactionReport;
pub use export::EventsParquetWriter;
pub use manifest::{FileEntry, Manifest};
pub use read::{ArchiveReader, ScanRequest};
pub use remote::{RemoteArchive, SyncReport};
pub use schema::{SCHEMA_VERSION, arrow_schema};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("archive manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("archive store {url}: {message}")]
    Remote { url: String, message: String },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io { path: path.to_owned(), source }
}

/// Rows waiting for the next flush, one list per UTC day, module partition and source.
/// Each source gets its own files: like lines next to each other compress much better.
/// A source's lines mostly go where its last line went, and a flush holds a few lists
/// per source (its modules, a day or two), so checking the list used last and then
/// scanning the rest costs less than maps hashing three keys for every event. (Hundreds
/// of sources interleaved line by line would make the scan the dearer; shippers send
/// a source's lines in batches.)
#[derive(Default)]
struct Buffer {
    partitions: Vec<BufferedRows>,
    last: usize,
}

struct BufferedRows {
    day: NaiveDate,
    /// As a partition directory names it ([`partition_value`]).
    module: String,
    source: String,
    rows: Vec<Event>,
}

impl Buffer {
    fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    fn push(&mut self, event: Event) {
        let day = event.timestamp.date_naive();
        let cleaned;
        let module = if is_partition_value(&event.module) {
            event.module.as_str()
        } else {
            cleaned = partition_value(&event.module);
            cleaned.as_str()
        };
        let holds = |p: &BufferedRows| p.day == day && p.module == module && p.source == event.source;
        let index = match self.partitions.get(self.last) {
            Some(p) if holds(p) => self.last,
            _ => match self.partitions.iter().position(holds) {
                Some(i) => i,
                None => {
                    let (module, source) = (module.to_owned(), event.source.to_string());
                    self.partitions.push(BufferedRows { day, module, source, rows: Vec::new() });
                    self.partitions.len() - 1
                }
            },
        };
        self.last = index;
        self.partitions[index].rows.push(event);
    }
}

/// zstd level of files the sink flushes (and of merges in hot partitions).
pub(crate) const FLUSH_ZSTD_LEVEL: i32 = 1;

/// What the writer, the maintenance thread and readers share: the root and the manifest.
/// The manifest is only replaced under its lock, and only after the new one is on disk.
pub(crate) struct Shared {
    pub(crate) root: PathBuf,
    /// Files compaction replaced wait here (outside the tree, so globbing readers never
    /// see rows twice) until readers that planned from an older manifest are done.
    pub(crate) trash: PathBuf,
    manifest: Mutex<Manifest>,
    /// The object store copy, when configured.
    pub(crate) remote: OnceLock<Arc<RemoteArchive>>,
}

impl Shared {
    pub(crate) fn snapshot(&self) -> Manifest {
        self.manifest.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies `change` to a copy of the manifest, stores it, and only then makes it current.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut Manifest) -> T) -> Result<T, ArchiveError> {
        let mut current = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = current.clone();
        let out = change(&mut next);
        next.store(&self.root)?;
        *current = next;
        Ok(out)
    }
}

/// The writing side: buffers rows and flushes them as Parquet files. Owned by the sink,
/// which hands full buffers to a writer thread ([`Archive::flush_in_background`]) so
/// encoding Parquet never holds up indexing.
pub struct Archive {
    shared: Arc<Shared>,
    buffer: Buffer,
    buffered_rows: usize,
    background: Option<Background>,
}

/// The archive's writer thread: one buffer being written at a time; the sink blocks on
/// the next hand-over until it is done, which bounds memory. After a failed write it writes nothing
/// more and never advances the manifest's WAL position again, so the WAL keeps every row
/// from the failed one on and the next start replays them.
struct Background {
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    failed: Arc<Mutex<Option<String>>>,
}

enum Job {
    Write { buffer: Buffer, rows: usize, seq: u64 },
    Barrier(std::sync::mpsc::Sender<()>),
}

impl Background {
    fn start(shared: Arc<Shared>) -> Result<Background, ArchiveError> {
        // No queue: a buffer is handed over only when the writer is free, so at most two
        // (the sink's and the one being written) are ever in memory.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(0);
        let failed = Arc::new(Mutex::new(None));
        let failure = failed.clone();
        let root = shared.root.clone();
        let thread = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        Job::Barrier(done) => {
                            let _ = done.send(());
                        }
                        Job::Write { buffer, rows, seq } => {
                            let mut failed = failure.lock().unwrap_or_else(|e| e.into_inner());
                            if failed.is_some() {
                                continue;
                            }
                            if let Err(e) = write_buffer(&shared, buffer, rows, seq) {
                                tracing::error!(error = %e, wal_seq = seq, "archive write failed; the write-ahead log keeps the rows until a restart archives them");
                                *failed = Some(e.to_string());
                            }
                        }
                    }
                }
            })
            .map_err(|source| ArchiveError::Io { path: root, source })?;
        Ok(Background { jobs: Some(jobs), thread: Some(thread), failed })
    }

    fn failure(&self) -> Option<ArchiveError> {
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.as_ref().map(|message| ArchiveError::Io {
            path: PathBuf::from("archive-writer"),
            source: std::io::Error::other(message.clone()),
        })
    }

    fn send(&self, job: Job) -> Result<(), ArchiveError> {
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            Err(ArchiveError::Io { path: PathBuf::from("archive-writer"), source: std::io::Error::other("stopped") })
        }
    }

    /// Waits until every write handed over so far has finished.
    fn wait(&self) -> Result<(), ArchiveError> {
        let (done, finished) = std::sync::mpsc::channel();
        self.send(Job::Barrier(done))?;
        let _ = finished.recv();
        self.failure().map_or(Ok(()), Err)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A cheap handle for the maintenance thread (compaction, retention) and for readers
/// inside the process that writes.
#[derive(Clone)]
pub struct ArchiveHandle {
    pub(crate) shared: Arc<Shared>,
}

impl Archive {
    pub fn open(root: &Path) -> Result<Archive, ArchiveError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        let manifest = Manifest::load(root)?;
        remove_orphans(root, &manifest)?;
        let shared = Shared {
            root: root.to_owned(),
            trash: trash_dir(root),
            manifest: Mutex::new(manifest),
            remote: OnceLock::new(),
        };
        Ok(Archive { shared: Arc::new(shared), buffer: Buffer::default(), buffered_rows: 0, background: None })
    }

    /// Mirrors the archive to an object store from now on (see [`RemoteArchive`]).
    pub fn set_remote(&self, remote: Arc<RemoteArchive>) {
        let _ = self.shared.remote.set(remote);
    }

    pub fn handle(&self) -> ArchiveHandle {
        ArchiveHandle { shared: self.shared.clone() }
    }

    /// The WAL sequence number the archive holds everything up to.
    pub fn committed_seq(&self) -> u64 {
        self.shared.manifest.lock().unwrap_or_else(|e| e.into_inner()).wal_seq
    }

    pub fn manifest(&self) -> Manifest {
        self.shared.snapshot()
    }

    pub fn push(&mut self, event: Event) {
        self.buffer.push(event);
        self.buffered_rows += 1;
    }

    pub fn buffered_rows(&self) -> usize {
        self.buffered_rows
    }

    /// Writes every buffered row and records that the archive now covers the WAL to `seq`;
    /// returns once it is on disk (after any background write still running).
    pub fn flush(&mut self, seq: u64) -> Result<(), ArchiveError> {
        if let Some(background) = &self.background {
            background.wait()?;
        }
        if self.buffer.is_empty() && seq == self.committed_seq() {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        let rows = std::mem::take(&mut self.buffered_rows);
        write_buffer(&self.shared, buffer, rows, seq)
    }

    /// Hands every buffered row to the writer thread; [`Archive::committed_seq`] reaches
    /// `seq` once they are on disk. Blocks while an earlier buffer is still being written.
    pub fn flush_in_background(&mut self, seq: u64) -> Result<(), ArchiveError> {
        if self.background.is_none() {
            self.background = Some(Background::start(self.shared.clone())?);
        }
        let background = self.background.as_ref().expect("started above");
        if let Some(failure) = background.failure() {
            return Err(failure);
        }
        if self.buffer.is_empty() && seq == self.committed_seq() {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        let rows = std::mem::take(&mut self.buffered_rows);
        background.send(Job::Write { buffer, rows, seq })
    }
}

/// The buffer's partitions in file order, each one's rows sorted by time.
fn sorted_partitions(buffer: Buffer) -> Vec<BufferedRows> {
    let mut partitions = buffer.partitions;
    partitions.sort_unstable_by(|a, b| (a.day, &a.module, &a.source).cmp(&(b.day, &b.module, &b.source)));
    for partition in &mut partitions {
        // One source's lines mostly arrive in time order already: check before moving
        // whole events around.
        if !partition.rows.is_sorted_by_key(|e| e.timestamp) {
            partition.rows.sort_by_key(|e| e.timestamp);
        }
    }
    partitions
}

/// Writes one buffer's rows, one file per day, module and source, then lists them in the
/// manifest together with the WAL position they bring the archive to.
fn write_buffer(shared: &Shared, buffer: Buffer, rows: usize, seq: u64) -> Result<(), ArchiveError> {
    let mut written = Vec::new();
    for BufferedRows { day, module, source, rows } in sorted_partitions(buffer) {
        let relative = format!("dt={day}/module={module}/part-{seq:020}-{}.parquet", partition_value(&source));
        let bytes = write_parquet(&shared.root.join(&relative), &rows)?;
        written.push(FileEntry {
            path: relative,
            source,
            rows: rows.len() as u64,
            bytes,
            level: 0,
            min_ts: rows.first().map(|e| e.timestamp),
            max_ts: rows.last().map(|e| e.timestamp),
            written_at: Some(Utc::now()),
        });
    }
    let files = written.len();
    shared.update(|manifest| {
        manifest.files.extend(written);
        manifest.wal_seq = manifest.wal_seq.max(seq);
    })?;
    if files > 0 {
        info!(files, rows, wal_seq = seq, "archived to parquet");
    }
    Ok(())
}

impl ArchiveHandle {
    /// Deletes whole day partitions older than `keep_days` before `today` (the days are
    /// the `dt=` partitions, UTC). The manifest stops listing them first, so a crash
    /// half-way leaves only unlisted files, which the next open removes. Returns the
    /// partitions removed.
    pub fn apply_retention(&self, keep_days: u32, today: NaiveDate) -> Result<Vec<String>, ArchiveError> {
        let oldest_kept = today - chrono::Days::new(u64::from(keep_days));
        let expired = |path: &str| partition_day(path).is_some_and(|day| day < oldest_kept);
        let gone = self.shared.update(|manifest| {
            let (gone, kept): (Vec<FileEntry>, Vec<FileEntry>) =
                std::mem::take(&mut manifest.files).into_iter().partition(|f| expired(&f.path));
            manifest.files = kept;
            gone
        })?;
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        let root = &self.shared.root;
        let mut days: Vec<String> = Vec::new();
        for file in &gone {
            remove_if_present(&root.join(&file.path))?;
            if let Some(day) = file.path.split('/').next()
                && !days.iter().any(|d| d == day)
            {
                days.push(day.to_owned());
            }
        }
        for day in &days {
            // Whatever is left under an expired day is unlisted; the partition goes whole.
            let dir = root.join(day);
            if dir.is_dir() {
                fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
            }
        }
        sync_dir(root);
        let rows: u64 = gone.iter().map(|f| f.rows).sum();
        info!(partitions = days.len(), files = gone.len(), rows, keep_days, "archive retention removed old days");
        days.sort();
        Ok(days)
    }
}

pub(crate) fn remove_if_present(path: &Path) -> Result<(), ArchiveError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// `data/archive` -> `data/archive-trash`.
pub(crate) fn trash_dir(root: &Path) -> PathBuf {
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "archive".into());
    root.with_file_name(format!("{name}-trash"))
}

/// The day of a `dt=YYYY-MM-DD/...` path.
fn partition_day(path: &str) -> Option<NaiveDate> {
    let day = path.split('/').next()?.strip_prefix("dt=")?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// Module names become directory names: keep them to a safe alphabet.
fn is_partition_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A name already a valid partition value (so [`partition_value`] would not change it).
fn is_partition_value(module: &str) -> bool {
    !module.is_empty() && module.chars().all(is_partition_char)
}

fn partition_value(module: &str) -> String {
    let clean: String = module.chars().map(|c| if is_partition_char(c) { c } else { '_' }).collect();
    if clean.is_empty() { "other".into() } else { clean }
}

/// Writes `rows` (sorted by time) to `path` via a temporary file, fsynced, then renamed.
/// Returns the file's size.
fn write_parquet(path: &Path, rows: &[Event]) -> Result<u64, ArchiveError> {
    let schema = Arc::new(schema::arrow_schema());
    write_atomically(path, schema.clone(), FLUSH_ZSTD_LEVEL, |writer| {
        for chunk in rows.chunks(FLUSH_BATCH_ROWS) {
            writer.write(&schema::record_batch(schema.clone(), chunk)?)?;
        }
        Ok(())
    })
}

/// Rows per Arrow batch a flush builds and hands to Parquet.
const FLUSH_BATCH_ROWS: usize = 64 * 1024;

/// How every archive file is written: `props`, and no copy of the Arrow schema in the
/// footer (2.7 KB of 7 in a small file): Parquet's own types say everything readers need,
/// timestamps included (UTC micros).
fn writer_options(props: WriterProperties) -> ArrowWriterOptions {
    ArrowWriterOptions::new().with_properties(props).with_skip_arrow_metadata(true)
}

/// A flush's two CPU stages on their own, to measure each (the archive bench): the Arrow
/// columns built from the rows, grouped and sorted as a flush groups them, then encoded
/// as the flush encodes them but into memory (no files, fsync or manifest).
pub struct FlushStages {
    /// One list per file: a partition's rows in chunks.
    files: Vec<Vec<RecordBatch>>,
}

impl FlushStages {
    /// Stage one: the rows' partitions (day, module, source), sorted by time, as Arrow columns.
    pub fn build_columns(rows: Vec<Event>) -> Result<FlushStages, ArchiveError> {
        let mut buffer = Buffer::default();
        for row in rows {
            buffer.push(row);
        }
        let schema = Arc::new(schema::arrow_schema());
        let mut files = Vec::new();
        for partition in sorted_partitions(buffer) {
            let chunks = partition.rows.chunks(FLUSH_BATCH_ROWS);
            files.push(chunks.map(|chunk| schema::record_batch(schema.clone(), chunk)).collect::<Result<_, _>>()?);
        }
        Ok(FlushStages { files })
    }

    /// Stage two: the columns encoded as Parquet at `zstd_level` (the flush's is 1), or
    /// uncompressed with `None`, each partition a file of its own. Returns the files' total size.
    pub fn encode_parquet(&self, zstd_level: Option<i32>) -> Result<u64, ArchiveError> {
        let mut props = writer_properties(zstd_level.unwrap_or(FLUSH_ZSTD_LEVEL), true)?;
        if zstd_level.is_none() {
            props = props.into_builder().set_compression(Compression::UNCOMPRESSED).build();
        }
        let mut total = 0;
        for file in &self.files {
            // Counted, not kept: neither a growing buffer's copies nor a file's are Parquet's work.
            let options = writer_options(props.clone());
            let mut writer = ArrowWriter::try_new_with_options(CountingSink(0), file[0].schema(), options)?;
            for batch in file {
                writer.write(batch)?;
            }
            total += writer.into_inner()?.0;
        }
        Ok(total)
    }
}

/// Bytes written, and nothing else kept.
struct CountingSink(u64);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn write_atomically(
    path: &Path,
    schema: SchemaRef,
    level: i32,
    fill: impl FnOnce(&mut ArrowWriter<File>) -> Result<(), ArchiveError>,
) -> Result<u64, ArchiveError> {
    let dir = path.parent().expect("partition directory");
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut writer = ArrowWriter::try_new_with_options(file, schema, writer_options(writer_properties(level, true)?))?;
    if let Err(e) = fill(&mut writer) {
        drop(writer);
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(io_err(&tmp))?;
    let bytes = file.metadata().map_err(io_err(&tmp))?.len();
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir);
    Ok(bytes)
}

/// zstd at `level` (1 for what the sink flushes: fast, and on log columns as small as
/// 3; compaction of finished days uses a high level), page-level statistics (so readers
/// get column and offset indexes and prune pages by time), delta-encoded timestamps, no
/// dictionaries for free text, min/max only where readers prune on it, the schema
/// version in the footer.
pub(crate) fn writer_properties(level: i32, sorted_by_time: bool) -> Result<WriterProperties, ArchiveError> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(level)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_column_dictionary_enabled("timestamp".into(), false)
        .set_column_encoding("timestamp".into(), Encoding::DELTA_BINARY_PACKED)
        .set_key_value_metadata(Some(vec![KeyValue::new("sluice.schema_version".into(), SCHEMA_VERSION.to_string())]));
    for column in schema::FREE_TEXT_COLUMNS.iter().chain(schema::HIGH_CARDINALITY_COLUMNS) {
        builder = builder.set_column_dictionary_enabled((*column).into(), false);
    }
    for column in schema::text_columns() {
        if !schema::PRUNABLE_TEXT_COLUMNS.contains(&column.as_str()) {
            builder = builder.set_column_statistics_enabled(column.into(), EnabledStatistics::None);
        }
    }
    if sorted_by_time {
        builder = builder.set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]));
    }
    Ok(builder.build())
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn remove_orphans(root: &Path, manifest: &Manifest) -> Result<(), ArchiveError> {
    let listed: std::collections::HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.to_string_lossy();
            let relative = path.strip_prefix(root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let orphan = name.ends_with(".tmp") || (name.ends_with(".parquet") && !listed.contains(relative.as_str()));
            if orphan {
                warn!(path = %path.display(), "removing archive file not in the manifest (interrupted flush)");
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
