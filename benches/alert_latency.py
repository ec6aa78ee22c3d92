#!/usr/bin/env python3
"""How long from an HTTP ingest being acknowledged to its alert arriving on the SSE stream.

Starts a release `sluice serve` on an empty data dir, subscribes to /api/v1/alerts/stream,
then N times: posts five quiet minutes of a module's logs, then a burst of errors in one
request, and measures from the ingest response to the `opened` event. Prints p50/p90/max.
Usage (repo root, after `cargo build --release`): benches/alert_latency.py [N]
"""
import json, sys, threading, time, urllib.request

import bench_server

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
server, base = bench_server.start(7097)

opened = {}
def listen():
    with urllib.request.urlopen(base + "/api/v1/alerts/stream") as stream:
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "opened":
                opened[json.loads(line[6:])["start"]] = time.monotonic()
threading.Thread(target=listen, daemon=True).start()
time.sleep(0.5)

latencies = []
start = 1_795_183_200  # 2026-11-20T14:00:00Z
for i in range(n):
    module = "inventory"
    t0 = start + i * 3600
    key = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 300))
    quiet = "".join(json.dumps({"time": t0 + s * 2, "level": "info", "msg": "ok", "module": module}) + "\n"
                    for s in range(150))
    burst = "".join(json.dumps({"time": t0 + 300 + s * 0.2, "level": "error", "msg": f"boom {s}", "module": module}) + "\n"
                    for s in range(30))
    post = lambda body: urllib.request.urlopen(urllib.request.Request(
        base + "/api/v1/ingest?source=bench&format=json", data=body.encode(), method="POST"), timeout=30).read()
    post(quiet)
    post(burst)
    acked = time.monotonic()
    while key not in opened and time.monotonic() - acked < 10:
        time.sleep(0.002)
    if key in opened:
        latencies.append(opened[key] - acked)
server.terminate()
server.wait()
latencies.sort()
if not latencies:
    sys.exit("no alert arrived")
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(f"alerts: {len(latencies)}/{n}; ack -> SSE 'opened': p50 {pick(0.5)*1000:.1f} ms, "
      f"p90 {pick(0.9)*1000:.1f} ms, max {latencies[-1]*1000:.1f} ms")
