//! An event's format-specific fields.
//!
//! Parsers add 5 to 15 fields to every event, millions of times a second, and almost
//! every name is one they know in advance (`status`, `path`, `query_time_ms`), and almost
//! every value is a piece of the line. So fields are a list of (name, value) pairs with
//! `&'static str` names for the known names, and the text of all string values lives back
//! to back in one buffer per event: an event's fields cost two allocations however many
//! there are, where a map of `serde_json::Value`s costs a key and a string per field.
//! With so few fields a scan finds a name as fast as a tree does. Fields keep the order
//! they were added in, and serialise as a JSON object.
//!
//! Values are read through [`FieldRef`]: a string borrowed from the buffer, or any other
//! JSON value (numbers, booleans, arrays and objects that JSON logs carry).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A field name: static for the names parsers know, owned for names that come with the
/// data (JSON keys, OTLP attributes, Loki labels).
pub type FieldName = Cow<'static, str>;

/// Where a value is: a byte range of the text buffer (every string), or a JSON value
/// (everything else; never a string).
#[derive(Debug, Clone)]
enum Slot {
    Text(u32, u32),
    Other(Value),
}

#[derive(Debug, Clone, Default)]
pub struct Fields {
    entries: Vec<(FieldName, Slot)>,
    /// The text of the string values, back to back.
    text: String,
    /// One bit per (length, first byte) of the names ever added: a clear bit means a name
    /// is absent without scanning, so adding a new name (the common case) is O(1).
    seen: u64,
}

/// One field's value, borrowed from its [`Fields`].
#[derive(Debug, Clone, Copy)]
pub enum FieldRef<'a> {
    Str(&'a str),
    /// Any value but a string: number, boolean, null, array or object.
    Other(&'a Value),
}

impl<'a> FieldRef<'a> {
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            FieldRef::Str(s) => Some(s),
            FieldRef::Other(_) => None,
        }
    }

    pub fn as_f64(self) -> Option<f64> {
        self.other().and_then(Value::as_f64)
    }

    pub fn as_i64(self) -> Option<i64> {
        self.other().and_then(Value::as_i64)
    }

    pub fn as_u64(self) -> Option<u64> {
        self.other().and_then(Value::as_u64)
    }

    pub fn as_bool(self) -> Option<bool> {
        self.other().and_then(Value::as_bool)
    }

    pub fn is_null(self) -> bool {
        matches!(self, FieldRef::Other(Value::Null))
    }

    /// The JSON value, if it is not a string.
    pub fn other(self) -> Option<&'a Value> {
        match self {
            FieldRef::Str(_) => None,
            FieldRef::Other(v) => Some(v),
        }
    }

    /// An owned copy as a `serde_json::Value`.
    pub fn to_value(self) -> Value {
        match self {
            FieldRef::Str(s) => Value::String(s.to_owned()),
            FieldRef::Other(v) => v.clone(),
        }
    }
}

impl PartialEq for FieldRef<'_> {
    fn eq(&self, other: &FieldRef<'_>) -> bool {
        match (self, other) {
            (FieldRef::Str(a), FieldRef::Str(b)) => a == b,
            (FieldRef::Other(a), FieldRef::Other(b)) => a == b,
            _ => false,
        }
    }
}

/// JSON text, as `serde_json::Value` prints itself (strings quoted).
impl fmt::Display for FieldRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldRef::Str(s) => write!(f, "{}", Value::from(*s)),
            FieldRef::Other(v) => write!(f, "{v}"),
        }
    }
}

impl Serialize for FieldRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldRef::Str(s) => serializer.serialize_str(s),
            FieldRef::Other(v) => v.serialize(serializer),
        }
    }
}

