//! The write-ahead log: append-only segment files of checksummed records.
//!
//! Record layout (little endian): `len: u32 | crc32(seq ++ payload): u32 | seq: u64 | payload`,
//! where the payload is a JSON [`WalRecord`]. Records get consecutive sequence numbers.
//! On open, a torn or corrupt tail of the newest segment (a crash mid-write) is cut off,
//! never parsed as data. Segments wholly covered by every sink's commit are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::{IngestError, WalRecord};

const HEADER: usize = 16;
const SEGMENT_BYTES: u64 = 64 << 20;
/// A length beyond this is corruption, not a record (records are batches, not files).
const MAX_RECORD: u32 = 512 << 20;

struct Segment {
    first_seq: u64,
    path: PathBuf,
}

pub struct Wal {
    dir: PathBuf,
    segments: Vec<Segment>,
    active: BufWriter<File>,
    active_len: u64,
    next_seq: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IngestError + '_ {
    move |source| IngestError::WalIo { path: path.to_owned(), source }
}

impl Wal {
    /// Opens (or creates) the log in `dir`, cutting a torn tail. `min_next_seq` keeps
    /// sequence numbers growing across a fully truncated log (sinks remember the last one).
    pub fn open(dir: &Path, min_next_seq: u64) -> Result<Wal, IngestError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            let first_seq = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wal"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first_seq) = first_seq {
                segments.push(Segment { first_seq, path });
            }
        }
        segments.sort_by_key(|s| s.first_seq);
        let mut next_seq = min_next_seq.max(1);
        if let Some(last) = segments.last() {
            let (valid_len, last_seq) = scan_valid_prefix(&last.path)?;
            let file_len = fs::metadata(&last.path).map_err(io_err(&last.path))?.len();
            if valid_len < file_len {
                warn!(path = %last.path.display(), valid_len, file_len, "cutting torn write-ahead log tail");
                let file = OpenOptions::new().write(true).open(&last.path).map_err(io_err(&last.path))?;
                file.set_len(valid_len).map_err(io_err(&last.path))?;
                file.sync_all().map_err(io_err(&last.path))?;
            }
            next_seq = next_seq.max(last_seq.map_or(last.first_seq, |s| s + 1));
        }
        let reuse_last = segments.last().is_some_and(|s| fs::metadata(&s.path).is_ok_and(|m| m.len() < SEGMENT_BYTES));
        if !reuse_last {
            segments.push(Segment { first_seq: next_seq, path: segment_path(dir, next_seq) });
        }
        let active_path = &segments.last().expect("at least one segment").path;
        let file = OpenOptions::new().create(true).append(true).open(active_path).map_err(io_err(active_path))?;
        let active_len = file.metadata().map_err(io_err(active_path))?.len();
        sync_dir(dir);
        Ok(Wal { dir: dir.to_owned(), segments, active: BufWriter::with_capacity(1 << 20, file), active_len, next_seq })
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Buffers one record; durable only after [`Wal::sync`].
    pub fn append(&mut self, record: &WalRecord) -> Result<u64, IngestError> {
        if self.active_len >= SEGMENT_BYTES {
            self.roll()?;
        }
        let payload = serde_json::to_vec(record).map_err(|e| IngestError::BadBody(e.to_string()))?;
        let seq = self.next_seq;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&seq.to_le_bytes());
        crc.update(&payload);
        let mut header = [0u8; HEADER];
        header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        header[8..16].copy_from_slice(&seq.to_le_bytes());
        let path = &self.segments.last().expect("active segment").path;
        self.active.write_all(&header).map_err(io_err(path))?;
        self.active.write_all(&payload).map_err(io_err(path))?;
        self.active_len += (HEADER + payload.len()) as u64;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Makes every appended record durable (one fsync for the whole group).
    pub fn sync(&mut self) -> Result<(), IngestError> {
        let path = &self.segments.last().expect("active segment").path;
        self.active.flush().map_err(io_err(path))?;
        self.active.get_ref().sync_data().map_err(io_err(path))
    }

    fn roll(&mut self) -> Result<(), IngestError> {
        self.sync()?;
        let path = segment_path(&self.dir, self.next_seq);
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        sync_dir(&self.dir);
        self.active = BufWriter::with_capacity(1 << 20, file);
        self.active_len = 0;
        self.segments.push(Segment { first_seq: self.next_seq, path });
        Ok(())
    }

    /// Calls `visit` for every record with a sequence number above `after`, in order.
    pub fn replay(
        &self,
        after: u64,
        mut visit: impl FnMut(u64, WalRecord) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        for (i, segment) in self.segments.iter().enumerate() {
            let next_first = self.segments.get(i + 1).map(|s| s.first_seq);
            if next_first.is_some_and(|n| n <= after + 1) {
                continue;
            }
            let file = File::open(&segment.path).map_err(io_err(&segment.path))?;
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let mut offset = 0u64;
            loop {
                match read_record(&mut reader, &segment.path, offset)? {
                    None => break,
                    Some((seq, payload, len)) => {
                        offset += len;
                        if seq <= after {
                            continue;
                        }
                        let record: WalRecord = sluice_core::json::from_bytes(&payload).map_err(|e| {
                            IngestError::WalCorrupt { path: segment.path.clone(), offset, reason: e.to_string() }
                        })?;
                        visit(seq, record)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes segments whose records are all at or below `seq` (every sink has them).
    pub fn truncate_through(&mut self, seq: u64) -> Result<usize, IngestError> {
        let mut removed = 0;
        while self.segments.len() > 1 && self.segments[1].first_seq <= seq + 1 {
            let segment = self.segments.remove(0);
            fs::remove_file(&segment.path).map_err(io_err(&segment.path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir);
            info!(removed, through = seq, "truncated write-ahead log");
        }
        Ok(removed)
    }

    /// Bytes on disk across all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().filter_map(|s| fs::metadata(&s.path).ok()).map(|m| m.len()).sum()
    }
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads one record; `None` at a clean end. A torn record at the end is reported as corrupt
/// so callers can tell it from a clean end.
fn read_record(reader: &mut impl Read, path: &Path, offset: u64) -> Result<Option<(u64, Vec<u8>, u64)>, IngestError> {
    let corrupt = |reason: &str| IngestError::WalCorrupt { path: path.to_owned(), offset, reason: reason.to_owned() };
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        let n = reader.read(&mut header[got..]).map_err(io_err(path))?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(corrupt("truncated header")) };
        }
        got += n;
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if len > MAX_RECORD {
        return Err(corrupt("impossible record length"));
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload).map_err(|_| corrupt("truncated payload"))?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some((seq, payload, (HEADER as u64) + u64::from(len))))
}

/// Length of the valid prefix of a segment and the last good sequence number in it.
fn scan_valid_prefix(path: &Path) -> Result<(u64, Option<u64>), IngestError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut offset = 0;
    let mut last = None;
    loop {
        match read_record(&mut reader, path, offset) {
            Ok(Some((seq, _, len))) => {
                offset += len;
                last = Some(seq);
            }
            Ok(None) | Err(IngestError::WalCorrupt { .. }) => return Ok((offset, last)),
            Err(e) => return Err(e),
        }
    }
}

/// A record on its way into the log, with the channel that reports its sequence number
/// once it is durable.
struct Submission {
    record: WalRecord,
    done: oneshot::Sender<Result<u64, String>>,
}

/// The sending side of the WAL writer. Cheap to clone; every producer holds one.
#[derive(Clone)]
pub struct WalHandle {
    tx: mpsc::Sender<Submission>,
}

impl WalHandle {
    /// Appends a record and waits until it is durable; returns its sequence number.
    pub async fn submit(&self, record: WalRecord) -> Result<u64, IngestError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Submission { record, done }).await.map_err(|_| IngestError::Closed)?;
        finish(wait.await)
    }

    /// For producers on plain threads (the tailer, `import`).
    pub fn submit_blocking(&self, record: WalRecord) -> Result<u64, IngestError> {
        let (done, wait) = oneshot::channel();
        self.tx.blocking_send(Submission { record, done }).map_err(|_| IngestError::Closed)?;
        finish(wait.blocking_recv())
    }
}

