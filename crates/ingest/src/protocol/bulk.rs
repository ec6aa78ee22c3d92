//! Elasticsearch's `_bulk` body: NDJSON pairs of an action line and a document line.
//!
//! `index` and `create` carry a document; `update` carries a partial document and `delete`
//! none, and both are answered per item as unsupported (Sluice is append-only), the way
//! Elasticsearch answers an item it cannot apply while applying the rest. A malformed
//! action line fails the whole request, as it does in Elasticsearch; a malformed document
//! fails only its item.

use serde_json::{Map, Value};

use crate::IngestError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOp {
    Index,
    Create,
    Update,
    Delete,
}

impl BulkOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkOp::Index => "index",
            BulkOp::Create => "create",
            BulkOp::Update => "update",
            BulkOp::Delete => "delete",
        }
    }
}

/// Why one item of a bulk request was not applied, in Elasticsearch's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Elasticsearch's error type (`document_parsing_exception`, ...), which shippers log.
    pub kind: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct BulkItem {
    pub op: BulkOp,
    pub index: Option<String>,
    pub id: Option<String>,
    /// 1-based line of the action in the body.
    pub line: usize,
    /// Length of the document line.
    pub bytes: usize,
    pub document: Result<Map<String, Value>, ItemError>,
}

/// Splits a `_bulk` body into its items. `default_index` is the `{index}` of
/// `POST /{index}/_bulk`.
pub fn parse(body: &[u8], default_index: Option<&str>) -> Result<Vec<BulkItem>, IngestError> {
    let mut items = Vec::new();
    let mut lines = crate::body::lines(body);
    while let Some((line, action)) = lines.next() {
        let (op, meta) = action_line(action)
            .map_err(|reason| IngestError::BadBody(format!("malformed action/metadata line [{line}]: {reason}")))?;
        let index = meta_string(&meta, "_index").or_else(|| default_index.map(str::to_owned));
        let id = meta_string(&meta, "_id");
        let mut bytes = 0;
        let document = match op {
            BulkOp::Delete => Err(unsupported(op)),
            BulkOp::Index | BulkOp::Create | BulkOp::Update => {
                let Some((doc_line, source)) = lines.next() else {
                    return Err(IngestError::BadBody(format!(
                        "the {} action on line [{line}] has no document line after it",
                        op.as_str()
                    )));
                };
                bytes = source.len();
                if op == BulkOp::Update { Err(unsupported(op)) } else { document(source, doc_line) }
            }
        };
        let document = match (&index, document) {
            (None, Ok(_)) => Err(ItemError {
                kind: "action_request_validation_exception",
                reason: "Validation Failed: 1: index is missing;".into(),
            }),
            (_, document) => document,
        };
        items.push(BulkItem { op, index, id, line, bytes, document });
    }
    Ok(items)
}

