#!/usr/bin/env bash
# Archive size against the raw text and `zstd -3` of it, and the time to export a day
# of ~1 million events, from the index and from the archive alone.
# Usage: benches/archive_export.sh [SIZE]   (default 200MB: about 1.09 million events)
set -euo pipefail
size="${1:-200MB}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build --release -q -p sluice -p sluice-benches
sluice="$root/target/release/sluice"
"$root/target/release/sluice-gen" --out "$work/logs" --size "$size" >/dev/null
raw=$(cat "$work"/logs/*/*.log | wc -c)
start=$(date +%s.%N)
"$sluice" import --data-dir "$work/data" "$work"/logs/*/*.log 2>&1 | grep imported
import_s=$(echo "$(date +%s.%N) - $start" | bc)
archive=$(find "$work/data/archive" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$work/data/archive" -name '*.parquet' | wc -l)
zstd3=$(cat "$work"/logs/*/*.log | zstd -3 -T1 -c | wc -c)
echo "raw bytes:              $raw"
echo "zstd -3 (one thread):   $zstd3 ($(echo "scale=1; $raw / $zstd3" | bc)x smaller than raw)"
echo "archive parquet:        $archive in $files files ($(echo "scale=1; $raw / $archive" | bc)x smaller than raw, $(echo "scale=2; $archive / $zstd3" | bc) of zstd -3)"
echo "import (parse, WAL, index, archive, compaction): ${import_s}s"

from=2026-11-20T00:00:00Z
to=2026-11-21T00:00:00Z
start=$(date +%s.%N)
"$sluice" export --data-dir "$work/data" --from $from --to $to --out "$work/day.zip"
echo "export from the index: $(echo "$(date +%s.%N) - $start" | bc)s, zip $(stat -c %s "$work/day.zip") bytes"
mkdir -p "$work/archive-only"
cp -r "$work/data/archive" "$work/data/alerts" "$work/archive-only/"
start=$(date +%s.%N)
"$sluice" export --data-dir "$work/archive-only" --from $from --to $to --out "$work/day-archive.zip"
echo "export from the archive: $(echo "$(date +%s.%N) - $start" | bc)s"
/usr/bin/time -f "export peak RSS: %M KiB" "$sluice" export --data-dir "$work/data" --from $from --to $to --out "$work/day2.zip" 2>&1 | grep RSS
