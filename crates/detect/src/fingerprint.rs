//! Query fingerprints and ids exactly as pt-query-digest 3.2.1 computes them
//! (`QueryRewriter::fingerprint`), so a query id in Sluice's digest is the id a DBA sees in
//! pt-query-digest's report. Steps follow the Perl in order; those that need backreferences
//! or lookaround (comments, UNION collapsing, ORDER BY ... ASC) are hand-written scanners.

use std::sync::LazyLock;

use md5::{Digest, Md5};
use regex::Regex;

#[derive(Clone)]
struct Rules {
    mysqldump: Regex,
    checksum_tool: Regex,
    call: Regex,
    multi_row_insert: Regex,
    use_db: Regex,
    number: Regex,
    number_leftover: Regex,
    null: Regex,
    in_values: Regex,
    limit: Regex,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("fingerprint rule compiles");
    Rules {
        mysqldump: re(r"\ASELECT /\*!40001 SQL_NO_CACHE \*/ \* FROM `"),
        checksum_tool: re(r"/\*\w+\.\w+:[0-9]/[0-9]\*/"),
        call: re(r"(?i)\A\s*(call\s+\S+)\("),
        multi_row_insert: re(r"(?is)\A((?:INSERT|REPLACE)(?: IGNORE)?\s+INTO.+?VALUES\s*\(.*?\))\s*,\s*\("),
        use_db: re(r"(?i)\Ause \S+\n?\z"),
        number: re(r"[0-9+-][0-9a-f.xb+-]*"),
        number_leftover: re(r"[xb.+-]\?"),
        null: re(r"\bnull\b"),
        in_values: re(r"\b(in|values?)(?:[\s,]*\([\s?,]*\))+"),
        limit: re(r"\blimit \?(?:, ?\?| offset \?)?"),
    }
});

thread_local! {
    // A clone per thread: one `Regex` shared by the digest's worker threads hands out its
    // scratch space through a contended pool.
    static LOCAL_RULES: Rules = RULES.clone();
}

/// The fingerprint of a statement: literals abstracted, whitespace and case normalised.
pub fn fingerprint(query: &str) -> String {
    LOCAL_RULES.with(|rules| fingerprint_with(rules, query))
}

/// Each regex step runs only when a cheap test says it could match: most statements
/// have no comment, no UNION, no NULL, no LIMIT.
fn fingerprint_with(rules: &Rules, query: &str) -> String {
    let first_word = query.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    let is = |word: &str| first_word.eq_ignore_ascii_case(word);
    if query.starts_with("SELECT /*!40001") && rules.mysqldump.is_match(query) {
        return "mysqldump".into();
    }
    if query.contains("/*") && rules.checksum_tool.is_match(query) {
        return "percona-toolkit".into();
    }
    if query.starts_with("administrator command: ") {
        return query.to_owned();
    }
    if is("call")
        && let Some(c) = rules.call.captures(query)
    {
        return c[1].to_lowercase();
    }
    let mut q = match (is("insert") || is("replace")).then(|| rules.multi_row_insert.captures(query)).flatten() {
        Some(c) => c[1].to_owned(),
        None => query.to_owned(),
    };
    if q.contains("--") || q.contains('#') {
        q = strip_line_comments(&q);
    }
    if q.contains("/*") {
        q = strip_block_comments(&q);
    }
    if q.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("use ")) && rules.use_db.is_match(&q) {
        // `USE db` -> `use ?` (keeping a final newline); the rest of the steps do not apply.
        return if q.ends_with('\n') { "use ?\n".into() } else { "use ?".into() };
    }
    // Escaped quotes go first, so `'it\'s'` is one string. (3.2.1 does not know that `\\`
    // escapes a backslash; later releases do. This follows 3.2.1.)
    q = q.replace("\\'", "").replace("\\\"", "");
    q = replace_quoted(&q, '"');
    q = replace_quoted(&q, '\'');
    q = rules.number.replace_all(&q, "?").into_owned();
    q = rules.number_leftover.replace_all(&q, "?").into_owned();
    let q = q.trim_start_matches(|c: char| c.is_whitespace());
    let q = q.strip_suffix('\n').unwrap_or(q);
    let mut q = squeeze_whitespace(q).to_lowercase();
    if q.contains("null") {
        q = rules.null.replace_all(&q, "?").into_owned();
    }
    if q.contains("in") || q.contains("value") {
        q = rules.in_values.replace_all(&q, "$1(?+)").into_owned();
    }
    if q.contains("union") {
        q = collapse_unions(&q);
    }
    if q.contains("limit ?") {
        q = rules.limit.replace(&q, "limit ?").into_owned();
    }
    drop_order_by_asc(&q)
}

