"""``sdqkd opot``: profiles for a path written owner-only and read back as the same scheme, and a node
whose settings do not fit its place on the path ends with one line and status 1 before anything listens."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sdqkd.apps.opot import PathProfile

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_profile_and_node(sdqkd: Sdqkd) -> None:
    result = sdqkd("opot", "--help")
    assert result.returncode == 0
    assert "profile" in result.stdout
    assert "node" in result.stdout
    assert "--refresh-packets" in sdqkd("opot", "node", "--help").stdout


def test_a_profile_is_written_owner_only_and_reads_back_for_the_path(sdqkd: Sdqkd, tmp_path: Path) -> None:
    out = tmp_path / "path.json"
    result = sdqkd("opot", "profile", "--path", "n1, n2,n3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    profile = PathProfile.from_json(out.read_text())
    assert [n.node for n in profile.nodes] == ["n1", "n2", "n3"]
    assert profile.verifier.node == "n3"


def test_a_path_of_one_node_gets_no_profile(sdqkd: Sdqkd, tmp_path: Path) -> None:
    result = sdqkd("opot", "profile", "--path", "n1", "--out", str(tmp_path / "p.json"))
    assert result.returncode == 1
    assert "at least an ingress and a verifier" in result.stderr
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    ("node", "extra", "message"),
    [
        ("n9", ["--next", "127.0.0.1:1"], "not on the profile's path"),
        ("n3", ["--next", "127.0.0.1:1"], "verifier: give --forward"),
        ("n1", ["--forward", "127.0.0.1:1"], "not the path's verifier: give --next"),
        ("n2", ["--next", "nowhere"], "--next 'nowhere' is not HOST:PORT"),
        ("n1", ["--next", "127.0.0.1:1", "--refresh-packets", "-1"], "0 or more"),
        ("n2", ["--next", "127.0.0.1:1", "--window", "0"], "replay window"),
    ],
)
def test_bad_node_settings_end_with_one_line(
    sdqkd: Sdqkd, tmp_path: Path, node: str, extra: list[str], message: str
) -> None:
    profile = tmp_path / "path.json"
    assert sdqkd("opot", "profile", "--path", "n1,n2,n3", "--out", str(profile)).returncode == 0
    args = ["--run-dir", str(tmp_path), "--node", node, "--profile", str(profile), "--listen", "127.0.0.1:0"]
    result = sdqkd("opot", "node", *args, *extra)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_node_without_a_profile_or_a_running_network_ends_with_one_line(
    sdqkd: Sdqkd, tmp_path: Path
) -> None:
    args = ["--node", "n1", "--listen", "127.0.0.1:0", "--next", "127.0.0.1:1"]
    result = sdqkd(
        "opot", "node", "--run-dir", str(tmp_path), "--profile", str(tmp_path / "none.json"), *args
    )
    assert result.returncode == 1
    assert "--profile" in result.stderr
    profile = tmp_path / "path.json"
    sdqkd("opot", "profile", "--path", "n1,n2", "--out", str(profile))
    result = sdqkd("opot", "node", "--run-dir", str(tmp_path / "none"), "--profile", str(profile), *args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
