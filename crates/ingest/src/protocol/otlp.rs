//! OTLP logs over HTTP (`POST /v1/logs`): `ExportLogsServiceRequest` as protobuf or as
//! OTLP/JSON. Resource and log attributes become fields (keys as OpenTelemetry names
//! them: `service.name`, `http.response.status_code`), the severity becomes the level,
//! trace and span ids become `trace_id`/`span_id` in hex.

use chrono::DateTime;
use serde_json::{Map, Value};
use sluice_core::{Fields, Level};
use sluice_parsers::PushedRecord;

use crate::IngestError;

/// The log records of one resource (one service instance), ready for its source's parser.
#[derive(Debug, Clone, Default)]
pub struct OtlpResource {
    /// `service.name`, when the resource has one.
    pub service: Option<String>,
    pub records: Vec<PushedRecord>,
}

pub mod wire {
    //! The subset of opentelemetry-proto's logs and common messages a receiver reads.

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_logs: Vec<ResourceLogs>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceLogs {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_logs: Vec<ScopeLogs>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeLogs {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub log_records: Vec<LogRecord>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogRecord {
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        #[prost(int32, tag = "2")]
        pub severity_number: i32,
        #[prost(string, tag = "3")]
        pub severity_text: String,
        #[prost(message, optional, tag = "5")]
        pub body: Option<AnyValue>,
        #[prost(message, repeated, tag = "6")]
        pub attributes: Vec<KeyValue>,
        #[prost(bytes = "vec", tag = "9")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "10")]
        pub span_id: Vec<u8>,
        #[prost(fixed64, tag = "11")]
        pub observed_time_unix_nano: u64,
        #[prost(string, tag = "12")]
        pub event_name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub value: Option<any_value::Value>,
    }

    pub mod any_value {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
            #[prost(message, tag = "5")]
            ArrayValue(super::ArrayValue),
            #[prost(message, tag = "6")]
            KvlistValue(super::KeyValueList),
            #[prost(bytes = "vec", tag = "7")]
            BytesValue(Vec<u8>),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ArrayValue {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<AnyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValueList {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<KeyValue>,
    }
}

/// Decodes an export request; `protobuf` for `application/x-protobuf`, else OTLP/JSON.
pub fn decode(body: &[u8], protobuf: bool) -> Result<Vec<OtlpResource>, IngestError> {
    let request = if protobuf {
        <wire::ExportLogsServiceRequest as prost::Message>::decode(body)
            .map_err(|e| IngestError::BadBody(format!("invalid OTLP ExportLogsServiceRequest: {e}")))?
    } else {
        let value: Value =
            sluice_core::json::from_bytes(body).map_err(|e| IngestError::BadBody(format!("invalid OTLP/JSON: {e}")))?;
        json::request(&value).map_err(|e| IngestError::BadBody(format!("invalid OTLP/JSON: {e}")))?
    };
    Ok(request.resource_logs.into_iter().map(resource).collect())
}

fn resource(logs: wire::ResourceLogs) -> OtlpResource {
    let resource_fields = attributes(logs.resource.map(|r| r.attributes).unwrap_or_default());
    let service = resource_fields.get("service.name").and_then(Value::as_str).map(str::to_owned);
    let host = resource_fields.get("host.name").and_then(Value::as_str).map(str::to_owned);
    let mut records = Vec::new();
    for scope_logs in logs.scope_logs {
        let scope = scope_logs.scope.map(|s| s.name).filter(|n| !n.is_empty());
        for log in scope_logs.log_records {
            let mut fields = Fields::from(attributes(log.attributes));
            for (key, value) in &resource_fields {
                fields.insert_if_absent(key.clone(), || value.clone());
            }
            if let Some(scope) = &scope {
                fields.insert_if_absent("otel.scope.name", || Value::String(scope.clone()));
            }
            if !log.trace_id.is_empty() {
                fields.insert("trace_id", Value::String(hex(&log.trace_id)));
            }
            if !log.span_id.is_empty() {
                fields.insert("span_id", Value::String(hex(&log.span_id)));
            }
            if !log.event_name.is_empty() {
                fields.insert("event.name", Value::String(log.event_name));
            }
            if !log.severity_text.is_empty() {
                fields.insert("severity_text", Value::String(log.severity_text.clone()));
            }
            let text = match log.body.map(any_value) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                Some(Value::Object(map)) => {
                    let text = Value::Object(map.clone()).to_string();
                    for (key, value) in map {
                        fields.insert_if_absent(key, || value);
                    }
                    text
                }
                Some(other) => other.to_string(),
            };
            let nanos = if log.time_unix_nano > 0 { log.time_unix_nano } else { log.observed_time_unix_nano };
            records.push(PushedRecord {
                text,
                timestamp: i64::try_from(nanos).ok().filter(|n| *n > 0).map(DateTime::from_timestamp_nanos),
                level: severity(log.severity_number, &log.severity_text),
                host: host.clone(),
                fields,
            });
        }
    }
    OtlpResource { service, records }
}

/// OpenTelemetry's severity numbers: 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn,
/// 17-20 error, 21-24 fatal; 0 (unspecified) falls back to the text.
fn severity(number: i32, text: &str) -> Option<Level> {
    Some(match number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        9..=12 => Level::Info,
        13..=16 => Level::Warn,
        17..=20 => Level::Error,
        21..=24 => Level::Fatal,
        _ => return Level::parse_lenient(text),
    })
}

fn attributes(list: Vec<wire::KeyValue>) -> Map<String, Value> {
    list.into_iter().map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value))).collect()
}

