"""A node agent calls home once it serves: in process (the agent app behind a real mutual-TLS server) and
as the real ``sdqkd agent --config`` process, against a fake controller; calling never keeps the agent
from serving, and shutting down while it still calls is clean."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from callhome_support import SPECS, CallHomePki, FakeController, free_port, wait_for

from process_support import SDQKD, START_TIMEOUT_S
from sdqkd.agent.callhome import Backoff, CallHome
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.agent.node import NodeAgent
from sdqkd.agent.service import AgentApp
from sdqkd.etsi015 import qkdn_id
from sdqkd.pki import client_ssl_context
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration

KME_URL = "https://kme-norte.example:8470"
FAST = Backoff(first_s=0.02, max_s=0.1)


def norte_agent(pki: CallHomePki, emulator_url: str, model: Any) -> NodeAgent:
    driver = EmulatorDriver(emulator_url, pki.norte.cert, pki.norte.key, pki.ca.cert_path, "norte")
    return NodeAgent("norte", "Norte", driver, model)


def host_meta(agent_url: str, pki: CallHomePki) -> int:
    """The status of the agent's RESTCONF root discovery, read with the controller's certificate."""
    context = client_ssl_context(pki.controller.cert, pki.controller.key, pki.ca.cert_path)
    with httpx.Client(base_url=agent_url, verify=context, timeout=5.0) as client:
        return client.get("/.well-known/host-meta").status_code


def test_the_agent_calls_home_with_the_url_it_serves_at_once_it_serves(
    fake: FakeController, controller_url: str, pki: CallHomePki, emulator_url: str, model: Any
) -> None:
    call_home = CallHome(controller_url, "norte", location="Norte", kme_url=KME_URL, tls=pki.tls(pki.norte))
    app = AgentApp(norte_agent(pki, emulator_url, model), call_home)

    with BackgroundServer(app, pki.tls(pki.norte)) as server:
        assert fake.calls == []  # not before it is told it serves
        app.serving(server.url)
        wait_for(lambda: call_home.state, lambda state: state == "registered", 5.0, "registered")
    assert call_home.state == "registered"

    (call,) = fake.calls
    assert (call.node_id, call.caller, call.status_code) == ("norte", "agent:norte", 201)
    assert call.body == {
        "qkdn_id": str(qkdn_id("norte")),
        "agent_url": server.url,
        "kme_url": KME_URL,
        "location": "Norte",
    }


def test_an_agent_whose_controller_is_down_serves_meanwhile_and_stops_cleanly(
    pki: CallHomePki, emulator_url: str, model: Any
) -> None:
    call_home = CallHome(
        f"https://localhost:{free_port()}", "norte", location="Norte", tls=pki.tls(pki.norte), backoff=FAST
    )
    app = AgentApp(norte_agent(pki, emulator_url, model), call_home)
    server = BackgroundServer(app, pki.tls(pki.norte)).start()
    try:
        app.serving(server.url)
        wait_for(lambda: call_home.attempts, lambda attempts: attempts >= 3, 5.0, "three attempts")

        assert host_meta(server.url, pki) == 200
        assert call_home.state == "calling"
    finally:
        stopping_at = time.monotonic()
        server.stop()

    assert time.monotonic() - stopping_at < 3.0
    assert call_home.state == "stopped"
    attempts = call_home.attempts
    time.sleep(0.2)
    assert call_home.attempts == attempts  # nothing calls any more


def test_an_app_not_started_cannot_be_told_it_serves(pki: CallHomePki, emulator_url: str, model: Any) -> None:
    app = AgentApp(norte_agent(pki, emulator_url, model))

    with pytest.raises(RuntimeError, match="not started"):
        app.serving("https://localhost:1")


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; after it, any still running is stopped (SIGTERM, then SIGKILL)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_sdqkd_agent_process_calls_home_to_the_configured_controller(
    fake: FakeController,
    controller_url: str,
    pki: CallHomePki,
    emulator_url: str,
    model: Any,
    tmp_path: Path,
    agent_process: list[subprocess.Popen[bytes]],
) -> None:
    config = tmp_path / "agent-norte.yaml"
    endpoint = tmp_path / "norte.endpoint.json"
    config.write_text(
        yaml.safe_dump(
            {
                "node_id": "norte",
                "location": "Norte",
                "tls": {"cert": str(pki.norte.cert), "key": str(pki.norte.key), "ca": str(pki.ca.cert_path)},
                "yang_dir": str(SPECS),
                "driver": {"kind": "emulator", "url": emulator_url},
                "endpoint_file": endpoint.name,  # relative: to the configuration file
                "controller_url": controller_url,
                "kme_url": KME_URL,
            }
        )
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SDQKD, "agent", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    agent_process.append(process)

    wait_for(
        lambda: (process.poll(), len(fake.calls)),
        lambda state: state[0] is not None or state[1] > 0,
        START_TIMEOUT_S,
        "a call home",
    )
    assert process.poll() is None, log.read_text()
    served = json.loads(endpoint.read_text())
    (call,) = fake.calls
    assert (call.node_id, call.caller, call.status_code) == ("norte", "agent:norte", 201)
    assert call.body == {
        "qkdn_id": str(qkdn_id("norte")),
        "agent_url": served["url"],
        "kme_url": KME_URL,
        "location": "Norte",
    }
    wait_for(log.read_text, lambda text: "registered with the controller" in text, 5.0, "the INFO line")

    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then ends the process by the signal it caught
    assert process.wait(timeout=10) in {0, -signal.SIGTERM}, log.read_text()
    assert "Traceback" not in log.read_text()