/// The same names with the same values, in any order (as JSON objects compare).
impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    /// Room for `entries` fields whose string values total about `text_bytes`.
    pub fn with_capacity(entries: usize, text_bytes: usize) -> Fields {
        Fields { entries: Vec::with_capacity(entries), text: String::with_capacity(text_bytes), seen: 0 }
    }

    /// Fields whose string values are mostly pieces of `text` (a parser's line): the
    /// buffer starts as a copy of it, and [`Fields::insert_piece`] records a piece by its
    /// position instead of copying each value again.
    pub fn with_text(entries: usize, text: &str) -> Fields {
        // Exactly the line: values that are not pieces of it are rare (a joined address
        // list), and events are held by the million.
        let mut buffer = String::with_capacity(text.len());
        buffer.push_str(text);
        Fields { entries: Vec::with_capacity(entries), text: buffer, seen: 0 }
    }

    /// Sets `name` to `piece`, a slice of the `text` these fields were made with
    /// ([`Fields::with_text`]), by position. A string that is not a slice of `text` is copied.
    pub fn insert_piece(&mut self, name: impl Into<FieldName>, piece: &str, text: &str) {
        let start = (piece.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let end = start.wrapping_add(piece.len());
        let slot = match (u32::try_from(start), u32::try_from(end)) {
            // Inside `text`, which the buffer starts with (checked in debug builds only:
            // comparing would cost about what copying does).
            (Ok(s), Ok(e)) if end <= text.len() && self.text.get(start..end).is_some() => {
                debug_assert_eq!(&self.text[start..end], piece, "the buffer does not start with `text`");
                Slot::Text(s, e)
            }
            _ => self.push_text(piece),
        };
        self.set(name.into(), slot);
    }

    /// Room for `text_bytes` more of string values without growing.
    pub fn reserve_text(&mut self, text_bytes: usize) {
        self.text.reserve(text_bytes);
    }

    /// Sets `name` to `value`, returning the value it replaces.
    pub fn insert(&mut self, name: impl Into<FieldName>, value: Value) -> Option<Value> {
        let slot = self.slot_for(value);
        self.put(name.into(), slot)
    }

    /// Sets `name` to the string `value` (copied into the fields' own buffer).
    pub fn insert_str(&mut self, name: impl Into<FieldName>, value: &str) {
        let slot = self.push_text(value);
        self.set(name.into(), slot);
    }

    /// Sets `name` only if it has no value yet.
    pub fn insert_if_absent(&mut self, name: impl Into<FieldName>, value: impl FnOnce() -> Value) {
        let name = name.into();
        if self.position(&name).is_none() {
            let slot = self.slot_for(value());
            self.push_new(name, slot);
        }
    }

    /// Appends `separator` and `more` to the string field `name`; false if `name` is not
    /// a string field.
    pub fn append_str(&mut self, name: &str, separator: char, more: &str) -> bool {
        let Some(i) = self.position(name) else { return false };
        let Slot::Text(start, end) = self.entries[i].1 else { return false };
        let (start, end) = (start as usize, end as usize);
        if end != self.text.len() {
            // Not the last text in the buffer: move it to the end first.
            self.text.extend_from_within(start..end);
        }
        let start = self.text.len() - (end - start);
        self.text.push(separator);
        self.text.push_str(more);
        self.entries[i].1 = match (u32::try_from(start), u32::try_from(self.text.len())) {
            (Ok(s), Ok(e)) => Slot::Text(s, e),
            _ => Slot::Other(Value::String(self.text[start..].to_owned())),
        };
        true
    }

    pub fn get(&self, name: &str) -> Option<FieldRef<'_>> {
        self.position(name).map(|i| self.view(&self.entries[i].1))
    }

    /// A field that is not a string (an object or array from a JSON log), to change in place.
    pub fn get_other_mut(&mut self, name: &str) -> Option<&mut Value> {
        let i = self.position(name)?;
        match &mut self.entries[i].1 {
            Slot::Other(v) => Some(v),
            Slot::Text(..) => None,
        }
    }

    /// A string field's text.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(FieldRef::as_str)
    }

    /// An owned copy of a field's value, JSON `null` when absent (as indexing a
    /// `serde_json::Value` gives).
    pub fn value(&self, name: &str) -> Value {
        self.get(name).map_or(Value::Null, FieldRef::to_value)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        // The removed text stays in the buffer until the fields are dropped.
        let i = self.position(name)?;
        let value = self.view(&self.entries[i].1).to_value();
        self.entries.remove(i);
        Some(value)
    }

    /// Removes `name` without building its value; false if it was absent.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(i) = self.position(name) else { return false };
        self.entries.remove(i);
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names and values, in the order they were added.
    pub fn iter(&self) -> Iter<'_> {
        Iter { fields: self, entries: self.entries.iter() }
    }

    /// The field at `index` in the order they were added (as `indexmap`'s `get_index`):
    /// with [`Fields::keys`], reads the values of a few chosen names in one pass.
    pub fn get_index(&self, index: usize) -> Option<(&str, FieldRef<'_>)> {
        self.entries.get(index).map(|(name, slot)| (name.as_ref(), self.view(slot)))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }

    /// Adds every pair, each replacing an earlier value of its name.
    pub fn extend<N: Into<FieldName>>(&mut self, pairs: impl IntoIterator<Item = (N, Value)>) {
        for (name, value) in pairs {
            self.insert(name, value);
        }
    }

    /// Adds every field of `other`, each replacing an earlier value of its name.
    pub fn extend_from(&mut self, other: &Fields) {
        for (name, slot) in &other.entries {
            let slot = self.copy_of(other.view(slot));
            self.put(name.clone(), slot);
        }
    }

    /// Adds the fields of `other` whose names this one lacks.
    pub fn extend_missing(&mut self, other: &Fields) {
        for (name, slot) in &other.entries {
            if self.position(name).is_none() {
                let slot = self.copy_of(other.view(slot));
                self.push_new(name.clone(), slot);
            }
        }
    }

    /// A value of another `Fields`, stored in this one.
    fn copy_of(&mut self, value: FieldRef<'_>) -> Slot {
        match value {
            FieldRef::Str(s) => self.push_text(s),
            FieldRef::Other(v) => Slot::Other(v.clone()),
        }
    }

    fn view<'a>(&'a self, slot: &'a Slot) -> FieldRef<'a> {
        match slot {
            Slot::Text(start, end) => FieldRef::Str(&self.text[*start as usize..*end as usize]),
            Slot::Other(v) => FieldRef::Other(v),
        }
    }

    /// [`Fields::put`] without building the replaced value. A name not seen before (the
    /// common case: parsers add each name once) is pushed without a scan.
    #[inline]
    fn set(&mut self, name: FieldName, slot: Slot) {
        let bit = name_bit(&name);
        if self.seen & bit == 0 {
            self.seen |= bit;
            self.entries.push((name, slot));
            return;
        }
        match self.position(&name) {
            Some(i) => self.entries[i].1 = slot,
            None => self.entries.push((name, slot)),
        }
    }

    fn put(&mut self, name: FieldName, slot: Slot) -> Option<Value> {
        match self.position(&name) {
            Some(i) => {
                let old = std::mem::replace(&mut self.entries[i].1, slot);
                Some(match old {
                    Slot::Text(start, end) => Value::String(self.text[start as usize..end as usize].to_owned()),
                    Slot::Other(v) => v,
                })
            }
            None => {
                self.push_new(name, slot);
                None
            }
        }
    }

    /// Adds a field whose name is known to be absent.
    fn push_new(&mut self, name: FieldName, slot: Slot) {
        self.seen |= name_bit(&name);
        self.entries.push((name, slot));
    }

    fn slot_for(&mut self, value: Value) -> Slot {
        match value {
            Value::String(s) => self.push_text(&s),
            other => Slot::Other(other),
        }
    }

    fn push_text(&mut self, value: &str) -> Slot {
        if self.text.capacity() == 0 {
            // Grow once for a typical event's worth of values, not in doublings from 8.
            self.text.reserve(value.len().max(128));
        }
        push_text_into(&mut self.text, value)
    }

    fn position(&self, name: &str) -> Option<usize> {
        // Every insert looks its name up first, so this runs ~10 times per event.
        if self.seen & name_bit(name) == 0 {
            return None;
        }
        // Compare length and first byte inline before calling into memcmp.
        let first = name.as_bytes().first();
        self.entries.iter().position(|(k, _)| k.len() == name.len() && k.as_bytes().first() == first && k == name)
    }
}

