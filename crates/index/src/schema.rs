//! The index schema and the text analysis that suits logs.

use sluice_core::{Event, FieldRef};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
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
            doc.add_field_value(self.fields, FieldsValue::Object(&event.fields));
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

/// An event's fields as tantivy reads a JSON object, borrowed from the event: tantivy
/// copies names and values straight into its document, where building an `OwnedValue`
/// tree first cost two allocations per field.
#[derive(Debug, Clone, Copy)]
enum FieldsValue<'a> {
    Object(&'a sluice_core::Fields),
    Str(&'a str),
    Json(&'a serde_json::Value),
}

impl<'a> From<FieldRef<'a>> for FieldsValue<'a> {
    fn from(value: FieldRef<'a>) -> FieldsValue<'a> {
        match value {
            FieldRef::Str(s) => FieldsValue::Str(s),
            FieldRef::Other(v) => FieldsValue::Json(v),
        }
    }
}

type JsonItems<'a> =
    std::iter::Map<std::slice::Iter<'a, serde_json::Value>, fn(&'a serde_json::Value) -> FieldsValue<'a>>;

impl<'a> tantivy::schema::Value<'a> for FieldsValue<'a> {
    type ArrayIter = JsonItems<'a>;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        use serde_json::Value;
        let leaf = |leaf: ReferenceValueLeaf<'a>| ReferenceValue::Leaf(leaf);
        match *self {
            FieldsValue::Object(fields) => ReferenceValue::Object(ObjectIter::Fields(fields.iter())),
            FieldsValue::Str(s) => leaf(ReferenceValueLeaf::Str(s)),
            FieldsValue::Json(value) => match value {
                Value::Null => leaf(ReferenceValueLeaf::Null),
                Value::Bool(b) => leaf(ReferenceValueLeaf::Bool(*b)),
                Value::Number(n) => leaf(match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => ReferenceValueLeaf::I64(i),
                    (None, Some(u)) => ReferenceValueLeaf::U64(u),
                    (None, None) => ReferenceValueLeaf::F64(n.as_f64().unwrap_or(0.0)),
                }),
                // Text stays text (tantivy's own JSON reading would turn RFC 3339 strings
                // into dates; Sluice's fields never did).
                Value::String(s) => leaf(ReferenceValueLeaf::Str(s)),
                Value::Array(items) => ReferenceValue::Array(items.iter().map(FieldsValue::Json as fn(_) -> _)),
                Value::Object(map) => ReferenceValue::Object(ObjectIter::Json(map.iter())),
            },
        }
    }
}

enum ObjectIter<'a> {
    Fields(sluice_core::fields::Iter<'a>),
    Json(serde_json::map::Iter<'a>),
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (&'a str, FieldsValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ObjectIter::Fields(fields) => fields.next().map(|(name, value)| (name, value.into())),
            ObjectIter::Json(map) => map.next().map(|(name, value)| (name.as_str(), FieldsValue::Json(value))),
        }
    }
}
