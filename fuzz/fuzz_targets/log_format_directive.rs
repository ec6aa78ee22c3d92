//! User-supplied format options (nginx `log_format`, logback `pattern`, PostgreSQL
//! `log_line_prefix`) compile or fail cleanly, and the compiled parser survives a line
//! built from the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::{Config, FormatName, SourceConfig};
use sluice_parsers::{ModuleRouter, Parser};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (option, line) = text.split_once('\n').unwrap_or((&text, &text));
    for format in [FormatName::Nginx, FormatName::Logback, FormatName::Postgres] {
        let mut source = SourceConfig::adhoc("fuzz", format);
        match format {
            FormatName::Nginx => source.log_format = Some(option.to_owned()),
            FormatName::Logback => source.pattern = Some(option.to_owned()),
            _ => source.log_line_prefix = Some(option.to_owned()),
        }
        let Ok(mut parser) =
            Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "h", chrono::DateTime::UNIX_EPOCH)
        else {
            continue;
        };
        let mut events = Vec::new();
        parser.parse_all(line.as_bytes(), &mut events);
    }
});
