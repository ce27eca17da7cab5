"""An OPoT service on a running Madrid, through the CLI as a user runs it: ``sdqkd service create opot``
over Concepción → Norte → Quintín has the controller admit a key application per hop and order an OPoT
node at each node's service manager, each given only its own share. ``sdqkd opot send`` verifies 1000
datagrams of 1000; a skipped node, two nodes crossed in the wrong order and forgeries straight to the
verifier verify none; with the route put back, traffic verifies again. ``service show`` shows each hop's
key IDs (the same at both of its ends) and the verifier's counts, and no share; ``service delete`` leaves
no process, application or share behind."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import SDQKD, Launch, is_running, wait_for, wait_until_serving

from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.rundir import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATH = ["concepcion", "norte", "quintin"]
HOPS = [("concepcion", "norte"), ("norte", "quintin")]


def _sdqkd(*args: str) -> Any:
    done = subprocess.run([*SDQKD, *args], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--format" in args else done.stdout


def _hops_keyed(status: dict[str, Any]) -> bool:
    """Key on Norte–Quintín, and on Concepción–Norte directly or relayed over Quintín (Concepción's
    transmitter is switched: it serves one of its two links at a time)."""
    by_id = {link["id"]: link for link in status["links"]}

    def keyed(name: str) -> bool:
        link = by_id.get(name, {})
        return link.get("status") == "up" and bool(link.get("keys_available"))

    relayed = by_id.get("v-concepcion-norte", {})
    return keyed("norte-quintin") and (
        keyed("concepcion-norte")
        or (
            relayed.get("status") == "up"
            and set(relayed.get("configured_kmes", ())) == set(relayed.get("path", ("?",)))
        )
    )


def _share_secrets(share_file: Path) -> set[str]:
    """The secret numbers of a node's share file (its point, share, constants; the verifier's SECRET),
    as they could leak: ``0x…``, bare hex and decimal."""
    doc = json.loads(share_file.read_text())
    values = [value for name, value in doc["node"].items() if name != "node"]
    if "verifier" in doc:
        values.append(doc["verifier"]["secret"])
    found = set()
    for value in values:
        number = int(value, 16)
        found |= {value.lower(), value.lower().removeprefix("0x")}
        if number >= 2**32:  # small decimals are everywhere (ports, pids, counts)
            found.add(str(number))
    return found


def test_an_opot_service_on_madrid_verifies_its_path_rejects_skip_swap_and_forgeries_and_is_deleted(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out", topology="madrid")
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=_hops_keyed)
    run = RunDir(run_dir)
    managers = {node["id"]: node["service_manager_url"] for node in status["nodes"]}
    common = ("--run-dir", str(run_dir))

    created = _sdqkd("service", "create", "opot", "--path", ",".join(PATH), *common, "--format", "json")
    service_id = created["id"]
    assert created["path"] == PATH
    assert len(created["apps"]) == len(HOPS)

    def show() -> dict[str, Any]:
        shown: dict[str, Any] = _sdqkd("service", "show", service_id, *common, "--format", "json")
        return shown

    def send(*fault: str, packets: int) -> dict[str, Any]:
        args = ("--service", service_id, "--packets", str(packets), *fault, "--timeout-s", "60")
        sent: dict[str, Any] = json.loads(_sdqkd("opot", "send", *args, *common))
        return sent

    assert send(packets=1000) == {"sent": 1000, "valid": 1000, "invalid": 0, "lost": 0}

    # each hop's masks: the upstream node took the keys (enc_keys), the downstream one fetched the same
    # by ID (dec_keys) — the upstream may hold one more, renewed after the last packet and not used yet
    def both_ends_agree(service: dict[str, Any]) -> bool:
        stats = {node: service["endpoints"][node]["stats"] for node in PATH}
        for upstream, downstream in HOPS:
            hop = f"{upstream}->{downstream}"
            taken, fetched = stats[upstream]["hops"].get(hop, []), stats[downstream]["hops"].get(hop, [])
            if not fetched or taken[: len(fetched)] != fetched or len(taken) - len(fetched) > 1:
                return False
        return True

    shown = wait_for(show, both_ends_agree, 30, "the same key IDs at both ends of each hop")
    opot = shown["opot"]
    assert set(opot["hops"]) == {"concepcion->norte", "norte->quintin"}
    for upstream, downstream in HOPS:
        hop = f"{upstream}->{downstream}"
        assert opot["hops"][hop] == shown["endpoints"][downstream]["stats"]["hops"][hop]
        assert len(opot["hops"][hop]) == len(set(opot["hops"][hop])) >= 1
    assert (opot["valid"], opot["invalid"]) == (1000, 0)
    assert shown["endpoints"]["quintin"]["stats"]["role"] == "verifier"

    rejected = {"sent": 200, "valid": 0, "invalid": 200, "lost": 0}
    assert send("--skip", "norte", packets=200) == rejected
    assert send("--swap", "norte,quintin", packets=200) == rejected
    assert send("--inject", "50", packets=0) == {"sent": 50, "valid": 0, "invalid": 50, "lost": 0}
    # the route put back after each fault: normal traffic verifies again
    assert send(packets=300) == {"sent": 300, "valid": 300, "invalid": 0, "lost": 0}
    after = show()
    assert after["route"] == PATH
    assert (after["opot"]["valid"], after["opot"]["invalid"]) == (1300, 450)
    assert sum(after["opot"]["dropped"].values()) == 450  # each with its reason

    # no share anywhere but where it must be: each node's share file (owner-only) and the controller's
    # database (to order a lost node again); the show and list JSON mask it
    share_files = {node: sorted((run_dir / "nfv" / node).glob("*.share.json")) for node in PATH}
    assert all(len(files) == 1 for files in share_files.values()), share_files
    secrets: set[str] = set()
    for (share_file,) in share_files.values():
        assert stat.S_IMODE(share_file.stat().st_mode) == 0o600
        secrets |= _share_secrets(share_file)
    listed = _sdqkd("service", "list", *common, "--format", "json")
    shown_text = (json.dumps(after) + json.dumps(listed)).lower()
    assert not [secret for secret in secrets if secret in shown_text]
    assert {p["args"]["share"] for p in after["processes"].values()} == {"**********"}
    kept = {file for (file,) in share_files.values()}
    for file in run_dir.rglob("*"):
        if file in kept or file.name.startswith("state.db") or not file.is_file():
            continue
        try:
            content = file.read_bytes().lower()
        except FileNotFoundError:  # a database's journal, gone meanwhile
            continue
        assert not [s for s in secrets if s.encode() in content], f"a share's number in {file}"

    pids = [endpoint["pid"] for endpoint in after["endpoints"].values()]
    assert all(pids)
    _sdqkd("service", "delete", service_id, *common)
    cert, key = run.require_certificate(Role.CONTROLLER, "controller")
    with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=10) as controller:
        for process in after["processes"].values():
            url = f"{managers[process['node']]}/api/v1/nfv/processes/{process['process']}"
            assert controller.get(url).status_code == 404
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=10) as operator:
        for app_id in created["apps"]:
            assert operator.get(f"{status['controller']['url']}/api/v1/apps/{app_id}").status_code == 404
    assert not [pid for pid in pids if is_running(pid)]
    assert not [file for files in share_files.values() for file in files if file.exists()]
    listed = _sdqkd("service", "list", *common, "--format", "json")
    assert [s["state"] for s in listed if s["id"] == service_id] == ["terminated"]
