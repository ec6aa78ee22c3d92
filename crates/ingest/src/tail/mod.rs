//! Tails the files of every source with a `path` glob, the way a log shipper does.
//!
//! Files are known by device and inode plus a fingerprint of their first bytes, so a
//! rename (logrotate's default) keeps reading the old file to its end while the new one is
//! picked up from its start, and a reused inode is not mistaken for the old file. A file
//! that shrinks was truncated (copytruncate) and is read again from the start. Positions
//! travel inside WAL records, so a restart resumes exactly where durable data ends.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_core::{SourceConfig, StartAt};
use sluice_parsers::Parser;
use tracing::{debug, info, warn};

use crate::wal::WalHandle;

mod compressed;
use crate::{FileCheckpoint, WalRecord};

const FINGERPRINT_BYTES: usize = 1024;
const READ_CHUNK: usize = 1 << 20;
/// Hand a batch to the WAL once it holds this many events, to bound memory.
const MAX_BATCH_EVENTS: usize = 4096;
/// A "line" longer than this (a file with no newlines) is cut here and ingested in pieces,
/// so memory stays bounded whatever the file holds.
const MAX_LINE_BYTES: usize = 4 << 20;

pub type ParserFactory = Arc<dyn Fn(&SourceConfig) -> Parser + Send + Sync>;

#[derive(Debug, Clone)]
pub struct TailOptions {
    /// How often globs are re-scanned and files checked for new data.
    pub poll: Duration,
    /// A multi-line event with no new line for this long is complete.
    pub idle_flush: Duration,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions { poll: Duration::from_millis(100), idle_flush: Duration::from_millis(300) }
    }
}

/// Per-file progress the tailer publishes (for `/metrics`): bytes read and the backlog
/// each poll found.
#[derive(Clone, Default)]
pub struct TailStats(Arc<Mutex<StatsInner>>);

#[derive(Default)]
struct StatsInner {
    files: BTreeMap<(u64, u64), FileStats>,
    /// Bytes read from files since released, per source, so totals never go down.
    released: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default)]
pub struct FileStats {
    pub source: String,
    pub path: String,
    pub bytes_read: u64,
    /// Bytes the last poll found unread.
    pub lag_bytes: u64,
    /// How long that data had waited: since the file was last read to its end.
    pub lag_seconds: f64,
}

impl TailStats {
    /// Files tailed now, plus one entry per source for the bytes of released files.
    pub fn snapshot(&self) -> Vec<FileStats> {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut files: Vec<FileStats> = inner.files.values().cloned().collect();
        files.extend(inner.released.iter().map(|(source, bytes)| FileStats {
            source: source.clone(),
            path: String::new(),
            bytes_read: *bytes,
            ..FileStats::default()
        }));
        files
    }

    fn update(&self, key: (u64, u64), file: &TailedFile, read: u64, lag_bytes: u64, lag_seconds: f64) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = inner.files.entry(key).or_default();
        entry.source = file.parser.source().to_owned();
        entry.path = file.path.display().to_string();
        entry.bytes_read += read;
        entry.lag_bytes = lag_bytes;
        entry.lag_seconds = lag_seconds;
    }

    fn release(&self, key: (u64, u64)) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = inner.files.remove(&key) {
            *inner.released.entry(file.source).or_default() += file.bytes_read;
        }
    }
}

struct TailedFile {
    source: usize,
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    fingerprint: u32,
    fingerprint_len: u32,
    /// Offset of `partial`'s first byte: everything before it was split into lines.
    partial_start: u64,
    partial: Vec<u8>,
    parser: Parser,
    /// The offset last written to the WAL.
    committed: u64,
    last_data: Instant,
    /// When the file was last read to its end: the age of any backlog found after it.
    caught_up: Instant,
    seen: bool,
}

