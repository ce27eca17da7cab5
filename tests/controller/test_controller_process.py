"""``sdqkd controller --config FILE`` as a process: it serves, records its endpoint, stops cleanly on
SIGTERM (removing the record), and refuses a bad configuration in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sdqkd.pki import CertificateAuthority, Role, client_ssl_context

pytestmark = pytest.mark.integration

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]


def test_the_controller_process_serves_and_stops_cleanly_on_sigterm(
    tmp_path: Path, ca_issuing_into: Callable[[str], CertificateAuthority]
) -> None:
    ca = ca_issuing_into("controller-process")
    mine, operator = ca.issue(Role.CONTROLLER, "controller"), ca.issue(Role.OPERATOR, "operator")
    config = tmp_path / "controller.yaml"
    config.write_text(
        f"tls: {{cert: {mine.cert}, key: {mine.key}, ca: {ca.cert_path}}}\n"
        "topology: chain:3\ndatabase: state.db\nendpoint_file: endpoint.json\n"
    )
    endpoint = tmp_path / "endpoint.json"
    log = (tmp_path / "controller.log").open("w")
    process = subprocess.Popen([*SDQKD, "controller", "--config", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not endpoint.exists():
            assert process.poll() is None, (tmp_path / "controller.log").read_text()
            assert time.monotonic() < deadline, "no endpoint record within 20 s"
            time.sleep(0.05)
        record = json.loads(endpoint.read_text())
        assert record["pid"] == process.pid
        verify = client_ssl_context(operator.cert, operator.key, ca.cert_path)
        with httpx.Client(verify=verify, timeout=5) as client:
            links = client.get(f"{record['url']}/api/v1/links").json()
        assert [link["id"] for link in links] == ["n1-n2", "n2-n3"]
        assert all(link["status"] == "unknown" for link in links)  # no agent has called home

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert not endpoint.exists()
    assert (tmp_path / "state.db").exists()


def test_a_bad_configuration_is_one_line_and_status_1(tmp_path: Path) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text("tls: {cert: a, key: b, ca: c}\n")

    result = subprocess.run(
        [*SDQKD, "controller", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sdqkd: error: ")
    assert "database: Field required" in lines[0]
