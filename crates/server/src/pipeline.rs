//! The one pipeline `serve` and `import` share:
//!
//! ```text
//! producers (tailer, HTTP, import) --WalHandle--> WAL writer (group commit, fsync)
//!     --bounded channel--> sink thread: fingerprint + mark slow SQL -> alert rules
//!                          -> tantivy + Parquet buffer + /metrics counts
//! ```
//! Alert changes go from the sink to the [`AlertHub`] (store, SSE, webhooks) as they happen.
//! The sink commits the index every `commit_interval` (NRT search) and flushes the archive
//! less often; each records the WAL sequence number it covers. On start, the WAL is
//! replayed from the oldest of those positions, so nothing acknowledged is lost and
//! nothing is stored twice. File positions ride inside WAL records; `checkpoints.json`
//! keeps them once the WAL segments holding them are deleted. Archive retention,
//! compaction and uploads run on the maintenance thread ([`crate::maintenance`]).

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender as SyncSender, bounded as sync_channel};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sluice_archive::{Archive, ArchiveHandle, RemoteArchive};
use sluice_core::{Config, Event, SourceConfig};
use sluice_detect::alerts::Detector;
use sluice_index::{EventIndex, EventWriter};
use sluice_ingest::wal::{self, Wal, WalHandle};
use sluice_ingest::{FileCheckpoint, WalRecord};
use sluice_parsers::{ModuleRouter, Parser};
use tokio::sync::{broadcast, oneshot, watch};
use tracing::{error, info};

use crate::PipelineError;
use crate::alerts::AlertHub;
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// How often new events become searchable.
    pub commit_interval: Duration,
    /// How often buffered rows are written to Parquet (also on `archive_flush_rows`).
    pub archive_flush_interval: Duration,
    pub archive_flush_rows: usize,
    pub index_heap_bytes: usize,
    /// Records waiting for the WAL writer before producers wait (or get 429).
    pub queue: usize,
    /// Close every open alert at shutdown: the input has ended (`import`), rather than
    /// paused (`serve`).
    pub close_alerts_on_shutdown: bool,
    /// Merge small archive files once more before exiting (`import`: the days it wrote
    /// are often finished ones, which compaction folds into one file per module).
    pub compact_on_shutdown: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            commit_interval: Duration::from_millis(500),
            archive_flush_interval: Duration::from_secs(60),
            archive_flush_rows: 50_000,
            index_heap_bytes: 128 << 20,
            queue: 16,
            close_alerts_on_shutdown: false,
            compact_on_shutdown: false,
        }
    }
}

enum SinkMessage {
    Record(u64, WalRecord),
    /// Commit index and archive now; answer when durable.
    Flush(oneshot::Sender<Result<(), String>>),
    Shutdown,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    wal_seq: u64,
    files: Vec<FileCheckpoint>,
}

/// An event as the sink stored it, for live tails: with its place in the search order
/// (`None` when the index did not take it, past `index_retention_days`).
#[derive(Debug)]
pub struct TailedEvent {
    pub event: Event,
    pub sort: Option<sluice_index::Cursor>,
}

/// A running pipeline. Dropping it without [`Pipeline::shutdown`] leaves the last
/// uncommitted records to the next start's WAL replay.
pub struct Pipeline {
    wal: WalHandle,
    index: EventIndex,
    metrics: Arc<Metrics>,
    alerts: Arc<AlertHub>,
    config: Arc<Config>,
    router: ModuleRouter,
    host: String,
    sink: SyncSender<SinkMessage>,
    sink_thread: Option<JoinHandle<()>>,
    archive: ArchiveHandle,
    tail: broadcast::Sender<Arc<TailedEvent>>,
    /// The WAL sequence number the index has committed through: what search sees.
    searchable: watch::Receiver<u64>,
    maintenance: Option<Maintenance>,
    compact_on_shutdown: bool,
    restored: Vec<FileCheckpoint>,
    _lock: File,
}

