"""The tunnel on a real network: N MB (default 100) through ``sdqkd tunnel`` between two nodes of a
running ``sdqkd up``, byte-exact, across several re-keys, each epoch with its own QKD key.

Everything runs as the user runs it, each its own process: ``sdqkd up --topology chain:3`` (emulator,
controller, agents, KMEs), then ``sdqkd tunnel exit --node n3`` forwarding to a local sink and
``sdqkd tunnel entry --node n1 --peer n3 --rekey-s 1 --rekey-bytes 8000000`` in front of it — a pair
the KMEs relay over n2, so every epoch's QKD key is a relayed one. A new epoch is due every second or
every 8 MB, whichever comes first: at 1 Gbit/s 100 MB take under a second, so re-keying by time alone
would often not re-key at all. The benchmark waits until the pair's association is configured at every
KME of its relay path (for adjacent nodes: until their link holds key), then sends the bytes through
the entry on one TCP connection as fast as it can. The data: 1 MiB slices at pseudo-random offsets of a
32 MiB buffer from ``os.urandom`` (no two records alike); its SHA-256 is computed before the clock
starts. The sink (a thread of this process) hashes and counts what the exit forwards.

The time runs from the first byte sent to the entry to the last byte at the sink; it includes the
first hybrid key establishment (the entry agrees it with the exit when the connection opens) and every
re-key. Gbit/s is of plaintext, one direction. Everything shares this host's CPUs (two gateways, the
sink and sender, the KMEs serving each re-key), so the figure depends on the host and its load. With
``--run-dir`` the network running (or being started) there is used and left running; otherwise one is
started in a temporary directory and stopped at the end. Every process the benchmark starts is stopped
on exit, also on Ctrl-C, SIGTERM or an error.

Prints: the pair and its relay path, MB sent, seconds, Gbit/s, epochs (re-keys + 1) and distinct QKD
key IDs from the entry's stats file, how many of them the exit switched to (its key IDs must be the
first of the entry's: a re-key the entry completes while the connection closes can come too late for
the exit, which then drops it), and ``byte-exact: yes|no``. Exits 1 unless byte-exact, 3 when the
exit saw fewer re-keys than ``--min-rekeys`` (3) or other key IDs, 2 when it could not run.
``--format json`` prints the same as one object.

Run: ``python benchmarks/tunnel_network_bench.py [--megabytes 100] [--rekey-s 1] [--rekey-bytes N]
[--topology chain:3] [--from n1] [--to n3] [--run-dir DIR] [--time-scale 50] [--format text|json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from sdqkd.controller.virtual import virtual_name
from sdqkd.errors import SdqkdError
from sdqkd.runtime.launcher import down
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import network_status

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]
BLOCK = 1 << 20
POOL = 32 << 20
START_TIMEOUT_S = 180.0
"""How long the network may take to serve the pair (chain:3 serves its relay in 10–30 s on 2 CPUs)."""


class Failed(Exception):
    """The benchmark could not run to the end (a process exited, something never became ready)."""


def _log_tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _poll(probe: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Call ``probe`` until it returns something true; that value. Failed after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(interval_s)
    return found


def _pair_ready(run: RunDir, a: str, b: str) -> dict[str, Any] | None:
    """The link that carries keys for ``a``–``b`` once it is ready: their physical link holding key if
    they are neighbours, else the relayed association configured at every KME of its path."""
    try:
        status = network_status(run)
    except SdqkdError:  # not serving yet
        return None
    for link in status["links"]:
        if link["type"] == "PHYS" and set(link["nodes"]) == {a, b}:
            ready = link["status"] == "up" and link["keys_available"] > 0
            return {**link, "path": [a, b]} if ready else None
    virtual = next((link for link in status["links"] if link["id"] == virtual_name(a, b)), None)
    if virtual and virtual["status"] == "up" and set(virtual["configured_kmes"]) == set(virtual["path"]):
        return dict(virtual)
    return None


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Sink:
    """A TCP server on loopback (one thread) that hashes and counts what its connections send, and
    notes when ``expected`` bytes have arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.digest = hashlib.sha256()
        self.received = 0
        self.connections = 0
        self.complete_at: float | None = None
        self.complete = threading.Event()
        self.closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                conn, _ = self._listener.accept()
                self.connections += 1
                with conn:
                    while data := conn.recv(BLOCK):
                        self.digest.update(data)
                        self.received += len(data)
                        if self.received >= self.expected and not self.complete.is_set():
                            self.complete_at = time.perf_counter()
                            self.complete.set()
                self.closed.set()

    def close(self) -> None:
        self._listener.close()


