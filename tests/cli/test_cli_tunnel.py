"""``sdqkd tunnel``: its two commands are there, and bad input (an address that is not HOST:PORT, the
same node at both ends, negative re-key settings, a run directory without a network) ends with one line
and status 1 before anything listens."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sdqkd.cli.tunnel import parse_address
from sdqkd.errors import ConfigError

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_entry_and_exit(sdqkd: Sdqkd) -> None:
    result = sdqkd("tunnel", "--help")
    assert result.returncode == 0
    assert "entry" in result.stdout
    assert "exit" in result.stdout
    assert "--rekey-bytes" in sdqkd("tunnel", "entry", "--help").stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7000", ("127.0.0.1", 7000)),
        ("[::1]:0", ("::1", 0)),
        ("host.example:65535", ("host.example", 65535)),
    ],
)
def test_addresses_are_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text, "--listen") == expected


@pytest.mark.parametrize("text", ["7000", ":7000", "host:", "host:port", "host:70000"])
def test_a_malformed_address_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="not HOST:PORT"):
        parse_address(text, "--listen")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--peer", "n1"], "two different nodes"),
        (["--peer", "n3", "--rekey-s", "-1"], "0 or more"),
        (["--peer", "n3", "--key-lifetime-s", "0"], "more than 0"),
        (["--peer", "n3", "--connect", "nowhere"], "--connect 'nowhere' is not HOST:PORT"),
    ],
)
def test_bad_entry_settings_end_with_one_line(
    sdqkd: Sdqkd, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["--run-dir", str(tmp_path), "--node", "n1", "--listen", "127.0.0.1:0", "--connect", "127.0.0.1:1"]
    result = sdqkd("tunnel", "entry", *args, *extra)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_exit_without_a_running_network_ends_with_one_line(sdqkd: Sdqkd, tmp_path: Path) -> None:
    result = sdqkd(
        "tunnel", "exit", "--run-dir", str(tmp_path / "none"), "--node", "n3",
        "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