impl TailedFile {
    /// A file read from `start`, known by `key` and its first bytes `head`; `committed` is
    /// the offset the WAL already holds for it, if any.
    #[allow(clippy::too_many_arguments)]
    fn new(
        source: usize,
        path: &Path,
        file: File,
        key: (u64, u64),
        head: &[u8],
        start: u64,
        parser: Parser,
        committed: Option<u64>,
    ) -> TailedFile {
        TailedFile {
            source,
            path: path.to_owned(),
            file,
            dev: key.0,
            ino: key.1,
            fingerprint: crc32fast::hash(head),
            fingerprint_len: head.len() as u32,
            partial_start: start,
            partial: Vec::new(),
            parser,
            committed: committed.unwrap_or(u64::MAX),
            last_data: Instant::now(),
            caught_up: Instant::now(),
            seen: true,
        }
    }

    /// The stream ends here (truncation, the end of a compressed file): a last line without
    /// its newline and an event still held for more lines are complete.
    fn end_of_stream(&mut self, out: &mut Vec<sluice_core::Event>) {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.parser.push_line(&last, self.partial_start, out);
            self.partial_start += last.len() as u64;
        }
        self.parser.flush(out);
    }

    fn read_offset(&self) -> u64 {
        self.partial_start + self.partial.len() as u64
    }

    fn checkpoint(&self, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            source: self.parser.source().to_owned(),
            path: self.path.display().to_string(),
            dev: self.dev,
            ino: self.ino,
            fingerprint: self.fingerprint,
            fingerprint_len: self.fingerprint_len,
            offset,
        }
    }

    /// Whether the file's first bytes are no longer the ones fingerprinted: it was truncated
    /// and written again, perhaps past our offset before we looked (copytruncate under a
    /// busy writer), so its size alone would not tell.
    fn head_changed(&self) -> std::io::Result<bool> {
        if self.fingerprint_len == 0 {
            return Ok(false);
        }
        let mut head = vec![0u8; self.fingerprint_len as usize];
        match self.file.read_exact_at(&mut head, 0) {
            Ok(()) => Ok(crc32fast::hash(&head) != self.fingerprint),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Grows the fingerprint to `FINGERPRINT_BYTES` as a young file fills up, so the
    /// truncation check and the restart identity have enough bytes to go on.
    fn extend_fingerprint(&mut self) -> std::io::Result<()> {
        let want = FINGERPRINT_BYTES.min(self.read_offset().min(usize::MAX as u64) as usize);
        if want <= self.fingerprint_len as usize {
            return Ok(());
        }
        let mut head = vec![0u8; want];
        self.file.read_exact_at(&mut head, 0)?;
        self.fingerprint = crc32fast::hash(&head);
        self.fingerprint_len = want as u32;
        Ok(())
    }

    /// The copy logrotate's `copytruncate` left beside this file (`app.log.1`,
    /// `app.log-20261120`): same first bytes, at least as long as what was read. The
    /// newest such copy, if any; compressed copies are not looked into.
    fn rotated_copy(&self) -> Option<(PathBuf, File)> {
        if self.fingerprint_len == 0 {
            return None;
        }
        let dir = self.path.parent()?;
        let name = self.path.file_name()?.to_str()?;
        let mut best: Option<(std::time::SystemTime, PathBuf, File)> = None;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let file_name = entry.file_name();
            let Some(candidate) = file_name.to_str() else { continue };
            let compressed = [".gz", ".bz2", ".xz", ".zst"].iter().any(|ext| candidate.ends_with(ext));
            if candidate == name || !candidate.starts_with(name) || compressed {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let same_file = (meta.dev(), meta.ino()) == (self.dev, self.ino);
            if !meta.is_file() || same_file || meta.len() < self.read_offset() {
                continue;
            }
            let Ok(copy) = File::open(entry.path()) else { continue };
            let mut head = vec![0u8; self.fingerprint_len as usize];
            if copy.read_exact_at(&mut head, 0).is_err() || crc32fast::hash(&head) != self.fingerprint {
                continue;
            }
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(newest, _, _)| modified > *newest) {
                best = Some((modified, entry.path(), copy));
            }
        }
        best.map(|(_, path, file)| (path, file))
    }

    /// Where a restart must resume: before any line of an unfinished event.
    fn safe_offset(&self) -> u64 {
        self.parser.pending_offset().unwrap_or(self.partial_start)
    }
}

