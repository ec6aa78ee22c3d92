//! One Parquet file holding the events of every module (an export's `events.parquet`),
//! written to any `Write` (a file, a zip entry) in bounded memory.

use std::io::Write;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use sluice_core::Event;

use crate::{ArchiveError, schema};

/// Rows buffered before they are encoded.
const BATCH_ROWS: usize = 8192;

pub struct EventsParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    pending: Vec<Event>,
    rows: u64,
}

impl<W: Write + Send> EventsParquetWriter<W> {
    pub fn new(out: W) -> Result<Self, ArchiveError> {
        let schema: SchemaRef = Arc::new(schema::export_schema());
        // Rows come in storage order, not sorted by time.
        let props = crate::writer_properties(crate::FLUSH_ZSTD_LEVEL, false)?;
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        Ok(EventsParquetWriter { writer, schema, pending: Vec::with_capacity(BATCH_ROWS), rows: 0 })
    }

    pub fn write(&mut self, event: Event) -> Result<(), ArchiveError> {
        self.pending.push(event);
        self.rows += 1;
        if self.pending.len() >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), ArchiveError> {
        if !self.pending.is_empty() {
            self.writer.write(&schema::record_batch(self.schema.clone(), &self.pending)?)?;
            self.pending.clear();
        }
        // Keep memory bounded: parquet holds a row group's encoded pages until it closes.
        if self.writer.in_progress_size() > 64 << 20 {
            self.writer.flush()?;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer and returns the destination.
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        self.write_pending()?;
        Ok(self.writer.into_inner()?)
    }
}
