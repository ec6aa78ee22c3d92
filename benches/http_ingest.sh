#!/usr/bin/env bash
# Durable HTTP ingest through parse, WAL, index and archive, on a release `serve`:
# generated nginx and logback logs pushed over keep-alive connections by sluice-load
# (MiB/s counted on acknowledgements, which come only once the WAL has fsynced), then the
# time until every event is searchable, the server's peak RSS, and the 10,000-connection
# drill. Loopback only.
# Usage: benches/http_ingest.sh [MEGABYTES] [CONNECTIONS]   (default 200 over 4 connections)
# SLUICE_BIN=PATH runs another build of `sluice` (A/B against a copy of an older one).
set -euo pipefail
megabytes="${1:-200}"
connections="${2:-4}"
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
# Half the bytes each: access logs and Java application logs, the shop's bulk.
half="$((megabytes / 2))MB"
"$bin/sluice-gen" --out "$work/logs" --size "$half" --only nginx >/dev/null
"$bin/sluice-gen" --out "$work/logs" --size "$half" --only logback >/dev/null
nginx="$(ls "$work"/logs/nginx/*.log)"
logback="$(ls "$work"/logs/logback/*.log)"
cat >"$work/sluice.toml" <<EOF
[[sources]]
name = "web"
format = "nginx"
[[sources]]
name = "app"
format = "logback"
EOF
port=$((20000 + RANDOM % 20000))
"${SLUICE_BIN:-$bin/sluice}" serve --config "$work/sluice.toml" --data-dir "$work/data" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# Peak anonymous memory (the heap; RSS also counts the index's memory-mapped files, which
# the kernel can drop), sampled every 0.2 s.
( peak=0; while kill -0 "$server" 2>/dev/null; do
    anon=$(awk '/^RssAnon/ { print $2 }' /proc/$server/status 2>/dev/null || echo 0)
    [ "${anon:-0}" -gt "$peak" ] && peak=$anon && echo "$peak" >"$work/anon-peak"
    sleep 0.2
  done ) &
echo "input: $(du -b "$nginx" | cut -f1) bytes nginx, $(du -b "$logback" | cut -f1) bytes logback"
start=$(date +%s.%N)
"$bin/sluice-load" throughput --addr "127.0.0.1:$port" --connections "$connections" --batch-kb 1024 \
  "$nginx=/api/v1/ingest?source=web" "$logback=/api/v1/ingest?source=app"
expected_lines=$(( $(wc -l <"$nginx") ))
for _ in $(seq 600); do
  web=$(curl -s "127.0.0.1:$port/api/v1/search?q=source:web&aggs=false&limit=0&from=-3650d" | sed -E 's/.*"total":([0-9]+).*/\1/')
  [ "$web" -ge "$expected_lines" ] && break
  sleep 0.2
done
total=$(curl -s "127.0.0.1:$port/api/v1/search?q=*&aggs=false&limit=0&from=-3650d" | sed -E 's/.*"total":([0-9]+).*/\1/')
echo "all searchable after $(echo "$(date +%s.%N) - $start" | bc) s: $total events ($web access-log lines of $expected_lines)"
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2}') KiB (peak anonymous: $(cat "$work/anon-peak") KiB; now file-backed: $(awk '/^RssFile/ { print $2 }' /proc/$server/status) KiB)"
echo "server CPU: $(awk '{ printf "%.1f", ($14 + $15) / 100 }' /proc/$server/stat) s in all; live threads (user+system s):"
for task in /proc/$server/task/*; do
  name=$(cat "$task/comm")
  awk -v n="$name" '{ printf "%s %.2f\n", n, ($14 + $15) / 100 }' "$task/stat"
done | awk '{ cpu[$1] += $2 } END { for (n in cpu) if (cpu[n] >= 0.1) printf "  %-20s %6.2f\n", n, cpu[n] }' | sort -k2 -rn
"$bin/sluice-load" connections --addr "127.0.0.1:$port" --count 10000
echo "server peak RSS after the drill: $(grep VmHWM /proc/$server/status | awk '{print $2}') KiB"
curl -s "127.0.0.1:$port/metrics" | grep -E '^sluice_(http_throttled_total|wal_bytes|parse_errors_total)'
