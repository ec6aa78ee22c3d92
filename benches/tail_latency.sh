#!/usr/bin/env bash
# Appends lines to a tailed file under a running release `sluice serve` and reports how long
# each took to become searchable through the HTTP API (p50 / p90 / max over N appends).
# Usage: benches/tail_latency.sh [N]   (run from the repo root; builds the release binary)
set -euo pipefail
n="${1:-20}"
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/logs"
cat > "$work/sluice.toml" <<TOML
[[sources]]
name = "app"
path = "$work/logs/*.log"
format = "logback"
TOML
: > "$work/logs/app.log"
./target/release/sluice serve --config "$work/sluice.toml" --data-dir "$work/data" --listen 127.0.0.1:7099 2>"$work/serve.log" &
pid=$!
until curl -sf 127.0.0.1:7099/healthz >/dev/null; do sleep 0.1; done
python3 - "$work/logs/app.log" "$n" <<'PY'
import json, sys, time, urllib.request
path, n = sys.argv[1], int(sys.argv[2])
lat = []
for i in range(n):
    token = f"latencyprobe{i}x{int(time.time()*1000)}"
    t0 = time.monotonic()
    with open(path, "a") as f:
        f.write(f"2026-11-22 10:00:00.000 [main] ERROR com.shop.order.OrderService - {token}\n")
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:7099/api/v1/search?q={token}&limit=0") as r:
            if json.load(r)["total"] == 1:
                break
        time.sleep(0.01)
    lat.append(time.monotonic() - t0)
    time.sleep(0.2)
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"appends={n} p50={pick(0.5):.3f}s p90={pick(0.9):.3f}s max={lat[-1]:.3f}s")
PY