def _blocks(total: int, seed: int) -> Iterator[tuple[int, int]]:
    """(offset into the pool, length) of each block sent: pseudo-random offsets, the same for a seed."""
    rng = random.Random(seed)
    for start in range(0, total, BLOCK):
        yield rng.randrange(POOL - BLOCK), min(BLOCK, total - start)


class Bench:
    """The processes of one run (network, gateways), their logs, and their stopping."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.up: subprocess.Popen[bytes] | None = None
        self.gateways: list[subprocess.Popen[bytes]] = []

    def start_network(self, topology: str, run: RunDir, scale: str) -> None:
        with (self.work / "up.log").open("wb") as log:
            self.up = subprocess.Popen(
                [*SDQKD, "up", "--topology", topology, "--run-dir", str(run.root), "--time-scale", scale],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_pair(self, run: RunDir, a: str, b: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            if self.up is not None and self.up.poll() is not None:
                raise Failed(f"sdqkd up exited with {self.up.returncode}:\n{_log_tail(self.work / 'up.log')}")
            return _pair_ready(run, a, b)

        return dict(_poll(probe, START_TIMEOUT_S, f"keys for {a}-{b} at every KME on its path", 0.5))

    def gateway(self, role: str, args: list[str]) -> int:
        """Start ``sdqkd tunnel ROLE ARGS``; the port it listens on once it says so."""
        output = self.work / f"{role}.log"
        with output.open("wb") as log:
            process = subprocess.Popen(
                [*SDQKD, "tunnel", role, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.gateways.append(process)

        def listening() -> re.Match[str] | None:
            if process.poll() is not None:
                raise Failed(f"tunnel {role} exited with {process.returncode}:\n{_log_tail(output)}")
            return re.search(r"listening on 127\.0\.0\.1:(\d+)", output.read_text(errors="replace"))

        return int(_poll(listening, 60, f"tunnel {role} listening", 0.1).group(1))

    def close(self, run: RunDir | None) -> None:
        """Stop the gateways, then the network this benchmark started (and whatever of it remains);
        Ctrl-C and SIGTERM are ignored meanwhile, so a second one does not leave processes behind."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in reversed(self.gateways):
            _stop(process)
        if self.up is not None:
            _stop(self.up, timeout_s=30)
            if run is not None and run.network.exists():  # up killed: stop its processes by their record
                with contextlib.suppress(SdqkdError):
                    down(run.root)


def _stats(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):  # not written yet
        return {}


def measure(args: argparse.Namespace, bench: Bench, run: RunDir) -> dict[str, Any]:
    work = bench.work
    total = int(args.megabytes * 1_000_000)
    relay = bench.wait_pair(run, args.source, args.target)
    pool = memoryview(os.urandom(POOL))
    sent_digest = hashlib.sha256()
    for offset, length in _blocks(total, args.seed):
        sent_digest.update(pool[offset : offset + length])
    sink = Sink(total)
    try:
        common = ["--run-dir", str(run.root), "--listen", "127.0.0.1:0"]
        exit_port = bench.gateway(
            "exit",
            [*common, "--node", args.target, "--forward", f"127.0.0.1:{sink.port}",
             "--stats-file", str(work / "exit.json")],
        )  # fmt: skip
        entry_port = bench.gateway(
            "entry",
            [*common, "--node", args.source, "--peer", args.target, "--connect", f"127.0.0.1:{exit_port}",
             "--rekey-s", str(args.rekey_s), "--rekey-bytes", str(args.rekey_bytes),
             "--stats-file", str(work / "entry.json")],
        )  # fmt: skip
        with socket.create_connection(("127.0.0.1", entry_port), timeout=args.timeout_s) as client:
            started = time.perf_counter()
            for offset, length in _blocks(total, args.seed):
                client.sendall(pool[offset : offset + length])
            if not sink.complete.wait(args.timeout_s):
                raise Failed(f"the sink got {sink.received} of {total} bytes within {args.timeout_s:.0f} s")
            assert sink.complete_at is not None
            elapsed = sink.complete_at - started
            client.shutdown(socket.SHUT_WR)
            while client.recv(BLOCK):  # the exit sends nothing back; the entry closes after CLOSE both ways
                pass
        sink.closed.wait(30)

        def closed(name: str) -> dict[str, Any] | None:
            stats = _stats(work / name)
            return stats if stats.get("connections") and not stats["open_connections"] else None

        entry = _poll(lambda: closed("entry.json"), 30, "the entry's connection closed")
        exit_stats = _poll(lambda: closed("exit.json"), 30, "the exit's connection closed")
    finally:
        sink.close()
    exact = sink.received == total and sink.digest.digest() == sent_digest.digest() and sink.connections == 1
    return {
        "topology": run.read_json(run.network).get("topology"),
        "from": args.source,
        "to": args.target,
        "path": relay["path"],
        "megabytes": total / 1e6,
        "seconds": round(elapsed, 3),
        "gbit_per_s": round(8 * total / elapsed / 1e9, 3),
        "rekey_s": args.rekey_s,
        "rekey_bytes": args.rekey_bytes,
        "epochs": entry["epochs"],
        "distinct_key_ids": len(set(entry["key_ids"])),
        "exit_epochs": exit_stats["epochs"],
        "exit_key_ids_agree": exit_stats["key_ids"] == entry["key_ids"][: exit_stats["epochs"]],
        "errors": entry["errors"] + exit_stats.get("errors", []),
        "bytes_received": sink.received,
        "byte_exact": exact,
    }