fn any_value(value: wire::AnyValue) -> Value {
    use wire::any_value::Value as V;
    match value.value {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::from(i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number),
        Some(V::ArrayValue(a)) => Value::Array(a.values.into_iter().map(any_value).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(attributes(kv.values)),
        Some(V::BytesValue(b)) => Value::String(hex(&b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

mod json {
    //! OTLP/JSON into the protobuf messages: lowerCamelCase keys (snake_case accepted, as
    //! protobuf's JSON mapping allows), 64-bit integers as strings or numbers, trace and
    //! span ids in hex.

    use serde_json::Value;

    use super::wire;

    type Result<T> = std::result::Result<T, String>;

    fn get<'a>(object: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
        object.get(camel).or_else(|| object.get(snake)).filter(|v| !v.is_null())
    }

    fn list<'a>(object: &'a Value, camel: &str, snake: &str, at: &str) -> Result<&'a [Value]> {
        match get(object, camel, snake) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(format!("{at}.{camel} must be an array")),
        }
    }

    fn string(object: &Value, camel: &str, snake: &str) -> String {
        get(object, camel, snake).and_then(Value::as_str).unwrap_or_default().to_owned()
    }

    fn uint(object: &Value, camel: &str, snake: &str, at: &str) -> Result<u64> {
        match get(object, camel, snake) {
            None => Ok(0),
            Some(Value::String(s)) => s.parse().map_err(|_| format!("{at}.{camel} must be an integer")),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("{at}.{camel} must be a whole number")),
            Some(_) => Err(format!("{at}.{camel} must be an integer")),
        }
    }

    fn hex_bytes(object: &Value, camel: &str, snake: &str, at: &str) -> Result<Vec<u8>> {
        let text = string(object, camel, snake);
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{at}.{camel} must be hex"));
        }
        Ok((0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0)).collect())
    }

    pub(super) fn request(value: &Value) -> Result<wire::ExportLogsServiceRequest> {
        if !value.is_object() {
            return Err("the request must be an object".into());
        }
        let mut resource_logs = Vec::new();
        for (r, rl) in list(value, "resourceLogs", "resource_logs", "")?.iter().enumerate() {
            let at = format!("resourceLogs[{r}]");
            let resource = match get(rl, "resource", "resource") {
                Some(res) => {
                    Some(wire::Resource { attributes: key_values(res, "attributes", &format!("{at}.resource"))? })
                }
                None => None,
            };
            let mut scope_logs = Vec::new();
            for (s, sl) in list(rl, "scopeLogs", "scope_logs", &at)?.iter().enumerate() {
                let at = format!("{at}.scopeLogs[{s}]");
                let scope = get(sl, "scope", "scope").map(|sc| wire::InstrumentationScope {
                    name: string(sc, "name", "name"),
                    version: string(sc, "version", "version"),
                });
                let mut log_records = Vec::new();
                for (l, lr) in list(sl, "logRecords", "log_records", &at)?.iter().enumerate() {
                    log_records.push(log_record(lr, &format!("{at}.logRecords[{l}]"))?);
                }
                scope_logs.push(wire::ScopeLogs { scope, log_records });
            }
            resource_logs.push(wire::ResourceLogs { resource, scope_logs });
        }
        Ok(wire::ExportLogsServiceRequest { resource_logs })
    }

    fn log_record(lr: &Value, at: &str) -> Result<wire::LogRecord> {
        let severity_number = match get(lr, "severityNumber", "severity_number") {
            None => 0,
            Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0),
            // The enum's name, as protobuf's JSON mapping also allows: SEVERITY_NUMBER_WARN2.
            Some(Value::String(name)) => severity_by_name(name),
            Some(_) => return Err(format!("{at}.severityNumber must be a number")),
        };
        Ok(wire::LogRecord {
            time_unix_nano: uint(lr, "timeUnixNano", "time_unix_nano", at)?,
            observed_time_unix_nano: uint(lr, "observedTimeUnixNano", "observed_time_unix_nano", at)?,
            severity_number,
            severity_text: string(lr, "severityText", "severity_text"),
            body: get(lr, "body", "body").map(|b| any_value(b, &format!("{at}.body"))).transpose()?,
            attributes: key_values(lr, "attributes", at)?,
            trace_id: hex_bytes(lr, "traceId", "trace_id", at)?,
            span_id: hex_bytes(lr, "spanId", "span_id", at)?,
            event_name: string(lr, "eventName", "event_name"),
        })
    }

    fn severity_by_name(name: &str) -> i32 {
        let Some(rest) = name.strip_prefix("SEVERITY_NUMBER_") else { return 0 };
        let digits = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let base = match &rest[..rest.len() - digits.len()] {
            "TRACE" => 1,
            "DEBUG" => 5,
            "INFO" => 9,
            "WARN" => 13,
            "ERROR" => 17,
            "FATAL" => 21,
            _ => return 0,
        };
        base + digits.parse::<i32>().map_or(0, |n| (n - 1).clamp(0, 3))
    }

    fn key_values(object: &Value, key: &str, at: &str) -> Result<Vec<wire::KeyValue>> {
        let mut out = Vec::new();
        for (i, kv) in list(object, key, key, at)?.iter().enumerate() {
            let at = format!("{at}.{key}[{i}]");
            let name =
                get(kv, "key", "key").and_then(Value::as_str).ok_or_else(|| format!("{at}.key must be a string"))?;
            let value = get(kv, "value", "value").map(|v| any_value(v, &at)).transpose()?;
            out.push(wire::KeyValue { key: name.to_owned(), value });
        }
        Ok(out)
    }

    fn any_value(value: &Value, at: &str) -> Result<wire::AnyValue> {
        use wire::any_value::Value as V;
        let inner = if let Some(s) = get(value, "stringValue", "string_value") {
            V::StringValue(s.as_str().ok_or_else(|| format!("{at}.stringValue must be a string"))?.to_owned())
        } else if let Some(b) = get(value, "boolValue", "bool_value") {
            V::BoolValue(b.as_bool().ok_or_else(|| format!("{at}.boolValue must be a boolean"))?)
        } else if let Some(i) = get(value, "intValue", "int_value") {
            let parsed = match i {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            V::IntValue(parsed.ok_or_else(|| format!("{at}.intValue must be an integer"))?)
        } else if let Some(d) = get(value, "doubleValue", "double_value") {
            let parsed = match d {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_f64(),
                _ => None,
            };
            V::DoubleValue(parsed.ok_or_else(|| format!("{at}.doubleValue must be a number"))?)
        } else if let Some(a) = get(value, "arrayValue", "array_value") {
            let values = list(a, "values", "values", at)?.iter().map(|v| any_value(v, at)).collect::<Result<_>>()?;
            V::ArrayValue(wire::ArrayValue { values })
        } else if let Some(kv) = get(value, "kvlistValue", "kvlist_value") {
            V::KvlistValue(wire::KeyValueList { values: key_values(kv, "values", at)? })
        } else if let Some(b) = get(value, "bytesValue", "bytes_value") {
            // Protobuf's JSON mapping gives bytes as base64; kept as that text.
            V::StringValue(b.as_str().unwrap_or_default().to_owned())
        } else {
            return Ok(wire::AnyValue { value: None });
        };
        Ok(wire::AnyValue { value: Some(inner) })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::wire::any_value::Value as V;
    use super::*;

    fn kv(key: &str, value: V) -> wire::KeyValue {
        wire::KeyValue { key: key.into(), value: Some(wire::AnyValue { value: Some(value) }) }
    }

    #[test]
    fn protobuf_request() {
        let request = wire::ExportLogsServiceRequest {
            resource_logs: vec![wire::ResourceLogs {
                resource: Some(wire::Resource {
                    attributes: vec![
                        kv("service.name", V::StringValue("payment-svc".into())),
                        kv("host.name", V::StringValue("pay-1".into())),
                    ],
                }),
                scope_logs: vec![wire::ScopeLogs {
                    scope: Some(wire::InstrumentationScope { name: "com.shop.pay".into(), version: String::new() }),
                    log_records: vec![wire::LogRecord {
                        time_unix_nano: 1_763_647_200_000_000_000,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(wire::AnyValue { value: Some(V::StringValue("gateway timeout".into())) }),
                        attributes: vec![kv("http.response.status_code", V::IntValue(504))],
                        trace_id: vec![0xab; 16],
                        span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
                        ..Default::default()
                    }],
                }],
            }],
        };
        let resources = decode(&request.encode_to_vec(), true).unwrap();
        assert_eq!(resources[0].service.as_deref(), Some("payment-svc"));
        let record = &resources[0].records[0];
        assert_eq!(record.text, "gateway timeout");
        assert_eq!(record.level, Some(Level::Error));
        assert_eq!(record.host.as_deref(), Some("pay-1"));
        assert_eq!(record.timestamp.unwrap().timestamp(), 1_763_647_200);
        assert_eq!(record.fields.value("http.response.status_code"), 504);
        assert_eq!(record.fields.value("trace_id"), "ab".repeat(16));
        assert_eq!(record.fields.value("span_id"), "0102030405060708");
        assert_eq!(record.fields.value("otel.scope.name"), "com.shop.pay");
        assert_eq!(record.fields.value("service.name"), "payment-svc");
        assert!(decode(b"\xff\xff\xff", true).is_err());
    }

    #[test]
    fn json_request_as_the_spec_example_writes_it() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"order-svc"}}]},
          "scopeLogs":[{"scope":{"name":"app"},"logRecords":[
            {"timeUnixNano":"1763647200000000000","severityNumber":13,"severityText":"Warning",
             "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
             "body":{"stringValue":"stock low"},
             "attributes":[{"key":"sku","value":{"stringValue":"A1"}},{"key":"qty","value":{"intValue":"3"}},
                           {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}}]},
            {"observed_time_unix_nano":1763647201000000000,"severityNumber":"SEVERITY_NUMBER_FATAL",
             "body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"down"}}]}}}]}]}]}"#;
        let resources = decode(body, false).unwrap();
        let records = &resources[0].records;
        assert_eq!(records[0].level, Some(Level::Warn));
        assert_eq!(records[0].fields.value("qty"), 3);
        assert_eq!(records[0].fields.value("tags")[0], "x");
        assert_eq!(records[0].fields.value("trace_id"), "5b8efff798038103d269b633813fc60c");
        assert_eq!(records[1].level, Some(Level::Fatal));
        assert_eq!(records[1].fields.value("msg"), "down");
        assert_eq!(records[1].timestamp.unwrap().timestamp(), 1_763_647_201);
    }

    #[test]
    fn json_errors_name_the_record() {
        let err = decode(br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"timeUnixNano":"soon"}]}]}]}"#, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano"), "{err}");
        assert!(decode(br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#, false).is_err());
    }
}
