"""An OPoT node under the service manager: its share (a secret) reaches the process only through a file
of its own user's, written again before every start and removed with the process, never through its
command line; the manager's answers show it masked; its ``listen`` of port 0 becomes a free UDP port; a
share that does not fit the order is refused with a problem.

The real ``opot-node`` kind starts ``sdqkd opot node``, which needs a running network: orders that must
start something use ``opot-standin`` (nfv_support), the real kind's arguments, share file and stats file
with a harmless command that reads the share file and binds the UDP port. Orders that are refused use the
real kind."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from nfv_support import NODE, Manager, start_manager

from polling import wait_for
from sdqkd.nfv import ports
from sdqkd.opot import NodeShare, generate_profiles

pytestmark = pytest.mark.integration

TIMEOUT_S = 20.0
PROFILES = generate_profiles([NODE, "centro", "quintin"])
SHARE = PROFILES.share_for(NODE).to_json()


def _order(share: str = SHARE, kind: str = "opot-standin", **args: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "args": {"node": NODE, "share": share, "listen": "127.0.0.1:0", "next": "127.0.0.1:9"} | args,
    }


def _secrets(share: str) -> list[str]:
    """The secret values of a share as its JSON writes them (hex)."""
    doc = json.loads(share)
    return [doc["node"]["share"], *([doc["verifier"]["secret"]] if "verifier" in doc else [])]


def _status(client: httpx.Client, process_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/nfv/processes/{process_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _serving(client: httpx.Client, process_id: str, **seen: Any) -> dict[str, Any]:
    """The process once its stats are its current process's (it read the share file and bound its port)."""
    return wait_for(
        lambda: _status(client, process_id),
        lambda s: (
            s["state"] == "running"
            and s["pid"] is not None
            and (s["stats"] or {}).get("pid") == s["pid"]
            and all(s.get(key) == value for key, value in seen.items())
        ),
        TIMEOUT_S,
        f"{process_id} serving",
    )


def _share_file(manager: Manager, process_id: str) -> Path:
    return manager.supervisor.site.log_dir / f"{process_id}.share.json"


def test_the_share_reaches_the_process_in_an_owner_only_file_and_is_masked_everywhere_else(
    manager: Manager, controller: httpx.Client
) -> None:
    created = controller.put("/api/v1/nfv/processes/o1", json=_order())
    assert created.status_code == 201, created.text
    assert created.json()["args"]["share"] == "**********"
    status = _serving(controller, "o1")
    assert status["stats"]["node"] == NODE  # the process parsed the file written before it started
    assert status["stats"]["mode"] == 0o600  # already owner-only when it started
    share_file = _share_file(manager, "o1")
    assert share_file.read_text() == SHARE
    assert stat.S_IMODE(share_file.stat().st_mode) == 0o600
    assert NodeShare.from_json(share_file.read_bytes()) == PROFILES.share_for(NODE)

    listed = controller.get("/api/v1/nfv/processes")
    log = Path(status["log_file"]).read_text()  # the command line as started (the process prints nothing)
    assert "sdqkd service-manager: starting opot-standin o1" in log
    assert str(share_file) in log
    for shown in (created.text, json.dumps(status), listed.text, log):
        assert not any(value in shown for value in _secrets(SHARE))
        assert '"path"' not in shown  # no part of the share's JSON
    assert listed.json()["processes"][0]["args"]["share"] == "**********"


def test_the_share_file_is_written_again_before_each_start(
    manager: Manager, controller: httpx.Client
) -> None:
    assert controller.put("/api/v1/nfv/processes/o1", json=_order()).status_code == 201
    first = _serving(controller, "o1")["pid"]
    share_file = _share_file(manager, "o1")
    share_file.write_text("tampered")  # a process that read this would die
    share_file.chmod(0o644)
    os.kill(first, 9)
    status = _serving(controller, "o1", restarts=1)
    assert status["pid"] != first
    assert status["stats"] == {"pid": status["pid"], "node": NODE, "mode": 0o600}
    assert share_file.read_text() == SHARE
    assert stat.S_IMODE(share_file.stat().st_mode) == 0o600


