//! Loki's push API (`POST /loki/api/v1/push`): JSON, or snappy-compressed protobuf
//! (`logproto.PushRequest`, what Promtail, Grafana Alloy and the Docker driver send).
//! A stream's labels become fields of each of its entries, next to the entry's
//! structured metadata.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{Fields, Level};
use sluice_parsers::PushedRecord;

use crate::IngestError;

/// One stream of a push: its labels and entries, ready for its source's parser.
#[derive(Debug, Clone, Default)]
pub struct LokiStream {
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<PushedRecord>,
}

impl LokiStream {
    /// The source a stream stands for: its `source`, `job`, `service_name` or `app`
    /// label, else `loki`.
    pub fn source(&self) -> &str {
        ["source", "job", "service_name", "app", "container"]
            .iter()
            .find_map(|k| self.labels.get(*k).filter(|v| !v.is_empty()))
            .map_or("loki", String::as_str)
    }
}

/// How a push body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    /// `application/x-protobuf`: snappy block-compressed by every Loki client.
    SnappyProtobuf,
    /// Protobuf whose snappy layer was already undone (sent as `Content-Encoding: snappy`,
    /// as Prometheus remote-write clients do).
    Protobuf,
}

/// Decodes a push body; a snappy layer may inflate to `limit` bytes at most.
pub fn decode(body: &[u8], encoding: Encoding, limit: usize) -> Result<Vec<LokiStream>, IngestError> {
    match encoding {
        Encoding::Json => decode_json(body),
        Encoding::SnappyProtobuf => {
            let raw = crate::body::snappy(body, limit).map_err(|e| match e {
                IngestError::BadBody(reason) => {
                    IngestError::BadBody(format!("Loki protobuf body is not snappy-compressed: {reason}"))
                }
                other => other,
            })?;
            decode_protobuf(&raw)
        }
        Encoding::Protobuf => decode_protobuf(body),
    }
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    values: Vec<Vec<Value>>,
}

fn decode_json(body: &[u8]) -> Result<Vec<LokiStream>, IngestError> {
    let push: JsonPush = sluice_core::json::from_bytes(body)
        .map_err(|e| IngestError::BadBody(format!("invalid Loki push JSON: {e}")))?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for (s, stream) in push.streams.into_iter().enumerate() {
        let mut entries = Vec::with_capacity(stream.values.len());
        for (v, value) in stream.values.into_iter().enumerate() {
            let bad = |what: &str| IngestError::BadBody(format!("streams[{s}].values[{v}]: {what}"));
            let mut parts = value.into_iter();
            let ns = match parts.next() {
                Some(Value::String(ns)) => {
                    ns.parse::<i64>().map_err(|_| bad("timestamp must be nanoseconds as a string"))?
                }
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad("timestamp must be whole nanoseconds"))?,
                _ => return Err(bad("expected [\"<unix ns>\", \"<line>\"]")),
            };
            let Some(Value::String(line)) = parts.next() else { return Err(bad("the line must be a string")) };
            let metadata = match parts.next() {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m,
                Some(_) => return Err(bad("structured metadata must be an object")),
            };
            entries.push(entry(&stream.stream, ns, line, metadata));
        }
        streams.push(LokiStream { labels: stream.stream, entries });
    }
    Ok(streams)
}

