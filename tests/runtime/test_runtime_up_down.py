"""``sdqkd up`` / ``status`` / ``plant`` / ``down`` as a user runs them: real processes, a real emulator
over mutual TLS, and nothing left running afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import (
    Launch,
    is_running,
    link,
    processes_mentioning,
    sdqkd,
    status_now,
    wait_for,
    wait_until_serving,
)

from sdqkd.etsi014 import Etsi014Client, decode_key
from sdqkd.pki import client_ssl_context
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import operator_client

pytestmark = pytest.mark.integration

LINKS = {"n1-n2": ["n1", "n2"], "n2-n3": ["n2", "n3"]}


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sdqkd: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def assert_stopped(run_dir: Path, up: subprocess.Popen[bytes], emulator_pid: int) -> None:
    """``up`` has exited with 0 (within 10 s) and taken every process and record of the run with it."""
    assert up.wait(timeout=10) == 0
    assert not RunDir(run_dir).network.exists()
    assert not RunDir(run_dir).emulator_endpoint.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(emulator_pid, 0)
    assert processes_mentioning(str(run_dir)) == []


def assert_key_stores_private_and_holding_blocks(run_dir: Path) -> list[bytes]:
    """The run directory and the KMEs' key stores (with SQLite's -wal/-shm) are owner-only; the
    block bytes the stores hold now, all of them found in the files."""
    run = RunDir(run_dir)
    assert stat.S_IMODE(run.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(run.kme_dir.stat().st_mode) == 0o700
    stores = sorted(run.kme_dir.glob("*.db"))
    assert len(stores) == 3
    files = [file for file in run.kme_dir.iterdir() if ".db" in file.name]
    assert {file.name: stat.S_IMODE(file.stat().st_mode) for file in files} == {
        file.name: 0o600 for file in files
    }
    held = []
    for store in stores:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            held += [material for (material,) in db.execute("SELECT material FROM blocks")]
    assert held
    content = b"".join(file.read_bytes() for file in files)
    assert all(block in content for block in held)  # what down must leave nowhere
    return held


def assert_documented_shape(status: dict[str, Any]) -> None:
    """The shape docs and the brief promise for ``sdqkd status --format json``."""
    assert {"ca", "operator", "emulator", "controller", "nodes", "links"} <= set(status)
    assert set(status["operator"]) >= {"cert", "key"}
    assert status["emulator"]["url"].startswith("https://")
    assert status["controller"]["url"].startswith("https://localhost:")
    assert [node["id"] for node in status["nodes"]] == ["n1", "n2", "n3"]
    for node in status["nodes"]:
        assert {"id", "name", "kme_url", "agent_url", "saes"} <= set(node)
        assert node["kme_url"].startswith("https://localhost:")  # one KME per node
        assert node["agent_url"].startswith("https://localhost:")  # and one agent
        assert node["saes"]
        for sae in node["saes"]:
            assert {"id", "cert", "key"} <= set(sae)
    physical = [lk for lk in status["links"] if lk["type"] == "PHYS"]
    assert {lk["id"]: lk["nodes"] for lk in physical} == LINKS
    relayed = {lk["id"]: lk["path"] for lk in status["links"] if lk["type"] == "VIRT"}
    # n1 and n3 share no QKD link: the controller relays their keys through n2 (where it runs)
    assert relayed == {"v-n1-n3": ["n1", "n2", "n3"]}
    for found in physical:
        assert {"id", "type", "nodes", "fibre", "status", "skr_bps"} <= set(found)
        assert found["type"] == "PHYS"
        assert found["fibre"] == found["id"]
        assert set(found["pools"]) == set(found["nodes"])  # pool levels at both KMEs of the link


def assert_controller_sees_the_network(status: dict[str, Any]) -> None:
    """The controller's API (operator certificate) lists every node, reachable, and every link up with
    its live key rate and the pool levels at both its KMEs."""
    verify = client_ssl_context(
        Path(status["operator"]["cert"]), Path(status["operator"]["key"]), Path(status["ca"])
    )
    with httpx.Client(base_url=status["controller"]["url"], verify=verify, timeout=10) as client:
        nodes = client.get("/api/v1/nodes").json()
        links = wait_for(
            lambda: client.get("/api/v1/links").json(),
            lambda found: all(set(lk["pools"]) == set(lk["nodes"]) for lk in found if lk["type"] == "PHYS"),
            timeout_s=10,
            what="pool levels at the controller",
        )
    assert sorted(node["id"] for node in nodes) == ["n1", "n2", "n3"]
    assert all(node["reachable"] for node in nodes)
    assert {node["id"]: node["agent_url"] for node in nodes} == {
        n["id"]: n["agent_url"] for n in status["nodes"]
    }
    physical = [lk for lk in links if lk["type"] == "PHYS"]
    assert {lk["id"]: lk["nodes"] for lk in physical} == LINKS
    for found in physical:
        assert found["status"] == "up"
        assert found["skr_bps"] > 0
        assert all(pool["ready_blocks"] >= 0 for pool in found["pools"].values())


def certificate_files(status: dict[str, Any]) -> list[Path]:
    files = [Path(status["ca"]), Path(status["operator"]["cert"]), Path(status["operator"]["key"])]
    for node in status["nodes"]:
        files += [Path(node["kme"]["cert"]), Path(node["kme"]["key"])]
        files += [Path(sae[part]) for sae in node["saes"] for part in ("cert", "key")]
    return files


def round_trip(status: dict[str, Any]) -> tuple[list[bytes], list[bytes]]:
    """Keys taken at n1's end of n1-n2 by n1's KME and claimed at n2's end by n2's KME."""
    nodes = {node["id"]: node for node in status["nodes"]}
    urls = {module["id"]: module["etsi014_url"] for node in status["nodes"] for module in node["modules"]}
    ca = Path(status["ca"])

    def kme(node: str, module: str) -> Etsi014Client:
        cert, key = Path(nodes[node]["kme"]["cert"]), Path(nodes[node]["kme"]["key"])
        return Etsi014Client(urls[module], cert=cert, key=key, ca=ca)

    async def exchange() -> tuple[list[bytes], list[bytes]]:
        async with kme("n1", "n1-n2-tx") as master, kme("n2", "n1-n2-rx") as slave:
            sent = await master.enc_keys("n2", number=4)
            received = await slave.dec_keys("n1", [k.key_id for k in sent.keys])
        return [decode_key(k.key) for k in sent.keys], [decode_key(k.key) for k in received.keys]

    return asyncio.run(exchange())


def test_up_serves_a_network_that_status_plant_and_down_control(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out")
    wait_until_serving(run_dir, up, tmp_path / "up.out")
    emulator_pid = int(json.loads(RunDir(run_dir).network.read_text())["processes"]["emulator"])

    shown = sdqkd("status", "--run-dir", run_dir, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert_documented_shape(status)
    assert all(found["status"] == "up" and found["skr_bps"] > 0 for found in status["links"])
    assert all(found["keys_available"] > 0 for found in status["links"] if found["type"] == "PHYS")
    for path in certificate_files(status):
        assert path.is_file(), path

    sent, received = round_trip(status)
    assert sent == received
    assert len(set(sent)) == 4
    assert all(len(key) == 32 for key in sent)
    assert_controller_sees_the_network(status)

    plant = sdqkd("plant", "channels", "--format", "json", "--run-dir", run_dir)
    assert plant.returncode == 0, plant.stderr
    fibres = json.loads(plant.stdout)
    assert list(fibres) == ["fibres"]
    assert [fibre["id"] for fibre in fibres["fibres"]] == ["n1-n2", "n2-n3"]
    for fibre in fibres["fibres"]:
        assert [channel["id"] for channel in fibre["channels"]] == ["ch35"]
        assert {"id", "launch_power_dbm", "frequency_thz", "direction"} <= set(fibre["channels"][0])
        assert fibre["channels"][0]["launch_power_dbm"] == 0.0

    before = {link_id: link(status, link_id)["skr_bps"] for link_id in LINKS}
    louder = sdqkd(
        "plant", "set-power", "--fibre", "n1-n2", "--channel", "ch35", "--dbm", "5", "--run-dir", run_dir
    )
    assert louder.returncode == 0, louder.stderr
    status = status_now(run_dir)
    assert status is not None
    assert 0 < link(status, "n1-n2")["skr_bps"] < before["n1-n2"]
    assert link(status, "n2-n3")["skr_bps"] == before["n2-n3"]

    cut = sdqkd("plant", "cut", "--fibre", "n1-n2", "--run-dir", run_dir)
    assert cut.returncode == 0, cut.stderr
    status = status_now(run_dir)
    assert status is not None
    assert (link(status, "n1-n2")["status"], link(status, "n1-n2")["skr_bps"]) == ("down", 0.0)
    assert link(status, "n2-n3")["status"] == "up"

    second = sdqkd("up", "--topology", "chain:3", "--run-dir", run_dir, "--time-scale", "50")
    assert_one_line_error(second, "already runs")
    assert up.poll() is None
    assert is_running(emulator_pid)

    held = assert_key_stores_private_and_holding_blocks(run_dir)

    stopped = sdqkd("down", "--run-dir", run_dir)
    # exit status 0: the launcher exited by itself within down's timeout (at the timeout down kills the
    # processes and fails); how long it took is the machine's load, not this test's business
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped the network" in stopped.stdout
    assert_stopped(run_dir, up, emulator_pid)
    # down wiped the key stores: not one block's bytes is left in their files (free pages included)
    left = b"".join(file.read_bytes() for file in RunDir(run_dir).kme_dir.iterdir() if ".db" in file.name)
    assert [block for block in held if block in left] == []


def test_ctrl_c_stops_the_network_and_a_restart_resumes_the_emulator_state(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    first = launch(run_dir, tmp_path / "first.out")
    wait_until_serving(run_dir, first, tmp_path / "first.out")
    emulator_pid = int(json.loads(RunDir(run_dir).network.read_text())["processes"]["emulator"])
    with operator_client(RunDir(run_dir)) as operator:
        operator.fibre_action("n2-n3", "cut")
        operator.set_power("n1-n2", "ch35", 3.0)

    first.send_signal(signal.SIGINT)

    assert_stopped(run_dir, first, emulator_pid)
    second = launch(run_dir, tmp_path / "second.out")
    status = wait_until_serving(
        run_dir,
        second,
        tmp_path / "second.out",
        ready=lambda status: link(status, "n1-n2")["keys_available"] > 0,
    )
    assert link(status, "n1-n2")["status"] == "up"
    cut = link(status, "n2-n3")
    assert (cut["status"], cut["skr_bps"], cut["reason"]) == ("down", 0.0, "fibre n2-n3 is cut")
    with operator_client(RunDir(run_dir)) as operator:
        fibre = next(f for f in operator.fibres() if f["id"] == "n1-n2")
    assert fibre["channels"][0]["launch_power_dbm"] == 3.0
    emulator_pid = int(json.loads(RunDir(run_dir).network.read_text())["processes"]["emulator"])

    assert sdqkd("down", "--run-dir", run_dir).returncode == 0
    assert_stopped(run_dir, second, emulator_pid)


def test_of_two_ups_started_together_on_one_run_directory_one_refuses_at_once(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    outputs = [tmp_path / "a.out", tmp_path / "b.out"]
    ups = [launch(run_dir, output) for output in outputs]

    refused = wait_for(
        lambda: [index for index, up in enumerate(ups) if up.poll() is not None],
        lambda done: len(done) >= 1,
        timeout_s=15,
        what="one up refused",
    )

    assert len(refused) == 1
    loser, winner = refused[0], 1 - refused[0]
    assert ups[loser].returncode == 1
    lines = outputs[loser].read_text().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sdqkd: error: a network already runs in")
    wait_until_serving(run_dir, ups[winner], outputs[winner])
    emulator_pid = int(json.loads(RunDir(run_dir).network.read_text())["processes"]["emulator"])
    # one up, one emulator, the controller, the dashboard, and per node of chain:3 one KME, one agent
    # and one service manager; their command lines name their configuration files in the run dir
    assert len(processes_mentioning(str(run_dir))) == 2 + 1 + 1 + 3 + 3 + 3

    assert sdqkd("down", "--run-dir", run_dir).returncode == 0
    assert_stopped(run_dir, ups[winner], emulator_pid)


def test_status_without_a_network_is_a_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(sdqkd("status", "--run-dir", tmp_path), "network.json does not exist")


def test_down_without_a_network_is_a_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(sdqkd("down", "--run-dir", tmp_path), "is a network running")
