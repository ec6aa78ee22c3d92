//! `_manifest.json`: the archive's list of files and the WAL position they cover.
//! Readers that glob `*.parquet` skip it (a leading underscore marks metadata).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ArchiveError, io_err, sync_dir};

pub(crate) const MANIFEST_FILE: &str = "_manifest.json";
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub schema_version: u32,
    pub wal_seq: u64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the archive root, `/`-separated.
    pub path: String,
    /// The `source` of every row in the file ("" in manifests from before files were
    /// split by source).
    #[serde(default)]
    pub source: String,
    pub rows: u64,
    /// Size on disk (0 in manifests written before sizes were recorded).
    #[serde(default)]
    pub bytes: u64,
    /// How many compactions produced this file: 0 for a flushed file.
    #[serde(default)]
    pub level: u8,
    pub min_ts: Option<DateTime<Utc>>,
    pub max_ts: Option<DateTime<Utc>>,
    /// When its rows reached the archive (a merge keeps its newest input's): compaction
    /// waits for a finished day to go quiet before settling it. `None` in manifests from
    /// before this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<DateTime<Utc>>,
}

impl Manifest {
    pub(crate) fn load(root: &Path) -> Result<Manifest, ArchiveError> {
        let path = root.join(MANIFEST_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: MANIFEST_VERSION,
                    schema_version: crate::SCHEMA_VERSION,
                    wal_seq: 0,
                    files: Vec::new(),
                });
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| ArchiveError::Manifest { path: path.clone(), message: e.to_string() })?;
        if manifest.version > MANIFEST_VERSION {
            return Err(ArchiveError::Manifest {
                path,
                message: format!(
                    "version {} is newer than this sluice understands ({MANIFEST_VERSION})",
                    manifest.version
                ),
            });
        }
        Ok(manifest)
    }

    /// Atomically replaces the manifest on disk.
    pub(crate) fn store(&self, root: &Path) -> Result<(), ArchiveError> {
        let path = root.join(MANIFEST_FILE);
        let tmp = root.join(format!("{MANIFEST_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| ArchiveError::Manifest { path: path.clone(), message: e.to_string() })?;
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(&bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(root);
        Ok(())
    }

    pub fn total_rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}
