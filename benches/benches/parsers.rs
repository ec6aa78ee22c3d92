//! Parser throughput per format on generated shop logs (one core, in memory).
//! Run: `cargo bench -p sluice-benches --bench parsers`.

use chrono::DateTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::regex_baseline::RegexParsers;
use sluice_benches::{Budget, generate};
use sluice_core::{Config, Event, Fields, SourceConfig};
use sluice_parsers::{ModuleRouter, Parser};

// The same allocator as the `sluice` binary, so figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const INPUT_BYTES: u64 = 8 << 20;

fn parsers(c: &mut Criterion) {
    let start = DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    for (name, format) in sluice_benches::FORMATS {
        let mut input = Vec::new();
        generate(name, Budget::Bytes(INPUT_BYTES), 7, start, &mut input).unwrap();
        group.throughput(Throughput::Bytes(input.len() as u64));
        let config = Config::default();
        let source = SourceConfig::adhoc(name, format);
        let baselines = RegexParsers::default();
        group.bench_function(format!("{name}/regex-baseline"), |b| {
            b.iter(|| {
                let mut events = Vec::with_capacity(64 * 1024);
                baselines.parse(name, &input, &mut events);
                events.len()
            })
        });
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut parser = Parser::for_source(&config, &source, ModuleRouter::default(), "bench", start).unwrap();
                let mut events = Vec::with_capacity(64 * 1024);
                parser.parse_all(&input, &mut events);
                events.len()
            })
        });
    }
    // What any parser that yields today's `Event` pays before parsing anything: per line,
    // the UTF-8 check, the message's copy, the fields' two allocations with ten pieces of
    // the line recorded by position (as nginx records its values), and the drop. No
    // search, no number or time, no routing. The parsers' targets are measured against it.
    let mut input = Vec::new();
    generate("nginx", Budget::Bytes(INPUT_BYTES), 7, start, &mut input).unwrap();
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("nginx/owned-event-floor", |b| b.iter(|| owned_event_floor(&input)));
    // Less still: an event holding only its line, as if fields cost nothing.
    group.bench_function("nginx/message-only-floor", |b| {
        b.iter(|| {
            let lines = input.split(|b| *b == b'\n').filter(|l| !l.is_empty());
            let texts = lines.filter_map(|line| std::str::from_utf8(line).ok());
            texts.map(|text| Event::new(DateTime::UNIX_EPOCH, text)).collect::<Vec<_>>().len()
        })
    });
    group.finish();
}

fn owned_event_floor(input: &[u8]) -> usize {
    const NAMES: [&str; 10] =
        ["client_ip", "user", "method", "path", "protocol", "status", "bytes", "referer", "user_agent", "query_string"];
    let mut events = Vec::with_capacity(64 * 1024);
    for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(text) = std::str::from_utf8(line) else { continue };
        let mut fields = Fields::with_text(12, text);
        let step = text.len() / NAMES.len();
        for (i, name) in NAMES.iter().enumerate() {
            if let Some(piece) = text.get(i * step..(i + 1) * step) {
                fields.insert_piece(*name, piece, text);
            }
        }
        let mut event = Event::new(DateTime::UNIX_EPOCH, text);
        event.fields = fields;
        events.push(event);
    }
    events.len()
}

criterion_group!(benches, parsers);
criterion_main!(benches);
