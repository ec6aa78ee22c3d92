//! The archive's Arrow schema, version 2. `module` and `dt` are not columns in archive
//! files: they are the Hive partition directories (an export's single file has a
//! `module` column instead).
//!
//! | column | type | from |
//! |---|---|---|
//! | timestamp | timestamp(us, UTC) | event time |
//! | source, level, host, message | utf8 | event |
//! | the common fields of [`TYPED_FIELDS`] | utf8 / int32 / int64 / float64 / bool, null when absent | `fields.<name>` |
//! | fields | utf8 (JSON object) | every other field |
//!
//! A field moves into its typed column only when its JSON value has exactly that type
//! (a `status` sent as the string `"200"` stays in `fields`), so reading back gives the
//! event that was written, value for value. Version 1 files (every field in `fields`,
//! five typed copies beside it) read back the same way.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use serde_json::{Number, Value};
use sluice_core::{Event, FieldRef, Level, PARSE_ERROR_FIELD};

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Int32,
    Int64,
    Float64,
    Bool,
}

/// Fields the parsers produce for nginx/apache, the database logs and Java apps, as
/// columns of their own: readers query them directly, and a column of like values
/// compresses far better than the same values inside a JSON string per row.
pub const TYPED_FIELDS: &[(&str, FieldKind)] = &[
    ("status", FieldKind::Int32),
    ("method", FieldKind::Text),
    ("path", FieldKind::Text),
    ("query_string", FieldKind::Text),
    ("protocol", FieldKind::Text),
    ("bytes", FieldKind::Int64),
    ("client_ip", FieldKind::Text),
    ("referer", FieldKind::Text),
    ("user_agent", FieldKind::Text),
    ("request_time_ms", FieldKind::Float64),
    ("upstream_time_ms", FieldKind::Float64),
    ("trace_id", FieldKind::Text),
    ("span_id", FieldKind::Text),
    ("logger", FieldKind::Text),
    ("thread", FieldKind::Text),
    ("exception", FieldKind::Text),
    ("service", FieldKind::Text),
    ("pid", FieldKind::Int64),
    ("severity", FieldKind::Text),
    ("db_system", FieldKind::Text),
    ("db", FieldKind::Text),
    ("user", FieldKind::Text),
    ("client_host", FieldKind::Text),
    ("thread_id", FieldKind::Int64),
    ("query", FieldKind::Text),
    ("statement_kind", FieldKind::Text),
    ("query_time_ms", FieldKind::Float64),
    ("lock_time_ms", FieldKind::Float64),
    ("rows_examined", FieldKind::Int64),
    ("rows_sent", FieldKind::Int64),
    ("fingerprint", FieldKind::Text),
    ("query_id", FieldKind::Text),
    ("slow", FieldKind::Bool),
];

/// Columns whose values are mostly distinct: no dictionary.
pub(crate) const FREE_TEXT_COLUMNS: &[&str] = &["message", "fields", "query", "exception"];
pub(crate) const HIGH_CARDINALITY_COLUMNS: &[&str] = &["trace_id", "span_id"];

/// The text columns that keep min/max statistics: the ones constant or nearly so in a
/// file (one source per file, its host and service, the database of a slow log) and
/// the level, so readers skip whole files and pages on them. Every other text column's
/// values (paths, addresses, user agents, ids, methods) are scattered over every row
/// group, whose min/max would span nearly all of them and prune nothing, while costing
/// two string comparisons per value on every write and bytes in every page index.
pub(crate) const PRUNABLE_TEXT_COLUMNS: &[&str] = &["source", "host", "level", "service", "db"];

/// The names of the archive schema's text columns, typed fields and `fields` included.
pub(crate) fn text_columns() -> Vec<String> {
    arrow_schema().fields().iter().filter(|f| f.data_type() == &DataType::Utf8).map(|f| f.name().clone()).collect()
}

impl FieldKind {
    fn data_type(self) -> DataType {
        match self {
            FieldKind::Text => DataType::Utf8,
            FieldKind::Int32 => DataType::Int32,
            FieldKind::Int64 => DataType::Int64,
            FieldKind::Float64 => DataType::Float64,
            FieldKind::Bool => DataType::Boolean,
        }
    }

