"""Fixtures for the KME process tests: ``sdqkd up`` started as a real process, and a clean-up that
leaves no process of a test's runs behind, whatever the test did."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kme_process_support import SDQKD, TIME_SCALE, Up, is_running, processes_mentioning, recorded_processes


@pytest.fixture
def up_network() -> Iterator[Up]:
    """``up_network(topology, run_dir, output)``: start ``sdqkd up --topology TOPOLOGY --run-dir RUN
    --time-scale 200`` with its stdout and stderr in ``output``. After the test, whatever is left of
    the runs is stopped: the ``up`` processes, every process ``network.json`` records (the KMEs it
    restarted included), and every process that names a run directory on its command line."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(topology: str, run_dir: Path, output: Path) -> subprocess.Popen[bytes]:
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [*SDQKD, "up", "--topology", topology, "--run-dir", str(run_dir), "--time-scale", TIME_SCALE],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append((process, run_dir))
        return process

    try:
        yield start
    finally:
        leftovers: set[int] = set()
        for process, run_dir in started:
            leftovers |= set(recorded_processes(run_dir).values())
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            leftovers |= set(processes_mentioning(str(run_dir)))
        for pid in leftovers - {os.getpid()}:
            if is_running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
