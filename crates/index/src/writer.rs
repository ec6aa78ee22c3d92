//! The writer of a day-partitioned index: one tantivy writer per day being written.
//!
//! Recovery needs to know, for any WAL record and event, whether the index already holds
//! it. Two positions answer that: `commit.json` records the WAL sequence number through
//! which *every* day is complete (written after all open days committed), and each day's
//! own commit payload records how far that day is complete (it may be ahead, when a crash
//! came between two days' commits). An event of day `d` from record `seq` is new exactly
//! when `seq` is past both.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sluice_core::Event;
use tantivy::merge_policy::LogMergePolicy;
use tantivy::{IndexWriter, TantivyDocument};

use crate::partition::{self, Partition};
use crate::{Cursor, EventIndex, IndexError};

/// Days written at once before the least recently used is closed (at the next commit).
/// Live traffic writes today (and yesterday for a while after midnight); an import of old
/// files may touch many days, one after another.
const MAX_OPEN_DAYS: usize = 2;
/// A day not written to for this long is closed, so its merges finish and its memory goes.
const IDLE_CLOSE: Duration = Duration::from_secs(300);
/// How often retention looks for days to drop.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Bits of the ordinal that number events inside one WAL record.
const POSITION_BITS: u32 = 24;
/// Segments of about one size merged at once (tantivy's default is 8). Under steady
/// ingest each commit (about one a second) leaves a segment per indexing thread, and each
/// event is rewritten once per level of merging, log_f(day / segment) times for a factor
/// f: 12 rewrites it 16% fewer times than 8 (ln 8 / ln 12), at the price of up to 11
/// segments per level for searches to visit instead of 7. Quickwit's merge policy allows
/// 12 as well; Elasticsearch merges 10 at a time.
const MERGE_FACTOR: usize = 12;

fn merge_policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_min_num_segments(MERGE_FACTOR);
    policy
}

#[derive(Debug, Serialize, Deserialize)]
struct CommitFile {
    version: u32,
    wal_seq: u64,
}

const COMMIT_FILE: &str = "commit.json";

