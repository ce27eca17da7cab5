"""``sdqkd emulator`` as a real process, started with the arguments a run gives it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from runtime_support import SDQKD, START_TIMEOUT_S, stop_process, wait_for

from sdqkd.emulator.client import EmulatorClient
from sdqkd.pki.identity import Role
from sdqkd.runtime.configs import emulator_arguments
from sdqkd.runtime.rundir import RunDir, provision_pki
from sdqkd.topology.loader import load_topology

pytestmark = pytest.mark.integration


def _endpoint(run: RunDir, emulator: subprocess.Popen[bytes]) -> dict[str, Any] | None:
    if emulator.poll() is not None:
        raise AssertionError(f"sdqkd emulator exited with {emulator.returncode}")
    if not run.emulator_endpoint.exists():
        return None
    return dict(json.loads(run.emulator_endpoint.read_text(encoding="utf-8")))


def test_a_commissioned_emulator_process_makes_key_on_every_link_before_anyone_configures_it(
    tmp_path: Path,
) -> None:
    run = RunDir(tmp_path / "run")
    topology = load_topology("chain:3")
    provision_pki(run, topology)
    arguments = emulator_arguments("chain:3", run.root, 50.0, commissioned=True)
    with (tmp_path / "emulator.log").open("wb") as log:
        emulator = subprocess.Popen([*SDQKD, *arguments], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        endpoint = wait_for(
            lambda: _endpoint(run, emulator), lambda found: found is not None, START_TIMEOUT_S, "the endpoint"
        )
        assert endpoint is not None
        cert, key = run.certificate(Role.OPERATOR, "operator")
        with EmulatorClient(str(endpoint["url"]), cert, key, run.ca_cert) as operator:
            links = wait_for(
                operator.links,
                lambda links: all(link["keys_available"] > 0 for link in links),
                10.0,
                "key on every link",
            )
        assert {(link["transmitter"], link["receiver"]) for link in links} == {
            (link.transmitter, link.receiver) for link in topology.qkd_links
        }
        assert all(link["active"] for link in links)
    finally:
        stop_process(emulator)