/// Appends `value` to `text` and says where it is.
fn push_text_into(text: &mut String, value: &str) -> Slot {
    let start = text.len();
    text.push_str(value);
    match (u32::try_from(start), u32::try_from(text.len())) {
        (Ok(s), Ok(e)) => Slot::Text(s, e),
        // Past 4 GiB of text in one event: keep it as its own string.
        _ => {
            text.truncate(start);
            Slot::Other(Value::String(value.to_owned()))
        }
    }
}

fn name_bit(name: &str) -> u64 {
    let first = name.as_bytes().first().copied().unwrap_or(0) as usize;
    1 << ((name.len().wrapping_mul(7) ^ first) % 64)
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Fields {
        let mut fields = Fields::with_capacity(map.len(), 0);
        for (name, value) in map {
            let slot = fields.slot_for(value);
            fields.push_new(Cow::Owned(name), slot);
        }
        fields
    }
}

impl<N: Into<FieldName>> FromIterator<(N, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, Value)>>(pairs: I) -> Fields {
        let mut fields = Fields::new();
        fields.extend(pairs);
        fields
    }
}

/// The fields' names and values, in the order they were added.
pub struct Iter<'a> {
    fields: &'a Fields,
    entries: std::slice::Iter<'a, (FieldName, Slot)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, FieldRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|(k, slot)| (k.as_ref(), self.fields.view(slot)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, FieldRef<'a>);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        // Room for a typical event's values, not doublings from 8 bytes.
        FieldsSeed { text_bytes: 128 }.deserialize(deserializer)
    }
}