    /// Whether `value` has exactly this column's type (and so round-trips through it).
    fn holds(self, value: FieldRef<'_>) -> bool {
        let value = match value {
            FieldRef::Str(_) => return self == FieldKind::Text,
            FieldRef::Other(v) => v,
        };
        match (self, value) {
            (FieldKind::Bool, Value::Bool(_)) => true,
            (FieldKind::Int32, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            (FieldKind::Int64, Value::Number(n)) => n.is_i64() || (n.is_u64() && n.as_i64().is_some()),
            (FieldKind::Float64, Value::Number(n)) => n.is_f64(),
            _ => false,
        }
    }
}

pub fn arrow_schema() -> Schema {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let mut fields = vec![
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        text("source", false),
        text("level", false),
        text("host", false),
        text("message", false),
    ];
    fields.extend(TYPED_FIELDS.iter().map(|(name, kind)| Field::new(*name, kind.data_type(), true)));
    fields.push(text("fields", false));
    Schema::new(fields)
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
    // Sized exactly up front: growing big string buffers costs copies and page faults.
    let strings = |f: fn(&Event) -> &str| {
        let bytes = rows.iter().map(|e| f(e).len()).sum();
        let mut column = StringBuilder::with_capacity(rows.len(), bytes);
        for e in rows {
            column.append_value(f(e));
        }
        Arc::new(column.finish()) as ArrayRef
    };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|e| e.timestamp.timestamp_micros()))
                .with_timezone("UTC"),
        ),
        strings(|e| &e.source),
        strings(|e| e.level.as_str()),
        strings(|e| &e.host),
        strings(|e| &e.message),
    ];
    columns.extend(field_columns(rows));
    if has_module_column(&schema) {
        columns.insert(1, strings(|e| &e.module));
    }
    RecordBatch::try_new(schema, columns)
}

/// One builder per typed column.
enum ColumnBuilder {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
}

impl ColumnBuilder {
    /// Room for `rows` values, of `text_bytes` in all for a text column.
    fn new(kind: FieldKind, rows: usize, text_bytes: usize) -> Self {
        match kind {
            FieldKind::Text => ColumnBuilder::Text(StringBuilder::with_capacity(rows, text_bytes)),
            FieldKind::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(rows)),
            FieldKind::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(rows)),
            FieldKind::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(rows)),
            FieldKind::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(rows)),
        }
    }

    /// `value` has this column's kind (checked by the caller).
    fn append(&mut self, value: FieldRef<'_>) {
        match self {
            ColumnBuilder::Text(b) => b.append_option(value.as_str()),
            ColumnBuilder::Int32(b) => b.append_option(value.as_i64().and_then(|i| i32::try_from(i).ok())),
            ColumnBuilder::Int64(b) => b.append_option(value.as_i64()),
            ColumnBuilder::Float64(b) => b.append_option(value.as_f64()),
            ColumnBuilder::Bool(b) => b.append_option(value.as_bool()),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ColumnBuilder::Text(b) => b.append_nulls(n),
            ColumnBuilder::Int32(b) => b.append_nulls(n),
            ColumnBuilder::Int64(b) => b.append_nulls(n),
            ColumnBuilder::Float64(b) => b.append_nulls(n),
            ColumnBuilder::Bool(b) => b.append_nulls(n),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Typed columns by a hash of their name's length and first and last bytes: one table
/// read and one comparison per field, for every field of every archived row.
struct TypedIndex {
    buckets: [Vec<u8>; 256],
}

fn name_hash(name: &[u8]) -> usize {
    let (first, last) = (name.first().copied().unwrap_or(0), name.last().copied().unwrap_or(0));
    (name.len().wrapping_mul(31) ^ (first as usize).wrapping_mul(7) ^ (last as usize).wrapping_mul(13)) & 255
}

fn typed_index() -> &'static TypedIndex {
    static INDEX: std::sync::OnceLock<TypedIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut buckets: [Vec<u8>; 256] = std::array::from_fn(|_| Vec::new());
        for (i, (name, _)) in TYPED_FIELDS.iter().enumerate() {
            buckets[name_hash(name.as_bytes())].push(i as u8);
        }
        TypedIndex { buckets }
    })
}

fn typed_position(key: &str) -> Option<usize> {
    typed_index().buckets[name_hash(key.as_bytes())].iter().map(|&i| i as usize).find(|&i| TYPED_FIELDS[i].0 == key)
}

/// A typed column filled as values come: most events have a few of the typed fields
/// (an access log none of the SQL ones), so a column gets a builder at its first value,
/// and the nulls before each value are appended in one run rather than row by row.
struct SparseColumn {
    kind: FieldKind,
    builder: Option<ColumnBuilder>,
    /// Rows the builder holds.
    len: usize,
}

impl SparseColumn {
    /// False if the row already has a value here (a name given twice): it goes to `fields`.
    fn append(&mut self, row: usize, value: FieldRef<'_>, rows: usize) -> bool {
        if self.len > row {
            return false;
        }
        let builder = self.builder.get_or_insert_with(|| {
            // The rows left, each about as long as this first value (up to 256 bytes):
            // growing a text buffer copies it, while an estimate too large only reserves
            // address space that is never touched.
            let per_value = value.as_str().map_or(0, |s| s.len().clamp(8, 256));
            ColumnBuilder::new(self.kind, rows, (rows - row) * per_value)
        });
        if row > self.len {
            builder.append_nulls(row - self.len);
        }
        builder.append(value);
        self.len = row + 1;
        true
    }

