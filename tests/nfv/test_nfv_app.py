"""The service manager over HTTPS with mutual TLS: only the controller orders, orders are validated,
and the processes it starts are watched — restarted when they die, failed in a crash loop, stopped
when deleted or when the manager stops."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from nfv_support import NODE, Manager, start_manager

from polling import wait_for
from sdqkd.pki import IssuedCertificate

pytestmark = pytest.mark.integration

SLEEPER = {"kind": "sleeper", "args": {"node": NODE}}
TIMEOUT_S = 20.0


def _alive(pid: int) -> bool:
    # the children are this process's: its event loop reaps them, so no zombie is left to count
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _status(client: httpx.Client, process_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/nfv/processes/{process_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _running(client: httpx.Client, process_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: _status(client, process_id),
        lambda s: s["state"] == "running" and s["pid"] is not None,
        TIMEOUT_S,
        f"{process_id} running",
    )


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    return body


def test_the_controller_starts_a_process_that_runs_with_its_own_log_and_stats(
    manager: Manager, controller: httpx.Client
) -> None:
    created = controller.put("/api/v1/nfv/processes/p1", json=SLEEPER)
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "sleeper"
    status = _running(controller, "p1")
    assert _alive(status["pid"])
    assert status["restarts"] == 0
    assert status["last_exit"] is None
    stats = wait_for(lambda: _status(controller, "p1")["stats"], lambda s: s is not None, TIMEOUT_S, "stats")
    assert stats == {"greeting": "hello"}
    log = Path(status["log_file"])
    assert log == manager.supervisor.site.log_dir / "p1.log"
    text = wait_for(log.read_text, lambda t: "hello" in t, TIMEOUT_S, "the greeting in the log")
    assert "sdqkd service-manager: starting sleeper p1" in text
    listed = controller.get("/api/v1/nfv/processes").json()
    assert listed["node_id"] == NODE
    assert [p["id"] for p in listed["processes"]] == ["p1"]


def test_the_same_order_again_changes_nothing_and_another_replaces_the_process(
    controller: httpx.Client,
) -> None:
    assert controller.put("/api/v1/nfv/processes/p1", json=SLEEPER).status_code == 201
    first = _running(controller, "p1")["pid"]
    again = controller.put("/api/v1/nfv/processes/p1", json=SLEEPER)
    assert again.status_code == 200
    assert again.json()["pid"] == first

    changed = {"kind": "sleeper", "args": {"node": NODE, "greeting": "hola"}}
    replaced = controller.put("/api/v1/nfv/processes/p1", json=changed)
    assert replaced.status_code == 200
    assert not _alive(first)  # stopped before the new one started
    status = _running(controller, "p1")
    assert status["pid"] != first
    assert status["args"]["greeting"] == "hola"
    assert status["restarts"] == 0


def _callers(manager: Manager) -> dict[str, IssuedCertificate]:
    pki = manager.pki
    return {"operator": pki.operator, "own agent": pki.own_agent, "other agent": pki.other_agent}


def test_only_the_controller_orders_and_only_it_and_the_operator_read(
    manager: Manager, controller: httpx.Client
) -> None:
    assert controller.put("/api/v1/nfv/processes/p1", json=SLEEPER).status_code == 201
    for who, certificate in _callers(manager).items():
        with manager.client(certificate) as client:
            body = _problem(client.put("/api/v1/nfv/processes/p2", json=SLEEPER), 403)
            assert body["title"] == "Forbidden", who
            _problem(client.delete("/api/v1/nfv/processes/p1"), 403)
            read = client.get("/api/v1/nfv/processes/p1")
            assert read.status_code == (200 if who == "operator" else 403), who
    assert [p["id"] for p in controller.get("/api/v1/nfv/processes").json()["processes"]] == ["p1"]
    assert _status(controller, "p1")["state"] in ("starting", "running")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"args": {"node": NODE}}, "kind"),
        ({**SLEEPER, "command": "sh"}, "command"),
        ({"kind": "sleeper", "args": ["node"]}, "args"),
        ({"kind": "sh", "args": {"node": NODE}}, "unknown kind 'sh'"),
        ({"kind": "sleeper", "args": {"node": NODE, "argv": ["sh"]}}, "args.argv"),
        ({"kind": "sleeper", "args": {"node": "quintin"}}, "not this manager's node"),
        ({"kind": "tunnel-exit", "args": {"node": NODE, "listen": "x", "forward": "y:1"}}, "args.listen"),
    ],
)
def test_a_bad_order_is_refused_with_a_problem_and_starts_nothing(
    controller: httpx.Client, body: dict[str, Any], detail: str
) -> None:
    problem = _problem(controller.put("/api/v1/nfv/processes/p1", json=body), 400)
    assert detail in problem["detail"]
    assert controller.get("/api/v1/nfv/processes").json()["processes"] == []


def test_a_body_that_is_not_json_or_an_id_that_cannot_name_a_file_is_refused(
    controller: httpx.Client,
) -> None:
    _problem(
        controller.put(
            "/api/v1/nfv/processes/p1", content=b"{kind", headers={"content-type": "application/json"}
        ),
        400,
    )
    _problem(controller.put("/api/v1/nfv/processes/.hidden", json=SLEEPER), 400)
    _problem(controller.put("/api/v1/nfv/processes/a%20b", json=SLEEPER), 400)
    assert controller.get("/api/v1/nfv/processes").json()["processes"] == []


def test_a_process_killed_with_sigkill_is_restarted_by_the_manager_alone(controller: httpx.Client) -> None:
    assert controller.put("/api/v1/nfv/processes/p1", json=SLEEPER).status_code == 201
    first = _running(controller, "p1")["pid"]
    os.kill(first, 9)
    status = wait_for(
        lambda: _status(controller, "p1"),
        lambda s: s["restarts"] == 1 and s["state"] == "running" and s["pid"] not in (None, first),
        TIMEOUT_S,
        "restarted",
    )
    assert status["last_exit"] == {"signal": "SIGKILL"}
    assert _alive(status["pid"])


def test_a_process_in_a_crash_loop_is_failed_and_no_longer_restarted(controller: httpx.Client) -> None:
    body = {"kind": "crasher", "args": {"node": NODE}}
    assert controller.put("/api/v1/nfv/processes/c1", json=body).status_code == 201
    status = wait_for(
        lambda: _status(controller, "c1"), lambda s: s["state"] == "failed", TIMEOUT_S, "failed"
    )
    # POLICY: three restarts, the fourth death within 30 s is a crash loop
    assert status["restarts"] == 3
    assert status["pid"] is None
    assert status["last_exit"] == {"code": 3}
    assert "died 4 times" in status["reason"]
    # ordered again, a failed process starts afresh
    again = controller.put("/api/v1/nfv/processes/c1", json=body)
    assert again.status_code == 200
    assert again.json()["restarts"] == 0


def test_delete_stops_the_process_and_forgets_it(controller: httpx.Client) -> None:
    assert controller.put("/api/v1/nfv/processes/p1", json=SLEEPER).status_code == 201
    pid = _running(controller, "p1")["pid"]
    deleted = controller.delete("/api/v1/nfv/processes/p1")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not _alive(pid)
    _problem(controller.get("/api/v1/nfv/processes/p1"), 404)
    _problem(controller.delete("/api/v1/nfv/processes/p1"), 404)


def test_stopping_the_manager_stops_every_process(manager: Manager, tmp_path: Path) -> None:
    other = start_manager(manager.pki, tmp_path / "other")
    try:
        with other.client(other.pki.controller) as client:
            for name in ("a", "b"):
                assert client.put(f"/api/v1/nfv/processes/{name}", json=SLEEPER).status_code == 201
            pids = [_running(client, name)["pid"] for name in ("a", "b")]
    finally:
        other.server.stop()
    assert not any(_alive(pid) for pid in pids)


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return False
    return True


def test_a_listen_port_of_0_is_chosen_once_by_the_manager_and_kept_across_restarts(
    controller: httpx.Client,
) -> None:
    order = {"kind": "listener", "args": {"node": NODE, "listen": "127.0.0.1:0"}}
    created = controller.put("/api/v1/nfv/processes/l1", json=order)
    assert created.status_code == 201, created.text
    listen = created.json()["args"]["listen"]
    host, _, port = listen.rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    first = _running(controller, "l1")["pid"]
    wait_for(lambda: _accepts(listen), bool, TIMEOUT_S, f"the listener on {listen}")
    # the same order (port 0) again is the same order: nothing changes, not even the port
    again = controller.put("/api/v1/nfv/processes/l1", json=order)
    assert again.status_code == 200
    assert (again.json()["pid"], again.json()["args"]["listen"]) == (first, listen)

    os.kill(first, 9)
    status = wait_for(
        lambda: _status(controller, "l1"),
        lambda s: s["restarts"] == 1 and s["state"] == "running" and s["pid"] not in (None, first),
        TIMEOUT_S,
        "restarted",
    )
    assert status["args"]["listen"] == listen
    wait_for(lambda: _accepts(listen), bool, TIMEOUT_S, f"the restarted listener on {listen}")


def test_a_listen_host_that_is_not_this_machines_is_refused(controller: httpx.Client) -> None:
    order = {"kind": "listener", "args": {"node": NODE, "listen": "192.0.2.1:0"}}
    problem = _problem(controller.put("/api/v1/nfv/processes/l1", json=order), 400)
    assert "args.listen" in problem["detail"]
    assert controller.get("/api/v1/nfv/processes").json()["processes"] == []
