"""Test support for the runtime tests (imported by the conftest and the tests): ``sdqkd`` as a real
command, polling, and finding the processes of a run."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
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
from sdqkd.runtime.rundir import RunDir

TIME_SCALE = "50"

_T = TypeVar("_T")

Launch = Callable[..., subprocess.Popen[bytes]]


def wait_until_serving(
    run_dir: Path,
    up: subprocess.Popen[bytes],
    output: Path,
    ready: Callable[[dict[str, Any]], bool] | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> dict[str, Any]:
    """Wait until ``up`` serves a network in ``run_dir`` whose status ``ready`` accepts (default:
    every link up and holding key) within ``timeout_s``; its status."""

    def probe() -> dict[str, Any] | None:
        if up.poll() is not None:
            raise AssertionError(f"sdqkd up exited with {up.returncode}: {output.read_text()}")
        return status_now(run_dir)

    def accept(status: dict[str, Any] | None) -> bool:
        if status is None:
            return False
        if ready is not None:
            return ready(status)
        physical = [link for link in status["links"] if link["type"] == "PHYS"]
        return all(link["status"] == "up" and link["keys_available"] > 0 for link in physical)

    status = wait_for(probe, accept, timeout_s, "serving")
    assert status is not None
    return status


def link(status: dict[str, Any], link_id: str) -> dict[str, Any]:
    return next(found for found in status["links"] if found["id"] == link_id)


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


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """A TCP server on loopback that sends back what it gets (one thread per connection)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 18):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def relayed(status: dict[str, Any], name: str = "v-n1-n3") -> bool:
    """The relayed pair ``name`` is up and every KME on its path holds the association."""
    virtual = next((lk for lk in status["links"] if lk["id"] == name), None)
    return (
        virtual is not None
        and virtual["status"] == "up"
        and set(virtual["configured_kmes"]) == set(virtual["path"])
    )


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
