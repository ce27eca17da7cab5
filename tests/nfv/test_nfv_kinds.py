"""The fixed table of process kinds: validated arguments become exactly the ``sdqkd tunnel`` command
lines, and anything else is refused before a command line exists."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from sdqkd.nfv import DEFAULT_KINDS, ProcessRefused, Site
from sdqkd.nfv.kinds import SDQKD_COMMAND
from sdqkd.opot import generate_profiles

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


# opot-node -------------------------------------------------------------------------------------------------

_PROFILES = generate_profiles(["norte", "centro", "quintin"])
_FIRST = _PROFILES.share_for("norte").to_json()
_LAST = generate_profiles(["quintin", "norte"]).share_for("norte").to_json()
_NODE = {"node": "norte", "share": _FIRST, "listen": "127.0.0.1:9100", "next": "centro-host:9200"}


def _secrets_of(share: str) -> list[str]:
    """The secret values of a share as they appear in its JSON (hex): what must never be shown."""
    doc = json.loads(share)
    return [doc["node"]["share"], *([doc["verifier"]["secret"]] if "verifier" in doc else [])]


def test_an_opot_node_is_the_sdqkd_opot_node_command_with_its_share_in_a_file_not_on_the_line() -> None:
    model, launch = DEFAULT_KINDS["opot-node"].prepare(
        {**_NODE, "refresh_packets": 500, "refresh_s": 2}, "svc-n", SITE
    )
    assert launch.argv == (
        *SDQKD_COMMAND, "opot", "node", "--run-dir", "/srv/run", "--node", "norte",
        "--profile", "/srv/logs/svc-n.share.json", "--listen", "127.0.0.1:9100", "--next", "centro-host:9200",
        "--refresh-packets", "500", "--refresh-s", "2.0", "--stats-file", "/srv/logs/svc-n.stats.json",
    )  # fmt: skip
    assert launch.stats_file == Path("/srv/logs/svc-n.stats.json")
    assert launch.files == ((Path("/srv/logs/svc-n.share.json"), _FIRST.encode()),)
    shown = " ".join(launch.argv) + repr(launch) + json.dumps(model.model_dump(mode="json")) + repr(model)
    assert _FIRST not in shown
    assert not any(value in shown for value in _secrets_of(_FIRST))
    assert model.model_dump(mode="json")["share"] == "**********"


def test_the_verifier_forwards_where_told_or_only_counts() -> None:
    verifier = {"node": "norte", "share": _LAST, "listen": "[::1]:9300"}
    _, counting = DEFAULT_KINDS["opot-node"].prepare(verifier, "v", SITE)
    assert "--next" not in counting.argv
    assert "--forward" not in counting.argv
    _, forwarding = DEFAULT_KINDS["opot-node"].prepare({**verifier, "forward": "10.0.0.9:53"}, "v", SITE)
    assert forwarding.argv[forwarding.argv.index("--forward") + 1] == "10.0.0.9:53"
    assert forwarding.files == ((Path("/srv/logs/v.share.json"), _LAST.encode()),)
    assert _secrets_of(_LAST)[1] not in " ".join(forwarding.argv)  # the verifier's secret neither


def test_an_opot_node_listens_on_udp_and_the_tunnels_on_tcp() -> None:
    assert DEFAULT_KINDS["opot-node"].listen_type == socket.SOCK_DGRAM
    assert DEFAULT_KINDS["tunnel-exit"].listen_type == socket.SOCK_STREAM
    assert DEFAULT_KINDS["tunnel-entry"].listen_type == socket.SOCK_STREAM


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ({**_NODE, "share": _PROFILES.share_for("centro").to_json()}, "share is another node's"),
        ({**_NODE, "share": _LAST}, "the verifier takes forward"),
        ({key: value for key, value in _NODE.items() if key != "next"}, "takes next, not forward"),
        ({**_NODE, "forward": "10.0.0.9:53"}, "takes next, not forward"),
        ({**_NODE, "share": _FIRST.replace('"path"', '"route"')}, "not an OPoT node share"),
        ({**_NODE, "share": "{not json"}, "not an OPoT node share"),
        ({**_NODE, "share": 42}, "args.share"),
        ({**_NODE, "refresh_packets": -1}, "args.refresh_packets"),
        ({**_NODE, "listen": "127.0.0.1"}, "args.listen"),
    ],
)
def test_an_opot_node_order_that_does_not_fit_its_share_is_refused_without_showing_it(
    args: dict[str, Any], why: str
) -> None:
    with pytest.raises(ProcessRefused, match=why) as refused:
        DEFAULT_KINDS["opot-node"].prepare(args, "p", SITE)
    message = str(refused.value)
    assert message.startswith("opot-node: args")
    assert "args.args" not in message
    shares = (_FIRST, _LAST, _PROFILES.share_for("centro").to_json())
    assert not any(value in message for share in shares for value in _secrets_of(share))
