//! Query text to tantivy query. Users write `status:502` or `trace_id:abc`; event-specific
//! fields live in the `fields` JSON column, so such names are rewritten to `fields.status`.

use tantivy::Index;
use tantivy::query::{Query, QueryParser};

use crate::IndexError;
use crate::schema::Fields;

pub(crate) fn parse(index: &Index, fields: &Fields, text: &str) -> Result<Box<dyn Query>, IndexError> {
    let mut parser = QueryParser::for_index(index, vec![fields.message]);
    parser.set_conjunction_by_default();
    let rewritten = qualify_field_names(&and_not(text));
    parser.parse_query(&rewritten).map_err(|e| IndexError::BadQuery(format!("{e} in `{text}`")))
}

/// `a AND NOT b` -> `a NOT b`: tantivy reads `AND NOT b` as a clause that only excludes,
/// which matches nothing, where users mean "a, without b" (as Lucene does).
pub(crate) fn and_not(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        let at_word_start = out.is_empty() || out.ends_with(char::is_whitespace);
        if !in_quotes && at_word_start && rest.starts_with("AND ") {
            let after = rest[4..].trim_start();
            if after.starts_with("NOT ") {
                rest = after;
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Prefixes `fields.` to field names the schema does not have, outside quoted phrases.
pub(crate) fn qualify_field_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_quotes = false;
    let mut word_start = true;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && word_start && (c.is_ascii_alphabetic() || c == '_') {
            let end = (i..chars.len())
                .find(|&j| !(chars[j].is_ascii_alphanumeric() || matches!(chars[j], '_' | '.' | '@')))
                .unwrap_or(chars.len());
            if chars.get(end) == Some(&':') {
                let name: String = chars[i..end].iter().collect();
                if !Fields::is_top_level(name.split('.').next().unwrap_or("")) {
                    out.push_str("fields.");
                }
                out.push_str(&name);
                i = end;
                word_start = false;
                continue;
            }
        }
        word_start = !in_quotes && (c.is_whitespace() || matches!(c, '(' | '+' | '-' | '!'));
        out.push(c);
        i += 1;
    }
    out
}
