"""Network services on demand: OPoT packets/s per node and end to end, an encrypted-tunnel service's
creation and healing times, and an OPoT service's creation time and packets/s.

- roles: one :class:`~sdqkd.apps.opot_path.OpotNode` at a time (ingress, transit, verifier of n1 → n2 →
  n3) in this process, its hops keyed by in-memory KME stand-ins. A feeder keeps ``--in-flight``
  datagrams on loopback UDP towards the node and sends one more for each that reaches the sink behind
  it; what one role sends on is what the next is fed. Feeder, node and sink share one event loop, so
  packets/s is a lower bound of a node process; ``udp forward`` (a node that only forwards) is the
  harness's ceiling. p50 is the time spent in the node's ``datagram_received``.
- opot e2e: ``sdqkd opot node`` at n1, n2, n3 of a running ``sdqkd up --topology chain:3`` (real KMEs,
  the profile from ``sdqkd opot profile``), the same window of datagrams into n1, counted at a sink
  behind n3; the verifier's stats file says how many verified; ``lost`` never reached the sink.
- services: per trial, an ``encrypted-tunnel`` n1 → n3 is posted (``POST /api/v1/services``, as ``sdqkd
  service create`` does, with the operator's client: no CLI start-up timed), then timed until a new TCP
  connection to its listen port echoes from a server at its forward address (``flows``) and until it
  reads ``active``; then its entry is killed with SIGKILL and both are timed again (``active`` with a
  new entry pid). Per trial, an ``opot`` service over n1 → n2 → n3 is posted the same way, then timed
  until its verifier counts a first valid datagram (one into its ingress every 50 ms; the verifier's
  count as the service shows it, from a stats file its node rewrites every 0.2 s), and 2000 datagrams
  are sent through it as ``sdqkd opot send`` does (:func:`~sdqkd.apps.opot_service.send_to_service`,
  64 in flight, each window waiting until the nodes' counters, read through the controller, account
  for it: the service's packets/s as a user sees it, bounded by those reads, not by the nodes). Each
  is deleted after each trial. Another service type is one more ``SERVICE_TRIALS``.

Everything shares this host's CPUs: the figures depend on the host and its load. With ``--run-dir`` the
chain:3 running there is used and left running; otherwise one is started in a temporary directory and
stopped at the end with every process the benchmark started (also on Ctrl-C or SIGTERM).

Run: ``python benchmarks/services_bench.py [--parts roles,e2e,services] [--packets 20000]
[--e2e-packets 5000] [--in-flight 32] [--trials 3] [--run-dir DIR] [--format text|json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

from sdqkd.apps.opot_keys import RefreshPolicy
from sdqkd.apps.opot_path import NodeConfig, OpotNode
from sdqkd.apps.opot_service import send_to_service
from sdqkd.controller.client import ControllerClient
from sdqkd.errors import SdqkdError
from sdqkd.opot import generate_profiles
from sdqkd.runtime.launcher import down
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import controller_client, network_status

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]
PATH = ["n1", "n2", "n3"]
START_TIMEOUT_S = 180.0
POLL_S = 0.05
Popen = subprocess.Popen[bytes]


class Failed(Exception):
    """The benchmark could not run to the end (a process exited, something never became ready)."""


def datagram(i: int, size: int) -> bytes:
    """The ``i``-th test datagram: its number, then zeros up to ``size`` bytes (at least 8)."""
    return i.to_bytes(8, "big") + bytes(size - 8)


def poll(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Call ``probe`` until it returns something true; that value. Failed after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(POLL_S)
    return found


# roles: one node in process --------------------------------------------------------------------------------


def _container(key_id: uuid.UUID, material: bytes) -> Any:
    """What an ETSI 014 client answers: keys with an ID and their bytes."""
    return SimpleNamespace(keys=[SimpleNamespace(key_id=key_id, material=lambda: material)])


class StandInHop:
    """The two KMEs of a hop: enc_keys at the upstream node, dec_keys (once per key) at the downstream."""

    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, bytes] = {}

    async def enc_keys(self, slave: str, number: int, size: int) -> Any:
        key_id = uuid.uuid4()
        self.keys[key_id] = secrets.token_bytes(size // 8)
        return _container(key_id, self.keys[key_id])

    async def dec_keys(self, master: str, key_ids: list[uuid.UUID]) -> Any:
        return _container(key_ids[0], self.keys.pop(key_ids[0]))


class Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    async def listen(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        return tuple(self.transport.get_extra_info("sockname")[:2])


class Forwarder(Udp):
    """A node that only forwards: the harness's ceiling."""

    def __init__(self, onward: tuple[str, int]) -> None:
        super().__init__()
        self.onward = onward
        self.start = self.listen

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, self.onward)

    async def aclose(self) -> None:
        self.transport.close()


