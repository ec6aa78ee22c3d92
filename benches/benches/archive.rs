//! Archive write throughput per core: parsed events of generated shop logs into zstd
//! Parquet files (sort, Arrow encode, compress, fsync, rename, manifest), reported in MB/s
//! of the raw log text they came from. Parsing happens before timing.
//! Beside it, the flush's two CPU stages alone (Arrow columns; Parquet encoding into
//! memory), to show where the time goes.
//! Run: `cargo bench -p sluice-benches --bench archive`.

use chrono::DateTime;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sluice_archive::{Archive, FlushStages};
use sluice_benches::{Budget, generate};
use sluice_core::{Config, Event, SourceConfig};
use sluice_parsers::{ModuleRouter, Parser};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const INPUT_BYTES: u64 = 16 << 20;

fn archive_write(c: &mut Criterion) {
    let start = DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc();
    let mut group = c.benchmark_group("archive-write");
    group.sample_size(10);
    for (name, format) in sluice_benches::FORMATS {
        let mut input = Vec::new();
        generate(name, Budget::Bytes(INPUT_BYTES), 7, start, &mut input).unwrap();
        let source = SourceConfig::adhoc(name, format);
        let mut parser =
            Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "bench", start).unwrap();
        let mut events: Vec<Event> = Vec::new();
        parser.parse_all(&input, &mut events);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || (tempfile::tempdir().unwrap(), events.clone()),
                |(dir, events)| {
                    let mut archive = Archive::open(dir.path()).unwrap();
                    for event in events {
                        archive.push(event);
                    }
                    archive.flush(1).unwrap();
                    dir
                },
                BatchSize::PerIteration,
            )
        });
        // The flush's two CPU stages alone, for where the time goes: building the Arrow
        // columns, and Parquet's encoding of them (zstd 1 as flushed, and uncompressed).
        group.bench_function(format!("{name}/arrow-columns"), |b| {
            b.iter_batched(
                || events.clone(),
                |events| FlushStages::build_columns(events).unwrap(),
                BatchSize::PerIteration,
            )
        });
        let stages = FlushStages::build_columns(events.clone()).unwrap();
        group.bench_function(format!("{name}/parquet-zstd1"), |b| b.iter(|| stages.encode_parquet(Some(1)).unwrap()));
        group.bench_function(format!("{name}/parquet-uncompressed"), |b| {
            b.iter(|| stages.encode_parquet(None).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, archive_write);
criterion_main!(benches);