pub(crate) fn read_commit_file(root: &Path) -> Result<u64, IndexError> {
    let path = root.join(COMMIT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<CommitFile>(&bytes)
            .map(|c| c.wal_seq)
            .map_err(|e| IndexError::Io { path, source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(IndexError::Io { path, source }),
    }
}

pub(crate) fn write_commit_file(root: &Path, wal_seq: u64) -> Result<(), IndexError> {
    let path = root.join(COMMIT_FILE);
    let tmp = root.join("commit.json.tmp");
    let io = |source| IndexError::Io { path: tmp.clone(), source };
    let bytes = serde_json::to_vec(&CommitFile { version: 1, wal_seq }).unwrap_or_default();
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

struct OpenDay {
    writer: IndexWriter<TantivyDocument>,
    partition: Partition,
    dirty: bool,
    last_used: Instant,
}

/// Adds events to their day and commits them with the WAL position they reach.
pub struct EventWriter {
    index: EventIndex,
    heap_bytes: usize,
    threads: usize,
    open: HashMap<NaiveDate, OpenDay>,
    /// Days being closed: their merges finish on a thread of their own, which must end
    /// before the day can be opened again (tantivy allows one writer per directory).
    closing: HashMap<NaiveDate, JoinHandle<()>>,
    /// Every day holds every event of the WAL up to here.
    committed: u64,
    /// How far each day's own last commit reaches.
    day_seq: HashMap<NaiveDate, u64>,
    /// The record whose events are being numbered, and the next position in it.
    record: (u64, u64),
    retention_days: Option<u32>,
    last_retention: Option<Instant>,
    /// Events not indexed because their day is past retention.
    expired: u64,
}

impl EventWriter {
    pub(crate) fn new(index: EventIndex, heap_bytes: usize) -> Result<EventWriter, IndexError> {
        // tantivy wants at least 15 MB of heap per thread.
        let affordable = (heap_bytes / 15_000_000).max(1);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2).min(affordable));
        let committed = index.committed_seq()?;
        let mut day_seq = HashMap::new();
        for partition in index.all() {
            day_seq.insert(partition.day, partition.committed_seq()?);
        }
        Ok(EventWriter {
            index,
            heap_bytes,
            threads,
            open: HashMap::new(),
            closing: HashMap::new(),
            committed,
            day_seq,
            record: (0, 0),
            retention_days: None,
            last_retention: None,
            expired: 0,
        })
    }

    /// Days older than this many days (UTC) are deleted, and events for them are not
    /// indexed. `None` keeps every day.
    pub fn set_retention_days(&mut self, days: Option<u32>) {
        self.retention_days = days;
        self.last_retention = None;
    }

    /// Whether the index lacks the event `timestamp` of WAL record `seq` (a replay after a
    /// crash offers records some days already hold).
    pub fn is_new(&self, seq: u64, timestamp: DateTime<Utc>) -> bool {
        let day = partition::day_of(timestamp);
        seq > self.committed.max(self.day_seq.get(&day).copied().unwrap_or(0))
    }

    /// The WAL position the whole index has committed through.
    pub fn committed_seq(&self) -> u64 {
        self.committed
    }

    /// Events skipped so far because their day was past retention.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Adds one event of WAL record `seq` (events of a record are added in their order).
    /// Returns its place in the search order, or `None` when its day is past retention and
    /// it was not indexed.
    pub fn add(&mut self, seq: u64, event: &Event) -> Result<Option<Cursor>, IndexError> {
        let position = if self.record.0 == seq {
            self.record.1 += 1;
            self.record.1
        } else {
            self.record = (seq, 0);
            0
        };
        let ord = (seq << POSITION_BITS) | position.min((1 << POSITION_BITS) - 1);
        let day = partition::day_of(event.timestamp);
        if self.cutoff().is_some_and(|cutoff| day < cutoff) {
            self.expired += 1;
            return Ok(None);
        }
        let open = self.open_day(day)?;
        open.writer.add_document(open.partition.fields.document(event, ord))?;
        open.dirty = true;
        open.last_used = Instant::now();
        Ok(Some(Cursor { micros: event.timestamp.timestamp_micros(), ord }))
    }

    fn cutoff(&self) -> Option<NaiveDate> {
        let days = self.retention_days?;
        Utc::now().date_naive().checked_sub_days(chrono::Days::new(u64::from(days)))
    }

    fn open_day(&mut self, day: NaiveDate) -> Result<&mut OpenDay, IndexError> {
        if !self.open.contains_key(&day) {
            if let Some(closing) = self.closing.remove(&day) {
                let _ = closing.join();
            }
            // The day searches read (its reader is the one each commit reloads), created
            // and listed if new.
            let known = self.index.partitions.read().unwrap_or_else(|p| p.into_inner()).get(&day).cloned();
            let partition = match known {
                Some(partition) => partition,
                None => {
                    let partition = Partition::open_or_create(&self.index.root, day)?;
                    self.index.partitions.write().unwrap_or_else(|p| p.into_inner()).insert(day, partition.clone());
                    partition
                }
            };
            let writer = partition.index.writer_with_num_threads(self.threads, self.heap_bytes)?;
            writer.set_merge_policy(Box::new(merge_policy()));
            self.open.insert(day, OpenDay { writer, partition, dirty: false, last_used: Instant::now() });
        }
        Ok(self.open.get_mut(&day).expect("opened above"))
    }

    /// Durably commits everything added, recording that the index holds the WAL up to
    /// `seq`, and makes it searchable. Closes days idle or beyond the open limit, and
    /// applies retention when due.
    pub fn commit(&mut self, seq: u64) -> Result<(), IndexError> {
        let payload = serde_json::json!({ "wal_seq": seq }).to_string();
        for (day, open) in &mut self.open {
            if !open.dirty {
                continue;
            }
            let mut prepared = open.writer.prepare_commit()?;
            prepared.set_payload(&payload);
            prepared.commit()?;
            open.dirty = false;
            self.day_seq.insert(*day, seq);
            open.partition.reader.reload()?;
        }
        if seq > self.committed {
            write_commit_file(&self.index.root, seq)?;
            self.committed = seq;
        }
        self.close_idle_days();
        if self.retention_days.is_some() && self.last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
            self.last_retention = Some(Instant::now());
            self.apply_retention()?;
        }
        Ok(())
    }

    /// Closes (committed) days nobody wrote to lately, and the least recently used beyond
    /// [`MAX_OPEN_DAYS`]. Their merges finish in the background.
    fn close_idle_days(&mut self) {
        let mut by_use: Vec<(Instant, NaiveDate)> = self.open.iter().map(|(d, o)| (o.last_used, *d)).collect();
        by_use.sort();
        let excess = by_use.len().saturating_sub(MAX_OPEN_DAYS);
        for (i, (last_used, day)) in by_use.into_iter().enumerate() {
            if (i < excess || last_used.elapsed() >= IDLE_CLOSE)
                && let Some(open) = self.open.remove(&day)
            {
                let name = format!("index-close-{day}");
                let handle = std::thread::Builder::new().name(name).spawn(move || {
                    if let Err(error) = open.writer.wait_merging_threads() {
                        tracing::warn!(%error, %day, "merges of a closed index day failed");
                    }
                    let _ = open.partition.reader.reload();
                });
                match handle {
                    Ok(handle) => {
                        self.closing.insert(day, handle);
                    }
                    Err(error) => tracing::warn!(%error, "could not start a thread to close an index day"),
                }
            }
        }
        self.closing.retain(|_, handle| !handle.is_finished());
    }

    /// Deletes the days older than the retention period.
    fn apply_retention(&mut self) -> Result<(), IndexError> {
        let Some(cutoff) = self.cutoff() else { return Ok(()) };
        let expired: Vec<NaiveDate> =
            self.index.partitions.read().unwrap_or_else(|p| p.into_inner()).range(..cutoff).map(|(d, _)| *d).collect();
        for day in expired {
            // Nothing of an expired day is written any more (`add` skips it).
            self.open.remove(&day);
            if let Some(closing) = self.closing.remove(&day) {
                let _ = closing.join();
            }
            self.index.partitions.write().unwrap_or_else(|p| p.into_inner()).remove(&day);
            self.day_seq.remove(&day);
            let dir: PathBuf = Partition::path(&self.index.root, day);
            // Searches still holding the day's files keep reading them: removing an open
            // (mmapped) file only unlinks its name.
            std::fs::remove_dir_all(&dir).map_err(|source| IndexError::Io { path: dir.clone(), source })?;
            tracing::info!(%day, "index day past retention deleted");
        }
        Ok(())
    }

    /// Waits for every day's background merges; call before exiting.
    pub fn finish(mut self) -> Result<(), IndexError> {
        for (_, open) in self.open.drain() {
            open.writer.wait_merging_threads()?;
        }
        for (_, handle) in self.closing.drain() {
            let _ = handle.join();
        }
        Ok(())
    }
}
