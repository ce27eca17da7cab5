"""A KME under a flood of idle TCP connections: does an SAE still get its keys?

The audit's attack: 20,000 plain TCP connections (no TLS, never a byte) to a KME, which exhausted
its file descriptors (``ulimit -n`` 20000) and locked every SAE out. Here the network of
``kme_bench`` (the emulator and two KMEs as separate processes, as ``sdqkd up`` runs them) is
started, flood processes open ``--connections`` idle connections to KME n1 and hold them (opening
again whatever the KME closes), and meanwhile an SAE asks for a key with ETSI 014 ``enc_keys``, each
request on a NEW mutual-TLS connection (the hard case: every request needs a handshake while the
flood holds the handshake slots).

Prints, before, during and after the flood: SAE requests answered 200, failed, p50/p99/max latency
(ms), and KME n1's RSS (MB) and open descriptors at the end of the phase; the highest RSS and
descriptor count sampled during the flood; and how many flood connections the flooders believed open
at the end (more than the KME holds: the kernel completes connections it has not handed over yet).

Run: ``python benchmarks/flood_bench.py [--connections 20000] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import resource
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from kme_network import start_network, wait_for_pools
from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.processes import terminate
from sdqkd.runtime.rundir import RunDir, sae_id

POOL_BLOCKS = 20_000
FLOOD_PROCESSES = 4


def _flood(port: int, count: int, seconds: float, opened: Any) -> None:
    """Hold ``count`` idle TCP connections to ``port`` for ``seconds``, reopening closed ones."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks: list[socket.socket] = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        socks = [sock for sock in socks if _still_open(sock)]
        while len(socks) < count and time.monotonic() < stop_at:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                break  # the listen queue is full: try again in a moment
            sock.setblocking(False)
            socks.append(sock)
        time.sleep(0.2)
    opened.put(len(socks))
    for sock in socks:
        sock.close()


def _still_open(sock: socket.socket) -> bool:
    try:
        if sock.recv(1) == b"":
            sock.close()
            return False
    except BlockingIOError:
        return True
    except OSError:
        sock.close()
        return False
    return True


def _sae_requests(url: str, root: Path, seconds: float) -> dict[str, float]:
    run = RunDir(root)
    cert, key = run.certificate(Role.SAE, sae_id("n1"))
    context = client_ssl_context(cert, key, run.ca_cert)
    path = f"{url}/api/v1/keys/{sae_id('n2')}/enc_keys?number=1"
    latencies: list[float] = []
    failed = 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            with httpx.Client(verify=context, timeout=10) as client:  # a new connection each time
                ok = client.get(path).status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            latencies.append((time.monotonic() - started) * 1000)
        else:
            failed += 1
    latencies.sort()

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {"ok": len(latencies), "failed": failed, "p50": at(0.5), "p99": at(0.99), "max": at(1.0)}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class _Peak:
    """The highest RSS and descriptor count of a process, sampled every 0.1 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.rss_mb, self.fds = pid, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError):
                self.rss_mb = max(self.rss_mb, _rss_mb(self.pid))
                self.fds = max(self.fds, _descriptors(self.pid))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _report(label: str, sae: dict[str, float], pid: int) -> None:
    print(
        f"{label:<14}{sae['ok']:>6.0f}{sae['failed']:>8.0f}{sae['p50']:>9.1f}{sae['p99']:>9.1f}{sae['max']:>9.1f}"
        f"{_rss_mb(pid):>10.0f}{_descriptors(pid):>8}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20_000, help="idle TCP connections of the flood")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="SAE requests before and during the flood"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pids, kmes = start_network(root, "chain:2", POOL_BLOCKS)
        try:
            wait_for_pools(root, {"n1": kmes["n1"]}, 2_000, timeout_s=600)
            url, pid = kmes["n1"], pids["kme_n1"]
            port = urlsplit(url).port
            assert port is not None
            columns = (
                ("SAE ok", 6),
                ("failed", 8),
                ("p50_ms", 9),
                ("p99_ms", 9),
                ("max_ms", 9),
                ("RSS_MB", 10),
            )
            print(" " * 14 + "".join(f"{name:>{width}}" for name, width in columns) + f"{'fds':>8}")
            _report("no flood", _sae_requests(url, root, args.seconds), pid)

            spawn = mp.get_context("spawn")
            opened: Any = spawn.Queue()
            flood_s = args.seconds + 15
            flooders = [
                spawn.Process(
                    target=_flood, args=(port, args.connections // FLOOD_PROCESSES, flood_s, opened)
                )
                for _ in range(FLOOD_PROCESSES)
            ]
            for flooder in flooders:
                flooder.start()
            time.sleep(10)  # the flood builds up
            peak = _Peak(pid)
            peak.start()
            during = _sae_requests(url, root, args.seconds)
            peak.stop()
            _report("during flood", during, pid)
            print(f"KME n1 during the flood, at most: {peak.rss_mb:.0f} MB RSS, {peak.fds:,} descriptors")
            held = sum(opened.get() for _ in flooders)
            for flooder in flooders:
                flooder.join()
            print(f"flood connections still open at the end: {held:,} of {args.connections:,} opened")
            time.sleep(1)
            _report("after flood", _sae_requests(url, root, min(args.seconds, 3)), pid)
        finally:
            for service_pid in reversed(pids.values()):
                terminate(service_pid)


if __name__ == "__main__":
    main()
