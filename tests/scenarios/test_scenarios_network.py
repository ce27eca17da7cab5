"""Whether a network runs in a run directory (a scenario uses it, or starts one): its record exists and
the ``sdqkd up`` it names is alive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sdqkd.runtime.rundir import RunDir
from sdqkd.scenarios.network import is_running


def _record(run: RunDir, pid: int) -> None:
    run.network.write_text(json.dumps({"pid": pid, "topology": "madrid"}), encoding="utf-8")


def test_a_run_directory_without_a_record_runs_nothing(tmp_path: Path) -> None:
    assert not is_running(RunDir(tmp_path))


def test_a_record_left_by_an_up_that_has_ended_runs_nothing(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    run = RunDir(tmp_path)
    _record(run, finished.pid)

    assert not is_running(run)


def test_a_record_whose_up_is_alive_is_a_running_network(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    _record(run, os.getpid())

    assert is_running(run)
