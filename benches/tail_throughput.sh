#!/usr/bin/env bash
# File tailing under a steady writer: `sluice-load append` writes generated nginx lines to
# a file a release `serve` tails, at RATE lines/s for SECONDS; the tailer's lag
# (sluice_tail_lag_seconds on /metrics) is sampled every 0.2 s, and at the end the time
# until the last line is searchable is measured.
# Usage: benches/tail_throughput.sh [RATE] [SECONDS]   (default 50000 lines/s for 20 s)
set -euo pipefail
rate="${1:-50000}"
seconds="${2:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$root"
cargo build --release -q -p sluice -p sluice-benches --bins
bin="$root/target/release"
"$bin/sluice-gen" --out "$work/gen" --size 50MB --only nginx >/dev/null
mkdir -p "$work/logs"
: >"$work/logs/access.log"
cat >"$work/sluice.toml" <<EOF
[[sources]]
name = "web"
path = "$work/logs/access.log"
format = "nginx"
EOF
port=$((20000 + RANDOM % 20000))
"$bin/sluice" serve --config "$work/sluice.toml" --data-dir "$work/data" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

"$bin/sluice-load" append --rate "$rate" --seconds "$seconds" "$(ls "$work"/gen/nginx/*.log)" "$work/logs/access.log" &
writer=$!
: >"$work/lag"
while kill -0 "$writer" 2>/dev/null; do
  curl -s "127.0.0.1:$port/metrics" | awk '/^sluice_tail_lag_seconds/ { print $2 }' >>"$work/lag"
  sleep 0.2
done
wait "$writer"
written=$(wc -l <"$work/logs/access.log")
done_at=$(date +%s.%N)
for _ in $(seq 600); do
  found=$(curl -s "127.0.0.1:$port/api/v1/search?q=source:web&aggs=false&limit=0&from=-3650d" | sed -E 's/.*"total":([0-9]+).*/\1/')
  [ "$found" -ge "$written" ] && break
  sleep 0.1
done
echo "searchable: $found of $written lines, the last $(echo "$(date +%s.%N) - $done_at" | bc) s after the writer stopped"
sort -n "$work/lag" | awk '{ a[NR] = $1 } END { printf "tail lag over %d samples: p50 %.3f s, p99 %.3f s, max %.3f s\n", NR, a[int(NR*0.5)+1], a[int(NR*0.99)+1], a[NR] }'
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2}') KiB"
