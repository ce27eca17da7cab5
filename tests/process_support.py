"""Support shared by the tests that run sdqkd as real processes (tests/runtime, tests/kms_processes):
``sdqkd`` as a command, polling, and finding the processes of a run. Importable as ``process_support``
from any test (``tests/`` is on the path through its conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from polling import wait_for as wait_for
from sdqkd.errors import SdqkdError
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import network_status

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]
START_TIMEOUT_S = 60.0
"""How long a network may take to serve. A 3×3 grid is 19 processes (emulator, controller, 9 agents, 9
KMEs); on a 2-CPU CI runner it serves its first relays after 30–40 s."""

_T = TypeVar("_T")


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


def status_now(run_dir: Path) -> dict[str, Any] | None:
    """``sdqkd status --format json`` of the run, or None while there is none to show."""
    if not RunDir(run_dir).network.exists():
        return None
    try:
        return network_status(RunDir(run_dir))
    except SdqkdError:  # network.json written, a service not answering yet
        return None


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
