#!/usr/bin/env python3
"""How long from an HTTP ingest being acknowledged until the event is searchable.

Starts a release `sluice serve` on an empty data dir and, N times, posts one event with a
unique word to /api/v1/ingest, then polls /api/v1/search for that word every 5 ms, timing
from the (durable) acknowledgement to the first answer that finds it. A steady background
of other events (one request of 200 lines every 50 ms) keeps the index busy meanwhile.
Prints p50/p99/max. The search issue's target: searchable within 1 s at p99.
Usage (repo root, after `cargo build --release`): benches/search_freshness.py [N]
"""
import json, sys, threading, time, urllib.parse, urllib.request

import bench_server

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
server, base = bench_server.start(7096)


def post(lines):
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    request = urllib.request.Request(base + "/api/v1/ingest?source=app&format=json", data=body, method="POST")
    with urllib.request.urlopen(request) as response:
        response.read()


stop = threading.Event()
def background():
    i = 0
    while not stop.is_set():
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        post([{"time": now, "level": "info", "msg": f"order {i + k} created", "service": "order-api"} for k in range(200)])
        i += 200
        time.sleep(0.05)
threading.Thread(target=background, daemon=True).start()

latencies = []
try:
    for i in range(n):
        word = f"freshprobe{i}x{int(time.time() * 1000)}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        post([{"time": now, "level": "error", "msg": f"payment {word} declined", "service": "payment-api"}])
        acked = time.monotonic()
        url = base + "/api/v1/search?aggs=false&limit=1&q=" + urllib.parse.quote(word)
        while True:
            with urllib.request.urlopen(url) as response:
                if json.load(response)["total"] == 1:
                    break
            if time.monotonic() - acked > 10:
                sys.exit(f"{word} not searchable after 10 s")
            time.sleep(0.005)
        latencies.append(time.monotonic() - acked)
        time.sleep(0.1)
finally:
    stop.set()
    server.terminate()
    server.wait()

latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]
print(f"{n} events, acknowledged -> searchable: p50 {p(0.5) * 1000:.0f} ms  p99 {p(0.99) * 1000:.0f} ms  max {latencies[-1] * 1000:.0f} ms")