/// Decodes a JSON object into [`Fields`] whose text buffer starts with room for
/// `text_bytes`. A JSON string never decodes to more bytes than its encoding, so the
/// length of the document is room enough for all its values: decoding a log line then
/// allocates the buffer once (see [`crate::json::fields_from_bytes`]).
pub struct FieldsSeed {
    pub text_bytes: usize,
}

impl<'de> DeserializeSeed<'de> for FieldsSeed {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::with_capacity(access.size_hint().unwrap_or(16), self.text_bytes);
        while let Some(name) = access.next_key_seed(NameSeed)? {
            let slot = access.next_value_seed(SlotSeed(&mut fields.text))?;
            fields.put(name, slot);
        }
        Ok(fields)
    }
}

/// Returns the `&'static str` among `names` that equals `name`.
macro_rules! static_name {
    ($name:expr, [$($known:literal),* $(,)?]) => {
        match $name {
            $($known => Some($known),)*
            _ => None,
        }
    };
}

/// The static spelling of a field name logs commonly carry (JSON log keys) or Sluice's
/// parsers give (read back from the WAL), so decoding one costs no allocation.
#[rustfmt::skip] // A list of names reads better packed than one per line.
pub fn common_name(name: &str) -> Option<&'static str> {
    static_name!(name, [
        // What Sluice's parsers name their fields.
        "client_ip", "user", "referer", "user_agent", "bytes", "protocol", "query_string", "request_time_ms",
        "upstream_time_ms", "vhost", "db", "query", "query_time_ms", "lock_time_ms", "rows_sent",
        "rows_examined", "fingerprint", "slow", "parse_error",
        // The keys JSON logs commonly carry.
        "@timestamp", "timestamp", "time", "ts", "level", "severity", "lvl", "message", "msg", "log", "host",
        "hostname", "service", "app", "module", "logger", "logger_name", "thread", "thread_name", "trace_id",
        "traceId", "span_id", "spanId", "request_id", "user_id", "order_id", "status", "method", "path",
        "url", "duration_ms", "latency_ms", "error", "exception", "stack_trace", "env", "version", "pid",
    ])
}

/// Decodes a field name: a common one as its static spelling, any other as its own string.
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = FieldName;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FieldName, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = FieldName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<FieldName, E> {
        Ok(common_name(v).map_or_else(|| Cow::Owned(v.to_owned()), Cow::Borrowed))
    }

    fn visit_string<E>(self, v: String) -> Result<FieldName, E> {
        Ok(common_name(&v).map_or(Cow::Owned(v), Cow::Borrowed))
    }
}

/// Decodes one value: a string straight into the text buffer, anything else as a `Value`.
struct SlotSeed<'t>(&'t mut String);

