//! What makes a statement event comparable across tools: its fingerprint and query id,
//! computed the way the DBA's own tool computes them (pt-query-digest for MySQL,
//! pgBadger for PostgreSQL).

use serde_json::Value;
use sluice_core::Event;

use crate::{fingerprint, pg_normalize};

/// Whose rules apply to a statement. Parsers stamp `fields.db_system` (OpenTelemetry's
/// `db.system` values); SQL without it (e.g. from application logs) gets MySQL's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Postgres,
}

impl Dialect {
    pub fn of(event: &Event) -> Dialect {
        match event.field_str("db_system") {
            Some("postgresql") => Dialect::Postgres,
            _ => Dialect::MySql,
        }
    }
}

/// The class a statement belongs to in a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryClass {
    pub fingerprint: String,
    /// Uppercase hex MD5 of the fingerprint (pt-query-digest's query id).
    pub id: String,
}

pub fn classify(query: &str, dialect: Dialect) -> QueryClass {
    let fingerprint = fingerprint_of(query, dialect);
    let id = fingerprint::query_id(&fingerprint);
    QueryClass { fingerprint, id }
}

/// The fingerprint alone (the id is a hash of it, needed once per class).
pub fn fingerprint_of(query: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::MySql => fingerprint::fingerprint(query),
        // pgBadger ends every statement with `;` before normalising it.
        Dialect::Postgres if !query.trim_end().ends_with(';') => pg_normalize::normalize(&format!("{query};")),
        Dialect::Postgres => pg_normalize::normalize(query),
    }
}

/// A timed statement the digest counts: the SQL text and its duration. PostgreSQL's
/// `parse`/`bind` steps are left out, as pgBadger does: their `execute` is the query.
pub fn timed_statement(event: &Event) -> Option<(&str, f64)> {
    let ms = event.field_f64("query_time_ms")?;
    let query = event.field_str("query")?;
    if event.fields.contains_key(sluice_core::PARSE_ERROR_FIELD)
        || matches!(event.field_str("statement_kind"), Some("parse" | "bind"))
    {
        return None;
    }
    Some((query, ms))
}

/// Stamps `fingerprint` and `query_id` on a timed statement, so both are searchable
/// (`query_id:3F79759E...`) and the digest can read them back from the index.
pub fn enrich(event: &mut Event) {
    let Some((query, _)) = timed_statement(event) else { return };
    if event.fields.contains_key("query_id") {
        return;
    }
    let class = classify(query, Dialect::of(event));
    event.fields.insert("fingerprint", Value::String(class.fingerprint));
    event.fields.insert("query_id", Value::String(class.id));
}
