//! The archive's Arrow schema, version 1. `module` and `dt` are not columns in the files:
//! they are the Hive partition directories.
//!
//! | column | type | from |
//! |---|---|---|
//! | timestamp | timestamp(us, UTC) | event time |
//! | source, level, host, message | utf8 | event |
//! | status | int32 | `fields.status` (HTTP) |
//! | path | utf8 | `fields.path` (HTTP) |
//! | request_time_ms, query_time_ms | float64 | timings |
//! | trace_id | utf8 | `fields.trace_id` |
//! | fields | utf8 (JSON object) | all format-specific fields |

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use sluice_core::Event;

pub const SCHEMA_VERSION: u32 = 1;

pub fn arrow_schema() -> Schema {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Schema::new(vec![
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        text("source", false),
        text("level", false),
        text("host", false),
        text("message", false),
        Field::new("status", DataType::Int32, true),
        text("path", true),
        Field::new("request_time_ms", DataType::Float64, true),
        Field::new("query_time_ms", DataType::Float64, true),
        text("trace_id", true),
        text("fields", false),
    ])
}

pub(crate) fn record_batch(schema: Arc<Schema>, rows: &[Event]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let strings = |f: fn(&Event) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|e| e.timestamp.timestamp_micros()))
                .with_timezone("UTC"),
        ),
        strings(|e| &e.source),
        strings(|e| e.level.as_str()),
        strings(|e| &e.host),
        strings(|e| &e.message),
        Arc::new(Int32Array::from_iter(rows.iter().map(|e| e.field_f64("status").map(|s| s as i32)))),
        Arc::new(StringArray::from_iter(rows.iter().map(|e| e.field_str("path")))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|e| e.field_f64("request_time_ms")))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|e| e.field_f64("query_time_ms")))),
        Arc::new(StringArray::from_iter(rows.iter().map(|e| e.field_str("trace_id")))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|e| serde_json::Value::Object(e.fields.clone()).to_string()),
        )),
    ];
    RecordBatch::try_new(schema, columns)
}