pub struct Tailer {
    sources: Vec<SourceConfig>,
    make_parser: ParserFactory,
    wal: WalHandle,
    options: TailOptions,
    files: HashMap<(u64, u64), TailedFile>,
    restored: HashMap<(u64, u64), FileCheckpoint>,
    first_scan: bool,
    stats: TailStats,
    /// Compressed files read to their end (they never grow).
    finished: std::collections::HashSet<(u64, u64)>,
}

impl Tailer {
    /// `restored` holds the positions recovered from the checkpoint file and the WAL.
    pub fn new(
        sources: Vec<SourceConfig>,
        make_parser: ParserFactory,
        wal: WalHandle,
        options: TailOptions,
        restored: impl IntoIterator<Item = FileCheckpoint>,
    ) -> Tailer {
        let sources = sources.into_iter().filter(|s| s.path.is_some()).collect();
        let restored = restored.into_iter().map(|c| ((c.dev, c.ino), c)).collect();
        Tailer {
            sources,
            make_parser,
            wal,
            options,
            files: HashMap::new(),
            restored,
            first_scan: true,
            stats: TailStats::default(),
            finished: Default::default(),
        }
    }

    /// Progress of every tailed file, updated as the tailer runs.
    pub fn stats(&self) -> TailStats {
        self.stats.clone()
    }

    /// Tails until `stop` is set. Unfinished multi-line events are not flushed on stop:
    /// their lines are re-read after a restart, so nothing is split or lost.
    pub fn run(mut self, stop: Arc<AtomicBool>) {
        info!(sources = self.sources.len(), "file tailer started");
        while !stop.load(Ordering::Relaxed) {
            if !self.poll_once() {
                return;
            }
            std::thread::sleep(self.options.poll);
        }
    }