fn action_line(line: &[u8]) -> Result<(BulkOp, Map<String, Value>), String> {
    let value: Value = sluice_core::json::from_bytes(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(action) = value else { return Err("expected an object".into()) };
    if action.len() != 1 {
        return Err(format!("expected one action, found {}", action.len()));
    }
    let (name, meta) = action.into_iter().next().expect("one entry");
    let op = match name.as_str() {
        "index" => BulkOp::Index,
        "create" => BulkOp::Create,
        "update" => BulkOp::Update,
        "delete" => BulkOp::Delete,
        other => return Err(format!("unknown action [{other}]; expected index, create, update or delete")),
    };
    match meta {
        Value::Object(meta) => Ok((op, meta)),
        _ => Err(format!("the {name} action's metadata must be an object")),
    }
}

fn meta_string(meta: &Map<String, Value>, key: &str) -> Option<String> {
    match meta.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn document(source: &[u8], line: usize) -> Result<Map<String, Value>, ItemError> {
    let parse_error = |reason: String| ItemError { kind: "document_parsing_exception", reason };
    match sluice_core::json::from_bytes::<Value>(source) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(parse_error(format!("line [{line}]: the document must be a JSON object"))),
        Err(e) => Err(parse_error(format!("line [{line}]: failed to parse the document: {e}"))),
    }
}

fn unsupported(op: BulkOp) -> ItemError {
    ItemError {
        kind: "illegal_argument_exception",
        reason: format!("sluice is append-only: the {} action is not supported", op.as_str()),
    }
}

/// The source an Elasticsearch index name stands for: the name without a trailing date,
/// so Logstash's `logstash-2026.11.20` and Filebeat's daily indices stay one source.
pub fn index_source(index: &str) -> String {
    let name = index.trim_start_matches('.');
    let bytes = name.as_bytes();
    // `-YYYY.MM.DD`, `-YYYY-MM-DD`, `-YYYY.MM`, with `.` or `-` between the parts.
    for len in [11, 8] {
        if bytes.len() > len && is_date_suffix(&bytes[bytes.len() - len..]) {
            return name[..name.len() - len].to_owned();
        }
    }
    name.to_owned()
}

fn is_date_suffix(suffix: &[u8]) -> bool {
    let digits = |range: std::ops::Range<usize>| suffix[range].iter().all(u8::is_ascii_digit);
    let sep = |i: usize| matches!(suffix[i], b'.' | b'-');
    suffix[0] == b'-' && digits(1..5) && sep(5) && digits(6..8) && (suffix.len() == 8 || (sep(8) && digits(9..11)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_create_and_unsupported_actions() {
        let body = br#"{"index":{"_index":"web-2026.11.20","_id":"a1"}}
{"message":"GET /","@timestamp":"2026-11-20T14:00:00Z"}
{"create":{}}
{"message":"second"}
{"delete":{"_index":"web","_id":"a1"}}
{"update":{"_id":"a1"}}
{"doc":{"x":1}}
{"index":{}}
{"message": broken
"#;
        let items = parse(body, Some("app")).unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(
            (items[0].op, items[0].index.as_deref(), items[0].id.as_deref()),
            (BulkOp::Index, Some("web-2026.11.20"), Some("a1"))
        );
        assert_eq!(items[0].document.as_ref().unwrap()["message"], "GET /");
        assert_eq!((items[1].op, items[1].index.as_deref()), (BulkOp::Create, Some("app")));
        assert_eq!(items[2].document.as_ref().unwrap_err().kind, "illegal_argument_exception");
        assert_eq!((items[3].op, items[3].line), (BulkOp::Update, 6));
        let broken = items[4].document.as_ref().unwrap_err();
        assert_eq!(broken.kind, "document_parsing_exception");
        assert!(broken.reason.starts_with("line [9]"), "{}", broken.reason);
    }

    #[test]
    fn malformed_action_lines_fail_the_request_naming_the_line() {
        let err = |body: &[u8]| parse(body, None).unwrap_err().to_string();
        assert!(err(b"{\"index\":{}}\n{}\nnot json\n").contains("line [3]"));
        assert!(err(b"{\"upsert\":{}}\n").contains("unknown action [upsert]"));
        assert!(err(b"{\"index\":{}}\n").contains("no document line"));
        assert!(err(b"{\"index\":{},\"create\":{}}\n{}\n").contains("expected one action"));
    }

    #[test]
    fn a_missing_index_fails_its_item() {
        let items = parse(b"{\"index\":{}}\n{\"message\":\"m\"}\n", None).unwrap();
        assert_eq!(items[0].document.as_ref().unwrap_err().kind, "action_request_validation_exception");
    }

    #[test]
    fn dated_index_names_are_one_source() {
        assert_eq!(index_source("logstash-2026.11.20"), "logstash");
        assert_eq!(index_source("filebeat-8.17.0-2026-11-20"), "filebeat-8.17.0");
        assert_eq!(index_source("nginx-2026.11"), "nginx");
        assert_eq!(index_source("orders"), "orders");
        assert_eq!(index_source("app-v2"), "app-v2");
        assert_eq!(index_source(".ds-logs-2026.11.20"), "ds-logs");
    }
}
