//! Arbitrary bytes through every parser, split into lines at arbitrary points: never a
//! panic, and never a non-blank line without an event. The first byte picks the format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::{Config, FormatName, SourceConfig};
use sluice_parsers::{ModuleRouter, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let format = FormatName::ALL[selector as usize % FormatName::ALL.len()];
    let source = SourceConfig::adhoc("fuzz", format);
    let Ok(mut parser) =
        Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "h", chrono::DateTime::UNIX_EPOCH)
    else {
        return;
    };
    let mut events = Vec::new();
    parser.parse_all(body, &mut events);
    // A line with anything visible on it must end up in some event, except the start-up
    // banner a MySQL server writes into its slow log (skipped by design, as peers do).
    let banner = |l: &str| {
        matches!(format, FormatName::MysqlSlow | FormatName::Auto)
            && (l.contains("started with:")
                || l.starts_with("Tcp port:")
                || l.starts_with("TCP Port:")
                || (l.starts_with("Time") && l.contains("Argument")))
    };
    let has_text = body.split(|b| *b == b'\n').any(|l| {
        let line = String::from_utf8_lossy(l);
        !line.trim().is_empty() && !banner(&line)
    });
    assert!(!has_text || !events.is_empty(), "{format}: input dropped");
});
