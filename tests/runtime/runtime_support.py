"""Test support for the runtime tests (imported by the conftest and the tests): ``sdqkd`` as a real
command, polling, and finding the processes of a run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sdqkd.errors import SdqkdError
from sdqkd.runtime.launcher import network_status
from sdqkd.runtime.rundir import RunDir

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]
TIME_SCALE = "50"
START_TIMEOUT_S = 30.0

_T = TypeVar("_T")

Launch = Callable[..., subprocess.Popen[bytes]]


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
        time.sleep(0.1)


def status_now(run_dir: Path) -> dict[str, Any] | None:
    """``sdqkd status --format json`` of the run, or None while there is none to show."""
    if not RunDir(run_dir).network.exists():
        return None
    try:
        return network_status(RunDir(run_dir))
    except SdqkdError:  # network.json written, the emulator not answering yet
        return None


def wait_until_serving(
    run_dir: Path,
    up: subprocess.Popen[bytes],
    output: Path,
    ready: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Wait until ``up`` serves a network in ``run_dir`` whose status ``ready`` accepts (default:
    every link up and holding key); its status."""

    def probe() -> dict[str, Any] | None:
        if up.poll() is not None:
            raise AssertionError(f"sdqkd up exited with {up.returncode}: {output.read_text()}")
        return status_now(run_dir)

    def accept(status: dict[str, Any] | None) -> bool:
        if status is None:
            return False
        if ready is not None:
            return ready(status)
        return all(link["status"] == "up" and link["keys_available"] > 0 for link in status["links"])

    status = wait_for(probe, accept, START_TIMEOUT_S, "serving")
    assert status is not None
    return status


def link(status: dict[str, Any], link_id: str) -> dict[str, Any]:
    return next(found for found in status["links"] if found["id"] == link_id)


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


def pids_recorded_in(run_dir: Path) -> set[int]:
    """The process ids a run's records name (launcher, emulator), while the records exist."""
    run = RunDir(run_dir)
    pids: set[int] = set()
    for record in (run.network, run.emulator_endpoint):
        try:
            data = run.read_json(record)
        except SdqkdError:
            continue
        pids.add(int(data.get("pid", 0)))
        pids.update(int(pid) for pid in data.get("processes", {}).values())
    pids.discard(0)
    return pids
