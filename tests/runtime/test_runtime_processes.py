"""Telling whether a process of a run still runs, and stopping one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runtime_support import wait_for

from sdqkd.runtime.launcher import free_ports
from sdqkd.runtime.processes import is_alive, terminate

pytestmark = pytest.mark.integration

# A parent that forks a child which exits at once, prints the child's pid, and never reaps it.
_ZOMBIE_MAKER = (
    "import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)"
)
_DEAF = "\n".join(
    [
        "import signal, time",
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
        "print('ready', flush=True)",
        "time.sleep(60)",
    ]
)


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 1 :].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_an_exited_process_another_parent_has_not_reaped_is_not_alive() -> None:
    with subprocess.Popen([sys.executable, "-c", _ZOMBIE_MAKER], stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            zombie = int(parent.stdout.readline())
            wait_for(lambda: _state(zombie), lambda state: state == "Z", 5, "a zombie")
            os.kill(zombie, 0)  # still there for kill(): only its state says it has exited

            assert is_alive(zombie) is False
            assert is_alive(parent.pid) is True
        finally:
            parent.kill()


def test_our_own_exited_child_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: is_alive(child.pid), lambda alive: not alive, 10, "exited")
    child.wait()  # reaped by is_alive already: wait() must still return


def test_terminate_kills_a_process_that_ignores_sigterm() -> None:
    with subprocess.Popen([sys.executable, "-c", _DEAF], stdout=subprocess.PIPE, text=True) as deaf:
        assert deaf.stdout is not None
        assert deaf.stdout.readline().strip() == "ready"
        started = time.monotonic()

        assert terminate(deaf.pid, timeout_s=0.3) is True

        assert time.monotonic() - started < 5
        with pytest.raises(ProcessLookupError):  # killed, and reaped (by terminate's is_alive)
            os.kill(deaf.pid, 0)


def test_the_kmes_ports_are_distinct_free_and_outside_the_kernels_ephemeral_range() -> None:
    ports = free_ports(12)
    assert len(set(ports)) == 12
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free
    range_file = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if range_file.exists():  # Linux: outgoing connections never take these ports
        low, high = (int(part) for part in range_file.read_text().split())
        assert all(port < low or port > high for port in ports)
