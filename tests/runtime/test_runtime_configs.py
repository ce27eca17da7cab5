"""The role configurations ``sdqkd up`` writes (one host, loopback, absolute paths in the run
directory) come from the same builders as ``sdqkd deploy``'s, and each role reads its own back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdqkd.agent.service import load_agent_config
from sdqkd.controller.config import load_controller_config
from sdqkd.errors import ConfigError
from sdqkd.kms.config import load_kme_config
from sdqkd.nfv import load_service_manager_config
from sdqkd.runtime.configs import (
    Placement,
    agent_config,
    controller_config,
    emulator_arguments,
    service_manager_config,
)
from sdqkd.runtime.launcher import kme_configs
from sdqkd.runtime.rundir import RunDir, sae_id
from sdqkd.topology import load_topology


def _write(path: Path, config: dict[str, object]) -> Path:
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_the_kmes_of_one_host_reach_their_peers_on_loopback_with_the_run_directorys_files(
    tmp_path: Path,
) -> None:
    run = RunDir(tmp_path)
    ports = {"n1": 18001, "n2": 18002, "n3": 18003}
    configs = kme_configs(load_topology("chain:3"), run, "https://localhost:9000", ports)

    n2 = load_kme_config(_write(tmp_path / "n2.json", configs["n2"]))
    assert (n2.kme_id, n2.host, n2.port) == ("n2", "127.0.0.1", 18002)
    assert n2.tls.files().cert == run.pki / "kme-n2.crt"
    assert n2.tls.ca == run.ca_cert
    assert n2.tls.crl == run.pki / "crl.pem"  # named even before anything is revoked
    assert n2.storage.path == run.kme_dir / "n2.db"
    assert n2.endpoint_file == run.kme_endpoint("n2")
    assert {link.peer_kme_id: link.peer_url for link in n2.links} == {
        "n1": "https://localhost:18001",
        "n3": "https://localhost:18003",
    }
    assert all(link.device.etsi014_url.startswith("https://localhost:9000/devices/n") for link in n2.links)


def test_an_agent_calls_home_and_names_its_kme_only_where_the_placement_knows_them(tmp_path: Path) -> None:
    at = Placement(tmp_path / "pki", "https://localhost:9000", {"n1": "https://localhost:18001"})
    alone = agent_config("n1", "N1", at, host="127.0.0.1", port=0, endpoint_file=tmp_path / "n1.json")
    assert {"controller_url", "advertise_url", "yang_dir"}.isdisjoint(alone)
    assert alone["kme_url"] == "https://localhost:18001"

    at = Placement(at.pki, at.emulator_url, at.kme_urls, "https://localhost:7000")
    config = agent_config(
        "n1", "N1", at, host="127.0.0.1", port=0, endpoint_file=tmp_path / "n1.json", yang_dir=Path("yang")
    )
    loaded = load_agent_config(_write(tmp_path / "agent.json", config))
    assert loaded.controller_url == "https://localhost:7000"
    assert loaded.yang_dir == tmp_path / "yang"  # relative to the configuration file
    assert loaded.tls.key == tmp_path / "pki" / "agent-n1.key"


def test_the_controller_and_the_emulator_of_one_host_listen_on_loopback_by_default(tmp_path: Path) -> None:
    at = Placement(tmp_path / "pki", "https://localhost:9000")
    config = controller_config(
        "chain:3", at, host="127.0.0.1", port=0, database=tmp_path / "c.db", endpoint_file=tmp_path / "c.json"
    )
    loaded = load_controller_config(_write(tmp_path / "controller.json", config))
    assert (loaded.topology, loaded.port, loaded.poll_interval_s) == ("chain:3", 0, 1.0)
    assert loaded.tls.cert == tmp_path / "pki" / "controller-controller.crt"

    assert emulator_arguments("chain:3", tmp_path, 50.0) == [
        "emulator", "--topology", "chain:3", "--run-dir", str(tmp_path), "--time-scale", "50",
    ]  # fmt: skip
    assert emulator_arguments("madrid", Path("."), 0.5, "10.0.0.1", 9443)[-6:] == [
        "--host", "10.0.0.1", "--port", "9443", "--time-scale", "0.5",
    ]  # fmt: skip
    assert emulator_arguments("chain:3", tmp_path, 50.0, commissioned=True)[-3:] == [
        "--time-scale", "50", "--commissioned",
    ]  # fmt: skip
    assert (
        emulator_arguments("chain:3", tmp_path, 50.0, engine="protocol", protocol_block_symbols=4096)[-5:]
        == ["--time-scale", "50", "--engine", "protocol", "--protocol-block-symbols", "4096"][-5:]
    )
    assert (
        emulator_arguments("chain:3", tmp_path, 50.0, engine="rate", protocol_block_symbols=4096)[-1] == "50"
    )


def test_a_qkd_tls_control_channel_gives_the_controller_and_each_agent_an_sae_at_their_kmes(
    tmp_path: Path,
) -> None:
    run = RunDir(tmp_path)
    ports = {"n1": 18001, "n2": 18002, "n3": 18003}
    kmes = kme_configs(load_topology("chain:3"), run, "https://localhost:9000", ports, controller_node="n2")
    at = Placement(run.pki, "https://localhost:9000", {n: f"https://localhost:{p}" for n, p in ports.items()})
    at = Placement(at.pki, at.emulator_url, at.kme_urls, "https://localhost:7000", controller_node="n2")

    n1 = load_kme_config(_write(tmp_path / "kme-n1.json", kmes["n1"]))
    agent = load_agent_config(
        _write(
            tmp_path / "agent.json",
            agent_config("n1", "N1", at, host="127.0.0.1", port=0, endpoint_file=tmp_path / "a"),
        )
    )
    controller = load_controller_config(
        _write(
            tmp_path / "controller.json",
            controller_config(
                "chain:3",
                at,
                host="127.0.0.1",
                port=0,
                database=tmp_path / "c.db",
                endpoint_file=tmp_path / "c",
            ),
        )
    )

    assert n1.saes["controller"] == "n2"
    assert {n1.saes[f"{node}-agent"] for node in ("n1", "n2", "n3")} == {"n1", "n2", "n3"}
    assert agent.control_channel.kind == "qkd-tls"
    assert agent.control_channel.controller_sae_id == "controller"
    assert agent.control_channel.sae is not None
    assert agent.control_channel.sae.cert == run.pki / "sae-n1-agent.crt"
    assert controller.control_channel.kind == "qkd-tls"
    assert controller.control_channel.kme_url == "https://localhost:18002"
    assert controller.control_channel.agent_sae_id.format(node="n3") == "n3-agent"


def test_without_a_controller_node_the_control_channel_is_mutual_tls(tmp_path: Path) -> None:
    at = Placement(tmp_path / "pki", "https://localhost:9000", {"n1": "https://localhost:18001"})
    config = agent_config("n1", "N1", at, host="127.0.0.1", port=0, endpoint_file=tmp_path / "n1.json")
    assert "control_channel" not in config
    assert load_agent_config(_write(tmp_path / "agent.json", config)).control_channel.kind == "mtls"


def test_an_agent_on_qkd_tls_without_its_kme_or_sae_is_refused(tmp_path: Path) -> None:
    at = Placement(tmp_path / "pki", "https://localhost:9000")
    config = agent_config("n1", "N1", at, host="127.0.0.1", port=0, endpoint_file=tmp_path / "n1.json")
    config["control_channel"] = {"kind": "qkd-tls"}

    with pytest.raises(ConfigError, match=r"needs kme_url and control_channel\.sae"):
        load_agent_config(_write(tmp_path / "agent.json", config))


def test_a_service_manager_serves_with_its_nodes_certificate_and_reads_its_folders_back(
    tmp_path: Path,
) -> None:
    at = Placement(Path("pki"), "https://localhost:9000")
    config = service_manager_config(
        "n2",
        at,
        host="0.0.0.0",
        port=8480,
        run_dir=Path("."),
        log_dir=Path("nfv/n2"),
        endpoint_file=Path("nfv/n2.endpoint.json"),
    )
    loaded = load_service_manager_config(_write(tmp_path / "nfv-n2.json", config))
    assert (loaded.node_id, loaded.host, loaded.port) == ("n2", "0.0.0.0", 8480)
    assert loaded.tls.cert == tmp_path / "pki" / "agent-n2.crt"  # relative to the configuration file
    assert loaded.tls.ca == tmp_path / "pki" / "ca.crt"
    assert loaded.site().run_dir == tmp_path / "."
    assert loaded.site().log_dir == tmp_path / "nfv" / "n2"
    assert loaded.endpoint_file == tmp_path / "nfv" / "n2.endpoint.json"


def test_the_controller_knows_each_nodes_service_manager_and_the_sae_of_its_service_processes(
    tmp_path: Path,
) -> None:
    managers = {"n1": "https://localhost:18101", "n2": "https://localhost:18102"}
    at = Placement(tmp_path / "pki", "https://localhost:9000", service_manager_urls=managers)
    config = controller_config(
        "chain:2", at, host="127.0.0.1", port=0, database=tmp_path / "c.db", endpoint_file=tmp_path / "c.json"
    )
    loaded = load_controller_config(_write(tmp_path / "controller.json", config))
    assert loaded.service_managers == managers
    # the controller admits services between the SAEs the tunnel CLI runs as
    assert loaded.service_sae_id.format(node="n2") == sae_id("n2")

    without = Placement(tmp_path / "pki", "https://localhost:9000")
    config = controller_config(
        "chain:2",
        without,
        host="127.0.0.1",
        port=0,
        database=tmp_path / "c.db",
        endpoint_file=tmp_path / "c.json",
    )
    assert load_controller_config(_write(tmp_path / "controller.json", config)).service_managers == {}


def test_a_service_manager_url_that_is_not_https_is_refused(tmp_path: Path) -> None:
    at = Placement(
        tmp_path / "pki", "https://localhost:9000", service_manager_urls={"n1": "http://localhost:1"}
    )
    config = controller_config(
        "chain:2", at, host="127.0.0.1", port=0, database=tmp_path / "c.db", endpoint_file=tmp_path / "c.json"
    )
    with pytest.raises(ConfigError, match="service_managers"):
        load_controller_config(_write(tmp_path / "controller.json", config))


def test_a_tls_section_without_a_crl_still_loads_and_a_relative_crl_is_the_files_neighbour(
    tmp_path: Path,
) -> None:
    ports = {"n1": 18001, "n2": 18002, "n3": 18003}
    config = kme_configs(load_topology("chain:3"), RunDir(tmp_path), "https://localhost:9000", ports)["n1"]
    config["tls"] = {"cert": "pki/kme-n1.crt", "key": "pki/kme-n1.key", "ca": "pki/ca.crt"}  # written before
    before = load_kme_config(_write(tmp_path / "before.json", config))
    config["tls"] = {**config["tls"], "crl": "pki/crl.pem"}
    after = load_kme_config(_write(tmp_path / "after.json", config))

    assert before.tls.crl is None
    assert "crl" not in before.tls.to_json()
    assert after.tls.crl == tmp_path / "pki" / "crl.pem"
    assert after.tls.to_json()["crl"] == str(tmp_path / "pki" / "crl.pem")