    /// One scan-and-read round; false once the pipeline is gone.
    pub fn poll_once(&mut self) -> bool {
        self.scan();
        let keys: Vec<_> = self.files.keys().copied().collect();
        for key in keys {
            match self.read_file(key) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(error) => {
                    let path = self.files.get(&key).map(|f| f.path.display().to_string()).unwrap_or_default();
                    warn!(%path, %error, "failed to read tailed file; releasing it");
                    self.files.remove(&key);
                    self.stats.release(key);
                }
            }
        }
        true
    }

    fn scan(&mut self) {
        for file in self.files.values_mut() {
            file.seen = false;
        }
        let mut compressed_due = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            let Some(pattern) = &source.path else { continue };
            let paths = match glob::glob(pattern) {
                Ok(paths) => paths,
                Err(error) => {
                    warn!(source = %source.name, %pattern, %error, "bad path glob");
                    continue;
                }
            };
            for path in paths.filter_map(Result::ok) {
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                if !meta.is_file() {
                    continue;
                }
                let key = (meta.dev(), meta.ino());
                if compressed::is_compressed(&path) {
                    // Rotated and compressed: read once, whole, if the source asks for it;
                    // never tailed as text.
                    if source.read_compressed && !self.finished.contains(&key) {
                        compressed_due.push((index, path, key));
                    }
                    continue;
                }
                if let Some(file) = self.files.get_mut(&key) {
                    file.seen = true;
                    file.path = path;
                    continue;
                }
                match open_file(&path, index, source, key, self.first_scan, &self.restored, &self.make_parser) {
                    Ok(file) => {
                        debug!(path = %path.display(), offset = file.partial_start, "tailing file");
                        self.files.insert(key, file);
                    }
                    Err(error) => warn!(path = %path.display(), %error, "cannot open file to tail"),
                }
            }
        }
        for (index, path, key) in compressed_due {
            if !self.read_compressed(index, &path, key) {
                break;
            }
        }
        self.first_scan = false;
    }

    /// Reads what is new in one file and hands it to the WAL. False once the WAL is gone.
    fn read_file(&mut self, key: (u64, u64)) -> std::io::Result<bool> {
        let Some(file) = self.files.get_mut(&key) else { return Ok(true) };
        let size = file.file.metadata()?.len();
        if size < file.read_offset() || file.head_changed()? {
            // Truncated (copytruncate, or `> file`). What was written after our position
            // before the truncation is in logrotate's copy beside the file, if there is one.
            let mut recovered = Vec::new();
            let copy = file.rotated_copy();
            if let Some((copy_path, mut copy)) = copy {
                let from = file.read_offset();
                copy.seek(SeekFrom::Start(from))?;
                let mut rest = Vec::new();
                copy.read_to_end(&mut rest)?;
                info!(path = %file.path.display(), copy = %copy_path.display(), from, bytes = rest.len(), "file was truncated; reading the rest from its rotated copy");
                file.partial.extend_from_slice(&rest);
                split_lines(file, &mut recovered);
            } else {
                info!(path = %file.path.display(), size, offset = file.read_offset(), "file was truncated; reading it again from the start");
            }
            file.end_of_stream(&mut recovered);
            file.partial_start = 0;
            file.parser = (self.make_parser)(&self.sources[file.source]);
            file.fingerprint = crc32fast::hash(&[]);
            file.fingerprint_len = 0;
            file.committed = u64::MAX;
            if !recovered.is_empty() && !submit(&self.wal, file, recovered, 0) {
                return Ok(false);
            }
        }
        let start_offset = file.read_offset();
        let now = Instant::now();
        let lag_bytes = size.saturating_sub(start_offset);
        let lag_seconds = if lag_bytes > 0 { now.duration_since(file.caught_up).as_secs_f64() } else { 0.0 };
        let mut events = Vec::new();
        let mut got_data = false;
        let mut buf = vec![0u8; READ_CHUNK];
        while file.read_offset() < size {
            file.file.seek(SeekFrom::Start(file.read_offset()))?;
            let n = file.file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            got_data = true;
            file.partial.extend_from_slice(&buf[..n]);
            split_lines(file, &mut events);
            if events.len() >= MAX_BATCH_EVENTS {
                if !submit(&self.wal, file, std::mem::take(&mut events), file.safe_offset()) {
                    return Ok(false);
                }
                // The WAL may have held us back: publish the backlog still ahead.
                let behind = size.saturating_sub(file.read_offset());
                self.stats.update(key, file, 0, behind, file.caught_up.elapsed().as_secs_f64());
            }
        }
        if got_data {
            file.extend_fingerprint()?;
        }
        let now = Instant::now();
        if file.read_offset() >= size {
            file.caught_up = now;
        }
        let read = file.read_offset().saturating_sub(start_offset);
        self.stats.update(key, file, read, lag_bytes, lag_seconds);
        if got_data {
            file.last_data = now;
        } else if now.duration_since(file.last_data) >= self.options.idle_flush
            && file.parser.pending_offset().is_some()
        {
            file.parser.flush(&mut events);
        }
        let offset = file.safe_offset();
        if (!events.is_empty() || offset != file.committed) && !submit(&self.wal, file, events, offset) {
            return Ok(false);
        }
        // A file no glob matches any more (rotated away, deleted) is released once drained.
        let idle = now.duration_since(file.last_data) >= self.options.idle_flush * 4;
        if !file.seen && idle && file.read_offset() >= size {
            let mut tail = Vec::new();
            file.parser.flush(&mut tail);
            let end = file.partial_start;
            if (!tail.is_empty() || end != file.committed) && !submit(&self.wal, file, tail, end) {
                return Ok(false);
            }
            debug!(path = %file.path.display(), "released file");
            // Remembered, so a compressed copy of it (logrotate's `compress`) is known.
            let last = file.checkpoint(end);
            self.files.remove(&key);
            self.stats.release(key);
            self.restored.insert(key, last);
        }
        Ok(true)
    }
}

fn split_lines(file: &mut TailedFile, events: &mut Vec<sluice_core::Event>) {
    let mut start = 0;
    loop {
        let rest = &file.partial[start..];
        let (len, skip) = match memchr::memchr(b'\n', rest) {
            Some(pos) if pos <= MAX_LINE_BYTES => (pos, 1),
            _ if rest.len() > MAX_LINE_BYTES => (MAX_LINE_BYTES, 0),
            _ => break,
        };
        file.parser.push_line(&rest[..len], file.partial_start + start as u64, events);
        start += len + skip;
    }
    file.partial.drain(..start);
    file.partial_start += start as u64;
}