/// pt-query-digest's query id: the uppercase hex MD5 of the fingerprint.
pub fn query_id(fingerprint: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut id = String::with_capacity(32);
    for b in Md5::digest(fingerprint.as_bytes()) {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id
}

/// `(?:--|#)[^'"\r\n]*(?=[\r\n]|\Z)`: a comment that runs to the end of its line without a quote.
fn strip_line_comments(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = String::with_capacity(q.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let start_len = match (b[i], b.get(i + 1)) {
            (b'-', Some(b'-')) => 2,
            (b'#', _) => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        let mut j = i + start_len;
        while j < b.len() && !matches!(b[j], b'\'' | b'"' | b'\r' | b'\n') {
            j += 1;
        }
        // \Z: the end, or just before a final newline.
        let ends = j == b.len() || matches!(b[j], b'\r' | b'\n');
        if ends {
            out.push_str(&q[copied..i]);
            copied = j;
            i = j;
        } else {
            i += 1;
        }
    }
    out.push_str(&q[copied..]);
    out
}

/// `/\*[^!].*?\*/` (dot matches newlines): block comments, but not `/*!version */`.
fn strip_block_comments(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut rest = q;
    while let Some(start) = rest.find("/*") {
        let after = &rest[start + 2..];
        let Some(first) = after.chars().next().filter(|c| *c != '!') else {
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        };
        match after[first.len_utf8()..].find("*/") {
            Some(end) => {
                out.push_str(&rest[..start]);
                rest = &after[first.len_utf8() + end + 2..];
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `".*?"` -> `?` (and the same for single quotes), across newlines.
fn replace_quoted(q: &str, quote: char) -> String {
    let mut out = String::with_capacity(q.len());
    let mut rest = q;
    while let Some(open) = rest.find(quote) {
        let Some(close) = rest[open + 1..].find(quote) else { break };
        out.push_str(&rest[..open]);
        out.push('?');
        rest = &rest[open + 1 + close + 1..];
    }
    out.push_str(rest);
    out
}

/// `tr[ \n\t\r\f][ ]s`: every run of those characters becomes one space.
fn squeeze_whitespace(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut in_run = false;
    for c in q.chars() {
        if matches!(c, ' ' | '\n' | '\t' | '\r' | '\x0c') {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// `\b(select\s.*?)(?:(\sunion(?:\sall)?)\s\1)+` -> `$1 /*repeat$2*/`.
fn collapse_unions(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut pos = 0;
    'scan: while let Some(found) = q[pos..].find("select") {
        let start = pos + found;
        let boundary = start == 0 || !is_word(q.as_bytes()[start - 1]);
        let spaced = q[start + 6..].starts_with(char::is_whitespace);
        if boundary && spaced {
            // The shortest `select ...` that is followed by at least one ` union [all] <same>`.
            for end in start + 7..=q.len() {
                if !q.is_char_boundary(end) {
                    continue;
                }
                let head = &q[start..end];
                let mut cursor = end;
                let mut last_union = None;
                while let Some((union, len)) = union_then(&q[cursor..], head) {
                    last_union = Some(union);
                    cursor += len;
                }
                if let Some(union) = last_union {
                    out.push_str(&q[pos..end]);
                    out.push_str(&format!(" /*repeat{union}*/"));
                    pos = cursor;
                    continue 'scan;
                }
            }
        }
        out.push_str(&q[pos..start + 6]);
        pos = start + 6;
    }
    out.push_str(&q[pos..]);
    out
}

/// At the start of `rest`: `\s union [\s all] \s head`; returns (` union[ all]`, length).
fn union_then<'a>(rest: &'a str, head: &str) -> Option<(&'a str, usize)> {
    let first = rest.chars().next().filter(|c| c.is_whitespace())?;
    let after_space = first.len_utf8();
    let mut len = after_space + "union".len();
    if !rest[after_space..].starts_with("union") {
        return None;
    }
    if let Some(c) = rest[len..].chars().next().filter(|c| c.is_whitespace())
        && rest[len + c.len_utf8()..].starts_with("all")
    {
        len += c.len_utf8() + 3;
    }
    let union = &rest[..len];
    let c = rest[len..].chars().next().filter(|c| c.is_whitespace())?;
    let tail = &rest[len + c.len_utf8()..];
    tail.starts_with(head).then(|| (union, len + c.len_utf8() + head.len()))
}

/// After the first `order by `, drop every `\s+asc` (ASC is the default order).
fn drop_order_by_asc(q: &str) -> String {
    let Some(at) = q.find("order by ") else { return q.to_owned() };
    let anchor = at + "order by ".len();
    let mut out = String::from(&q[..anchor]);
    let rest = &q[anchor..];
    let b = rest.as_bytes();
    let mut copied = 0;
    let mut i = 1; // `(.+?)` needs at least one character first
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if rest[j..].len() >= 3 && rest[j..j + 3].eq_ignore_ascii_case("asc") {
                out.push_str(&rest[copied..i]);
                copied = j + 3;
                i = copied + 1;
                continue;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&rest[copied.min(rest.len())..]);
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_rules() {
        let cases = [
            ("SELECT * FROM t WHERE id = 7", "select * from t where id = ?"),
            ("select * from db2.tbl_21 where a='x'", "select * from d?tbl_? where a=?"),
            ("INSERT INTO t VALUES (1,'a'),(2,'b') ON DUPLICATE KEY UPDATE x=1", "insert into t values(?+)"),
            ("SELECT a FROM t WHERE b IN (1, 2, 3) AND c IS NULL", "select a from t where b in(?+) and c is ?"),
            ("select * from t limit 10, 20", "select * from t limit ?"),
            ("select * from t order by a asc, b ASC", "select * from t order by a, b"),
            ("use shop", "use ?"),
            ("USE `shop`", "use ?"),
            (r"select 'it\'s' from t", "select ? from t"),
            ("CALL load_stats(1, '2017')", "call load_stats"),
            // Perl's chomp removes the newline only; the space before the comment stays.
            ("select 1 -- trailing\n", "select ? "),
            ("select /* hint */ 1 /*!40001 x */", "select ? /*!? x */"),
            ("select a from t union select a from t union all select a from t", "select a from t /*repeat union all*/"),
            ("  SELECT\ta ,\n  b  FROM t", "select a , b from t"),
        ];
        for (input, expected) in cases {
            assert_eq!(fingerprint(input), expected, "{input}");
        }
        assert_eq!(query_id("select sleep(?) from n"), "AE9D6BB6AF470B997F7D57ACDD8A346E");
    }
}
