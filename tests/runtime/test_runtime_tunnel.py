"""The tunnel as a user runs it: ``sdqkd tunnel exit`` at n3 and ``sdqkd tunnel entry`` at n1 of a
running ``chain:3`` (a pair the KMEs relay over n2), 20 MB each way through them, byte-exact, across
several re-keys, each epoch with its own QKD key; both stats files name the same key IDs."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from runtime_support import SDQKD, Launch, echo_server, relayed, stop_process, wait_for, wait_until_serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 20_000_000
STEP = 4_000_000


def _gateway(args: list[str], output: Path) -> tuple[subprocess.Popen[bytes], int]:
    with output.open("wb") as sink:
        process = subprocess.Popen([*SDQKD, "tunnel", *args], stdout=sink, stderr=subprocess.STDOUT)
    found = wait_for(
        lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)", output.read_text()) or process.poll(),
        bool,
        30,
        f"{args[0]} listening",
    )
    assert isinstance(found, re.Match), output.read_text()
    return process, int(found.group(1))


def test_20_mb_each_way_arrive_exactly_through_the_tunnel_across_several_rekeys(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out")
    wait_until_serving(run_dir, up, tmp_path / "up.out", ready=relayed)
    data = secrets.token_bytes(SIZE)
    processes: list[subprocess.Popen[bytes]] = []
    with echo_server() as target:
        try:
            exit_gw, exit_port = _gateway(
                ["exit", "--run-dir", str(run_dir), "--node", "n3", "--listen", "127.0.0.1:0",
                 "--forward", f"127.0.0.1:{target}", "--stats-file", str(tmp_path / "exit.json")],
                tmp_path / "exit.out",
            )  # fmt: skip
            processes.append(exit_gw)
            entry, entry_port = _gateway(
                ["entry", "--run-dir", str(run_dir), "--node", "n1", "--peer", "n3",
                 "--listen", "127.0.0.1:0", "--connect", f"127.0.0.1:{exit_port}",
                 "--rekey-bytes", "6000000", "--stats-file", str(tmp_path / "entry.json")],
                tmp_path / "entry.out",
            )  # fmt: skip
            processes.append(entry)

            def stats(name: str) -> dict[str, Any]:
                return dict(json.loads((tmp_path / name).read_text()))

            received = hashlib.sha256()
            with socket.create_connection(("127.0.0.1", entry_port), timeout=60) as client:
                for n, i in enumerate(range(0, SIZE, STEP)):  # 4 MB there and back, then a re-key
                    sender = threading.Thread(target=client.sendall, args=(data[i : i + STEP],))
                    sender.start()
                    count = 0
                    while count < STEP:
                        chunk = client.recv(1 << 20)
                        assert chunk, "the tunnel closed"
                        received.update(chunk)
                        count += len(chunk)
                    sender.join()
                    wait_for(lambda: stats("entry.json")["epochs"], lambda e, n=n: e >= n + 2, 30, "re-keyed")
                client.shutdown(socket.SHUT_WR)
                assert client.recv(1) == b""
            assert received.digest() == hashlib.sha256(data).digest()

            done = wait_for(lambda: stats("exit.json"), lambda s: s["open_connections"] == 0, 30, "closed")
            shown = stats("entry.json")
        finally:
            for process in processes:
                stop_process(process)
    output = (tmp_path / "entry.out").read_text()
    assert shown["bytes_entry_to_exit"] == shown["bytes_exit_to_entry"] == SIZE, output
    assert done["bytes_entry_to_exit"] == done["bytes_exit_to_entry"] == SIZE
    assert shown["epochs"] >= 6, output  # a new epoch after each 8 MB (6 MB and more) there and back
    assert done["key_ids"] == shown["key_ids"][: done["epochs"]]
    assert len(set(shown["key_ids"])) == shown["epochs"]
    assert shown["errors"] == done["errors"] == []
    assert '"key_ids"' in output  # printed on exit
