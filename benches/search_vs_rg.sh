#!/usr/bin/env bash
# Search latency on a big generated shop day against `rg` scanning the same raw files:
# sluice-gen writes SIZE of logs in every format, `sluice import` indexes them, then a
# release `serve` answers selective queries (with the histogram and facets the UI asks
# for) ROUNDS times each, timed by the HTTP client, and `rg` counts the same literal in
# the raw files (best of three). The trace id and order id are picked from the middle of
# the generated files.
# Usage: benches/search_vs_rg.sh [SIZE] [ROUNDS]   (default 2GB, about 11 million events; 50)
# SLUICE_BENCH_DIR=DIR keeps the generated logs and data dir there for another run.
# SLUICE_BIN=PATH runs another build of `sluice` (A/B against a copy of an older one).
set -euo pipefail
size="${1:-2GB}"
rounds="${2:-50}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${SLUICE_BENCH_DIR:-$(mktemp -d)}"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ -z "${SLUICE_BENCH_DIR:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$root"
cargo build --release -q -p sluice -p sluice-benches --bins
bin="$root/target/release"
if [ ! -d "$work/data" ]; then
  "$bin/sluice-gen" --out "$work/logs" --size "$size" >/dev/null
  start=$(date +%s.%N)
  "${SLUICE_BIN:-$bin/sluice}" import --data-dir "$work/data" "$work"/logs/*/*.log 2>&1 | grep imported
  import_s=$(echo "$(date +%s.%N) - $start" | bc)
  raw=$(cat "$work"/logs/*/*.log | wc -c)
  echo "import: $raw bytes in ${import_s} s ($(echo "scale=1; $raw / 1048576 / $import_s" | bc) MiB/s), index $(du -sb "$work/data/index" | cut -f1) bytes"
fi
events=$("${SLUICE_BIN:-$bin/sluice}" search --data-dir "$work/data" '*' --count)
echo "events indexed: $events"

app="$(ls "$work"/logs/logback/*.log)"
lines=$(wc -l <"$app")
# The first id after a given line (awk, not grep -m1: that would break the pipe under pipefail).
first_after() {
  awk -v from="$1" -v key="$2" 'NR >= from && match($0, key "=[0-9a-f]+") { print substr($0, RSTART + length(key) + 1, RLENGTH - length(key) - 1); exit }' "$app"
}
trace=$(first_after $((lines / 2)) traceId)
order=$(first_after $((lines / 3)) orderId)

port=$((20000 + RANDOM % 20000))
"${SLUICE_BIN:-$bin/sluice}" serve --config /dev/null --data-dir "$work/data" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 300); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$rounds" "$trace" "$order" <<'PY'
import json, sys, time, urllib.parse, urllib.request
port, rounds, trace, order = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
queries = [
    ("trace id (one request)", trace),
    ("order id", order),
    ("payment 502s", "status:502 AND module:payment"),
    ("slow SQL", "slow:true AND module:order"),
    ("error words", "timeout AND level:error"),
]
for name, q in queries:
    url = f"http://127.0.0.1:{port}/api/v1/search?limit=100&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&q=" + urllib.parse.quote(q)
    times, total = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url) as r:
            body = json.load(r)
        times.append((time.perf_counter() - t0) * 1000)
        total = body["total"]
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{name:24s} {q[:40]:40s} {total:>9} hits  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  (histogram + facets)")

# Paging: 50 pages of 100 through the error words with search_after (aggs off, as the UI's
# "older" button asks), each page timed.
q = "timeout AND level:error"
base = f"http://127.0.0.1:{port}/api/v1/search?limit=100&aggs=false&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&q=" + urllib.parse.quote(q)
times, after, seen = [], None, set()
for _ in range(50):
    url = base + (f"&search_after={after}" if after else "")
    t0 = time.perf_counter()
    with urllib.request.urlopen(url) as r:
        body = json.load(r)
    times.append((time.perf_counter() - t0) * 1000)
    seen.update(h["sort"] for h in body["hits"])
    after = body["next"]
    if not after:
        break
times.sort()
print(f"{'search_after pages':24s} {q[:40]:40s} {len(seen):>9} hits  p50 {times[len(times) // 2]:7.1f} ms  max {times[-1]:7.1f} ms  ({len(times)} pages of 100, none repeated)")
PY

for term in "$trace" "$order"; do
  best=""
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    hits=$(rg -c --no-filename -F "$term" "$work"/logs/*/*.log | awk '{s+=$1} END {print s+0}')
    t=$(echo "($(date +%s.%N) - $start) * 1000" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  echo "rg -F $term over the raw files: $hits matching lines, best of 3: ${best} ms"
done