def test_a_listen_port_of_0_becomes_a_free_udp_port_the_process_binds(
    controller: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[socket.SocketKind] = []
    free_port_on = ports.free_port_on

    def recording(host: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
        asked.append(kind)
        return free_port_on(host, kind)

    monkeypatch.setattr(ports, "free_port_on", recording)
    created = controller.put("/api/v1/nfv/processes/o1", json=_order())
    assert created.status_code == 201, created.text
    assert asked == [socket.SOCK_DGRAM]
    host, _, port = created.json()["args"]["listen"].rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    _serving(controller, "o1")  # it bound the port (the stats are written after the bind)
    in_use = os.strerror(errno.EADDRINUSE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, pytest.raises(OSError, match=in_use):
        probe.bind(("127.0.0.1", int(port)))  # taken: by the process, on UDP


def test_the_same_order_again_is_unchanged_and_another_share_replaces_the_process(
    manager: Manager, controller: httpx.Client
) -> None:
    assert controller.put("/api/v1/nfv/processes/o1", json=_order()).status_code == 201
    first = _serving(controller, "o1")
    again = controller.put("/api/v1/nfv/processes/o1", json=_order())
    assert again.status_code == 200
    assert (again.json()["pid"], again.json()["args"]["listen"]) == (first["pid"], first["args"]["listen"])

    # the masked view of a new share is the same as the old one's: the manager tells them apart all the same
    renewed = generate_profiles([NODE, "centro", "quintin"]).share_for(NODE).to_json()
    replaced = controller.put("/api/v1/nfv/processes/o1", json=_order(renewed))
    assert replaced.status_code == 200
    status = _serving(controller, "o1")
    assert status["pid"] != first["pid"]
    assert status["restarts"] == 0
    assert _share_file(manager, "o1").read_text() == renewed


def test_the_share_file_goes_with_its_process_deleted_replaced_by_another_kind_or_its_manager_stopped(
    manager: Manager, controller: httpx.Client, tmp_path: Path
) -> None:
    for process_id in ("o1", "o2"):
        assert controller.put(f"/api/v1/nfv/processes/{process_id}", json=_order()).status_code == 201
        _serving(controller, process_id)
    assert controller.delete("/api/v1/nfv/processes/o1").status_code == 204
    assert not _share_file(manager, "o1").exists()
    sleeper = {"kind": "sleeper", "args": {"node": NODE}}
    assert controller.put("/api/v1/nfv/processes/o2", json=sleeper).status_code == 200
    assert not _share_file(manager, "o2").exists()

    other = start_manager(manager.pki, tmp_path / "other")
    try:
        with other.client(other.pki.controller) as client:
            assert client.put("/api/v1/nfv/processes/o3", json=_order()).status_code == 201
            _serving(client, "o3")
            assert _share_file(other, "o3").exists()
    finally:
        other.server.stop()
    assert not _share_file(other, "o3").exists()


@pytest.mark.parametrize(
    ("share", "args", "why"),
    [
        (PROFILES.share_for("centro").to_json(), {}, "share is another node's"),
        (generate_profiles(["centro", NODE]).share_for(NODE).to_json(), {}, "the verifier takes forward"),
        (SHARE, {"next": None}, "a node before the verifier takes next"),
        ('{"path": ["norte"]}', {}, "share is not an OPoT node share"),
    ],
)
def test_an_opot_node_order_that_does_not_fit_its_share_is_a_problem_and_starts_nothing(
    manager: Manager, controller: httpx.Client, share: str, args: dict[str, Any], why: str
) -> None:
    answer = controller.put("/api/v1/nfv/processes/o1", json=_order(share, "opot-node", **args))
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert why in answer.json()["detail"]
    assert answer.json()["detail"].startswith("opot-node: args: ")
    if "node" in json.loads(share):  # a share: none of its secrets in the answer
        assert not any(value in answer.text for value in _secrets(share))
    assert controller.get("/api/v1/nfv/processes").json()["processes"] == []
    assert not _share_file(manager, "o1").exists()
