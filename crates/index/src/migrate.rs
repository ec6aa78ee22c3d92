//! Converts an index written before day partitions (one tantivy index directly in
//! `index/`) into day partitions, once, when a newer Sluice first opens it for writing.
//!
//! The old index is first renamed aside (`index-single/`), then read into a fresh
//! `index/`, then deleted; a crash at any point leaves `index-single/` in place and the
//! next start builds `index/` again from it.

use std::path::{Path, PathBuf};

use tantivy::schema::Value;
use tantivy::{Index, TantivyDocument};

use crate::partition::wal_seq_of;
use crate::{EventIndex, IndexError};

/// Whether `root` holds an index of the old, single-directory layout.
pub(crate) fn is_single(root: &Path) -> bool {
    root.join("meta.json").exists()
}

fn aside(root: &Path) -> PathBuf {
    let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("index");
    root.with_file_name(format!("{name}-single"))
}

pub(crate) fn single_to_daily(root: &Path) -> Result<(), IndexError> {
    let old = aside(root);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| IndexError::Io { path, source }
    };
    if is_single(root) {
        std::fs::rename(root, &old).map_err(io(root))?;
    }
    if !old.exists() {
        return Ok(());
    }
    tracing::info!(from = %old.display(), to = %root.display(), "converting the index into day partitions");
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(io(root))?;
    }
    std::fs::create_dir_all(root).map_err(io(root))?;
    let single = Index::open_in_dir(&old)?;
    let wal_seq = wal_seq_of(single.load_metas()?.payload.as_deref());
    let source_field = single.schema().get_field("_source")?;
    let index = EventIndex::open_dir(root, true)?;
    let mut writer = index.writer(64 << 20)?;
    let searcher = single.reader()?.searcher();
    let mut converted: u64 = 0;
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(64).map_err(|e| IndexError::Tantivy(e.into()))?;
        for doc_id in 0..segment.max_doc() {
            if segment.alive_bitset().is_some_and(|a| !a.is_alive(doc_id)) {
                continue;
            }
            let doc: TantivyDocument = store.get(doc_id)?;
            let Some(json) = doc.get_first(source_field).and_then(|v| v.as_str()) else { continue };
            match serde_json::from_str(json) {
                // Ordinals below any new record's: pseudo-records of 2^24 events.
                Ok(event) => {
                    writer.add(converted >> 24, &event)?;
                    converted += 1;
                }
                Err(error) => tracing::warn!(%error, "skipping unreadable stored event"),
            }
        }
    }
    writer.commit(wal_seq)?;
    writer.finish()?;
    std::fs::remove_dir_all(&old).map_err(io(&old))?;
    tracing::info!(events = converted, "index converted into day partitions");
    Ok(())
}
