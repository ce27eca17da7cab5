"""Fixtures for the runtime tests: ``sdqkd up`` started as a real process, and a clean-up that leaves
no process of a test's runs behind, whatever the test did."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from runtime_support import SDQKD, TIME_SCALE, Launch, is_running, pids_recorded_in, processes_mentioning


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """``launch(run_dir, output)``: start ``sdqkd up --topology chain:3 --run-dir RUN --time-scale 50``
    with its stdout and stderr in ``output``. After the test, whatever is left of the runs is stopped:
    the ``up`` processes, and every process the run directories record or name on their command line."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    seen: set[int] = set()

    def start(
        run: Path, output: Path, topology: str = "chain:3", extra: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [
                    *SDQKD,
                    "up",
                    "--topology",
                    topology,
                    "--run-dir",
                    str(run),
                    "--time-scale",
                    TIME_SCALE,
                    *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append((process, run))
        return process

    yield start

    for process, run in started:
        seen |= pids_recorded_in(run)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        seen |= set(processes_mentioning(str(run)))
    for pid in seen:
        if pid != os.getpid() and is_running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