class Feeder(Udp):
    """Sends ``inputs`` to ``target``, ``in_flight`` at first, then one more for each datagram it gets back
    (it is also the sink); records what it gets."""

    def __init__(self, inputs: list[bytes], in_flight: int) -> None:
        super().__init__()
        self.inputs, self.in_flight = inputs, in_flight
        self.outputs: list[bytes] = []
        self.sent = 0
        self.done = asyncio.get_running_loop().create_future()
        self.target = ("", 0)

    def feed(self, target: tuple[str, int]) -> None:
        self.target = target
        for _ in range(min(self.in_flight, len(self.inputs))):
            self._next()

    def _next(self) -> None:
        self.transport.sendto(self.inputs[self.sent], self.target)
        self.sent += 1

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.outputs.append(data)
        if self.sent < len(self.inputs):
            self._next()
        elif len(self.outputs) == len(self.inputs) and not self.done.done():
            self.done.set_result(None)


async def drive(
    make: Callable[[tuple[str, int]], Any], inputs: list[bytes], in_flight: int
) -> dict[str, Any]:
    """Feed ``inputs`` through the node ``make(sink)`` builds (an OpotNode or a Forwarder); its figures,
    and what it sent on."""
    feeder = Feeder(inputs, in_flight)
    node = make(await feeder.listen())
    address = await node.start()
    handle, inner = node.datagram_received, list[float]()

    def timed(data: bytes, addr: Any) -> None:
        t0 = time.perf_counter()
        handle(data, addr)
        inner.append(time.perf_counter() - t0)

    node.datagram_received = timed
    started = time.perf_counter()
    feeder.feed(address)
    with contextlib.suppress(TimeoutError):  # what did not come back is lost
        await asyncio.wait_for(feeder.done, timeout=10 + len(inputs) / 1000)
    elapsed = time.perf_counter() - started
    await node.aclose()
    feeder.transport.close()
    received = len(feeder.outputs)
    return {
        "packets": received,
        "lost": len(inputs) - received,
        "packets_per_s": round(received / elapsed),
        "p50_us": round(1e6 * statistics.median(inner), 1),
        "outputs": feeder.outputs,
    }


async def bench_roles(args: argparse.Namespace) -> dict[str, Any]:
    """Each role of a 3-node path alone, fed what the node before it sent."""
    profile = generate_profiles(PATH)
    hops = [StandInHop(), StandInHop()]
    saes = {n: f"{n}-app" for n in PATH}
    refresh = RefreshPolicy(packets=args.refresh_packets, seconds=0)
    inputs = [datagram(i, args.payload_bytes) for i in range(args.packets)]
    results = {"udp forward": await drive(Forwarder, inputs, args.in_flight)}
    for i, name in enumerate(PATH):

        def node(sink: tuple[str, int], i: int = i, name: str = name) -> OpotNode:
            config = NodeConfig(profile, name, saes, ("127.0.0.1", 0), sink, refresh=refresh)
            up = hops[i - 1] if i > 0 else None
            down_ = hops[i] if i < len(hops) else None
            return OpotNode(config, upstream_kme=up, downstream_kme=down_)  # type: ignore[arg-type]

        result = await drive(node, inputs, args.in_flight)
        results[f"opot {name} ({['ingress', 'transit', 'verifier'][i]})"] = result
        inputs = result["outputs"]
    for result in results.values():
        del result["outputs"]
    return results


# the running network ---------------------------------------------------------------------------------------


