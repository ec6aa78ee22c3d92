//! An event's format-specific fields.
//!
//! Parsers add 5 to 15 fields to every event, millions of times a second, and almost
//! every name is one they know in advance (`status`, `path`, `query_time_ms`). A list of
//! (name, value) pairs with `&'static str` names costs one allocation per event, where a
//! map with owned keys costs a tree node and a key string per field; with so few fields a
//! scan finds a name as fast as a tree does. Fields keep the order they were added in,
//! and serialise as a JSON object.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A field name: static for the names parsers know, owned for names that come with the
/// data (JSON keys, OTLP attributes, Loki labels).
pub type FieldName = Cow<'static, str>;

#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(FieldName, Value)>);

/// The same names with the same values, in any order (as JSON objects compare).
impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

static NULL: Value = Value::Null;

impl Fields {
    pub fn new() -> Fields {
        Fields(Vec::new())
    }

    pub fn with_capacity(capacity: usize) -> Fields {
        Fields(Vec::with_capacity(capacity))
    }

    /// Sets `name` to `value`, returning the value it replaces.
    pub fn insert(&mut self, name: impl Into<FieldName>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.position(&name) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((name, value));
                None
            }
        }
    }

    /// Sets `name` only if it has no value yet.
    pub fn insert_if_absent(&mut self, name: impl Into<FieldName>, value: impl FnOnce() -> Value) {
        let name = name.into();
        if self.position(&name).is_none() {
            self.0.push((name, value()));
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.position(name).map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.position(name).map(|i| self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Names and values, in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// Adds every pair, each replacing an earlier value of its name.
    pub fn extend<N: Into<FieldName>>(&mut self, pairs: impl IntoIterator<Item = (N, Value)>) {
        for (name, value) in pairs {
            self.insert(name, value);
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        // Every insert looks its name up first, so this runs ~10 times per event: compare
        // length and first byte inline before calling into memcmp.
        let first = name.as_bytes().first();
        self.0.iter().position(|(k, _)| k.len() == name.len() && k.as_bytes().first() == first && k == name)
    }
}

/// `fields["status"]`: the value, or JSON `null` when absent (as `serde_json::Value`
/// indexing does).
impl std::ops::Index<&str> for Fields {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        self.get(name).unwrap_or(&NULL)
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Fields {
        Fields(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
    }
}

impl<N: Into<FieldName>> FromIterator<(N, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, Value)>>(pairs: I) -> Fields {
        let mut fields = Fields::new();
        fields.extend(pairs);
        fields
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a Value);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (FieldName, Value)>, fn(&'a (FieldName, Value)) -> (&'a str, &'a Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl IntoIterator for Fields {
    type Item = (FieldName, Value);
    type IntoIter = std::vec::IntoIter<(FieldName, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields, A::Error> {
                let mut fields = Fields::with_capacity(access.size_hint().unwrap_or(8));
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    fields.insert(name, value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_name_has_one_value_and_order_is_kept() {
        let mut fields = Fields::new();
        assert_eq!(fields.insert("status", json!(200)), None);
        fields.insert(String::from("path"), json!("/api/pay"));
        assert_eq!(fields.insert("status", json!(502)), Some(json!(200)));
        assert_eq!(fields.len(), 2);
        assert_eq!(fields["status"], 502);
        assert_eq!(fields["missing"], Value::Null);
        fields.insert_if_absent("path", || json!("other"));
        assert_eq!(fields["path"], "/api/pay");
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["status", "path"]);
        let text = serde_json::to_string(&fields).unwrap();
        assert_eq!(text, r#"{"status":502,"path":"/api/pay"}"#);
        let back: Fields = serde_json::from_str(r#"{"path":"/api/pay","status":502}"#).unwrap();
        assert_eq!(back, fields, "order does not matter to equality");
        assert_eq!(fields.remove("status"), Some(json!(502)));
        assert!(!fields.contains_key("status"));
        let map = json!({"a": 1, "b": [2]}).as_object().unwrap().clone();
        assert_eq!(serde_json::to_value(Fields::from(map.clone())).unwrap(), serde_json::Value::Object(map));
    }
}
