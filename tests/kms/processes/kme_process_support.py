"""Test support for the KME process tests (imported by the conftest and the tests): ``sdqkd`` as a real
command, polling, the processes of a run, and SAE clients of a running network's KMEs."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from process_support import (  # shared with the other process tests; re-exported here
    SDQKD as SDQKD,
)
from process_support import (
    START_TIMEOUT_S as START_TIMEOUT_S,
)
from process_support import (
    is_running as is_running,
)
from process_support import (
    processes_mentioning as processes_mentioning,
)
from process_support import (
    sdqkd as sdqkd,
)
from process_support import (
    status_now as status_now,
)
from process_support import (
    wait_for as wait_for,
)
from sdqkd.errors import SdqkdError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.pki.identity import Role
from sdqkd.runtime.rundir import RunDir, sae_id

TIME_SCALE = "200"

_T = TypeVar("_T")

Up = Callable[..., subprocess.Popen[bytes]]


def pools_ready(status: dict[str, Any] | None, link_id: str) -> bool:
    """Whether both KMEs of ``link_id`` hold ready blocks on it."""
    if status is None:
        return False
    found = next(lk for lk in status["links"] if lk["id"] == link_id)
    return len(found["pools"]) == 2 and all(pool["ready_blocks"] > 0 for pool in found["pools"].values())


def wait_until_pools_ready(
    run_dir: Path, up: subprocess.Popen[bytes], output: Path, link_id: str
) -> dict[str, Any]:
    """Wait until ``up`` serves and both KMEs of ``link_id`` hold ready blocks; the status."""

    def probe() -> dict[str, Any] | None:
        if up.poll() is not None:
            raise AssertionError(f"sdqkd up exited with {up.returncode}: {output.read_text()}")
        return status_now(run_dir)

    status = wait_for(
        probe, lambda status: pools_ready(status, link_id), START_TIMEOUT_S, "key in both pools"
    )
    assert status is not None
    return status


def recorded_processes(run_dir: Path) -> dict[str, int]:
    """``network.json``'s process ids by name (``emulator``, ``kme-NODE``); {} while there is none."""
    run = RunDir(run_dir)
    try:
        return {name: int(pid) for name, pid in run.read_json(run.network).get("processes", {}).items()}
    except SdqkdError:
        return {}


def wait_until_kme_restarted(run_dir: Path, node: str, old_pid: int, timeout_s: float = 20.0) -> int:
    """Wait until the launcher has started the KME of ``node`` again (a new process that announced
    itself in its endpoint record); the new process id."""
    run = RunDir(run_dir)

    def probe() -> int:
        pid = recorded_processes(run_dir).get(f"kme-{node}", old_pid)
        try:
            serving = run.read_json(run.kme_endpoint(node)).get("pid")
        except SdqkdError:
            return 0
        return pid if pid != old_pid and serving == pid else 0

    return wait_for(probe, lambda pid: pid > 0, timeout_s, f"KME {node} restarted")


def sae_client(run_dir: Path, node: str) -> Etsi014Client:
    """An ETSI 014 client of ``node``'s KME with the certificate of its SAE ``NODE-app``."""
    run = RunDir(run_dir)
    url = str(run.read_json(run.network)["kmes"][node])
    cert, key = run.require_certificate(Role.SAE, sae_id(node))
    return Etsi014Client(url, cert=cert, key=key, ca=run.ca_cert)


def keys_made_for(run_dir: Path, node: str, master: str) -> int:
    """How many keys ``node``'s KME has committed for the master SAE ``master`` (its database, read
    only: a second reader of a WAL database does not disturb the KME)."""
    path = RunDir(run_dir).kme_dir / f"{node}.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM keys WHERE owner = 'self' AND master_sae = ?", (master,)
        ).fetchone()
    return int(count)