impl Pipeline {
    /// Opens the data dir, replays the WAL into the stores, and starts the threads.
    pub fn start(config: Arc<Config>, data_dir: &Path, options: PipelineOptions) -> Result<Pipeline, PipelineError> {
        std::fs::create_dir_all(data_dir).map_err(|source| PipelineError::Io { path: data_dir.to_owned(), source })?;
        let lock = lock_data_dir(data_dir)?;
        let router = ModuleRouter::new(&config.modules)?;
        let metrics = Arc::new(Metrics::default());
        let alerts = Arc::new(AlertHub::open(data_dir, &config, metrics.clone())?);
        let index = EventIndex::open_or_create(&data_dir.join("index"))?;
        let mut writer = index.writer(options.index_heap_bytes)?;
        writer.set_retention_days(config.index_retention_days);
        let (tail, _) = broadcast::channel(TAIL_BUFFER);
        let (searchable_tx, searchable) = watch::channel(0);
        let archive = Archive::open(&data_dir.join("archive"))?;
        if let Some(url) = &config.archive.url {
            archive.set_remote(Arc::new(RemoteArchive::connect(url, &config.archive.options)?));
        }
        let checkpoint_path = data_dir.join("checkpoints.json");
        let stored = load_checkpoints(&checkpoint_path)?;
        let index_seq = index.committed_seq()?;
        let archive_seq = archive.committed_seq();
        let newest = index_seq.max(archive_seq).max(stored.wal_seq);
        let wal = Arc::new(Mutex::new(Wal::open(&data_dir.join("wal"), newest + 1)?));

        let mut sink = Sink {
            writer: Some(writer),
            archive,
            wal: wal.clone(),
            detector: Detector::new(&config),
            alerts: alerts.clone(),
            metrics: metrics.clone(),
            checkpoints: stored.files.iter().map(|c| (c.key(), c.clone())).collect(),
            checkpoint_path,
            checkpoint_seq: stored.wal_seq,
            index_seq,
            last_seq: newest,
            options: options.clone(),
            last_commit: Instant::now(),
            last_archive_flush: Instant::now(),
            last_tick: Instant::now(),
            tail: tail.clone(),
            searchable: searchable_tx,
        };
        let replayed = sink.replay()?;
        if replayed > 0 {
            info!(records = replayed, "replayed write-ahead log");
        }
        let restored: Vec<FileCheckpoint> = sink.checkpoints.values().cloned().collect();
        let archive = sink.archive.handle();
        let maintenance = Maintenance::start(archive.clone(), &config)
            .map_err(|source| PipelineError::Io { path: data_dir.to_owned(), source })?;

        let (sink_tx, sink_rx) = sync_channel::<SinkMessage>(options.queue);
        let forward_tx = sink_tx.clone();
        let (wal_handle, _writer_thread) = wal::start_writer(wal, options.queue, move |seq, record| {
            forward_tx.send(SinkMessage::Record(seq, record)).is_ok()
        });
        let sink_thread = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || sink.run(sink_rx))
            .map_err(|source| PipelineError::Io { path: data_dir.to_owned(), source })?;
        Ok(Pipeline {
            wal: wal_handle,
            index,
            metrics,
            alerts,
            config,
            router,
            host: local_host_name(),
            sink: sink_tx,
            sink_thread: Some(sink_thread),
            archive,
            tail,
            searchable,
            maintenance: Some(maintenance),
            compact_on_shutdown: options.compact_on_shutdown,
            restored,
            _lock: lock,
        })
    }

    pub fn wal(&self) -> &WalHandle {
        &self.wal
    }

    pub fn index(&self) -> &EventIndex {
        &self.index
    }

    pub fn archive(&self) -> &ArchiveHandle {
        &self.archive
    }

    /// New events as the sink stores them, for live tails.
    pub fn tail(&self) -> broadcast::Receiver<Arc<TailedEvent>> {
        self.tail.subscribe()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn alerts(&self) -> &Arc<AlertHub> {
        &self.alerts
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// File positions recovered at start, for the tailer.
    pub fn restored_checkpoints(&self) -> Vec<FileCheckpoint> {
        self.restored.clone()
    }

    /// A parser for `source`, stamping this machine's host name.
    pub fn parser(&self, source: &SourceConfig) -> Result<Parser, PipelineError> {
        Ok(Parser::for_source(&self.config, source, self.router.clone(), &self.host, Utc::now())?)
    }

    /// A factory the tailer calls for each file it opens.
    pub fn parser_factory(&self) -> sluice_ingest::tail::ParserFactory {
        let (config, router, host) = (self.config.clone(), self.router.clone(), self.host.clone());
        Arc::new(move |source: &SourceConfig| {
            Parser::for_source(&config, source, router.clone(), &host, Utc::now()).unwrap_or_else(|_| {
                // Only a bad `log_format` fails, and config validation rejected that at start.
                let plain = SourceConfig::adhoc(source.name.clone(), sluice_core::FormatName::Plain);
                Parser::for_source(&config, &plain, router.clone(), &host, Utc::now()).expect("plain parser builds")
            })
        })
    }

    /// Waits until the record with WAL sequence number `seq` is searchable (the next index
    /// commit, at most `commit_interval` away): Elasticsearch's `refresh=wait_for`.
    pub async fn wait_searchable(&self, seq: u64) -> Result<(), PipelineError> {
        let mut searchable = self.searchable.clone();
        searchable
            .wait_for(|committed| *committed >= seq)
            .await
            .map(|_| ())
            .map_err(|_| PipelineError::Stopped("sink thread is gone".into()))
    }

    /// Makes everything acknowledged so far searchable and archived.
    pub async fn flush(&self) -> Result<(), PipelineError> {
        let (tx, rx) = oneshot::channel();
        let sink = self.sink.clone();
        tokio::task::spawn_blocking(move || sink.send(SinkMessage::Flush(tx)))
            .await
            .map_err(|e| PipelineError::Stopped(e.to_string()))?
            .map_err(|_| PipelineError::Stopped("sink thread is gone".into()))?;
        rx.await.map_err(|_| PipelineError::Stopped("sink thread is gone".into()))?.map_err(PipelineError::Stopped)
    }

    /// Flushes and stops the sink. Producers must have stopped first.
    pub async fn shutdown(mut self) -> Result<(), PipelineError> {
        let flushed = self.flush().await;
        let _ = self.sink.send(SinkMessage::Shutdown);
        if let Some(thread) = self.sink_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Some(maintenance) = self.maintenance.take() {
            let compact = self.compact_on_shutdown && flushed.is_ok();
            let _ = tokio::task::spawn_blocking(move || maintenance.stop(compact)).await;
        }
        flushed
    }
}

struct Sink {
    writer: Option<EventWriter>,
    archive: Archive,
    wal: Arc<Mutex<Wal>>,
    detector: Detector,
    alerts: Arc<AlertHub>,
    metrics: Arc<Metrics>,
    checkpoints: HashMap<String, FileCheckpoint>,
    checkpoint_path: PathBuf,
    checkpoint_seq: u64,
    index_seq: u64,
    last_seq: u64,
    options: PipelineOptions,
    last_commit: Instant,
    last_archive_flush: Instant,
    last_tick: Instant,
    tail: broadcast::Sender<Arc<TailedEvent>>,
    searchable: watch::Sender<u64>,
}

/// Events a live tail may fall behind by before it skips some.
const TAIL_BUFFER: usize = 4096;

/// How often the sink sends due alert updates and closes alerts of silent modules.
const ALERT_TICK: Duration = Duration::from_millis(250);

impl Sink {
    /// Feeds WAL records the stores have not committed, then commits everything.
    fn replay(&mut self) -> Result<u64, PipelineError> {
        let from = self.index_seq.min(self.archive.committed_seq()).min(self.checkpoint_seq);
        let wal = self.wal.clone();
        let mut count = 0;
        let guard = wal.lock().unwrap_or_else(|p| p.into_inner());
        guard.replay(from, |seq, record| {
            self.apply(seq, record).map_err(|e| sluice_ingest::IngestError::BadBody(e.to_string()))?;
            count += 1;
            Ok(())
        })?;
        drop(guard);
        if count > 0 {
            self.commit(true)?;
        }
        Ok(count)
    }

    fn run(mut self, rx: Receiver<SinkMessage>) {
        loop {
            let wait = self.options.commit_interval.saturating_sub(self.last_commit.elapsed());
            match rx.recv_timeout(wait.max(Duration::from_millis(10))) {
                Ok(SinkMessage::Record(seq, record)) => {
                    if let Err(e) = self.apply(seq, record) {
                        error!(error = %e, seq, "failed to store events");
                    }
                }
                Ok(SinkMessage::Flush(reply)) => {
                    let mut updates = Vec::new();
                    self.detector.flush(&mut updates);
                    self.alerts.publish(updates);
                    let _ = reply.send(self.commit(true).map_err(|e| e.to_string()));
                }
                Ok(SinkMessage::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    let mut updates = Vec::new();
                    if self.options.close_alerts_on_shutdown {
                        self.detector.finish(&mut updates);
                    } else {
                        self.detector.flush(&mut updates);
                    }
                    self.alerts.publish(updates);
                    if let Err(e) = self.commit(true) {
                        error!(error = %e, "final commit failed; the WAL will be replayed on next start");
                    }
                    if let Some(writer) = self.writer.take() {
                        let _ = writer.finish();
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.last_tick.elapsed() >= ALERT_TICK {
                self.last_tick = Instant::now();
                let mut updates = Vec::new();
                self.detector.tick(&mut updates);
                self.alerts.publish(updates);
            }
            // Commit every `commit_interval`, but while records are waiting (the sink is
            // behind) only every second interval: each commit stalls indexing, and under
            // load fewer, larger segments are what lets the backlog drain.
            let since = self.last_commit.elapsed();
            let due =
                since >= self.options.commit_interval && (rx.is_empty() || since >= 2 * self.options.commit_interval);
            if due && let Err(e) = self.commit(false) {
                error!(error = %e, "commit failed; will retry");
            }
        }
    }

    fn apply(&mut self, seq: u64, record: WalRecord) -> Result<(), PipelineError> {
        let to_archive = seq > self.archive.committed_seq();
        let mut counts = crate::metrics::BatchCounts::default();
        let mut updates = Vec::new();
        for mut event in record.events {
            let slow = self.detector.prepare(&mut event);
            let to_index = self.writer.as_ref().is_some_and(|w| w.is_new(seq, event.timestamp));
            if to_index {
                // Only events the index has not seen feed the rules: a replay after a
                // crash re-derives the same alert ids, never a second alert.
                self.detector.evaluate(&event, &mut updates);
                let sort = match &mut self.writer {
                    Some(writer) => writer.add(seq, &event)?,
                    None => None,
                };
                // Live tails see each new event once (a full channel drops for laggards).
                if self.tail.receiver_count() > 0 {
                    let _ = self.tail.send(Arc::new(TailedEvent { event: event.clone(), sort }));
                }
            }
            counts.observe(&event, slow);
            if to_archive {
                self.archive.push(event);
            }
        }
        self.metrics.merge(counts);
        self.alerts.publish(updates);
        if seq > self.checkpoint_seq {
            for checkpoint in record.checkpoints {
                self.checkpoints.insert(checkpoint.key(), checkpoint);
            }
        }
        self.last_seq = self.last_seq.max(seq);
        Ok(())
    }

    /// Commits the index if it is behind; flushes the archive when due (or `force`), then
    /// saves file positions and drops WAL segments every store has.
    fn commit(&mut self, force: bool) -> Result<(), PipelineError> {
        self.last_commit = Instant::now();
        if self.last_seq > self.index_seq
            && let Some(writer) = &mut self.writer
        {
            // Also makes the commit visible to searches.
            writer.commit(self.last_seq)?;
            self.index_seq = self.last_seq;
        }
        self.searchable.send_replace(self.index_seq);
        let archive_due = self.archive.buffered_rows() >= self.options.archive_flush_rows
            || self.last_archive_flush.elapsed() >= self.options.archive_flush_interval;
        if (force || archive_due) && self.last_seq > self.archive.committed_seq() {
            // Encoding Parquet runs on the archive's own thread; only an explicit flush
            // (import's end, shutdown, `Flush`) waits for it.
            if force {
                self.archive.flush(self.last_seq)?;
            } else {
                self.archive.flush_in_background(self.last_seq)?;
            }
            self.last_archive_flush = Instant::now();
            self.store_checkpoints()?;
            let through = self.index_seq.min(self.archive.committed_seq());
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            wal.truncate_through(through)?;
            self.metrics.set_wal_bytes(wal.size_bytes());
        }
        Ok(())
    }

    fn store_checkpoints(&mut self) -> Result<(), PipelineError> {
        let file =
            CheckpointFile { version: 1, wal_seq: self.last_seq, files: self.checkpoints.values().cloned().collect() };
        let tmp = self.checkpoint_path.with_extension("json.tmp");
        let io = |source| PipelineError::Io { path: tmp.clone(), source };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| PipelineError::Stopped(e.to_string()))?;
        {
            use std::io::Write;
            let mut f = File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.checkpoint_path).map_err(io)?;
        self.checkpoint_seq = self.last_seq;
        Ok(())
    }
}

fn load_checkpoints(path: &Path) -> Result<CheckpointFile, PipelineError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| PipelineError::Corrupt { path: path.to_owned(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CheckpointFile { version: 1, ..Default::default() }),
        Err(source) => Err(PipelineError::Io { path: path.to_owned(), source }),
    }
}

/// One process writes a data dir at a time; searches need no lock.
fn lock_data_dir(data_dir: &Path) -> Result<File, PipelineError> {
    let path = data_dir.join("sluice.lock");
    let file = File::create(&path).map_err(|source| PipelineError::Io { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(PipelineError::Locked(data_dir.to_owned())),
        Err(std::fs::TryLockError::Error(source)) => Err(PipelineError::Io { path, source }),
    }
}

fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
