#!/usr/bin/env bash
# Index build throughput beside `tantivy-cli index` on the same documents.
#
# sluice-gen writes SIZE of shop logs, `sluice import` turns them into events, and
# `sluice export` writes those events as NDJSON (the search API's event shape). The same
# NDJSON file is then indexed twice, one after the other:
#   - `tantivy index` (tantivy-cli) into a schema with Sluice's fields (timestamp, module,
#     source, level, host as fast keywords, message as positional text, fields as JSON),
#     two indexing threads and 256 MB of indexing memory (Sluice's two writers' worth),
#     message and fields stored;
#   - `sluice import --format json`: the whole pipeline (JSON parse and routing, the
#     fsynced WAL, fingerprints and alert rules, the tantivy day partitions, and the
#     Parquet archive besides).
# Usage: benches/index_vs_tantivy_cli.sh [SIZE]   (default 200MB)
# Needs `tantivy` on PATH (`cargo install tantivy-cli`) or TANTIVY_CLI=/path/to/tantivy.
set -euo pipefail
size="${1:-200MB}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tantivy="${TANTIVY_CLI:-$(command -v tantivy || true)}"
if [ -z "$tantivy" ]; then
  echo "tantivy-cli not found: cargo install tantivy-cli --locked (or set TANTIVY_CLI)" >&2
  exit 1
fi
cd "$root"
cargo build --release -q -p sluice -p sluice-benches --bins
bin="$root/target/release"

"$bin/sluice-gen" --out "$work/logs" --size "$size" >/dev/null
"$bin/sluice" import --data-dir "$work/gen" "$work"/logs/*/*.log >/dev/null 2>&1
"$bin/sluice" export --data-dir "$work/gen" --from 2000-01-01T00:00:00Z --to 2100-01-01T00:00:00Z \
  --out "$work/bundle" >/dev/null
docs="$work/bundle/events.ndjson"
count=$(wc -l <"$docs")
bytes=$(wc -c <"$docs")
echo "documents: $count events, $bytes bytes of NDJSON"

mkdir -p "$work/tantivy"
cat >"$work/tantivy/meta.json" <<'JSON'
{
  "index_settings": {"docstore_compression": "lz4", "docstore_blocksize": 16384},
  "segments": [],
  "schema": [
    {"name": "timestamp", "type": "date", "options": {"indexed": true, "fieldnorms": false, "fast": true, "stored": false, "precision": "microseconds"}},
    {"name": "module", "type": "text", "options": {"indexing": {"record": "basic", "fieldnorms": false, "tokenizer": "raw"}, "stored": false, "fast": {"with_tokenizer": "raw"}}},
    {"name": "source", "type": "text", "options": {"indexing": {"record": "basic", "fieldnorms": false, "tokenizer": "raw"}, "stored": false, "fast": {"with_tokenizer": "raw"}}},
    {"name": "level", "type": "text", "options": {"indexing": {"record": "basic", "fieldnorms": false, "tokenizer": "raw"}, "stored": false, "fast": {"with_tokenizer": "raw"}}},
    {"name": "host", "type": "text", "options": {"indexing": {"record": "basic", "fieldnorms": false, "tokenizer": "raw"}, "stored": false, "fast": {"with_tokenizer": "raw"}}},
    {"name": "message", "type": "text", "options": {"indexing": {"record": "position", "fieldnorms": true, "tokenizer": "default"}, "stored": true, "fast": false}},
    {"name": "fields", "type": "json_object", "options": {"indexing": {"record": "position", "fieldnorms": true, "tokenizer": "default"}, "stored": true, "fast": {"with_tokenizer": "raw"}, "expand_dots_enabled": true}}
  ],
  "opstamp": 0
}
JSON

# Wall seconds and peak RSS (KiB) of a command, from GNU time (its line comes last).
seconds() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }

read -r t_cli rss_cli < <(seconds "$tantivy" index -i "$work/tantivy" -f "$docs" -t 2 -m 256000000)
cli_size=$(du -sb "$work/tantivy" | cut -f1)

read -r t_sluice rss_sluice < <(seconds "$bin/sluice" import --data-dir "$work/sluice" --format json "$docs")
sluice_index=$(du -sb "$work/sluice/index" | cut -f1)
indexed=$("$bin/sluice" search --data-dir "$work/sluice" '*' --count)

rate() { echo "scale=1; $1 / 1048576 / $2" | bc; }
events_rate() { echo "$1 / $2" | bc; }
printf '%-40s %8s s %8s MiB/s %10s events/s  peak RSS %6s MB  index %6s MB\n' \
  "tantivy-cli index (2 threads)" "$t_cli" "$(rate "$bytes" "$t_cli")" "$(events_rate "$count" "$t_cli")" \
  "$((rss_cli / 1024))" "$((cli_size / 1048576))"
printf '%-40s %8s s %8s MiB/s %10s events/s  peak RSS %6s MB  index %6s MB\n' \
  "sluice import --format json (pipeline)" "$t_sluice" "$(rate "$bytes" "$t_sluice")" "$(events_rate "$count" "$t_sluice")" \
  "$((rss_sluice / 1024))" "$((sluice_index / 1048576))"
echo "events searchable in Sluice: $indexed of $count"
