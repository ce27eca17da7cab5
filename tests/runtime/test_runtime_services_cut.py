"""An encrypted-tunnel service across a fibre cut, on a running ``grid:2x2`` (the smallest built-in
topology where two nodes have a direct QKD link and another path): r1c1 → r1c2 is admitted on the
direct link; cutting its fibre leaves the service up — ``degraded``, its reason naming the relay path
r1c1 → r2c1 → r2c2 → r1c2 — and new connections through the tunnel carry data byte-exact on keys the
KMEs relay over that path (the time from the cut to the first such connection is printed); restoring
the fibre makes it ``active`` again."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import SDQKD, Launch, echo_server, free_port, wait_for, wait_until_serving

from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.rundir import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

A, B, FIBRE = "r1c1", "r1c2", "r1c1-r1c2"
RELAY_PATH = "r1c1 → r2c1 → r2c2 → r1c2"
ASSOCIATION = f"v-{A}-{B}"
PAYLOAD_BYTES = 64 * 1024


def _sdqkd(*args: str) -> Any:
    done = subprocess.run([*SDQKD, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--format" in args else done.stdout


def _round_trip(port: int, payload: bytes) -> bytes | None:
    """``payload`` sent through a new connection to ``port`` and everything read back until the far end
    closes; None when the connection fails or is cut."""
    received = bytearray()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            while chunk := client.recv(1 << 16):
                received += chunk
    except OSError:
        return None
    return bytes(received)


@pytest.fixture
def network(launch: Launch, run_dir: Path, tmp_path: Path) -> dict[str, Any]:
    up = launch(run_dir, tmp_path / "up.out", topology="grid:2x2")
    return wait_until_serving(run_dir, up, tmp_path / "up.out")


def test_a_fibre_cut_moves_an_encrypted_tunnels_keys_to_a_relay_path_without_dropping_the_service(
    network: dict[str, Any], run_dir: Path
) -> None:
    run = RunDir(run_dir)
    kme_a = next(node["kme_url"] for node in network["nodes"] if node["id"] == A)
    entry_port = free_port()
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    with (
        echo_server() as target,
        httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=10) as operator,
    ):

        def show() -> dict[str, Any]:
            shown: dict[str, Any] = _sdqkd(
                "service", "show", service_id, "--run-dir", str(run_dir), "--format", "json"
            )
            return shown

        def entry_key_ids() -> list[str]:
            stats = show()["endpoints"]["entry"]["stats"]
            return list(stats.get("key_ids", []))

        def relayed_out() -> int:
            """Keys the KME of a relayed to b over their association (0 while there is none)."""
            found = operator.get(f"{kme_a}/api/v1/kme/virtual_links").json()["virtual_links"]
            return sum(int(v["keys_relayed_out"]) for v in found if v["id"] == ASSOCIATION)

        def crosses(label: str) -> bool:
            payload = label.encode() + os.urandom(PAYLOAD_BYTES)
            return _round_trip(entry_port, payload) == payload

        created = _sdqkd(
            "service", "create", "encrypted-tunnel", "--run-dir", str(run_dir), "--a", A,
            "--listen", f"127.0.0.1:{entry_port}", "--b", B, "--forward", f"127.0.0.1:{target}",
            "--rekey-s", "2", "--min-rate-bps", "100", "--format", "json",
        )  # fmt: skip
        service_id = created["id"]
        active = wait_for(show, lambda s: s["state"] == "active", 60, "the service active")
        app = operator.get(f"{network['controller']['url']}/api/v1/apps/{active['apps'][0]}").json()
        assert app["link_id"] == FIBRE  # admitted on the direct link
        assert wait_for(lambda: crosses("before the cut"), bool, 30, "data through the tunnel")
        assert relayed_out() == 0
        keys_before = wait_for(entry_key_ids, bool, 30, "the entry's first key")

        _sdqkd("plant", "cut", "--fibre", FIBRE, "--run-dir", str(run_dir))
        cut_at = time.monotonic()
        attempts = 0

        def crosses_after_cut() -> bool:
            nonlocal attempts
            attempts += 1
            return crosses(f"after the cut #{attempts}")

        wait_for(crosses_after_cut, bool, 60, "data through the tunnel after the cut", interval_s=0.1)
        first_s = time.monotonic() - cut_at
        first_attempts = attempts

        # New connections take keys relayed over the other path: a connection that crosses while the
        # KME of a relays more keys, on a key the entry did not use before.
        def relayed_crossing() -> tuple[bool, int, int]:
            before = relayed_out()
            return crosses_after_cut(), before, relayed_out()

        wait_for(
            relayed_crossing,
            lambda r: r[0] and r[2] > r[1],
            60,
            "a connection on a relayed key",
            interval_s=0.1,
        )
        relayed_s = time.monotonic() - cut_at
        keys_after = entry_key_ids()
        assert len(keys_after) > len(keys_before)
        assert not set(keys_after[len(keys_before) :]) & set(keys_before)  # each epoch its own key

        degraded = wait_for(show, lambda s: s["state"] != "active", 30, "the service not active")
        assert degraded["state"] == "degraded", degraded
        assert RELAY_PATH in degraded["reason"], degraded["reason"]
        assert FIBRE in degraded["reason"], degraded["reason"]
        assert degraded["endpoints"]["entry"]["restarts"] == 0  # nothing died: the same processes
        assert wait_for(lambda: crosses("while degraded"), bool, 30, "data while degraded")
        print(
            f"\nfibre {FIBRE} cut: first byte-exact connection after {first_s:.2f} s "
            f"({first_attempts} attempt(s)), first on a relayed key after {relayed_s:.2f} s; "
            f"reason: {degraded['reason']}"
        )

        _sdqkd("plant", "restore", "--fibre", FIBRE, "--run-dir", str(run_dir))
        restored = wait_for(show, lambda s: s["state"] == "active", 90, "the service active again")
        states = [change["state"] for change in restored["history"]]
        assert states[-2:] == ["degraded", "active"], restored["history"]
        assert restored["state"] != "terminated"
        assert wait_for(lambda: crosses("after the restore"), bool, 30, "data after the restore")
