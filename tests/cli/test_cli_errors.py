"""Bad input ends ``sdqkd`` with one line on stderr and a non-zero status, never a traceback; and the
console entry point runs as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sdqkd import __version__
from sdqkd.cli.app import run

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]

_USAGE, _INVALID = 2, 1  # exit statuses: command-line usage errors, sdqkd's own errors


@pytest.fixture
def topology_files(tmp_path: Path) -> Path:
    """A folder with an invalid YAML file and a topology whose fibre has a negative length."""
    (tmp_path / "invalid.yaml").write_text("name: broken\nnodes: [a, b\n", encoding="utf-8")
    (tmp_path / "negative-length.yaml").write_text(
        "name: negative\n"
        "nodes:\n"
        "  - {id: a, name: A}\n"
        "  - {id: b, name: B}\n"
        "fibres:\n"
        "  - {id: a-b, a: a, b: b, length_km: -5}\n",
        encoding="utf-8",
    )
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "status", "mentions"),
    [
        pytest.param(["keyrate", "--length-km", "-1"], _USAGE, ["--length-km"], id="negative-length"),
        pytest.param(["keyrate", "--length-km", "abc"], _USAGE, ["--length-km"], id="length-not-a-number"),
        pytest.param(["keyrate"], _INVALID, ["--length-km", "--loss-db"], id="no-channel"),
        pytest.param(["keyrate", "--length-km", "10", "--eta", "0"], _INVALID, ["efficiency"], id="eta-zero"),
        pytest.param(
            ["keyrate", "--length-km", "10", "--eta", "1.5"], _INVALID, ["efficiency"], id="eta-above-1"
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--va", "0"], _INVALID, ["modulation variance"], id="va-zero"
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--beta", "1.2"], _INVALID, ["reconciliation"], id="beta-above-1"
        ),
        pytest.param(["keyrate", "--length-km", "10", "--fer", "1"], _INVALID, ["frame error"], id="fer-1"),
        pytest.param(
            ["keyrate", "--length-km", "10", "--symbol-rate", "0"],
            _INVALID,
            ["symbol rate"],
            id="symbol-rate-0",
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--vel", "-1"], _INVALID, ["electronic noise"], id="negative-vel"
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--xi", "-0.1"], _INVALID, ["excess noise"], id="negative-xi"
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--detection", "foo"],
            _USAGE,
            ["--detection"],
            id="detection-foo",
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--format", "xml"], _USAGE, ["--format"], id="keyrate-xml"
        ),
        pytest.param(["plan", "--format", "xml"], _USAGE, ["--format"], id="plan-xml"),
        pytest.param(
            ["keyrate", "--length-km", "10", "--block-size", "1"], _INVALID, ["block size"], id="block-size-1"
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--block-size", "1e8", "--pe-fraction", "1"],
            _INVALID,
            ["parameter-estimation"],
            id="pe-fraction-1",
        ),
        pytest.param(["plan", "--target-bps", "-1"], _USAGE, ["--target-bps"], id="negative-target"),
        pytest.param(["plan", "--topology", "atlantis"], _INVALID, ["atlantis"], id="unknown-topology"),
        pytest.param(
            ["plan", "--topology", "{tmp}/missing.yaml"], _INVALID, ["{tmp}/missing.yaml"], id="no-such-file"
        ),
        pytest.param(
            ["plan", "--topology", "{tmp}/invalid.yaml"],
            _INVALID,
            ["{tmp}/invalid.yaml", "YAML"],
            id="invalid-yaml",
        ),
        pytest.param(
            ["plan", "--topology", "{tmp}/negative-length.yaml"],
            _INVALID,
            ["{tmp}/negative-length.yaml", "length_km"],
            id="negative-length-in-file",
        ),
        pytest.param(["plan", "--topology", "chain:1"], _INVALID, ["chain:1"], id="chain-of-one"),
        pytest.param(["plan", "--topology", "grid:1x1"], _INVALID, ["grid:1x1"], id="grid-of-one"),
        pytest.param(["keyrate", "--length-km", "10", "--bogus"], _USAGE, ["--bogus"], id="unknown-option"),
        pytest.param(["teleport"], _USAGE, ["teleport"], id="unknown-command"),
        pytest.param(
            ["plan", "--plots", "{tmp}/a-file/plots"],
            _INVALID,
            ["{tmp}/a-file/plots"],
            id="plots-under-a-file",
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--xi", "inf"],
            _INVALID,
            ["excess noise"],
            id="infinite-xi",
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--va", "inf"],
            _INVALID,
            ["modulation variance"],
            id="infinite-va",
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--block-size", "inf"],
            _INVALID,
            ["block size"],
            id="infinite-block",
        ),
        pytest.param(
            ["keyrate", "--length-km", "10", "--symbol-rate", "inf"],
            _INVALID,
            ["symbol rate"],
            id="infinite-symbol-rate",
        ),
    ],
)
def test_bad_input_ends_with_one_error_line_and_a_non_zero_status(
    sdqkd: Sdqkd, topology_files: Path, args: list[str], status: int, mentions: list[str]
) -> None:
    result = sdqkd(*(arg.format(tmp=topology_files) for arg in args))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == status
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("sdqkd: error: ")
    for mention in mentions:
        assert mention.format(tmp=topology_files) in line


def test_no_arguments_prints_the_usage(sdqkd: Sdqkd) -> None:
    result = sdqkd()
    assert result.returncode == 0
    assert "Usage: sdqkd" in result.stdout
    assert "keyrate" in result.stdout
    assert "plan" in result.stdout


def test_version_option_prints_the_version(sdqkd: Sdqkd) -> None:
    result = sdqkd("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"sdqkd {__version__}"


def test_console_script_entry_exits_with_the_status_of_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["sdqkd", "keyrate", "--eta", "2", "--length-km", "1"])
    with pytest.raises(SystemExit) as exit_info:
        run()
    assert exit_info.value.code == _INVALID
    assert capsys.readouterr().err.startswith("sdqkd: error: ")


def _sdqkd_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdqkd.cli.app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.mark.integration
def test_module_entry_runs_keyrate_as_a_process(tmp_path: Path) -> None:
    result = _sdqkd_process("keyrate", "--length-km", "25", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["transmittance"] == pytest.approx(10**-0.5, rel=1e-12)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "status"),
    [(["keyrate", "--length-km", "-1"], _USAGE), (["plan", "--topology", "chain:1"], _INVALID)],
)
def test_module_entry_reports_bad_input_in_one_line_without_a_traceback(
    tmp_path: Path, args: list[str], status: int
) -> None:
    result = _sdqkd_process(*args, cwd=tmp_path)
    assert result.returncode == status
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("sdqkd: error: ")
