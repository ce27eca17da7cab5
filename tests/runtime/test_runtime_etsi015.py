"""``sdqkd up --topology madrid`` runs its control plane on the ETSI GS QKD 015 model shipped with sdqkd: the
agents hold the links the controller provisioned, and every agent's tree validates against the shipped
modules and against the official ones (``../shared/specs/etsi-gs-qkd-015``; required in CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import Launch, wait_until_serving
from yangson.enumerations import ContentType

from official_yang import OFFICIAL_DIR, load_model, require_official_modules
from sdqkd.etsi015 import QKD_NODE, load_data_model, qkdn_id
from sdqkd.pki import client_ssl_context

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MADRID_LINKS = {"concepcion-norte", "concepcion-quintin", "norte-quintin"}


def madrid_ready(status: dict[str, Any]) -> bool:
    """Key on the two links the switch lets work, the third on standby and relayed through Norte."""
    by_id = {link["id"]: link for link in status["links"]}
    working = [by_id.get(name, {}) for name in ("concepcion-norte", "norte-quintin")]
    relayed = by_id.get("v-concepcion-quintin", {})
    return (
        all(link.get("status") == "up" and link.get("keys_available") for link in working)
        and relayed.get("status") == "up"
        and set(relayed.get("configured_kmes", ())) == set(relayed.get("path", ("?",)))
    )


def agent_trees(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every agent's whole ``qkd_node`` tree (RESTCONF, operator certificate)."""
    operator = status["operator"]
    verify = client_ssl_context(Path(operator["cert"]), Path(operator["key"]), Path(status["ca"]))
    trees = {}
    with httpx.Client(verify=verify, timeout=10) as client:
        for node in status["nodes"]:
            answer = client.get(
                f"{node['agent_url']}/restconf/data/{QKD_NODE}",
                headers={"Accept": "application/yang-data+json"},
            )
            assert answer.status_code == 200, answer.text
            trees[node["id"]] = answer.json()
    return trees


def test_madrid_runs_its_agents_and_controller_on_the_shipped_model_and_their_trees_are_official(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    require_official_modules()
    up = launch(run_dir, tmp_path / "up.out", "madrid")
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=madrid_ready)

    assert status["controller"]["url"]
    assert all(node["agent_url"] for node in status["nodes"])
    trees = agent_trees(status)
    shipped, official = load_data_model(), load_model(OFFICIAL_DIR)
    for node_id, tree in trees.items():
        for model in (shipped, official):
            model.from_raw(tree).validate(ctype=ContentType.all)  # raises on any violation
        node = tree[QKD_NODE]
        assert node["qkdn_id"] == str(qkdn_id(node_id))
        links = node["qkd_links"]["qkd_link"]
        # every node holds both of its physical links, as the controller wrote them, and the relayed one
        assert sum(link["qkdl_type"] == "etsi-qkd-node-types:PHYS" for link in links) == 2
        assert sum(link["qkdl_type"] == "etsi-qkd-node-types:VIRT" for link in links) == 1
        assert all("qkdl_status" in link for link in links)
    statuses = {link["id"]: link["status"] for link in status["links"] if link["type"] == "PHYS"}
    assert set(statuses) == MADRID_LINKS
    assert statuses["concepcion-quintin"] == "standby"
