"""``sdqkd up`` of Madrid with a KME per node, used as an application would: two SAEs on linked nodes
get the same keys from their own KMEs over plain HTTPS with their certificates, ``status`` shows each
node's KME and both pools of a link, and ``sdqkd down`` leaves no process behind."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from kme_process_support import (
    Up,
    pools_ready,
    processes_mentioning,
    sdqkd,
    wait_for,
    wait_until_pools_ready,
)

from sdqkd.runtime.rundir import RunDir

pytestmark = pytest.mark.integration

LINK = "concepcion-norte"
NODES = ["norte", "quintin", "concepcion"]


def sae_http(status: dict[str, Any], node_id: str, kme_of: str | None = None) -> httpx.Client:
    """What ``curl --cacert CA --cert SAE.crt --key SAE.key`` does, for the SAE of ``node_id`` calling
    its KME (or the KME of ``kme_of``): the KME must chain to the network's CA, the SAE shows its own
    certificate."""
    nodes = {node["id"]: node for node in status["nodes"]}
    (sae,) = nodes[node_id]["saes"]
    context = ssl.create_default_context(cafile=status["ca"])
    context.load_cert_chain(sae["cert"], sae["key"])
    return httpx.Client(base_url=nodes[kme_of or node_id]["kme_url"], verify=context, timeout=10.0)


def test_saes_on_two_linked_madrid_nodes_share_keys_through_their_kmes_and_down_stops_everything(
    up_network: Up, tmp_path: Path
) -> None:
    run_dir, output = tmp_path / "run", tmp_path / "up.out"
    up = up_network("madrid", run_dir, output)
    wait_until_pools_ready(run_dir, up, output, LINK)

    shown = sdqkd("status", "--run-dir", run_dir, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert [node["id"] for node in status["nodes"]] == NODES
    kme_urls = {node["id"]: node["kme_url"] for node in status["nodes"]}
    assert all(url.startswith("https://localhost:") for url in kme_urls.values())
    assert len(set(kme_urls.values())) == len(NODES)
    assert kme_urls == json.loads(RunDir(run_dir).network.read_text())["kmes"]
    link = next(found for found in status["links"] if found["id"] == LINK)
    assert link["nodes"] == ["concepcion", "norte"]
    assert set(link["pools"]) == {"concepcion", "norte"}
    for pool in link["pools"].values():
        assert pool["block_bits"] == 256
        assert pool["ready_blocks"] > 0
    assert pools_ready(status, LINK)

    with sae_http(status, "concepcion") as concepcion, sae_http(status, "norte") as norte:
        # Concepción's transmitter is switched: while it serves Quintín the controller relays Concepción–
        # Norte over Quintín, whose hops may be short of key for a moment (503, as ETSI 014 says: retry)
        made = wait_for(
            lambda: concepcion.get("/api/v1/keys/norte-app/enc_keys", params={"number": 3, "size": 512}),
            lambda answer: answer.status_code != 503,
            60,
            "keys from concepcion's KME",
            interval_s=0.5,
        )
        assert made.status_code == 200, made.text
        keys = made.json()["keys"]
        assert len(keys) == 3
        ids = {"key_IDs": [{"key_ID": key["key_ID"]} for key in keys]}
        got = norte.post("/api/v1/keys/concepcion-app/dec_keys", json=ids)
        assert got.status_code == 200, got.text
        assert got.json()["keys"] == keys
        assert len({key["key"] for key in keys}) == 3
        again = norte.post("/api/v1/keys/concepcion-app/dec_keys", json=ids)
        assert again.status_code == 401
    with sae_http(status, "norte", kme_of="concepcion") as stranger:  # a KME serves its own SAEs only
        refused = stranger.get("/api/v1/keys/concepcion-app/enc_keys")
        assert refused.status_code == 401, refused.text

    stopped = sdqkd("down", "--run-dir", run_dir)
    assert stopped.returncode == 0, stopped.stderr
    assert up.wait(timeout=15) == 0
    wait_for(lambda: processes_mentioning(str(run_dir)), lambda left: left == [], 5, "no process left")
    assert not RunDir(run_dir).network.exists()
