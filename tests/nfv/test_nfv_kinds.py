"""The fixed table of process kinds: validated arguments become exactly the ``sdqkd tunnel`` command
lines, and anything else is refused before a command line exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sdqkd.nfv import DEFAULT_KINDS, ProcessRefused, Site
from sdqkd.nfv.kinds import SDQKD_COMMAND

SITE = Site("norte", Path("/srv/run"), Path("/srv/logs"))


def test_a_tunnel_entry_is_the_sdqkd_tunnel_entry_command_with_its_stats_file_in_the_log_folder() -> None:
    args = {
        "node": "norte", "peer": "quintin", "listen": "127.0.0.1:9000", "connect": "quintin-host:7000",
        "rekey_s": 10, "rekey_bytes": 8000000, "key_lifetime_s": 30,
    }  # fmt: skip
    model, launch = DEFAULT_KINDS["tunnel-entry"].prepare(args, "svc1-a", SITE)
    assert launch.argv == (
        *SDQKD_COMMAND, "tunnel", "entry", "--run-dir", "/srv/run", "--node", "norte", "--peer", "quintin",
        "--listen", "127.0.0.1:9000", "--connect", "quintin-host:7000", "--rekey-s", "10.0",
        "--rekey-bytes", "8000000", "--key-lifetime-s", "30.0", "--stats-file", "/srv/logs/svc1-a.stats.json",
    )  # fmt: skip
    assert launch.stats_file == Path("/srv/logs/svc1-a.stats.json")
    assert model.model_dump()["peer"] == "quintin"


def test_a_tunnel_entry_without_a_key_lifetime_leaves_the_option_to_the_command() -> None:
    args = {"node": "norte", "peer": "quintin", "listen": "[::1]:9000", "connect": "10.0.0.3:7000"}
    _, launch = DEFAULT_KINDS["tunnel-entry"].prepare(args, "e", SITE)
    assert "--key-lifetime-s" not in launch.argv
    assert launch.argv[launch.argv.index("--rekey-s") + 1] == "60.0"
    assert launch.argv[launch.argv.index("--rekey-bytes") + 1] == str(1 << 30)
    assert launch.argv[launch.argv.index("--listen") + 1] == "[::1]:9000"


def test_a_tunnel_exit_is_the_sdqkd_tunnel_exit_command() -> None:
    args = {"node": "norte", "listen": "0.0.0.0:7000", "forward": "127.0.0.1:8080"}
    _, launch = DEFAULT_KINDS["tunnel-exit"].prepare(args, "x", SITE)
    assert launch.argv == (
        *SDQKD_COMMAND, "tunnel", "exit", "--run-dir", "/srv/run", "--node", "norte",
        "--listen", "0.0.0.0:7000", "--forward", "127.0.0.1:8080", "--stats-file", "/srv/logs/x.stats.json",
    )  # fmt: skip


_EXIT = {"node": "norte", "listen": "0.0.0.0:7000", "forward": "127.0.0.1:8080"}
_ENTRY = {"node": "norte", "peer": "quintin", "listen": "127.0.0.1:9000", "connect": "q:7000"}


@pytest.mark.parametrize(
    ("kind", "args", "where"),
    [
        ("tunnel-exit", {**_EXIT, "forward": "127.0.0.1"}, "args.forward"),
        ("tunnel-exit", {**_EXIT, "listen": "host:99999"}, "args.listen"),
        ("tunnel-exit", {**_EXIT, "listen": "--run-dir=/etc:80"}, "args.listen"),
        ("tunnel-exit", {**_EXIT, "command": "rm -rf /"}, "args.command"),
        ("tunnel-exit", {"node": "norte", "listen": "0.0.0.0:7000"}, "args.forward"),
        ("tunnel-entry", {**_ENTRY, "rekey_s": -1}, "args.rekey_s"),
        ("tunnel-entry", {**_ENTRY, "rekey_bytes": "lots"}, "args.rekey_bytes"),
        ("tunnel-entry", {**_ENTRY, "key_lifetime_s": 0}, "args.key_lifetime_s"),
        ("tunnel-entry", {**_ENTRY, "peer": "norte"}, "two different nodes"),
        ("tunnel-entry", {**_ENTRY, "peer": "-x"}, "args.peer"),
        ("tunnel-entry", {**_ENTRY, "node": "quintin", "peer": "norte"}, "not this manager's node"),
        ("tunnel-exit", {**_EXIT, "node": "quintin"}, "not this manager's node"),
    ],
)
def test_arguments_that_do_not_validate_are_refused_naming_where(
    kind: str, args: dict[str, Any], where: str
) -> None:
    with pytest.raises(ProcessRefused, match=where) as refused:
        DEFAULT_KINDS[kind].prepare(args, "p", SITE)
    assert "rm -rf" not in str(refused.value)  # says where and why, never what was sent
