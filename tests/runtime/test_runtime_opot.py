"""OPoT as a user runs it: ``sdqkd opot node`` at n1 (ingress), n2 (transit) and n3 (verifier) of a
running ``chain:3``, each hop masked with QKD keys of its two nodes' KMEs; 300 datagrams arrive exactly
across several keys per hop, and forgeries sent straight to the verifier are dropped."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from runtime_support import SDQKD, Launch, stop_process, wait_for, wait_until_serving

from sdqkd.apps.opot import PotField
from sdqkd.apps.opot_wire import OpotPacket, encode

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PACKETS = 300


def _node(args: list[str], output: Path) -> tuple[subprocess.Popen[bytes], int]:
    with output.open("wb") as sink:
        process = subprocess.Popen([*SDQKD, "opot", "node", *args], stdout=sink, stderr=subprocess.STDOUT)
    found = wait_for(
        lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)", output.read_text()) or process.poll(),
        bool,
        60,
        f"{args} listening",
    )
    assert isinstance(found, re.Match), output.read_text()
    return process, int(found.group(1))


def test_300_datagrams_verify_across_key_changes_and_forgeries_are_dropped(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out")
    wait_until_serving(run_dir, up, tmp_path / "up.out")
    profile = tmp_path / "path.json"
    subprocess.run([*SDQKD, "opot", "profile", "--path", "n1,n2,n3", "--out", str(profile)], check=True)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(30)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    processes: list[subprocess.Popen[bytes]] = []

    def stats(node: str) -> dict[str, Any]:
        return dict(json.loads((tmp_path / f"{node}.json").read_text()))

    try:
        common = ["--run-dir", str(run_dir), "--profile", str(profile), "--listen", "127.0.0.1:0"]
        onward = ["--forward", f"127.0.0.1:{sink.getsockname()[1]}"]
        ports = {}
        for node in ("n3", "n2", "n1"):
            process, ports[node] = _node(
                [*common, "--node", node, *onward, "--refresh-packets", "50",
                 "--stats-file", str(tmp_path / f"{node}.json")],
                tmp_path / f"{node}.out",
            )  # fmt: skip
            processes.append(process)
            onward = ["--next", f"127.0.0.1:{ports[node]}"]
        sent: list[bytes] = []
        received: list[bytes] = []
        for batch in range(PACKETS // 20):  # 20 in flight at a time: loopback buffers are finite
            for i in range(20):
                sent.append(f"datagram {batch * 20 + i}".encode())
                client.sendto(sent[-1], ("127.0.0.1", ports["n1"]))
            for _ in range(20):
                received.append(sink.recv(2048))
        assert received == sent
        verifier = wait_for(lambda: stats("n3"), lambda s: s["valid"] == PACKETS, 10, "verified")
        assert verifier["invalid"] == 0
        hop_keys = verifier["hops"]["n2->n3"]
        # a new key is asked for every 50 packets, in the background (docs/apps.md: datagrams go on
        # under the current key until the next arrives), so how many keys 300 packets see depends on
        # how fast the KME answers: several, each used once, not exactly 300 / 50
        assert len(hop_keys) == len(set(hop_keys)) >= 3

        # taken at n2, fetched at n3: the same IDs in the same order, once n2's stats file (rewritten every
        # 0.2 s) catches up — n2 may hold one more, renewed after the last packet and not used yet
        def taken_at_n2(s: dict[str, Any]) -> bool:
            taken = s["hops"]["n2->n3"]
            return taken[: len(hop_keys)] == hop_keys and len(taken) - len(hop_keys) <= 1

        wait_for(lambda: stats("n2"), taken_at_n2, 10, "n2's keys")
        wait_for(lambda: stats("n1"), lambda s: len(s["hops"]["n1->n2"]) >= 3, 10, "n1's keys")

        current = uuid.UUID(hop_keys[-1])
        for key_id in (current, current, uuid.uuid4()):  # the key in use, and one no KME made
            forged = encode(OpotPacket(key_id, PotField(2**62, 12345, 67890), b"forged"))
            client.sendto(forged, ("127.0.0.1", ports["n3"]))
        verifier = wait_for(lambda: stats("n3"), lambda s: s["invalid"] == 3, 10, "forgeries dropped")
        assert verifier["dropped"]["proof_failed"] == 2
        assert verifier["dropped"]["unknown_key"] == 1
        assert verifier["valid"] == PACKETS
    finally:
        for process in processes:
            stop_process(process)
        sink.close()
        client.close()
    for process, node in zip(processes, ("n3", "n2", "n1"), strict=True):
        assert process.returncode == 0, (tmp_path / f"{node}.out").read_text()
