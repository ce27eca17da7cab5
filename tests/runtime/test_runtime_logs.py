"""A whole run's logs with ``sdqkd up --log-format json``: every role writes one JSON object per line,
an SAE's relayed ``enc_keys`` is logged under one request ID by every KME on its path, and no log
holds any byte of the keys delivered meanwhile, nor a private key."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from runtime_support import Launch, relayed, stop_process, wait_until_serving

from sdqkd.etsi014 import Etsi014Client, KeyContainer
from sdqkd.runtime.rundir import RunDir
from sdqkd.server.request_id import request_id_scope

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = ("n1", "n2", "n3")
ROLE_LOGS = {
    Path("emulator/emulator.log"): ("emulator", None),
    Path("controller/controller.log"): ("controller", None),
    **{Path(f"agent/{node}.log"): ("agent", node) for node in NODES},
    **{Path(f"kme/{node}.log"): ("kme", node) for node in NODES},
    **{Path(f"nfv/{node}.log"): ("service-manager", node) for node in NODES},
    Path("web/web.log"): ("web", None),
}
"""Each role's log in the run directory, with the role and node its lines name."""


def _sae(status: dict[str, Any], node: str) -> Etsi014Client:
    found = next(n for n in status["nodes"] if n["id"] == node)
    sae = found["saes"][0]
    return Etsi014Client(
        found["kme_url"], cert=Path(sae["cert"]), key=Path(sae["key"]), ca=Path(status["ca"])
    )


def _encodings(material: bytes, delivered: str) -> list[bytes]:
    """How a key could appear in a log: as delivered (base64), raw, hex, URL-safe base64."""
    return [
        delivered.encode(),
        material,
        material.hex().encode(),
        material.hex().upper().encode(),
        base64.urlsafe_b64encode(material).rstrip(b"="),
    ]


def _strict_json(line: str) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    parsed = json.loads(line, parse_constant=refuse)
    assert isinstance(parsed, dict)
    return parsed


def _private_key_lines(run_dir: Path) -> list[bytes]:
    """The base64 body lines of every private key the run made (its CA's and its services')."""
    found = []
    for path in run_dir.rglob("*.key"):
        for line in path.read_bytes().splitlines():
            if line and not line.startswith(b"-----"):
                found.append(line.strip())
    return found


def test_a_json_run_logs_one_object_per_line_one_request_id_per_relay_and_no_key(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out", extra=["--log-format", "json"])
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=relayed)
    dashboard_token = RunDir(run_dir).web_token.read_bytes().strip()  # removed when up stops

    async def exchange() -> tuple[str, list[KeyContainer]]:
        async with _sae(status, "n1") as n1, _sae(status, "n2") as n2, _sae(status, "n3") as n3:
            with request_id_scope() as operation:  # the SAE's client sends it with its request
                relayed_keys = await n1.enc_keys("n3-app", number=3, size=512)  # n1 → n2 → n3
            fetched = await n3.dec_keys("n1-app", [key.key_id for key in relayed_keys.keys])
            local = await n1.enc_keys("n2-app", number=2)  # over the physical link n1-n2
            fetched_local = await n2.dec_keys("n1-app", [key.key_id for key in local.keys])
        return operation, [relayed_keys, fetched, local, fetched_local]

    operation, containers = asyncio.run(exchange())
    stop_process(up)  # every service has written its last line

    delivered = [key for container in containers for key in container.keys]
    assert len(delivered) == 10
    assert len({key.material() for key in delivered}) == 5  # each key at both of its ends
    logs = {path.relative_to(run_dir): path.read_bytes() for path in run_dir.rglob("*.log")}
    assert set(ROLE_LOGS) <= set(logs), sorted(map(str, logs))

    by_role: dict[Path, list[dict[str, Any]]] = {}
    for path, (role, node) in ROLE_LOGS.items():
        lines = logs[path].decode("utf-8").splitlines()
        by_role[path] = [_strict_json(line) for line in lines]  # every line, not just most
        for entry in by_role[path]:
            assert {"time", "level", "logger", "event"} <= set(entry), (path, entry)
            assert (entry["role"], entry.get("node")) == (role, node), (path, entry)

    for path, content in logs.items():
        assert dashboard_token not in content, f"{path} holds the dashboard's token"
        for key in delivered:
            for encoded in _encodings(key.material(), key.key):
                assert encoded not in content, f"{path} holds a delivered key"
        assert b"PRIVATE KEY" not in content, path
        for line in _private_key_lines(run_dir):
            assert line not in content, f"{path} holds a line of a private key"

    for node in NODES:  # the relay: n1 made the keys, n2 forwarded them, n3 stored them
        events = [e["event"] for e in by_role[Path(f"kme/{node}.log")] if e.get("request_id") == operation]
        assert any("v-n1-n3" in event for event in events), (node, events)