impl<'de> DeserializeSeed<'de> for SlotSeed<'_> {
    type Value = Slot;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Slot, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SlotSeed<'_> {
    type Value = Slot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Slot, E> {
        Ok(push_text_into(self.0, v))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Slot, E> {
        Ok(Slot::Other(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Slot, E> {
        Ok(Slot::Other(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Slot, E> {
        Ok(Slot::Other(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Slot, E> {
        Ok(Slot::Other(Value::from(v)))
    }

    fn visit_unit<E>(self) -> Result<Slot, E> {
        Ok(Slot::Other(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Slot, E> {
        Ok(Slot::Other(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Slot, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Slot, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Slot::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Slot::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pieces_of_the_line_read_back_as_copies_do() {
        let line = "GET /api/order/7 HTTP/1.1 ünï";
        let mut fields = Fields::with_text(4, line);
        fields.insert_piece("method", &line[..3], line);
        fields.insert_piece("path", &line[4..16], line);
        fields.insert_piece("tail", &line[26..], line);
        // Not a slice of the line: copied after it.
        fields.insert_piece("joined", &format!("{} {}", &line[..3], &line[4..8]), line);
        // Replacing keeps one value per name.
        fields.insert_piece("method", &line[17..25], line);
        assert_eq!(fields.len(), 4);
        assert_eq!(fields.get_str("method"), Some("HTTP/1.1"));
        assert_eq!(fields.get_str("path"), Some("/api/order/7"));
        assert_eq!(fields.get_str("tail"), Some("ünï"));
        assert_eq!(fields.get_str("joined"), Some("GET /api"));
        assert_eq!(
            serde_json::to_value(&fields).unwrap(),
            json!({"method": "HTTP/1.1", "path": "/api/order/7", "tail": "ünï", "joined": "GET /api"})
        );
        // Appending to a piece leaves the line, and every other piece of it, as it was.
        assert!(fields.append_str("path", '?', "x=1"));
        assert_eq!(fields.get_str("path"), Some("/api/order/7?x=1"));
        assert_eq!(fields.get_str("tail"), Some("ünï"));
    }

    #[test]
    fn a_name_has_one_value_and_order_is_kept() {
        let mut fields = Fields::new();
        assert_eq!(fields.insert("status", json!(200)), None);
        fields.insert(String::from("path"), json!("/api/pay"));
        assert_eq!(fields.insert("status", json!(502)), Some(json!(200)));
        assert_eq!(fields.len(), 2);
        assert_eq!(fields.value("status"), 502);
        assert_eq!(fields.value("missing"), Value::Null);
        fields.insert_if_absent("path", || json!("other"));
        assert_eq!(fields.get_str("path"), Some("/api/pay"));
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["status", "path"]);
        let text = serde_json::to_string(&fields).unwrap();
        assert_eq!(text, r#"{"status":502,"path":"/api/pay"}"#);
        let back: Fields = serde_json::from_str(r#"{"path":"/api/pay","status":502}"#).unwrap();
        assert_eq!(back, fields, "order does not matter to equality");
        assert_eq!(fields.remove("status"), Some(json!(502)));
        assert!(!fields.contains_key("status"));
        assert!(fields.delete("path") && !fields.delete("path"));
        assert!(fields.is_empty());
        let map = json!({"a": 1, "b": [2], "c": "x"}).as_object().unwrap().clone();
        assert_eq!(serde_json::to_value(Fields::from(map.clone())).unwrap(), serde_json::Value::Object(map));
    }

    #[test]
    fn strings_share_one_buffer_and_can_be_replaced_or_extended() {
        let mut fields = Fields::with_capacity(4, 64);
        fields.insert_str("method", "GET");
        fields.insert_str("path", "/api/order/1");
        fields.insert("bytes", json!(12));
        assert_eq!(fields.get("method"), Some(FieldRef::Str("GET")));
        assert_eq!(fields.get("bytes").and_then(FieldRef::as_u64), Some(12));
        // Replacing a string keeps the others intact.
        fields.insert_str("method", "POST");
        assert_eq!(fields.get_str("method"), Some("POST"));
        assert_eq!(fields.get_str("path"), Some("/api/order/1"));
        // Appending to a value that is not the last in the buffer moves it.
        assert!(fields.append_str("path", '\n', "more"));
        assert!(fields.append_str("path", ' ', "again"));
        assert_eq!(fields.get_str("path"), Some("/api/order/1\nmore again"));
        assert_eq!(fields.get_str("method"), Some("POST"));
        assert!(!fields.append_str("bytes", ' ', "x"), "not a string");
        assert!(!fields.append_str("missing", ' ', "x"));
        // A string inserted as a JSON value is stored the same way.
        fields.insert("query", json!("a=1"));
        assert_eq!(fields.get("query"), Some(FieldRef::Str("a=1")));
    }

    #[test]
    fn decoding_keeps_every_kind_of_value() {
        let text = r#"{"s":"x\"y","n":-1,"f":1.5,"b":true,"z":null,"a":[1,"two"],"o":{"k":"v"}}"#;
        let fields: Fields = serde_json::from_str(text).unwrap();
        assert_eq!(fields.get_str("s"), Some("x\"y"));
        assert_eq!(fields.get("n").and_then(FieldRef::as_i64), Some(-1));
        assert_eq!(fields.get("f").and_then(FieldRef::as_f64), Some(1.5));
        assert_eq!(fields.get("b").and_then(FieldRef::as_bool), Some(true));
        assert!(fields.get("z").unwrap().is_null());
        assert_eq!(fields.value("a"), json!([1, "two"]));
        assert_eq!(fields.value("o"), json!({"k": "v"}));
        assert_eq!(serde_json::to_value(&fields).unwrap(), serde_json::from_str::<Value>(text).unwrap());
        assert_eq!((common_name("msg"), common_name("waybill")), (Some("msg"), None));
        let named: Fields = serde_json::from_str(r#"{"msg":"a","waybill":"b"}"#).unwrap();
        assert_eq!(named.keys().collect::<Vec<_>>(), ["msg", "waybill"], "common or not, a name reads back");
        let mut other = Fields::new();
        other.insert_str("s", "kept");
        other.extend_missing(&fields);
        assert_eq!(other.get_str("s"), Some("kept"));
        assert_eq!(other.len(), fields.len());
        other.extend_from(&fields);
        assert_eq!(other, fields);
    }
}
