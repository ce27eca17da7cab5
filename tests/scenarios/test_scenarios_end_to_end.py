"""Each scenario end to end, as a user runs it: ``sdqkd scenario NAME --run-dir RUN`` where no network
runs, so the scenario starts Madrid with ``sdqkd up`` (fast world), runs its experiment against the real
services, writes its report, passes its own checks, and stops the network it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from process_support import is_running, processes_mentioning, sdqkd
from sdqkd.runtime.rundir import RunDir

pytestmark = [pytest.mark.slow, pytest.mark.integration]

_PNG = b"\x89PNG\r\n\x1a\n"
_TIME_SCALE = "50"
_TIMEOUT_S = 240.0


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty run directory; whatever a failed test left running there is killed afterwards."""
    run = tmp_path / "run"
    yield run
    for pid in processes_mentioning(str(run)):
        if pid != os.getpid() and is_running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _report(run_dir: Path, name: str, stdout: str) -> dict[str, object]:
    folder = run_dir / "scenarios" / name
    assert f"report: {folder / 'report.md'}" in stdout
    body: dict[str, object] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert (folder / "report.md").read_text(encoding="utf-8").startswith("# ")
    for plot in body["plots"]:
        assert (folder / plot).read_bytes().startswith(_PNG)
    return body


def _stopped(run_dir: Path) -> bool:
    return not RunDir(run_dir).network.exists() and not processes_mentioning(str(run_dir))


def test_coexistence_starts_madrid_restores_the_links_after_the_operator_change_and_stops(
    run_dir: Path,
) -> None:
    result = sdqkd(
        "scenario",
        "coexistence",
        "--run-dir",
        run_dir,
        "--time-scale",
        _TIME_SCALE,
        "--phase-s",
        "1",
        timeout_s=_TIMEOUT_S,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    body = _report(run_dir, "coexistence", result.stdout)
    assert body["passed"] is True
    assert isinstance(body["time_to_target_s"], float)
    assert body["below_floor"] == []
    assert [p["name"] for p in body["phases"]] == [
        "no classical load",
        "17 classical channels",
        "operator raises power and adds channels",
        "operator undoes the change",
    ]
    kinds = {a["kind"] for a in body["actions"]}
    assert kinds & {"lower_power", "retune_quantum", "move_channel"}
    assert "coexistence: passed" in result.stdout
    assert _stopped(run_dir)


def test_switching_consumes_key_at_both_receivers_and_reports_their_shares(run_dir: Path) -> None:
    result = sdqkd(
        "scenario",
        "switching",
        "--run-dir",
        run_dir,
        "--time-scale",
        _TIME_SCALE,
        "--duration-s",
        "20",
        "--rate",
        "10",
        timeout_s=_TIMEOUT_S,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    body = _report(run_dir, "switching", result.stdout)
    assert body["passed"] is True
    receivers = body["receivers"]
    assert set(receivers) == {"concepcion-norte", "concepcion-quintin"}
    for receiver in receivers.values():
        assert receiver["share"] > 0
        assert receiver["consumer"]["keys"] > 0
        assert receiver["ran_dry"] is False
    assert body["moves"]["seen"] >= 1
    assert _stopped(run_dir)
