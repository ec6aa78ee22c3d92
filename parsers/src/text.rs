//! Small scanners shared by the text formats.

use sluice_core::Level;

/// Bytes as text: valid UTF-8 is copied as is (the common case, and much faster than
/// lossy decoding); anything else gets U+FFFD for the bad bytes.
pub(crate) fn to_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Like [`to_text`] but borrowing when the bytes are valid UTF-8.
pub(crate) fn as_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// `part`, a slice of `whole`, as text. When `whole` is already known to be valid UTF-8
/// (`valid`), the part is cut from it without validating again.
pub(crate) fn slice_as_text<'a>(valid: Option<&'a str>, whole: &'a [u8], part: &'a [u8]) -> std::borrow::Cow<'a, str> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match valid.and_then(|text| text.get(start..start.checked_add(part.len())?)) {
        Some(text) => std::borrow::Cow::Borrowed(text),
        None => as_text(part),
    }
}

/// The first level word in the first 120 bytes of a line (`ERROR`, `[warn]`, `level=info`).
pub(crate) fn sniff_level(text: &str) -> Option<Level> {
    let head = &text.as_bytes()[..text.len().min(120)];
    head.split(|b| !b.is_ascii_alphanumeric())
        .filter(|w| (3..=8).contains(&w.len()) && w[0].is_ascii_alphabetic())
        .find_map(|w| {
            // Only shouted or bracketed levels count, so "error" in prose does not.
            let upper = w.iter().all(|b| !b.is_ascii_lowercase());
            let word = std::str::from_utf8(w).ok()?;
            let level = Level::parse_lenient(word)?;
            (upper && !matches!(word, "LOG" | "CONFIG" | "DETAIL" | "HINT" | "CONTEXT")).then_some(level)
        })
}

/// Where `needle` first starts in `haystack`. For the short needles parsers look for in
/// a short line (`" @ "`, `"Id:"`): a SIMD search for the first byte and a comparison,
/// where `str::find` would set up a two-way searcher on every call.
pub(crate) fn find_short(haystack: &str, needle: &str) -> Option<usize> {
    let first = *needle.as_bytes().first()?;
    memchr::memchr_iter(first, haystack.as_bytes()).find(|&at| haystack.as_bytes()[at..].starts_with(needle.as_bytes()))
}

/// [`find_short`] as `str::split_once`: the text before and after the first `needle`.
pub(crate) fn split_short<'a>(haystack: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    find_short(haystack, needle).map(|at| (&haystack[..at], &haystack[at + needle.len()..]))
}

/// Trace ids as Java and Go services print them: `traceId=abc`, `trace_id: abc`,
/// `"traceid":"abc"`, `X-B3-TraceId=abc`, `TRACE_ID=abc`. Returns the id.
pub(crate) fn find_trace_id(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    // A line has few `=` and `:`: each is a candidate separator, with the name checked
    // backwards from it. (Searching for the name instead stops at every `race` or `t`.)
    memchr::memchr2_iter(b'=', b':', bytes).find_map(|sep| {
        let name_end = bytes[..sep].iter().rposition(|b| !matches!(b, b'"' | b'\'')).map_or(0, |i| i + 1);
        let name = &bytes[..name_end];
        let named = [&b"traceid"[..], b"trace_id"]
            .iter()
            .any(|n| name.len() >= n.len() && name[name.len() - n.len()..].eq_ignore_ascii_case(n));
        if !named {
            return None;
        }
        let value = text[sep + 1..].trim_start_matches([' ', '"', '\'']);
        // Bytes, not chars: the id is ASCII, and any other byte ends it on a char boundary.
        let end = value.bytes().position(|b| !(b.is_ascii_alphanumeric() || b == b'-')).unwrap_or(value.len());
        (end >= 6).then(|| &value[..end])
    })
}

/// `java.lang.IllegalStateException: msg` / `Caused by: x.y.FooError` -> the class name.
pub(crate) fn exception_class(line: &str) -> Option<&str> {
    // Runs on every line of every message: bytes, not chars (both ends are ASCII).
    let line = line.trim_ascii_start();
    let line = line.strip_prefix("Caused by: ").unwrap_or(line);
    let end = line.bytes().position(|b| b == b':' || b == b' ').unwrap_or(line.len());
    let class = &line[..end];
    let looks_like = class.contains('.')
        && (class.ends_with("Exception") || class.ends_with("Error") || class.ends_with("Throwable"))
        && class.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '$' || c == '_');
    looks_like.then_some(class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_sniffed_only_when_shouted() {
        assert_eq!(sniff_level("2026-11-20 ERROR boom"), Some(Level::Error));
        assert_eq!(sniff_level("[WARN] disk"), Some(Level::Warn));
        assert_eq!(sniff_level("no error here"), None);
    }

    #[test]
    fn trace_ids() {
        assert_eq!(find_trace_id("pay failed traceId=4bf92f3577b34da6 x"), Some("4bf92f3577b34da6"));
        assert_eq!(find_trace_id(r#"{"trace_id":"abc123def"}"#), Some("abc123def"));
        assert_eq!(find_trace_id("X-B3-TraceId: 0af7651916cd43dd"), Some("0af7651916cd43dd"));
        assert_eq!(find_trace_id("tracer started"), None);
        assert_eq!(find_trace_id("trace"), None);
        assert_eq!(find_trace_id("TRACE_ID=0af7651916cd43dd"), Some("0af7651916cd43dd"));
        assert_eq!(find_trace_id("race x traceId=abcdef1 TRACE_ID=0af76519"), Some("abcdef1"));
        assert_eq!(find_trace_id("TRACE_ID=0af76519 traceId=abcdef1"), Some("0af76519"));
    }

    #[test]
    fn short_needles() {
        assert_eq!(find_short("a @ b @ c", " @ "), Some(1));
        assert_eq!(find_short("x Id: 4", "Id:"), Some(2));
        assert_eq!(find_short("I Id", "Id:"), None);
        assert_eq!(find_short("abc", ""), None);
        assert_eq!(split_short("a: b: c", ": "), Some(("a", "b: c")));
    }

    #[test]
    fn exceptions() {
        assert_eq!(exception_class("java.sql.SQLTimeoutException: timeout"), Some("java.sql.SQLTimeoutException"));
        assert_eq!(exception_class("Caused by: java.io.IOException"), Some("java.io.IOException"));
        assert_eq!(exception_class("\tat com.shop.Foo.bar(Foo.java:1)"), None);
    }
}
