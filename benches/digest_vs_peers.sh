#!/usr/bin/env bash
# The slow-query digest side by side with the peers on the same generated files:
# `sluice digest` vs `pt-query-digest` (MySQL slow log) and vs `pgbadger -j1` (PostgreSQL
# log). Reports wall time and MB/s for each, and checks the top 20 fingerprints by total
# time agree (ids, counts, totals). Peers: `apt-get install percona-toolkit pgbadger`.
# Usage: benches/digest_vs_peers.sh [SIZE]   (default 1GB; run from the repo root)
set -euo pipefail
size="${1:-1GB}"
cargo build --release --quiet -p sluice -p sluice-benches
work="${SLUICE_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$work"
gen() { [ -s "$work/$1/$2" ] || ./target/release/sluice-gen --out "$work" --size "$size" --only "$1"; }
gen mysql-slow slow.log
gen postgres postgresql.log

# Wall seconds of a command, its stdout to $2.
timed() {
  local out="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$out"
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

report() { # name file seconds
  local bytes; bytes=$(stat -c %s "$2")
  printf '%-28s %8.1f s  %7.1f MB/s\n' "$1" "$3" "$(echo "$bytes / 1048576 / $3" | bc -l)"
}

echo "== MySQL slow log: $(du -h "$work/mysql-slow/slow.log" | cut -f1)"
s=$(timed "$work/sluice-mysql.json" ./target/release/sluice digest --min-ms 0 --format json "$work/mysql-slow/slow.log")
report "sluice digest" "$work/mysql-slow/slow.log" "$s"
p=$(timed "$work/pt.json" pt-query-digest --output json --limit 20 "$work/mysql-slow/slow.log")
report "pt-query-digest 3.2.1" "$work/mysql-slow/slow.log" "$p"
printf 'speed-up: %.1fx\n' "$(echo "$p / $s" | bc -l)"
python3 - "$work/sluice-mysql.json" "$work/pt.json" <<'PY'
import json, sys
ours, pt = (json.load(open(p)) for p in sys.argv[1:3])
rows = ours["queries"][:20]
assert ours["total_queries"] == pt["global"]["query_count"], (ours["total_queries"], pt["global"]["query_count"])
for rank, (row, cls) in enumerate(zip(rows, pt["classes"]), 1):
    assert row["id"] == cls["checksum"], (rank, row["id"], cls["checksum"])
    assert row["count"] == cls["query_count"], (rank, row["count"], cls["query_count"])
    assert abs(row["total_ms"] / 1000 - float(cls["metrics"]["Query_time"]["sum"])) < 1e-6 * (row["count"] + 1), rank
print(f"top {len(pt['classes'])} identical: ids, counts, total time ({ours['total_queries']} statements)")
PY

echo "== PostgreSQL log: $(du -h "$work/postgres/postgresql.log" | cut -f1)"
s=$(timed "$work/sluice-pg.json" ./target/release/sluice digest --min-ms 0 --format json --input-format postgres "$work/postgres/postgresql.log")
report "sluice digest" "$work/postgres/postgresql.log" "$s"
p=$(timed /dev/null pgbadger -j1 -q -f stderr --prefix '%m [%p] %u@%d ' -o "$work/pgbadger.json" "$work/postgres/postgresql.log")
report "pgbadger -j1 (12.0)" "$work/postgres/postgresql.log" "$p"
printf 'speed-up: %.1fx\n' "$(echo "$p / $s" | bc -l)"
python3 - "$work/sluice-pg.json" "$work/pgbadger.json" <<'PY'
import json, sys
ours, badger = (json.load(open(p)) for p in sys.argv[1:3])
classes = [(q, v) for db in badger["normalyzed_info"].values() for q, v in db.items()]
classes.sort(key=lambda c: -float(c[1]["duration"]))
rows = ours["queries"][:20]
for rank, (row, (query, info)) in enumerate(zip(rows, classes[:20]), 1):
    assert row["fingerprint"] == query, (rank, row["fingerprint"], query)
    assert row["count"] == int(info["count"]), (rank, row["count"], info["count"])
    assert abs(row["total_ms"] - float(info["duration"])) < 1e-3 * (row["count"] + 1), (rank, row["total_ms"], info["duration"])
print(f"top {min(20, len(classes))} identical: normalised queries, counts, total time ({ours['total_queries']} statements)")
PY
