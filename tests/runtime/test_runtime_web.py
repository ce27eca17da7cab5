"""The dashboard of a running ``chain:3``: ``sdqkd up`` prints its URL with the token (the token file
owner-only), ``sdqkd status --format json`` carries the URL without it, the snapshot shows the three
nodes and their links to the token's holder only, and a fibre cut shows in it — the fibre cut, its
link down — within 3 s."""

from __future__ import annotations

import json
import re
import ssl
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import Launch, sdqkd, wait_for, wait_until_serving

from sdqkd.runtime.rundir import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DASHBOARD = re.compile(r"Dashboard: (https://localhost:\d+/)\?token=(\S+)")
CUT_SHOWS_WITHIN_S = 3.0


def test_the_dashboard_shows_the_network_and_a_fibre_cut(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "up.txt"
    up = launch(run_dir, output)
    wait_until_serving(run_dir, up, output)
    printed = wait_for(lambda: DASHBOARD.search(output.read_text()), bool, 30.0, "the dashboard printed")
    assert printed is not None
    url, token = printed.group(1), printed.group(2)
    token_file = RunDir(run_dir).web_token
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    done = sdqkd("status", "--run-dir", run_dir, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dashboard"] == {"url": url}
    assert token not in done.stdout

    context = ssl.create_default_context(cafile=str(RunDir(run_dir).ca_cert))  # a browser: no certificate
    with httpx.Client(base_url=url, verify=context, timeout=10.0) as browser:
        assert browser.get("/api/snapshot").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}

        def snapshot() -> dict[str, Any]:
            response = browser.get("/api/snapshot", headers=bearer)
            assert response.status_code == 200
            return dict(response.json())

        first = snapshot()
        assert {node["id"] for node in first["nodes"]} == {"n1", "n2", "n3"}
        links = {link["id"]: link for link in first["links"]}
        assert {"n1-n2", "n2-n3"} <= set(links)
        assert links["n1-n2"]["status"] == "up"
        assert first["problems"] == []

        cut = sdqkd("plant", "cut", "--fibre", "n1-n2", "--run-dir", run_dir)
        assert cut.returncode == 0, cut.stderr

        def shows_the_cut(found: dict[str, Any]) -> bool:
            fibres = {fibre["id"]: fibre for fibre in found["fibres"]}
            link = next((link for link in found["links"] if link["id"] == "n1-n2"), None)
            return fibres["n1-n2"]["cut"] and link is not None and link["status"] == "down"

        wait_for(snapshot, shows_the_cut, CUT_SHOWS_WITHIN_S, "the cut shown", interval_s=0.1)