fn finish(result: Result<Result<u64, String>, oneshot::error::RecvError>) -> Result<u64, IngestError> {
    match result {
        Ok(Ok(seq)) => Ok(seq),
        Ok(Err(message)) => Err(IngestError::BadBody(message)),
        Err(_) => Err(IngestError::Closed),
    }
}

/// Starts the group-commit writer: it takes every record waiting, appends them, fsyncs
/// once, hands each to `forward`, then acknowledges it. `forward` may block: that is the
/// back-pressure that keeps memory bounded. Stops when every handle is dropped.
pub fn start_writer(
    wal: Arc<Mutex<Wal>>,
    queue: usize,
    mut forward: impl FnMut(u64, WalRecord) -> bool + Send + 'static,
) -> (WalHandle, std::thread::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Submission>(queue);
    let thread = std::thread::Builder::new()
        .name("wal-writer".into())
        .spawn(move || {
            let mut group = Vec::new();
            while let Some(first) = rx.blocking_recv() {
                group.push(first);
                while group.len() < 256 {
                    match rx.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                let mut written = Vec::with_capacity(group.len());
                let outcome = {
                    let mut wal = wal.lock().unwrap_or_else(|p| p.into_inner());
                    let mut result = Ok(());
                    for submission in group.drain(..) {
                        match wal.append(&submission.record) {
                            Ok(seq) => written.push((seq, submission)),
                            Err(e) => {
                                let _ = submission.done.send(Err(e.to_string()));
                            }
                        }
                    }
                    if !written.is_empty() {
                        result = wal.sync();
                    }
                    result
                };
                if let Err(e) = outcome {
                    warn!(error = %e, "write-ahead log sync failed; rejecting the group");
                    for (_, submission) in written {
                        let _ = submission.done.send(Err(e.to_string()));
                    }
                    continue;
                }
                // Forward before acknowledging: once a producer hears "durable", a flush it
                // asks for next is queued behind its record.
                for (seq, submission) in written {
                    let Submission { record, done } = submission;
                    let delivered = forward(seq, record);
                    let _ = done.send(Ok(seq));
                    if !delivered {
                        return;
                    }
                }
            }
        })
        .expect("spawn wal writer thread");
    (WalHandle { tx }, thread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Event;

    fn record(msg: &str) -> WalRecord {
        WalRecord { events: vec![Event::new(chrono::DateTime::UNIX_EPOCH, msg)], checkpoints: vec![] }
    }

    fn messages(wal: &Wal, after: u64) -> Vec<(u64, String)> {
        let mut seen = Vec::new();
        wal.replay(after, |seq, r| {
            seen.push((seq, r.events[0].message.clone()));
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn appends_replays_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.append(&record("a")).unwrap(), 1);
        assert_eq!(wal.append(&record("b")).unwrap(), 2);
        wal.sync().unwrap();
        drop(wal);
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(messages(&wal, 0), vec![(1, "a".into()), (2, "b".into())]);
        assert_eq!(messages(&wal, 1), vec![(2, "b".into())]);
        assert_eq!(wal.append(&record("c")).unwrap(), 3);
    }

    #[test]
    fn torn_tail_is_cut_not_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        wal.append(&record("kept")).unwrap();
        wal.append(&record("torn")).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let segment = fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let len = fs::metadata(&segment).unwrap().len();
        OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 3).unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(messages(&wal, 0), vec![(1, "kept".into())]);
        // The cut record's number is reused by the next append: it was never acknowledged.
        assert_eq!(wal.append(&record("next")).unwrap(), 2);
    }

    #[test]
    fn flipped_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        wal.append(&record("good")).unwrap();
        wal.append(&record("flipped")).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let segment = fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let mut bytes = fs::read(&segment).unwrap();
        let last = bytes.len() - 5;
        bytes[last] ^= 0xff;
        fs::write(&segment, bytes).unwrap();
        let wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(messages(&wal, 0), vec![(1, "good".into())]);
    }

    #[test]
    fn truncation_keeps_sequence_numbers_growing() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        wal.append(&record("a")).unwrap();
        wal.roll().unwrap();
        wal.append(&record("b")).unwrap();
        wal.sync().unwrap();
        assert_eq!(wal.truncate_through(1).unwrap(), 1);
        assert_eq!(messages(&wal, 0), vec![(2, "b".into())]);
        drop(wal);
        let wal = Wal::open(dir.path(), 7).unwrap();
        assert_eq!(wal.next_seq(), 7);
    }

    #[test]
    fn group_commit_acknowledges_and_forwards_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Arc::new(Mutex::new(Wal::open(dir.path(), 0).unwrap()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (handle, thread) = start_writer(wal, 8, move |seq, _| tx.send(seq).is_ok());
        for i in 0..20 {
            assert_eq!(handle.submit_blocking(record(&i.to_string())).unwrap(), i + 1);
        }
        drop(handle);
        thread.join().unwrap();
        assert_eq!(rx.iter().collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    }
}
