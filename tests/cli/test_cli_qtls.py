"""``sdqkd qtls``: its three commands are there, and bad input (the same node at both ends, an unknown
PSK hash, a malformed address, a run directory without a network) ends with one line and status 1."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_serve_connect_and_psk(sdqkd: Sdqkd) -> None:
    result = sdqkd("qtls", "--help")
    assert result.returncode == 0
    for command in ("serve", "connect", "psk"):
        assert command in result.stdout
    assert "--psk-hash" in sdqkd("qtls", "connect", "--help").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["connect", "--node", "n1", "--peer", "n1", "--connect", "127.0.0.1:1"], "two different nodes"),
        (["psk", "--node", "n2", "--peer", "n2"], "two different nodes"),
        (
            ["connect", "--node", "n1", "--peer", "n2", "--connect", "127.0.0.1:1", "--psk-hash", "md5"],
            "--psk-hash 'md5'",
        ),
        (["connect", "--node", "n1", "--peer", "n2", "--connect", "nowhere"], "--connect 'nowhere' is not"),
        (["serve", "--node", "n1", "--listen", "127.0.0.1:0", "--forward", "x"], "--forward 'x' is not"),
    ],
)
def test_bad_settings_end_with_one_line(sdqkd: Sdqkd, tmp_path: Path, args: list[str], message: str) -> None:
    result = sdqkd("qtls", *args, "--run-dir", str(tmp_path))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_without_a_running_network_ends_with_one_line(sdqkd: Sdqkd, tmp_path: Path) -> None:
    result = sdqkd(
        "qtls", "serve", "--run-dir", str(tmp_path / "none"), "--node", "n2",
        "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
