//! PostgreSQL statement normalisation exactly as pgBadger 12 does it (`normalize_query`),
//! so a class in Sluice's digest is the class a DBA sees in pgBadger's "Queries" report.
//! The steps follow the Perl in order. Quoted identifiers are set aside twice (to keep
//! their case, then to keep digits inside them), with placeholders as pgBadger does.

use std::sync::LazyLock;

use regex::{Captures, Regex};

#[derive(Clone)]
struct Rules {
    block_comment: Regex,
    quoted_ident: Regex,
    ident_placeholder: Regex,
    string: Regex,
    repeated_marks: Regex,
    line_comment: Regex,
    whitespace: Regex,
    lone_begin: Regex,
    leading_begin: Regex,
    alias: Regex,
    eq_null: Regex,
    sqlident_placeholder: Regex,
    number: Regex,
    hex: Regex,
    bind: Regex,
    in_list: Regex,
    cursor_quoted: Regex,
    declare_cursor: Regex,
    fetch_next: Regex,
    deallocate: Regex,
    space_semicolon: Regex,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("pgBadger rule compiles");
    Rules {
        block_comment: re(r"(?s)/\*.*?\*/"),
        quoted_ident: re(r#""[^"]+""#),
        ident_placeholder: re(r"%%objname(\d+)%%"),
        string: re(r"'[^']*'"),
        repeated_marks: re(r"\?\?+"),
        line_comment: re(r"\s*--[^\n]+\n"),
        whitespace: re(r"\s+"),
        lone_begin: re(r"^\s*begin\s*;\s*$"),
        leading_begin: re(r"^\s*begin\s*;\s*"),
        alias: re(r#"(?is)AS\s+"([^"]+)""#),
        eq_null: re(r"=\s*null"),
        sqlident_placeholder: re(r"%sqlident(\d+)%"),
        number: re(r"([^a-z0-9_$\-])-?\d+"),
        hex: re(r"([^a-z_$-])0x[0-9a-f]{1,10}"),
        bind: re(r"\$\d+"),
        in_list: re(r"\bin\s*\(['0x,\s?]*\)"),
        cursor_quoted: re(r#"\b(declare|in|deallocate|close)\s+"[^"]+""#),
        declare_cursor: re(r#"\bdeclare\s+[^"\s]+\s+cursor"#),
        fetch_next: re(r"\b(fetch\s+next\s+from)\s+\S+"),
        deallocate: re(r#"\b(deallocate|close)\s+[^"\s]+"#),
        space_semicolon: re(r"\s+;"),
    }
});

/// pgBadger's normalised form of a statement: literals and numbers as `?`, lists as
/// `in (...)`, lowercase outside quoted identifiers, whitespace squeezed.
pub fn normalize(query: &str) -> String {
    LOCAL_RULES.with(|rules| normalize_with(rules, query))
}

thread_local! {
    // A clone per thread, so parallel digests do not contend for each regex's scratch pool.
    static LOCAL_RULES: Rules = RULES.clone();
}

fn normalize_with(rules: &Rules, query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let q = rules.block_comment.replace_all(query, "");

    // Lowercase everything but quoted identifiers. pgBadger swaps them for placeholders
    // one leftmost match at a time; a single pass gives the same result unless an empty
    // `""` pair precedes another quote, which no real statement has.
    let (q, names) = set_aside(&rules.quoted_ident, &q, |i| format!("%%OBJNAME{i}%%"), |m| m.to_owned());
    let mut q = q.to_lowercase();
    if !names.is_empty() {
        q = rules.ident_placeholder.replace_all(&q, |c: &Captures| restore(&names, &c[1], false)).into_owned();
    }

    let q = q.replace("\\'", "");
    let q = rules.string.replace_all(&q, "?");
    let q = rules.repeated_marks.replace_all(&q, "?");
    let q = rules.line_comment.replace_all(&q, "\n");
    let q = rules.whitespace.replace_all(&q, " ");
    let q = if rules.lone_begin.is_match(&q) { q } else { rules.leading_begin.replace(&q, "").into_owned().into() };
    let q = rules.alias.replace_all(&q, |c: &Captures| format!("AS \"{}\"", c[1].replace('\'', "")));
    let q = rules.eq_null.replace_all(&q, "= ?");

    // Digits inside quoted identifiers are names, not numbers.
    let (q, idents) =
        set_aside(&rules.quoted_ident, &q, |i| format!("%sqlident{i}%"), |m| m[1..m.len() - 1].to_owned());
    let q = rules.number.replace_all(&q, "$1?");
    let q = rules.hex.replace_all(&q, "$1?");
    let q = rules.bind.replace_all(&q, "?");
    let q = if idents.is_empty() {
        q
    } else {
        rules.sqlident_placeholder.replace_all(&q, |c: &Captures| restore(&idents, &c[1], true)).into_owned().into()
    };

    let q = rules.in_list.replace_all(&q, "in (...)");
    let q = rules.cursor_quoted.replace_all(&q, "$1 \"...\"");
    let q = rules.declare_cursor.replace_all(&q, "declare \"...\" cursor");
    let q = rules.fetch_next.replace_all(&q, "$1 \"...\"");
    let q = rules.deallocate.replace_all(&q, "$1 \"...\"");
    let q = q.trim_matches(|c: char| c.is_whitespace());
    rules.space_semicolon.replace(q, ";").into_owned()
}

/// Replaces each match with `placeholder(i)` and returns what was taken out.
fn set_aside(
    pattern: &Regex,
    text: &str,
    placeholder: impl Fn(usize) -> String,
    keep: impl Fn(&str) -> String,
) -> (String, Vec<String>) {
    let mut taken = Vec::new();
    let out = pattern.replace_all(text, |c: &Captures| {
        taken.push(keep(&c[0]));
        placeholder(taken.len() - 1)
    });
    (out.into_owned(), taken)
}

fn restore(taken: &[String], index: &str, quote: bool) -> String {
    let value = index.parse::<usize>().ok().and_then(|i| taken.get(i)).map_or("", String::as_str);
    if quote { format!("\"{value}\"") } else { value.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn pgbadger_examples() {
        let cases = [
            (
                "INSERT INTO weather VALUES ('San Francisco', 46, 50, 0.25, '1994-11-27');",
                "insert into weather values (?, ?, ?, ?.?, ?);",
            ),
            ("select * From weather;", "select * from weather;"),
            ("select 1;", "select ?;"),
            ("BEGIN;", "begin;"),
            ("BEGIN; UPDATE t SET a = 1 WHERE id = $1", "update t set a = ? where id = ?"),
            ("SELECT x as \"My'Name\" FROM t WHERE id IN (1, 2, 3)", "select x AS \"MyName\" from t where id in (...)"),
            ("SELECT \"Col1\" FROM \"T2\" WHERE a = NULL", "select \"Col1\" from \"T2\" where a = ?"),
            ("select 1 -- note\n from t /* c */", "select ? from t"),
            ("fetch next from c_42", "fetch next from \"...\""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }
}
