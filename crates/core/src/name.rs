//! [`Name`]: the text an event shares with thousands of others (its source, host and
//! module).
//!
//! A parser stamps every event with the same source and host, and routing picks one of a
//! handful of modules. As `String`s each would be an allocation and a copy per event, and
//! a free when it is dropped; a `Name` is a pointer: a `&'static str` for the built-in
//! module names, or a shared `Arc<str>` that cloning only counts.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Immutable text, cheap to clone. Reads as a `&str` (`Deref`), compares, hashes, orders
/// and serialises as one.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// A name that needs no allocation, ever.
    pub const fn from_static(text: &'static str) -> Name {
        Name(Repr::Static(text))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(text) => text,
            Repr::Shared(text) => text,
        }
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::from_static("")
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        if text.is_empty() { Name::default() } else { Name(Repr::Shared(Arc::from(text))) }
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        if text.is_empty() { Name::default() } else { Name(Repr::Shared(Arc::from(text))) }
    }
}

impl From<&String> for Name {
    fn from(text: &String) -> Name {
        Name::from(text.as_str())
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.as_str().to_owned()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// As a `str` hashes, so a map keyed by `Name` can be searched with a `&str`.
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Straight from the decoder's text into the shared string: one allocation, where going
/// through a `String` first made two (WAL replay decodes three names per event).
impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E>(self, text: &str) -> Result<Name, E> {
                Ok(Name::from(text))
            }

            fn visit_string<E>(self, text: String) -> Result<Name, E> {
                Ok(Name::from(text))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn reads_compares_and_hashes_as_its_text() {
        let shared = Name::from("order");
        let fixed = Name::from_static("order");
        assert_eq!(shared, fixed);
        assert_eq!(shared, "order");
        assert_eq!("order", fixed);
        assert_eq!(shared.len(), 5);
        let mut sorted = vec![Name::from_static("b"), Name::from("a")];
        sorted.sort();
        assert_eq!(sorted, ["a", "b"]);
        let mut counts = HashMap::new();
        *counts.entry(shared.clone()).or_insert(0) += 1;
        *counts.entry(fixed).or_insert(0) += 1;
        assert_eq!(counts.get("order"), Some(&2));
        assert_eq!(format!("{shared} {shared:?}"), "order \"order\"");
    }

    #[test]
    fn clones_share_the_text() {
        let name = Name::from(String::from("nginx-access"));
        let copy = name.clone();
        assert!(std::ptr::eq(name.as_str(), copy.as_str()));
        assert_eq!(Name::from("").as_str(), "");
    }

    #[test]
    fn serialises_as_a_string() {
        let name: Name = serde_json::from_str("\"payment\"").unwrap();
        assert_eq!(name, "payment");
        let escaped: Name = serde_json::from_str(r#""order \"svc\" \u00e9""#).unwrap();
        assert_eq!(escaped, "order \"svc\" é");
        assert!(serde_json::from_str::<Name>("3").is_err());
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"payment\"");
    }
}
