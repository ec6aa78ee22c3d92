#!/usr/bin/env bash
# Instructions a criterion bench spends inside given functions, counted by callgrind:
# the same figure on every run, where wall-clock times on a shared 2-vCPU machine vary by
# 20-40% between runs. For A/B comparisons of one change; it says nothing of cache misses
# or page faults, so confirm real gains with the bench's own MiB/s.
# Usage: benches/instructions.sh BENCH FILTER FUNCTION...
#   e.g. benches/instructions.sh archive nginx sluice_archive::Archive::push sluice_archive::Archive::flush
#        benches/instructions.sh parsers 'parse/nginx$' sluice_parsers::Parser::parse_all
# BENCH_BIN=PATH counts a copy of an older bench binary instead of building this tree's.
# Needs valgrind (Debian: apt-get install valgrind).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '6,8p' "$0"; exit 2; }
bench="$1" filter="$2"
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BENCH_BIN:-}"
if [ -z "$bin" ]; then
  # The bench's own executable (the package's binaries are built alongside).
  bin="$(cd "$root" && cargo bench -p sluice-benches --bench "$bench" --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("executable") and "bench" in t.get("kind", []) and t.get("name") == sys.argv[1]:
        print(m["executable"])' "$bench")"
  [ -n "$bin" ] || { echo "no bench named $bench in sluice-benches, or it did not build (cargo bench -p sluice-benches --no-run)" >&2; exit 1; }
fi
out="$(mktemp)"
trap 'rm -f "$out" "$out.log"' EXIT
toggles=()
for function in "$@"; do toggles+=("--toggle-collect=$function"); done
# Under valgrind one iteration outlasts the one second of profiling: criterion runs it once.
valgrind --tool=callgrind --callgrind-out-file="$out" "${toggles[@]}" "$bin" --bench "$filter" --profile-time 1 \
  >/dev/null 2>"$out.log" || { tail -5 "$out.log" >&2; exit 1; }
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
# Calls of the first function, so a run that iterated more than once can be told apart.
# Names are compressed to `(id)` after their first use, in `fn=` and `cfn=` lines alike.
calls=$(awk -v name="$1" '
  /^c?fn=/ {
    id = $1; sub(/^c?fn=/, "", id)
    if (NF > 1) { names[id] = $2 }
  }
  /^cfn=/ { current = names[id] }
  /^calls=/ && current == name { split($1, c, "="); n += c[2] }
  END { print n + 0 }' "$out")
echo "$bench $filter: $total instructions in $* ($calls call(s) of $1)"