def _print(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result, indent=2))
        return
    due = [f"{result['rekey_s']:g} s"] if result["rekey_s"] else []
    due += [f"{result['rekey_bytes'] / 1e6:g} MB"] if result["rekey_bytes"] else []
    print(f"tunnel {result['from']} -> {result['to']} (KME path {' '.join(result['path'])})")
    print(
        f"{result['megabytes']:g} MB in {result['seconds']:.2f} s = {result['gbit_per_s']:.2f} Gbit/s "
        f"of plaintext, re-key every {' or '.join(due) or 'never'}"
    )
    print(
        f"epochs {result['epochs']} (re-keys: {result['epochs'] - 1}), "
        f"distinct QKD key IDs {result['distinct_key_ids']}; the exit switched to {result['exit_epochs']} "
        f"of them, in the same order: {'yes' if result['exit_key_ids_agree'] else 'no'}"
    )
    for error in result["errors"]:
        print(f"gateway error: {error}")
    print(f"byte-exact: {'yes' if result['byte_exact'] else 'no'}")


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the cleanup below runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=100.0, help="MB (10^6 bytes) to send")
    parser.add_argument("--rekey-s", type=float, default=1.0, help="the entry's --rekey-s")
    parser.add_argument(
        "--rekey-bytes", type=int, default=8_000_000, help="the entry's --rekey-bytes (0: by time only)"
    )
    parser.add_argument("--min-rekeys", type=int, default=3, help="fewer re-keys than this: exit 3")
    parser.add_argument("--topology", default="chain:3", help="for sdqkd up (not with --run-dir)")
    parser.add_argument("--from", dest="source", default="n1", help="the entry's node")
    parser.add_argument("--to", dest="target", default="n3", help="the exit's node")
    parser.add_argument("--run-dir", type=Path, help="use the network already running there")
    parser.add_argument("--time-scale", default="50", help="for sdqkd up: the emulated world X times faster")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="the longest the transfer may take")
    parser.add_argument("--seed", type=int, default=0, help="for the offsets of the blocks sent")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminated)
    run: RunDir | None = None
    with tempfile.TemporaryDirectory(prefix="sdqkd-tunnel-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            if args.run_dir is not None:
                run = RunDir(args.run_dir.resolve())
                if not run.root.is_dir():  # one being started there is waited for, as our own
                    raise Failed(f"no run directory {run.root}")
            else:
                run = RunDir(Path(tmp) / "run")
                bench.start_network(args.topology, run, args.time_scale)
            result = measure(args, bench, run)
        except Failed as exc:
            print(f"tunnel_network_bench: {exc}", file=sys.stderr)
            for role in ("entry", "exit"):
                if tail := _log_tail(Path(tmp) / f"{role}.log", 10):
                    print(f"--- tunnel {role}:\n{tail}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("tunnel_network_bench: interrupted; stopping what it started", file=sys.stderr)
            sys.exit(130)
        finally:
            bench.close(run)
    _print(result, args.format)
    if not result["byte_exact"]:
        sys.exit(1)
    if result["exit_epochs"] - 1 < args.min_rekeys or not result["exit_key_ids_agree"]:
        print(
            f"tunnel_network_bench: fewer than {args.min_rekeys} re-keys at both gateways, "
            "or the exit's key IDs differ from the entry's",
            file=sys.stderr,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
