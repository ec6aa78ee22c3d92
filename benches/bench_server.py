"""Shared by the Python benches: a release `sluice serve` on an empty data dir."""
import os, subprocess, tempfile, time, urllib.request


def start(port):
    """Starts `./target/release/sluice serve` with no tailed sources on `port` and waits
    until it answers; returns (process, base URL)."""
    work = tempfile.mkdtemp()
    config = os.path.join(work, "sluice.toml")
    open(config, "w").write("")  # no tailed sources
    server = subprocess.Popen(
        ["./target/release/sluice", "serve", "--config", config,
         "--data-dir", os.path.join(work, "data"), "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return server, base
