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
use sluice_core::{Event, Level, PARSE_ERROR_FIELD};

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

/// The archive schema plus a `module` column after `timestamp`: one file holding every
/// module (an export's `events.parquet`), where the archive has a partition directory.
pub fn export_schema() -> Schema {
    let mut fields: Vec<Field> = arrow_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.insert(1, Field::new("module", DataType::Utf8, false));
    Schema::new(fields)
}

fn has_module_column(schema: &Schema) -> bool {
    schema.fields().get(1).is_some_and(|f| f.name() == "module")
}

pub(crate) fn record_batch(schema: Arc<Schema>, rows: &[Event]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let strings = |f: fn(&Event) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let mut columns: Vec<ArrayRef> = vec![
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
    if has_module_column(&schema) {
        columns.insert(1, strings(|e| &e.module));
    }
    RecordBatch::try_new(schema, columns)
}

/// Events back from archive rows. `partition_module` is the `module=` directory the
/// batch came from (archive files have no module column). Rows that cannot be read
/// back (a `fields` column that is not a JSON object) keep their text and say why.
pub(crate) fn events_from_batch(
    batch: &RecordBatch,
    partition_module: &str,
) -> Result<Vec<Event>, arrow_schema::ArrowError> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| arrow_schema::ArrowError::SchemaError(format!("archive file has no `{name}` column")))
    };
    let text = |name: &str| -> Result<&StringArray, arrow_schema::ArrowError> {
        column(name)?
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| arrow_schema::ArrowError::SchemaError(format!("archive column `{name}` is not utf8")))
    };
    let timestamps = column("timestamp")?
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| arrow_schema::ArrowError::SchemaError("archive column `timestamp` is not micros".into()))?;
    let (source, level, host, message, fields) =
        (text("source")?, text("level")?, text("host")?, text("message")?, text("fields")?);
    let module = batch.column_by_name("module").and_then(|c| c.as_any().downcast_ref::<StringArray>());
    let mut events = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let timestamp = chrono::DateTime::from_timestamp_micros(timestamps.value(row)).unwrap_or_default();
        let mut event = Event::new(timestamp, message.value(row));
        event.module = module.map_or(partition_module, |m| m.value(row)).to_owned();
        event.source = source.value(row).to_owned();
        event.level = level.value(row).parse().unwrap_or(Level::Info);
        event.host = host.value(row).to_owned();
        match serde_json::from_str(fields.value(row)) {
            Ok(serde_json::Value::Object(map)) => event.fields = map,
            _ => {
                event.fields.insert(PARSE_ERROR_FIELD.into(), "archive row has unreadable fields".into());
            }
        }
        events.push(event);
    }
    Ok(events)
}
