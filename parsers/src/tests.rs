//! Cross-format tests: golden files from `sample-logs/` and no-panic properties.

use std::path::{Path, PathBuf};

use chrono::DateTime;
use proptest::prelude::*;
use sluice_core::{Config, FormatName, SourceConfig};

use crate::{ModuleRouter, Parser};

fn parser(format: FormatName) -> Parser {
    // A fixed receive time keeps goldens stable; year-less syslog dates resolve against it.
    let received_at = DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z").unwrap().to_utc();
    let source = SourceConfig::adhoc(format.as_str(), format);
    Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "test-host", received_at).unwrap()
}

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs")
}

/// Each `sample-logs/<format>/<case>.log` parses to `<case>.expected.json`.
/// `SLUICE_BLESS=1` rewrites the expectations (review the diff).
#[test]
fn golden_files() {
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mut checked = 0;
    for format in FormatName::ALL {
        let dir = sample_dir().join(format.as_str());
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut logs: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let mut events = Vec::new();
            parser(format).parse_all(&std::fs::read(&log).unwrap(), &mut events);
            let actual = serde_json::to_string_pretty(&events).unwrap() + "\n";
            let expected_path = log.with_extension("expected.json");
            if bless {
                std::fs::write(&expected_path, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("missing {}; run with SLUICE_BLESS=1", expected_path.display()));
            // Compared as JSON values: the order a parser adds fields in does not matter.
            let as_value = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
            if as_value(&expected) != as_value(&actual) {
                let sorted = |text: &str| {
                    as_value(text).map_or_else(|| text.to_owned(), |v| serde_json::to_string_pretty(&v).unwrap())
                };
                let (expected, actual) = (sorted(&expected), sorted(&actual));
                let diff: Vec<String> = expected
                    .lines()
                    .zip(actual.lines())
                    .enumerate()
                    .filter(|(_, (e, a))| e != a)
                    .take(5)
                    .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
                    .collect();
                panic!(
                    "{} differs from {} ({} vs {} lines):\n{}",
                    log.display(),
                    expected_path.display(),
                    expected.lines().count(),
                    actual.lines().count(),
                    diff.join("\n")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "expected golden cases for every sample format, found {checked}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes never panic any parser, and no line is dropped silently:
    /// every non-blank line ends up in some event's message.
    #[test]
    fn arbitrary_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20)) {
        for format in FormatName::ALL {
            let mut p = parser(format);
            let mut out = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                p.push_line(line, i as u64, &mut out);
            }
            p.flush(&mut out);
            let non_blank = lines.iter().filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
            prop_assert!(non_blank == 0 || !out.is_empty(), "{format}: {non_blank} lines, no events");
        }
    }

    #[test]
    fn plausible_lines_never_panic(line in "[ -~]{0,120}(ERROR|LOG:  |# Time: |\\[|\\{|<1>)[ -~]{0,120}") {
        for format in FormatName::ALL {
            let mut out = Vec::new();
            let mut p = parser(format);
            p.push_line(line.as_bytes(), 0, &mut out);
            p.flush(&mut out);
        }
    }
}

/// Inputs cargo-fuzz found that once lost a line (see fuzz/README.md).
#[test]
fn fuzz_regressions() {
    let cases: [(&[u8], FormatName); 3] = [
        (b"#", FormatName::MysqlSlow),
        (b"#]\0z, Version: ", FormatName::MysqlSlow),
        (b"#\x01 \x04, Version: \r\r\xf3\r\r", FormatName::MysqlSlow),
    ];
    for (input, format) in cases {
        let mut out = Vec::new();
        parser(format).parse_all(input, &mut out);
        assert_eq!(out.len(), 1, "{format}: {input:?}");
        assert!(out[0].fields.contains_key("parse_error"), "{format}: {input:?}");
    }
}

#[test]
fn huge_line_is_one_event() {
    let line = vec![b'x'; 1 << 20];
    for format in FormatName::ALL {
        let mut out = Vec::new();
        let mut p = parser(format);
        p.push_line(&line, 0, &mut out);
        p.flush(&mut out);
        assert_eq!(out.len(), 1, "{format}");
        assert_eq!(out[0].message.len(), 1 << 20, "{format}");
    }
}
