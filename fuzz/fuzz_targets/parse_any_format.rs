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
    let Ok(mut parser) = Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "h", chrono::DateTime::UNIX_EPOCH) else {
        return;
    };
    let mut events = Vec::new();
    parser.parse_all(body, &mut events);
    let has_text = body.split(|b| *b == b'\n').any(|l| !l.iter().all(u8::is_ascii_whitespace));
    assert!(!has_text || !events.is_empty(), "{format}: input dropped");
});
