//! The index schema and the text analysis that suits logs.

use sluice_core::Event;
use tantivy::schema::OwnedValue;
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, TantivyDocument};

use crate::IndexError;
use crate::tokenizer::LogTokenizer;

/// Splits on anything not alphanumeric, lowercases and drops words of 256 bytes or more:
/// `GET /api/pay?id=7` -> `get api pay id 7`, so paths, IPs, ids and words are all
/// searchable terms; CJK text becomes bigrams (see `tokenizer`).
pub(crate) const LOG_TOKENIZER: &str = "log";

pub(crate) fn build() -> Schema {
    build_with_fieldnorms(false)
}

/// The schema, with or without fieldnorms on `message` and `fields` (days written before
/// 2026-12-05 have them).
pub(crate) fn build_with_fieldnorms(fieldnorms: bool) -> Schema {
    let mut builder = Schema::builder();
    builder.add_date_field(
        "timestamp",
        DateOptions::default().set_indexed().set_fast().set_precision(DateTimePrecision::Microseconds),
    );
    for name in ["module", "source", "level", "host"] {
        builder.add_text_field(name, STRING | FAST);
    }
    // No fieldnorms: results are ordered by time, never by BM25 score, and without them
    // each segment (at every commit and every merge) skips the norms and the per-block
    // maximum scores it would otherwise compute for every term.
    let text = TextFieldIndexing::default()
        .set_tokenizer(LOG_TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions)
        .set_fieldnorms(fieldnorms);
    builder.add_text_field("message", TextOptions::default().set_indexing_options(text.clone()));
    // Dotted keys (`http.response.status_code` from OTLP, `log.file.path` from Beats) are
    // indexed as paths, so `http.response.status_code:502` finds them as it finds nested
    // objects.
    let fields = JsonObjectOptions::default().set_indexing_options(text).set_fast("raw").set_expand_dots_enabled();
    builder.add_json_field("fields", fields);
    builder.add_text_field("_source", STORED);
    // Breaks ties between events of the same microsecond, so newest-first order is total
    // and `search_after` pages never skip or repeat one: (WAL sequence << 24) | position in
    // the record. Only a fast field: a term per event would bloat the dictionary.
    builder.add_u64_field("ord", FAST);
    builder.build()
}

pub(crate) fn register_tokenizers(index: &Index) {
    index.tokenizers().register(LOG_TOKENIZER, TextAnalyzer::from(LogTokenizer::default()));
}

#[derive(Clone)]
pub(crate) struct Fields {
    pub timestamp: Field,
    pub module: Field,
    pub source: Field,
    pub level: Field,
    pub host: Field,
    pub message: Field,
    pub fields: Field,
    pub source_json: Field,
    pub ord: Field,
}

impl Fields {
    pub(crate) fn resolve(schema: &Schema) -> Result<Fields, IndexError> {
        let get = |name: &str| {
            schema.get_field(name).map_err(|_| {
                IndexError::BadQuery(format!("index schema has no `{name}` field: was it written by another version?"))
            })
        };
        Ok(Fields {
            timestamp: get("timestamp")?,
            module: get("module")?,
            source: get("source")?,
            level: get("level")?,
            host: get("host")?,
            message: get("message")?,
            fields: get("fields")?,
            source_json: get("_source")?,
            ord: get("ord")?,
        })
    }

    pub(crate) fn document(&self, event: &Event, ord: u64) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_date(self.timestamp, crate::to_tantivy(event.timestamp));
        doc.add_u64(self.ord, ord);
        doc.add_text(self.module, &event.module);
        doc.add_text(self.source, &event.source);
        doc.add_text(self.level, event.level.as_str());
        doc.add_text(self.host, &event.host);
        doc.add_text(self.message, &event.message);
        if !event.fields.is_empty() {
            let object = event.fields.iter().map(|(k, v)| (k.to_owned(), field_value(v))).collect();
            doc.add_field_value(self.fields, &OwnedValue::Object(object));
        }
        let json = serde_json::to_string(event).unwrap_or_default();
        doc.add_text(self.source_json, json);
        doc
    }

    /// Names a query may use directly; any other `name:` refers to `fields.name`.
    pub(crate) fn is_top_level(name: &str) -> bool {
        matches!(name, "timestamp" | "module" | "source" | "level" | "host" | "message" | "fields")
    }
}

fn field_value(value: sluice_core::FieldRef<'_>) -> OwnedValue {
    match value {
        sluice_core::FieldRef::Str(s) => OwnedValue::Str(s.to_owned()),
        sluice_core::FieldRef::Other(v) => owned_value(v),
    }
}

/// Converts a JSON value for tantivy without first cloning the `serde_json` tree.
fn owned_value(value: &serde_json::Value) -> OwnedValue {
    use serde_json::Value;
    match value {
        Value::Null => OwnedValue::Null,
        Value::Bool(b) => OwnedValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                OwnedValue::I64(i)
            } else if let Some(u) = n.as_u64() {
                OwnedValue::U64(u)
            } else {
                OwnedValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => OwnedValue::Str(s.clone()),
        Value::Array(items) => OwnedValue::Array(items.iter().map(owned_value).collect()),
        Value::Object(map) => OwnedValue::Object(map.iter().map(|(k, v)| (k.clone(), owned_value(v))).collect()),
    }
}
