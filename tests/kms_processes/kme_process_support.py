"""Test support for the KME process tests (imported by the conftest and the tests): ``sdqkd`` as a real
command, polling, the processes of a run, and SAE clients of a running network's KMEs."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sdqkd.errors import SdqkdError
from sdqkd.etsi014 import Etsi014Client
from sdqkd.pki.identity import Role
from sdqkd.runtime.launcher import network_status
from sdqkd.runtime.rundir import RunDir, sae_id

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]
TIME_SCALE = "200"
START_TIMEOUT_S = 30.0

_T = TypeVar("_T")

Up = Callable[..., subprocess.Popen[bytes]]


def sdqkd(*args: str | Path, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``sdqkd ARGS`` to completion, output captured."""
    return subprocess.run(
        [*SDQKD, *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def wait_for(probe: Callable[[], _T], accept: Callable[[_T], bool], timeout_s: float, what: str) -> _T:
    """Call ``probe`` until ``accept`` approves its answer; the answer, or AssertionError after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s; last: {value!r}")
        time.sleep(0.05)


def status_now(run_dir: Path) -> dict[str, Any] | None:
    """``sdqkd status --format json`` of the run, or None while there is none to show."""
    if not RunDir(run_dir).network.exists():
        return None
    try:
        return network_status(RunDir(run_dir))
    except SdqkdError:  # network.json written, the emulator not answering yet
        return None


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


def is_running(pid: int) -> bool:
    """Whether a process of that id exists (``os.kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[int]:
    """Ids of the processes whose command line contains ``text`` (Linux /proc; [] elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if text in command and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


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