fn submit(wal: &WalHandle, file: &mut TailedFile, events: Vec<sluice_core::Event>, offset: u64) -> bool {
    let record = WalRecord { events, checkpoints: vec![file.checkpoint(offset)] };
    match wal.submit_blocking(record) {
        Ok(_) => {
            file.committed = offset;
            true
        }
        Err(error) => {
            warn!(%error, "write-ahead log refused tailed lines; stopping the tailer");
            false
        }
    }
}

fn open_file(
    path: &Path,
    source_index: usize,
    source: &SourceConfig,
    key: (u64, u64),
    first_scan: bool,
    restored: &HashMap<(u64, u64), FileCheckpoint>,
    make_parser: &ParserFactory,
) -> std::io::Result<TailedFile> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut head = vec![0u8; FINGERPRINT_BYTES.min(size as usize)];
    file.read_exact(&mut head)?;
    let resume = restored.get(&key).filter(|cp| {
        let len = cp.fingerprint_len as usize;
        len <= head.len() && crc32fast::hash(&head[..len]) == cp.fingerprint && cp.offset <= size
    });
    let start = match resume {
        Some(cp) => cp.offset,
        None if first_scan && source.start_at == StartAt::End => size,
        None => 0,
    };
    let committed = resume.is_some().then_some(start);
    Ok(TailedFile::new(source_index, path, file, key, &head, start, make_parser(source), committed))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use chrono::DateTime;
    use sluice_core::{Config, FormatName};
    use sluice_parsers::ModuleRouter;

    use super::*;
    use crate::wal::{Wal, start_writer};

    struct Harness {
        _dir: tempfile::TempDir,
        logs: PathBuf,
        wal_dir: PathBuf,
        received: Arc<Mutex<Vec<WalRecord>>>,
    }

    impl Harness {
        fn new() -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let logs = dir.path().join("logs");
            std::fs::create_dir_all(&logs).unwrap();
            let wal_dir = dir.path().join("wal");
            Harness { logs, wal_dir, received: Arc::default(), _dir: dir }
        }

        fn tailer(&self, format: FormatName, restored: Vec<FileCheckpoint>) -> Tailer {
            let source = SourceConfig {
                path: Some(format!("{}/app*.log", self.logs.display())),
                ..SourceConfig::adhoc("app", format)
            };
            self.tailer_for(source, restored)
        }

        /// A plain-text source over `app.log*` (rotated names included), reading `.gz` copies.
        fn rotating_tailer(&self, restored: Vec<FileCheckpoint>) -> Tailer {
            let source = SourceConfig {
                path: Some(format!("{}/app.log*", self.logs.display())),
                read_compressed: true,
                ..SourceConfig::adhoc("app", FormatName::Plain)
            };
            self.tailer_for(source, restored)
        }

        fn tailer_for(&self, source: SourceConfig, restored: Vec<FileCheckpoint>) -> Tailer {
            let wal = Arc::new(Mutex::new(Wal::open(&self.wal_dir, 0).unwrap()));
            let received = self.received.clone();
            let (handle, _thread) = start_writer(wal, 8, move |_, record| {
                received.lock().unwrap().push(record);
                true
            });
            let factory: ParserFactory = Arc::new(|source: &SourceConfig| {
                Parser::for_source(&Config::default(), source, ModuleRouter::default(), "h", DateTime::UNIX_EPOCH)
                    .unwrap()
            });
            let options = TailOptions { poll: Duration::from_millis(1), idle_flush: Duration::from_millis(30) };
            Tailer::new(vec![source], factory, handle, options, restored)
        }

        fn append(&self, name: &str, text: &str) {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.logs.join(name)).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        }

        fn messages(&self) -> Vec<String> {
            self.received.lock().unwrap().iter().flat_map(|r| r.events.iter().map(|e| e.message.clone())).collect()
        }

        fn last_checkpoints(&self) -> Vec<FileCheckpoint> {
            let mut latest: HashMap<String, FileCheckpoint> = HashMap::new();
            for record in self.received.lock().unwrap().iter() {
                for cp in &record.checkpoints {
                    latest.insert(cp.key(), cp.clone());
                }
            }
            latest.into_values().collect()
        }
    }

    fn poll_for(tailer: &mut Tailer, rounds: usize) {
        for _ in 0..rounds {
            assert!(tailer.poll_once());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        h.append("app.log", "one\ntw");
        poll_for(&mut tailer, 3);
        assert_eq!(h.messages(), vec!["one"]);
        h.append("app.log", "o\n");
        poll_for(&mut tailer, 3);
        assert_eq!(h.messages(), vec!["one", "two"]);
    }

    #[test]
    fn a_file_without_newlines_is_cut_into_bounded_pieces() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        let blob = "x".repeat(MAX_LINE_BYTES * 2 + 10);
        h.append("app.log", &blob);
        poll_for(&mut tailer, 3);
        let sizes: Vec<usize> = h.messages().iter().map(String::len).collect();
        assert_eq!(sizes, vec![MAX_LINE_BYTES, MAX_LINE_BYTES]);
        h.append("app.log", "\n");
        poll_for(&mut tailer, 2);
        assert_eq!(h.messages().iter().map(String::len).sum::<usize>(), blob.len());
    }

    #[test]
    fn rename_rotation_loses_and_duplicates_nothing() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        h.append("app.log", "a1\na2\n");
        poll_for(&mut tailer, 2);
        // logrotate's default: the old file is renamed (and may still get a last write),
        // then a new file takes the name.
        std::fs::rename(h.logs.join("app.log"), h.logs.join("app.log.1")).unwrap();
        let mut old = std::fs::OpenOptions::new().append(true).open(h.logs.join("app.log.1")).unwrap();
        old.write_all(b"a3\n").unwrap();
        h.append("app.log", "b1\n");
        poll_for(&mut tailer, 20);
        let mut got = h.messages();
        got.sort();
        assert_eq!(got, vec!["a1", "a2", "a3", "b1"]);
    }

    /// logrotate's `compress`: app.log -> app.log.1 -> app.log.1.gz, a new app.log.
    fn rotate_and_compress(h: &Harness) {
        let (log, rotated) = (h.logs.join("app.log"), h.logs.join("app.log.1"));
        std::fs::rename(&log, &rotated).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&std::fs::read(&rotated).unwrap()).unwrap();
        std::fs::write(h.logs.join("app.log.1.gz"), gz.finish().unwrap()).unwrap();
        std::fs::remove_file(&rotated).unwrap();
    }

    fn numbered(range: std::ops::Range<usize>) -> String {
        range.map(|i| format!("line {i} {}\n", "x".repeat(40))).collect()
    }

    #[test]
    fn a_compressed_copy_of_a_tailed_file_adds_nothing() {
        let h = Harness::new();
        let mut tailer = h.rotating_tailer(vec![]);
        h.append("app.log", &numbered(0..40));
        poll_for(&mut tailer, 3);
        rotate_and_compress(&h);
        h.append("app.log", &numbered(40..45));
        poll_for(&mut tailer, 20);
        let expected: Vec<String> = numbered(0..45).lines().map(str::to_owned).collect();
        assert_eq!(h.messages(), expected);
    }

    #[test]
    fn a_file_rotated_and_compressed_while_down_is_read_from_its_checkpoint() {
        let h = Harness::new();
        let mut first = h.rotating_tailer(vec![]);
        h.append("app.log", &numbered(0..30));
        poll_for(&mut first, 3);
        drop(first);
        // While Sluice is down: more lines, then rotation with compression.
        h.append("app.log", &numbered(30..35));
        rotate_and_compress(&h);
        h.append("app.log", &numbered(35..37));
        let mut second = h.rotating_tailer(h.last_checkpoints());
        poll_for(&mut second, 20);
        let expected: Vec<String> = numbered(0..37).lines().map(str::to_owned).collect();
        let mut got = h.messages();
        got.sort_by_key(|m| m.split(' ').nth(1).and_then(|n| n.parse::<u32>().ok()));
        assert_eq!(got, expected);
    }

    #[test]
    fn compressed_files_are_never_tailed_as_text_unless_asked() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"inside\n").unwrap();
        std::fs::write(h.logs.join("app-old.log.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(h.logs.join("app-old2.log"), "plain\n").unwrap();
        poll_for(&mut tailer, 3);
        assert_eq!(h.messages(), vec!["plain"]);
    }

    #[test]
    fn stats_count_bytes_read_and_keep_them_after_release() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        let stats = tailer.stats();
        h.append("app.log", "0123456789\n");
        poll_for(&mut tailer, 2);
        let files = stats.snapshot();
        assert_eq!(files.len(), 1);
        assert_eq!((files[0].source.as_str(), files[0].bytes_read, files[0].lag_bytes), ("app", 11, 0));
        assert!(files[0].path.ends_with("app.log"));
        // Rotated away and drained: released, its bytes still counted for the source.
        std::fs::rename(h.logs.join("app.log"), h.logs.join("app.log.1")).unwrap();
        poll_for(&mut tailer, 30);
        let files = stats.snapshot();
        assert_eq!(files.iter().map(|f| f.bytes_read).sum::<u64>(), 11);
        assert!(files.iter().all(|f| f.path.is_empty()), "the rotated file was released: {files:?}");
    }

    #[test]
    fn copytruncate_rereads_from_the_start() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        h.append("app.log", "before-1\nbefore-2\n");
        poll_for(&mut tailer, 2);
        std::fs::OpenOptions::new().write(true).open(h.logs.join("app.log")).unwrap().set_len(0).unwrap();
        h.append("app.log", "after\n");
        poll_for(&mut tailer, 3);
        assert_eq!(h.messages(), vec!["before-1", "before-2", "after"]);
    }

    #[test]
    fn copytruncate_under_a_busy_writer_reads_the_rest_from_the_copy() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        h.append("app.log", "one\n");
        poll_for(&mut tailer, 1);
        // Between two polls: more lines, the copy, the truncation, and a new generation
        // already longer than the old offset (the size alone would not show it).
        h.append("app.log", "two\nthree\n");
        std::fs::copy(h.logs.join("app.log"), h.logs.join("app.log.1")).unwrap();
        std::fs::OpenOptions::new().write(true).open(h.logs.join("app.log")).unwrap().set_len(0).unwrap();
        h.append("app.log", "new generation, longer than before\n");
        poll_for(&mut tailer, 3);
        assert_eq!(h.messages(), vec!["one", "two", "three", "new generation, longer than before"]);
    }

    #[test]
    fn restart_resumes_at_the_checkpoint_and_never_splits_a_stack_trace() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Logback, vec![]);
        h.append(
            "app.log",
            "2026-11-20 10:00:00.000 [main] INFO a.B - first\n2026-11-20 10:00:01.000 [main] ERROR a.B - boom\n",
        );
        // Poll quickly: the second event is still open (a stack trace may follow).
        assert!(tailer.poll_once());
        assert_eq!(h.messages(), vec!["first"]);
        let checkpoints = h.last_checkpoints();
        drop(tailer);

        h.append("app.log", "java.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n");
        let mut tailer = h.tailer(FormatName::Logback, checkpoints);
        poll_for(&mut tailer, 3);
        std::thread::sleep(Duration::from_millis(40));
        poll_for(&mut tailer, 2);
        assert_eq!(h.messages(), vec!["first", "boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)"]);
    }

    #[test]
    fn a_reused_inode_is_not_mistaken_for_the_old_file() {
        let h = Harness::new();
        let mut tailer = h.tailer(FormatName::Plain, vec![]);
        h.append("app.log", "old content line\n");
        poll_for(&mut tailer, 2);
        let mut checkpoints = h.last_checkpoints();
        drop(tailer);
        // Pretend the recorded file had different first bytes: a new file on a reused inode.
        checkpoints[0].fingerprint ^= 1;
        let mut tailer = h.tailer(FormatName::Plain, checkpoints);
        poll_for(&mut tailer, 2);
        assert_eq!(h.messages(), vec!["old content line", "old content line"]);
    }
}
