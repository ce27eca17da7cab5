"""QKD-TLS as a user runs it on a running ``chain:3``: ``sdqkd qtls serve`` at n3 in front of an echo
server, ``sdqkd qtls psk`` at n1 (a pair the KMEs relay over n2) gives a key that OpenSSL's
``s_client -tls1_3 -psk HEX -psk_identity KEY_ID`` uses to reach the echo server through it; the same
key a second time is refused. ``sdqkd qtls connect`` gets a key of its own and gets through too."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from runtime_support import SDQKD, Launch, echo_server, relayed, stop_process, wait_for, wait_until_serving

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed"),
]


def _s_client(port: int, psk_options: str, text: str) -> subprocess.CompletedProcess[str]:
    command = f"(printf '{text}'; sleep 1) | openssl s_client -tls1_3 {psk_options} -connect 127.0.0.1:{port}"
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60, check=False)


def test_openssl_s_client_gets_through_sdqkd_qtls_serve_once_per_key(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out")
    wait_until_serving(run_dir, up, tmp_path / "up.out", ready=relayed)
    output, stats = tmp_path / "serve.out", tmp_path / "serve.json"
    with echo_server() as target, output.open("wb") as sink:
        server = subprocess.Popen(
            [*SDQKD, "qtls", "serve", "--run-dir", str(run_dir), "--node", "n3",
             "--listen", "127.0.0.1:0", "--forward", f"127.0.0.1:{target}", "--stats-file", str(stats)],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            found = wait_for(
                lambda: re.search(r"on 127\.0\.0\.1:(\d+)", output.read_text()) or server.poll(),
                bool,
                30,
                "qtls serve listening",
            )
            assert isinstance(found, re.Match), output.read_text()
            port = int(found.group(1))
            psk = subprocess.run(
                [*SDQKD, "qtls", "psk", "--run-dir", str(run_dir), "--node", "n1", "--peer", "n3"],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout.strip()  # fmt: skip
            key_id = psk.split()[-1]

            first = _s_client(port, psk, "hello through qkd-tls\\n")
            second = _s_client(port, psk, "the same key again\\n")
            ours = subprocess.run(
                [*SDQKD, "qtls", "connect", "--run-dir", str(run_dir), "--node", "n1", "--peer", "n3",
                 "--connect", f"127.0.0.1:{port}"],
                input="from sdqkd qtls connect\n", capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            counted = wait_for(
                lambda: json.loads(stats.read_text()), lambda s: s["accepted"] == 2, 10, "stats"
            )
        finally:
            stop_process(server)

    assert re.fullmatch(r"-psk [0-9a-f]{64} -psk_identity [0-9a-f-]{36}", psk)
    assert "hello through qkd-tls" in first.stdout
    assert "TLSv1.3" in first.stdout
    assert "the same key again" not in second.stdout
    assert "unknown psk identity" in second.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == "from sdqkd qtls connect\n"
    assert "x25519mlkem768" in ours.stderr
    assert counted["refused"] == 1
    assert counted["key_ids"][0] == key_id