def log_tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def stop(process: Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def network_ready(run: RunDir) -> bool:
    """Every physical link up and holding key, and the relayed pair n1–n3 at every KME of its path."""
    try:
        links = network_status(run)["links"]
    except SdqkdError:  # not serving yet
        return False
    physical = [lk for lk in links if lk["type"] == "PHYS"]
    relay = [lk for lk in links if lk["id"] == "v-n1-n3"]
    return (
        bool(physical)
        and all(lk["status"] == "up" and lk["keys_available"] > 0 for lk in physical)
        and any(lk["status"] == "up" and set(lk["configured_kmes"]) == set(lk["path"]) for lk in relay)
    )


def spawn(stack: contextlib.ExitStack, args: list[str], log: Path, stop_s: float = 15) -> Popen:
    """Start ``sdqkd ARGS`` with its output in ``log``; stopped when ``stack`` closes."""
    with log.open("wb") as out:
        process = subprocess.Popen([*SDQKD, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    stack.callback(stop, process, stop_s)
    return process


def wait_network(run: RunDir, up: Popen | None, log: Path) -> None:
    def probe() -> bool:
        if up is not None and up.poll() is not None:
            raise Failed(f"sdqkd up exited with {up.returncode}:\n{log_tail(log)}")
        return network_ready(run)

    poll(probe, START_TIMEOUT_S, "chain:3 serving (links with key, n1-n3 relayed)")


def opot_node(stack: contextlib.ExitStack, work: Path, node: str, args: list[str]) -> int:
    """Start ``sdqkd opot node --node NODE ARGS``; the UDP port it listens on once it says so."""
    log = work / f"opot-{node}.log"
    process = spawn(stack, ["opot", "node", "--node", node, *args], log)

    def listening() -> re.Match[str] | None:
        if process.poll() is not None:
            raise Failed(f"opot node {node} exited with {process.returncode}:\n{log_tail(log)}")
        return re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))

    return int(poll(listening, 60, f"opot node {node} listening").group(1))


def stop_network(run: RunDir) -> None:
    """Whatever of the network ``sdqkd up`` left (it killed), stopped by the run directory's record."""
    if run.network.exists():
        with contextlib.suppress(SdqkdError):
            down(run.root)


def ignore_signals() -> None:
    """While stopping: a second Ctrl-C or SIGTERM must not leave processes behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def stream(
    target: tuple[str, int], sink: socket.socket, count: int, size: int, in_flight: int
) -> dict[str, Any]:
    """``count`` datagrams into ``target``, ``in_flight`` at a time, counted at ``sink``."""
    datagrams = iter(datagram(i, size) for i in range(count))
    sink.settimeout(3.0)
    received = 0
    started = last = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for first in itertools.islice(datagrams, in_flight):
            client.sendto(first, target)
        while received < count:
            try:
                sink.recv(65536)
            except TimeoutError:  # the rest were lost
                break
            received, last = received + 1, time.perf_counter()
            if (following := next(datagrams, None)) is not None:
                client.sendto(following, target)
    per_s = round(received / (last - started))
    return {"packets": received, "lost": count - received, "packets_per_s": per_s}


def bench_opot_e2e(args: argparse.Namespace, work: Path, run: RunDir) -> dict[str, Any]:
    profile = work / "path.json"
    subprocess.run(
        [*SDQKD, "opot", "profile", "--path", ",".join(PATH), "--out", str(profile)],
        check=True, capture_output=True,
    )  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink, contextlib.ExitStack() as nodes:
        sink.bind(("127.0.0.1", 0))
        common = ["--run-dir", str(run.root), "--profile", str(profile), "--listen", "127.0.0.1:0",
                  "--refresh-packets", str(args.refresh_packets)]  # fmt: skip
        onward = ["--forward", f"127.0.0.1:{sink.getsockname()[1]}"]
        for node in reversed(PATH):
            stats = ["--stats-file", str(work / f"{node}.json")]
            port = opot_node(nodes, work, node, [*common, *onward, *stats])
            onward = ["--next", f"127.0.0.1:{port}"]
        result = stream(("127.0.0.1", port), sink, args.e2e_packets, args.payload_bytes, args.in_flight)

    def verifier() -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            stats: dict[str, Any] = json.loads((work / "n3.json").read_text())
            return stats if stats["valid"] + stats["invalid"] >= result["packets"] else None
        return None

    stats = poll(verifier, 10, "the verifier's stats file")
    keys = len(set(stats["hops"].get("n2->n3", [])))
    return {**result, "verified": stats["valid"], "invalid": stats["invalid"], "keys_n2_n3": keys}


# services: creation and healing ----------------------------------------------------------------------------


class Echo(socketserver.BaseRequestHandler):
    """Sends back what it gets (the target behind a tunnel's exit)."""

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            while data := self.request.recv(1 << 16):
                self.request.sendall(data)


def echoes(port: int) -> bool:
    """A new TCP connection to ``port`` gets its bytes back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"through the service")
            return client.recv(64) == b"through the service"
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def time_until(t0: float, flows: Callable[[], bool], done: Callable[[dict[str, Any]], bool],
               show: Callable[[], dict[str, Any]], timeout_s: float = 120) -> dict[str, float]:  # fmt: skip
    """Seconds from ``t0`` until ``flows()`` (traffic crosses) and until ``done(service)`` (its state)."""
    times: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(times) < 2:
        if "flows_s" not in times and flows():
            times["flows_s"] = time.monotonic() - t0
        if "active_s" not in times and done(service := show()):
            times["active_s"] = time.monotonic() - t0
        if time.monotonic() > deadline:
            raise Failed(f"not flowing or not active within {timeout_s:.0f} s: {times}, {service['state']}")
        time.sleep(POLL_S)
    return times


def tunnel_trial(client: ControllerClient, target: int) -> dict[str, float]:
    """Create an encrypted tunnel n1 → n3, time it until it echoes and is active; kill -9 its entry, time
    the healing the same way; delete it."""
    port = free_port()
    a, b = {"node": "n1", "listen": f"127.0.0.1:{port}"}, {"node": "n3", "forward": f"127.0.0.1:{target}"}
    intent = {"type": "encrypted-tunnel", "a": a, "b": b, "rekey_s": 60, "min_rate_bps": 100}
    t0 = time.monotonic()
    service_id = client.create_service(intent)["id"]
    post_s = time.monotonic() - t0

    def show() -> dict[str, Any]:
        return client.service(service_id)

    def healed_state(service: dict[str, Any]) -> bool:
        # the state is the controller's last round's (the pid is read now): healed once a round after the
        # kill saw it not active (healing) and a later one active again
        since = [h["state"] for h in service["history"] if dt.datetime.fromisoformat(h["at"]) >= killed_at]
        new_pid = service["endpoints"]["entry"]["pid"] not in (None, pid)
        return service["state"] == "active" and any(s != "active" for s in since) and new_pid

    try:
        created = time_until(t0, lambda: echoes(port), lambda s: s["state"] == "active", show)
        pid = show()["endpoints"]["entry"]["pid"]
        t0, killed_at = time.monotonic(), dt.datetime.now(dt.UTC)
        os.kill(pid, signal.SIGKILL)
        healed = time_until(t0, lambda: echoes(port), healed_state, show)
    finally:
        client.delete_service(service_id)
    return {"post_s": post_s, "create_flows_s": created["flows_s"], "create_active_s": created["active_s"],
            "heal_flows_s": healed["flows_s"], "heal_active_s": healed["active_s"]}  # fmt: skip


OPOT_SERVICE_PACKETS = 2000


def opot_trial(client: ControllerClient, target: int) -> dict[str, float]:
    """Create an OPoT service n1 → n2 → n3, time it until its verifier counts a first valid datagram;
    time 2000 datagrams through it; delete it. (``target``, the echo port, is a tunnel's.)"""
    t0 = time.monotonic()
    created = client.create_service({"type": "opot", "path": PATH})
    service_id = created["id"]
    post_s = time.monotonic() - t0
    host, _, port = created["processes"][PATH[0]]["args"]["listen"].rpartition(":")
    ingress = (host.strip("[]"), int(port))
    family = socket.AF_INET6 if ":" in ingress[0] else socket.AF_INET

    probes = 0

    def verified() -> bool:
        # one datagram per round, so that one reaches the ingress once it serves
        nonlocal probes
        probe.sendto(datagram(probes, 64), ingress)
        probes += 1
        return bool((client.service(service_id).get("opot") or {}).get("valid", 0))

    def accounted(service: dict[str, Any]) -> int:
        """Datagrams verified, or dropped at some node."""
        stats = [endpoint.get("stats") or {} for endpoint in service["endpoints"].values()]
        return int(service["opot"]["valid"]) + sum(sum(s.get("dropped", {}).values()) for s in stats)

    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            poll(verified, 120, "a first verified datagram")
        first_s = time.monotonic() - t0
        # the probes still on the way must not count as the traffic's
        poll(lambda: accounted(client.service(service_id)) >= probes, 10, "the probes accounted for")
        started = time.perf_counter()
        result = send_to_service(client, service_id, OPOT_SERVICE_PACKETS, timeout_s=60)
        elapsed = time.perf_counter() - started
    finally:
        client.delete_service(service_id)
    if result.valid != OPOT_SERVICE_PACKETS:
        raise Failed(f"opot service: {result.as_json()}: not every datagram verified")
    return {"post_s": post_s, "first_verified_s": first_s, "packets_per_s": result.sent / elapsed}


SERVICE_TRIALS: dict[str, Callable[[ControllerClient, int], dict[str, float]]] = {
    "encrypted-tunnel": tunnel_trial,
    "opot": opot_trial,
}
"""One function per service type: (operator's client, echo port) → its figures of one trial (seconds;
packets/s)."""


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "max": max(values)}


def bench_services(args: argparse.Namespace, run: RunDir) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as echo, controller_client(run) as client:
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        target = echo.server_address[1]
        for name, trial in SERVICE_TRIALS.items():
            trials = [trial(client, target) for _ in range(args.trials)]
            results[name] = {f: summary([t[f] for t in trials]) for f in trials[0]}
        echo.shutdown()
    return results


# main ------------------------------------------------------------------------------------------------------


def print_text(result: dict[str, Any]) -> None:
    for name, figures in result.get("roles", {}).items():
        print(
            f"{name:<20} {figures['packets_per_s']:>7} packets/s, p50 in the node "
            f"{figures['p50_us']:5.1f} µs, lost {figures['lost']}"
        )
    if e2e := result.get("opot_e2e"):
        print(
            f"opot e2e n1 -> n2 -> n3 (sdqkd opot node, real KMEs): {e2e['packets']} packets, "
            f"{e2e['packets_per_s']} packets/s, verified {e2e['verified']}, invalid {e2e['invalid']}, "
            f"lost {e2e['lost']}, keys on n2->n3 {e2e['keys_n2_n3']}"
        )
    for name, figures in result.get("services", {}).items():
        path = " -> ".join(PATH) if name == "opot" else "n1 -> n3"
        print(f"service {name} {path}, {result['trials']} trials (p50 / max; s, packets/s):")
        for figure, value in figures.items():
            print(f"  {figure:<16} {value['p50']:7.2f} / {value['max']:7.2f}")


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the cleanup below runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="roles,e2e,services", help="which of roles, e2e, services")
    parser.add_argument("--packets", type=int, default=20_000, help="datagrams per role (in process)")
    parser.add_argument("--e2e-packets", type=int, default=5_000, help="datagrams through opot e2e")
    parser.add_argument("--payload-bytes", type=int, default=100, help="bytes per datagram (at least 8)")
    parser.add_argument("--in-flight", type=int, default=32, help="datagrams on the way at a time")
    parser.add_argument("--refresh-packets", type=int, default=1000, help="a new hop key every N packets")
    parser.add_argument("--trials", type=int, default=3, help="service creation and healing trials")
    parser.add_argument("--run-dir", type=Path, help="use the chain:3 already running there")
    parser.add_argument("--time-scale", default="50", help="for sdqkd up: the emulated world X times faster")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {}
    if "roles" in parts:
        result["roles"] = asyncio.run(bench_roles(args))
    signal.signal(signal.SIGTERM, _terminated)
    with tempfile.TemporaryDirectory(prefix="sdqkd-services-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        try:
            run = RunDir(args.run_dir.resolve() if args.run_dir else work / "run")
            if parts & {"e2e", "services"}:
                up = None
                if args.run_dir is None:
                    stack.callback(stop_network, run)
                    command = ["up", "--topology", "chain:3", "--run-dir", str(run.root), "--time-scale"]
                    up = spawn(stack, [*command, args.time_scale], work / "up.log", stop_s=30)
                wait_network(run, up, work / "up.log")
            if "e2e" in parts:
                result["opot_e2e"] = bench_opot_e2e(args, work, run)
            if "services" in parts:
                result |= {"trials": args.trials, "services": bench_services(args, run)}
        except (Failed, SdqkdError) as exc:
            print(f"services_bench: {exc}", file=sys.stderr)
            for log in sorted(work.glob("opot-*.log")):
                print(f"--- {log.stem}:\n{log_tail(log, 8)}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("services_bench: interrupted; stopping what it started", file=sys.stderr)
            sys.exit(130)
        finally:
            stack.callback(ignore_signals)  # runs first
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print_text(result)


if __name__ == "__main__":
    main()
