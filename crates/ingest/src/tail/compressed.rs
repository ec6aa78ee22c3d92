//! Rotated files logrotate compressed (`access.log.2.gz`), for sources with
//! `read_compressed = true`: each is read once, whole, through a gzip decoder.
//!
//! A compressed file is known by the checksum of its first decompressed bytes, the same
//! fingerprint its uncompressed original had while it was tailed. So the copy of a file
//! that was already read is read only from where reading stopped (usually its end:
//! nothing new), and a file rotated and compressed while Sluice was down is read from its
//! last checkpoint on; only files never seen before are read from the start.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use sluice_core::StartAt;
use tracing::{info, warn};

use super::{FINGERPRINT_BYTES, MAX_BATCH_EVENTS, READ_CHUNK, TailedFile, Tailer, split_lines, submit};

pub(super) fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("gz"))
}

impl Tailer {
    /// Reads one compressed file to its end; false once the WAL is gone.
    pub(super) fn read_compressed(&mut self, source: usize, path: &Path, key: (u64, u64)) -> bool {
        if self.first_scan && self.sources[source].start_at == StartAt::End {
            // Like a plain file first seen with `start_at = "end"`: what it holds is old.
            self.finished.insert(key);
            return true;
        }
        match self.read_compressed_file(source, path, key) {
            Ok(alive) => {
                self.finished.insert(key);
                alive
            }
            Err(error) => {
                warn!(path = %path.display(), %error, "cannot read compressed file; skipping it");
                self.finished.insert(key);
                true
            }
        }
    }

    fn read_compressed_file(&mut self, source: usize, path: &Path, key: (u64, u64)) -> std::io::Result<bool> {
        let mut decoder = BufReader::with_capacity(READ_CHUNK, flate2::read::MultiGzDecoder::new(File::open(path)?));
        let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
        (&mut decoder).take(FINGERPRINT_BYTES as u64).read_to_end(&mut head)?;
        let resume = self.known_offset(key, &head);
        let parser = (self.make_parser)(&self.sources[source]);
        let mut file = TailedFile::new(source, path, File::open(path)?, key, &head, resume, parser, None);
        // Skip what was read before: first from the head, then from the stream.
        let mut skip = resume;
        let from_head = (skip as usize).min(head.len());
        file.partial.extend_from_slice(&head[from_head..]);
        skip -= from_head as u64;
        std::io::copy(&mut (&mut decoder).take(skip), &mut std::io::sink())?;
        info!(path = %path.display(), from = resume, "reading compressed file");
        let mut events = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            split_lines(&mut file, &mut events);
            if events.len() >= MAX_BATCH_EVENTS {
                let offset = file.safe_offset();
                if !submit(&self.wal, &mut file, std::mem::take(&mut events), offset) {
                    return Ok(false);
                }
            }
            let n = decoder.read(&mut buf)?;
            if n == 0 {
                break;
            }
            file.partial.extend_from_slice(&buf[..n]);
        }
        file.end_of_stream(&mut events);
        let end = file.partial_start;
        if (!events.is_empty() || end != resume) && !submit(&self.wal, &mut file, events, end) {
            return Ok(false);
        }
        let checkpoint = file.checkpoint(end);
        self.restored.insert(key, checkpoint);
        Ok(true)
    }

    /// Where reading this content stopped before: its own checkpoint, or that of the file
    /// it is a compressed copy of (same fingerprint over the full fingerprint length).
    fn known_offset(&self, key: (u64, u64), head: &[u8]) -> u64 {
        let full = FINGERPRINT_BYTES.min(head.len());
        let matches = |fingerprint: u32, len: u32| {
            len as usize == full && full > 0 && crc32fast::hash(&head[..full]) == fingerprint
        };
        if let Some(own) = self.restored.get(&key).filter(|cp| matches(cp.fingerprint, cp.fingerprint_len)) {
            return own.offset;
        }
        let tailed = self
            .files
            .values()
            .filter(|f| matches(f.fingerprint, f.fingerprint_len))
            .map(|f| if f.committed == u64::MAX { 0 } else { f.committed });
        let remembered =
            self.restored.values().filter(|cp| matches(cp.fingerprint, cp.fingerprint_len)).map(|cp| cp.offset);
        tailed.chain(remembered).max().unwrap_or(0)
    }
}