    fn finish(self, rows: usize) -> ArrayRef {
        match self.builder {
            Some(mut builder) => {
                builder.append_nulls(rows - self.len);
                builder.finish()
            }
            None => arrow_array::new_null_array(&self.kind.data_type(), rows),
        }
    }
}

/// The typed columns and `fields` (everything else, as JSON), in one pass over each
/// event's fields.
fn field_columns(rows: &[Event]) -> Vec<ArrayRef> {
    let mut columns: Vec<SparseColumn> =
        TYPED_FIELDS.iter().map(|(_, kind)| SparseColumn { kind: *kind, builder: None, len: 0 }).collect();
    let mut rest = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
    let mut json: Vec<u8> = Vec::with_capacity(512);
    for (row, event) in rows.iter().enumerate() {
        json.clear();
        json.push(b'{');
        for (key, value) in &event.fields {
            if let Some(i) = typed_position(key)
                && TYPED_FIELDS[i].1.holds(value)
                && columns[i].append(row, value, rows.len())
            {
                continue;
            }
            if json.len() > 1 {
                json.push(b',');
            }
            // Writing JSON strings and values into memory cannot fail.
            let _ = serde_json::to_writer(&mut json, key);
            json.push(b':');
            let _ = serde_json::to_writer(&mut json, &value);
        }
        json.push(b'}');
        rest.append_value(std::str::from_utf8(&json).unwrap_or("{}"));
    }
    let mut arrays: Vec<ArrayRef> = columns.into_iter().map(|c| c.finish(rows.len())).collect();
    arrays.push(Arc::new(rest.finish()));
    arrays
}

/// Events back from archive rows. `partition_module` is the `module=` directory the
/// batch came from (archive files have no module column). Rows that cannot be read
/// back (a `fields` column that is not a JSON object) keep their text and say why.
pub(crate) fn events_from_batch(
    batch: &RecordBatch,
    partition_module: &str,
) -> Result<Vec<Event>, arrow_schema::ArrowError> {
    let missing = |name: &str| arrow_schema::ArrowError::SchemaError(format!("archive file has no `{name}` column"));
    let text = |name: &str| -> Result<&StringArray, arrow_schema::ArrowError> {
        batch
            .column_by_name(name)
            .ok_or_else(|| missing(name))?
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| arrow_schema::ArrowError::SchemaError(format!("archive column `{name}` is not utf8")))
    };
    let timestamps = batch
        .column_by_name("timestamp")
        .ok_or_else(|| missing("timestamp"))?
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| arrow_schema::ArrowError::SchemaError("archive column `timestamp` is not micros".into()))?;
    let (source, level, host, message, fields) =
        (text("source")?, text("level")?, text("host")?, text("message")?, text("fields")?);
    let module = batch.column_by_name("module").and_then(|c| c.as_any().downcast_ref::<StringArray>());
    // Typed columns this file has (version 1 files have five, as copies).
    let typed: Vec<(&'static str, &ArrayRef)> =
        TYPED_FIELDS.iter().filter_map(|(name, _)| batch.column_by_name(name).map(|c| (*name, c))).collect();
    let mut events = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let timestamp = chrono::DateTime::from_timestamp_micros(timestamps.value(row)).unwrap_or_default();
        let mut event = Event::new(timestamp, message.value(row));
        event.module = module.map_or(partition_module, |m| m.value(row)).into();
        event.source = source.value(row).into();
        event.level = level.value(row).parse().unwrap_or(Level::Info);
        event.host = host.value(row).into();
        match sluice_core::json::fields_from_bytes(fields.value(row).as_bytes()) {
            Ok(read) => event.fields = read,
            Err(_) => {
                event.fields.insert(PARSE_ERROR_FIELD, "archive row has unreadable fields".into());
            }
        }
        for (name, column) in &typed {
            if column.is_null(row) || event.fields.contains_key(name) {
                continue;
            }
            if let Some(value) = value_at(column, row) {
                event.fields.insert(*name, value);
            }
        }
        events.push(event);
    }
    Ok(events)
}

fn value_at(column: &ArrayRef, row: usize) -> Option<Value> {
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Some(Value::String(a.value(row).to_owned()));
    }
    if let Some(a) = any.downcast_ref::<Int32Array>() {
        return Some(Value::from(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Some(Value::from(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        return Number::from_f64(a.value(row)).map(Value::Number);
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return Some(Value::Bool(a.value(row)));
    }
    None
}
