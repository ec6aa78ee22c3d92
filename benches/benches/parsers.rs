//! Parser throughput per format on generated shop logs (one core, in memory).
//! Run: `cargo bench -p sluice-benches --bench parsers`.

use chrono::DateTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::regex_baseline::RegexParsers;
use sluice_benches::{Budget, generate};
use sluice_core::{Config, SourceConfig};
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
    group.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
