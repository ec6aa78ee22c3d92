//! How events reach Sluice: the file tailer, HTTP body decoding, and the write-ahead log
//! that makes every accepted event durable before anyone is told it was accepted.

pub mod body;
pub mod protocol;
pub mod tail;
pub mod wal;

use serde::{Deserialize, Serialize};
use sluice_core::Event;

/// Where a tailer stands in one file. Stored in each WAL record next to the events it
/// read, so a crash resumes exactly after the last durable record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub source: String,
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    /// CRC32 of the file's first `fingerprint_len` bytes: tells a reused inode from the
    /// file it once was.
    pub fingerprint: u32,
    pub fingerprint_len: u32,
    /// Everything before this offset is in the WAL.
    pub offset: u64,
}

impl FileCheckpoint {
    pub fn key(&self) -> String {
        format!("{}:{}", self.dev, self.ino)
    }
}

/// One unit of durable ingest: events, plus the tailer positions they advance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WalRecord {
    pub events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<FileCheckpoint>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("write-ahead log I/O on {path}: {source}")]
    WalIo { path: std::path::PathBuf, source: std::io::Error },
    #[error("write-ahead log {path} is corrupt at byte {offset}: {reason}")]
    WalCorrupt { path: std::path::PathBuf, offset: u64, reason: String },
    #[error("the ingest pipeline has stopped")]
    Closed,
    #[error("body too large: more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    BadBody(String),
}
