"""Starting and stopping the service processes of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["is_alive", "spawn_sdqkd", "terminate"]


def spawn_sdqkd(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``sdqkd ARGS`` as a child process in its own session, output appended to ``log``.

    Its own session: a Ctrl-C in the terminal reaches the launcher only, which then stops its
    children in order.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "sdqkd.cli.app", *args],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def is_alive(pid: int) -> bool:
    """Whether a process of that id runs: it exists and is not a zombie.

    A zombie of ours is reaped here. A zombie of another parent (``sdqkd down`` stopping an
    ``sdqkd up`` that a script or a supervisor started) has exited, but ``kill(pid, 0)`` still
    finds it until that parent reaps it: its state in ``/proc`` tells (where there is one).
    """
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Whether ``/proc`` shows ``pid`` as a zombie (False where there is no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # proc(5): "pid (comm) state ...": comm may hold spaces and ')', so the state follows the last ')'
    return stat[stat.rfind(")") + 1 :].split()[:1] == ["Z"]


def terminate(pid: int, timeout_s: float = 10.0) -> bool:
    """SIGTERM ``pid``, then SIGKILL after ``timeout_s``; True once it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.1)
    return not is_alive(pid)