mod wire {
    //! `logproto.PushRequest` as Loki's push.proto defines it.

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        /// Prometheus label syntax: `{job="web", level="error"}`.
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub line: String,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

fn decode_protobuf(raw: &[u8]) -> Result<Vec<LokiStream>, IngestError> {
    let push = <wire::PushRequest as prost::Message>::decode(raw)
        .map_err(|e| IngestError::BadBody(format!("invalid Loki PushRequest: {e}")))?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for (s, stream) in push.streams.into_iter().enumerate() {
        let labels = parse_labels(&stream.labels)
            .map_err(|e| IngestError::BadBody(format!("streams[{s}]: bad labels {:?}: {e}", stream.labels)))?;
        let entries = stream
            .entries
            .into_iter()
            .map(|e| {
                let ns =
                    e.timestamp.map_or(0, |t| t.seconds.saturating_mul(1_000_000_000).saturating_add(t.nanos.into()));
                let metadata = e.structured_metadata.into_iter().map(|p| (p.name, Value::String(p.value))).collect();
                entry(&labels, ns, e.line, metadata)
            })
            .collect();
        streams.push(LokiStream { labels, entries });
    }
    Ok(streams)
}

fn entry(labels: &BTreeMap<String, String>, ns: i64, line: String, metadata: Map<String, Value>) -> PushedRecord {
    let mut fields = Fields::from(metadata);
    for (key, value) in labels {
        fields.insert_if_absent(key.clone(), || Value::String(value.clone()));
    }
    let level = ["level", "detected_level", "severity", "lvl"]
        .iter()
        .find_map(|k| fields.get_str(k).and_then(Level::parse_lenient));
    let host = ["host", "hostname", "instance"].iter().find_map(|k| fields.get_str(k)).map(str::to_owned);
    let timestamp: Option<DateTime<Utc>> = (ns > 0).then(|| DateTime::from_timestamp_nanos(ns));
    PushedRecord { text: line, timestamp, level, host, fields }
}

/// Parses Prometheus label syntax, `{name="value", other="with \"quotes\""}`.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text.trim();
    let inner = inner
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| "labels must be enclosed in {}".to_owned())?;
    let mut labels = BTreeMap::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| format!("expected name=\"value\" at {rest:?}"))?;
        let name = rest[..eq].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid label name {name:?}"));
        }
        let after = rest[eq + 1..].trim_start();
        let body = after.strip_prefix('"').ok_or_else(|| format!("the value of {name} must be quoted"))?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of {name}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated value of {name}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = body[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn json_push_with_labels_and_metadata() {
        let body = br#"{"streams":[{"stream":{"job":"checkout","level":"error","host":"web-3"},
            "values":[["1763647200000000001","payment timeout"],["1763647201000000000","retry",{"trace_id":"abc"}]]}]}"#;
        let streams = decode(body, Encoding::Json, 1 << 20).unwrap();
        assert_eq!(streams[0].source(), "checkout");
        let first = &streams[0].entries[0];
        assert_eq!(first.text, "payment timeout");
        assert_eq!(first.timestamp.unwrap().timestamp_nanos_opt(), Some(1_763_647_200_000_000_001));
        assert_eq!(first.level, Some(Level::Error));
        assert_eq!(first.host.as_deref(), Some("web-3"));
        assert_eq!(first.fields.value("job"), "checkout");
        assert_eq!(streams[0].entries[1].fields.value("trace_id"), "abc");
    }

    #[test]
    fn json_errors_name_the_entry() {
        let err = decode(br#"{"streams":[{"stream":{},"values":[["1","a"],["x","b"]]}]}"#, Encoding::Json, 1 << 20)
            .unwrap_err();
        assert!(err.to_string().contains("streams[0].values[1]"), "{err}");
        assert!(decode(b"{\"streams\":", Encoding::Json, 1 << 20).is_err());
    }

    #[test]
    fn snappy_protobuf_push() {
        let push = wire::PushRequest {
            streams: vec![wire::StreamAdapter {
                labels: r#"{service_name="order-svc", env="prod \"eu\""}"#.into(),
                entries: vec![wire::EntryAdapter {
                    timestamp: Some(wire::Timestamp { seconds: 1_763_647_200, nanos: 5 }),
                    line: "order 7 created".into(),
                    structured_metadata: vec![wire::LabelPairAdapter { name: "trace_id".into(), value: "t1".into() }],
                }],
                hash: 0,
            }],
        };
        assert_eq!(decode(&push.encode_to_vec(), Encoding::Protobuf, 1 << 20).unwrap()[0].entries.len(), 1);
        let body = snap::raw::Encoder::new().compress_vec(&push.encode_to_vec()).unwrap();
        let streams = decode(&body, Encoding::SnappyProtobuf, 1 << 20).unwrap();
        assert_eq!(streams[0].source(), "order-svc");
        assert_eq!(streams[0].labels["env"], "prod \"eu\"");
        let entry = &streams[0].entries[0];
        assert_eq!(entry.timestamp.unwrap().timestamp_nanos_opt(), Some(1_763_647_200_000_000_005));
        assert_eq!(entry.fields.value("trace_id"), "t1");
        assert!(decode(b"not snappy", Encoding::SnappyProtobuf, 1 << 20).is_err());
        // A header claiming more than the limit is refused before anything is allocated.
        assert!(matches!(decode(&body, Encoding::SnappyProtobuf, 10), Err(IngestError::TooLarge { .. })));
    }

    #[test]
    fn label_syntax() {
        assert_eq!(parse_labels("{}").unwrap().len(), 0);
        let l = parse_labels(r#"{a="1",b = "x\\y\n" }"#).unwrap();
        assert_eq!((l["a"].as_str(), l["b"].as_str()), ("1", "x\\y\n"));
        assert!(parse_labels(r#"{a=1}"#).is_err());
        assert!(parse_labels(r#"{a="1"#).is_err());
        assert!(parse_labels("a=\"1\"").is_err());
    }
}
