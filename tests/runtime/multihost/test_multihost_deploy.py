"""``sdqkd deploy``: from a topology and an addresses file, one folder per host with the certificates
(valid for that host's address) and the configuration of the roles it runs, the CA key kept out of
them, and the commands each host runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from multihost_support import NODE_HOSTS, addresses, certificate, identity, ip_addresses

from sdqkd.agent.service import load_agent_config
from sdqkd.errors import ConfigError
from sdqkd.etsi015 import yang_dir
from sdqkd.kms.config import load_kme_config
from sdqkd.pki.identity import Identity, Role
from sdqkd.runtime.deploy import Deployment, deploy, load_addresses, parse_addresses
from sdqkd.runtime.rundir import RunDir

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_each_host_gets_one_folder_with_the_certificates_of_its_own_roles_only(madrid: Deployment) -> None:
    folders = {host.address: host.folder for host in madrid.hosts}
    assert set(folders) == {"10.77.0.1", *NODE_HOSTS.values()}
    assert {path.name for path in (madrid.out / "hosts").iterdir()} == set(folders)

    pki = {
        address: {f for f in _files(folder) if f.startswith("pki/")} for address, folder in folders.items()
    }
    assert pki["10.77.0.1"] == {
        "pki/ca.crt",
        "pki/emulator-emulator.crt",
        "pki/emulator-emulator.key",
        "pki/controller-controller.crt",
        "pki/controller-controller.key",
    }
    for node, address in NODE_HOSTS.items():
        names = [f"kme-{node}", f"agent-{node}", f"sae-{node}-app"]
        assert pki[address] == {"pki/ca.crt"} | {f"pki/{n}.{ext}" for n in names for ext in ("crt", "key")}
    assert madrid.host_of("kme:norte").roles == ["kme:norte", "agent:norte"]
    assert madrid.host_of("emulator").roles == ["emulator", "controller"]
    with pytest.raises(KeyError, match="kme:sol"):
        madrid.host_of("kme:sol")


def test_the_ca_key_stays_in_the_top_level_ca_folder(madrid: Deployment) -> None:
    ca_key = (madrid.out / "ca" / "ca.key").read_bytes()
    assert b"PRIVATE KEY" in ca_key
    holders = [path for path in madrid.out.rglob("*") if path.is_file() and path.read_bytes() == ca_key]
    assert holders == [madrid.out / "ca" / "ca.key"]
    assert not [path for path in madrid.out.rglob("ca.key") if path.parent != madrid.out / "ca"]
    ca_cert = (madrid.out / "ca" / "ca.crt").read_bytes()
    for host in madrid.hosts:
        assert (host.folder / "pki" / "ca.crt").read_bytes() == ca_cert
    assert madrid.ca_cert.read_bytes() == ca_cert


def test_service_certificates_carry_their_host_address_and_chain_to_the_ca(madrid: Deployment) -> None:
    ca = certificate(madrid.out / "ca" / "ca.crt")
    services = {
        "emulator": (madrid.host_of("emulator"), Role.EMULATOR, "emulator"),
        "controller": (madrid.host_of("controller"), Role.CONTROLLER, "controller"),
    }
    for node in NODE_HOSTS:
        services[f"kme:{node}"] = (madrid.host_of(f"kme:{node}"), Role.KME, node)
        services[f"agent:{node}"] = (madrid.host_of(f"agent:{node}"), Role.AGENT, node)
    for host, role, name in services.values():
        path = host.folder / "pki" / f"{role}-{name}.crt"
        cert = certificate(path)
        cert.verify_directly_issued_by(ca)  # raises if it does not chain to the deployment's CA
        assert identity(path) == Identity(role, name)
        assert ip_addresses(cert) == {host.address}  # the address its peers reach it by, and only that
    for node in NODE_HOSTS:
        sae = madrid.host_of(f"kme:{node}").folder / "pki" / f"sae-{node}-app.crt"
        assert identity(sae) == Identity(Role.SAE, f"{node}-app")
    assert identity(madrid.operator_cert) == Identity(Role.OPERATOR, "operator")
    certificate(madrid.operator_cert).verify_directly_issued_by(ca)


def test_each_kme_reaches_its_peer_kmes_and_its_modules_at_their_hosts(madrid: Deployment) -> None:
    host = madrid.host_of("kme:concepcion")
    config = load_kme_config(host.folder / "kme-concepcion.yaml")

    assert (config.kme_id, config.host, config.port) == ("concepcion", "10.77.0.2", 8443)
    assert config.tls.cert == host.folder / "pki" / "kme-concepcion.crt"
    assert all(path.is_file() for path in (config.tls.cert, config.tls.key, config.tls.ca))
    assert config.storage.path.parent == host.folder / "kme"
    assert config.endpoint_file is not None
    assert config.endpoint_file.parent.is_dir()
    assert config.saes == {"norte-app": "norte", "quintin-app": "quintin", "concepcion-app": "concepcion"}
    assert config.local_saes() == {"concepcion-app"}
    links = {link.id: link for link in config.links}
    assert set(links) == {"concepcion-norte", "concepcion-quintin"}
    assert links["concepcion-norte"].peer_kme_id == "norte"
    assert links["concepcion-norte"].peer_url == "https://10.77.0.3:8443"
    assert links["concepcion-quintin"].peer_url == "https://10.77.0.4:8443"
    for link in links.values():
        assert link.device.etsi014_url == "https://10.77.0.1:9443/devices/concepcion-tx"

    norte = load_kme_config(madrid.host_of("kme:norte").folder / "kme-norte.yaml")
    by_id = {link.id: link for link in norte.links}
    assert by_id["concepcion-norte"].peer_url == "https://10.77.0.2:8443"
    assert by_id["concepcion-norte"].device.etsi014_url == "https://10.77.0.1:9443/devices/norte-rx"
    assert by_id["concepcion-norte"].device.peer_sae_id == "concepcion"
    assert by_id["norte-quintin"].device.etsi014_url == "https://10.77.0.1:9443/devices/norte-tx"


def test_each_agent_knows_the_emulator_the_controller_its_kme_and_the_url_it_is_reached_at(
    madrid: Deployment,
) -> None:
    host = madrid.host_of("agent:quintin")
    config = _yaml(host.folder / "agent-quintin.yaml")

    assert config["node_id"] == "quintin"
    assert config["location"] == "Quintín"
    assert (config["host"], config["port"]) == ("10.77.0.4", 8830)
    assert config["driver"] == {"kind": "emulator", "url": "https://10.77.0.1:9443"}
    assert config["controller_url"] == "https://10.77.0.1:7443"
    assert config["kme_url"] == "https://10.77.0.4:8443"
    assert config["advertise_url"] == "https://10.77.0.4:8830"
    for key in ("cert", "key", "ca"):
        assert (host.folder / config["tls"][key]).is_file()
    assert config["tls"]["cert"] == "pki/agent-quintin.crt"
    assert (host.folder / config["endpoint_file"]).parent.is_dir()
    assert "yang_dir" not in config  # the agents validate against the model shipped with sdqkd
    assert not (host.folder / "yang").exists()
    loaded = load_agent_config(host.folder / "agent-quintin.yaml")  # what `sdqkd agent` will read
    assert loaded.controller_url == "https://10.77.0.1:7443"
    assert loaded.advertise_url == "https://10.77.0.4:8830"
    assert loaded.yang_dir is None


def test_other_yang_modules_are_copied_to_each_node_host_and_named_in_its_agents_configuration(
    tmp_path: Path,
) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    for source in yang_dir().iterdir():
        if source.name == "yang-library.json" or source.suffix == ".yang":
            shutil.copyfile(source, modules / source.name)
    (modules / "README").write_text("not a module")

    deployment = deploy("madrid", parse_addresses(addresses()), tmp_path / "out", yang_dir=modules)

    assert deployment.yang_dir == modules.resolve()
    for node in NODE_HOSTS:
        host = deployment.host_of(f"agent:{node}")
        assert _yaml(host.folder / f"agent-{node}.yaml")["yang_dir"] == "yang"
        assert load_agent_config(host.folder / f"agent-{node}.yaml").yang_dir == host.folder / "yang"
        copied = sorted(path.name for path in (host.folder / "yang").iterdir())
        assert copied == sorted(path.name for path in modules.iterdir() if path.name != "README")
    assert not (deployment.host_of("controller").folder / "yang").exists()


def test_the_emulator_host_folder_is_the_emulators_run_directory(madrid: Deployment) -> None:
    host = madrid.host_of("emulator")
    run = RunDir(host.folder)
    cert, key = run.require_certificate(Role.EMULATOR, "emulator")
    assert all(path.is_file() for path in (cert, key, run.ca_cert))
    assert run.emulator_dir.is_dir()
    (command,) = [c for c in host.commands if c.role == "emulator"]
    assert command.argv == (
        "sdqkd", "emulator", "--topology", "madrid", "--run-dir", ".",
        "--host", "10.77.0.1", "--port", "9443", "--time-scale", "1",
    )  # fmt: skip


def test_the_controller_configuration_serves_on_its_address_with_relative_files(madrid: Deployment) -> None:
    host = madrid.host_of("controller")
    config = _yaml(host.folder / "controller.yaml")
    assert config == {
        "host": "10.77.0.1",
        "port": 7443,
        "tls": {
            "cert": "pki/controller-controller.crt",
            "key": "pki/controller-controller.key",
            "ca": "pki/ca.crt",
            "crl": "pki/crl.pem",  # there once a certificate is revoked (copied to the host): optional
        },
        "topology": "madrid",
        "database": "controller/state.db",
        "endpoint_file": "controller/endpoint.json",
        "poll_interval_s": 1.0,
        "plant_url": "https://10.77.0.1:9443",  # the emulator's plant API: the controller manages the fibres
        "world_time_scale": 1.0,  # the emulator's --time-scale, for the switch schedule's dead times
    }
    assert (host.folder / "controller").is_dir()


def test_every_host_lists_its_commands_in_start_order_and_deployment_json_has_the_whole_plan(
    madrid: Deployment,
) -> None:
    first = madrid.hosts[0]
    assert first.address == "10.77.0.1"  # the emulator's host starts first
    assert [c.shell for c in first.commands][1] == "sdqkd controller --config controller.yaml"
    norte = madrid.host_of("kme:norte")
    assert [c.shell for c in norte.commands] == [
        "sdqkd kme --config kme-norte.yaml",
        "sdqkd agent --config agent-norte.yaml",
    ]
    text = (norte.folder / "commands.txt").read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        c.shell for c in norte.commands
    ]

    recorded = json.loads((madrid.out / "deployment.json").read_text(encoding="utf-8"))
    assert recorded == json.loads(json.dumps(madrid.to_json()))
    assert recorded["controller"] == {"url": "https://10.77.0.1:7443"}
    assert recorded["nodes"]["norte"] == {
        "kme_url": "https://10.77.0.3:8443",
        "agent_url": "https://10.77.0.3:8830",
    }
    assert recorded["hosts"][0]["roles"] == ["emulator", "controller"]


def test_a_network_on_one_host_shares_one_folder_and_a_topology_file_travels_with_it(tmp_path: Path) -> None:
    topology = tmp_path / "two.yaml"
    topology.write_text(
        "name: two\nnodes: [{id: a, name: A}, {id: b, name: B}]\n"
        "fibres: [{id: a-b, a: a, b: b, length_km: 10, attenuation_db_per_km: 0.2}]\n"
        "qkd_modules:\n"
        "  - {id: a-tx, node: a, role: transmitter, profile: madrid-2018, attachment: {fibre: a-b}}\n"
        "  - {id: b-rx, node: b, role: receiver, profile: madrid-2018, attachment: {fibre: a-b}}\n"
        "qkd_links: [{id: a-b, transmitter: a-tx, receiver: b-rx}]\n",
        encoding="utf-8",
    )
    local = {
        "controller": {"host": "127.0.0.1", "port": 17443},
        "emulator": {"host": "127.0.0.1", "port": 19443},
        "nodes": {
            "a": {"host": "127.0.0.1", "kme_port": 18443, "agent_port": 18830},
            "b": {"host": "127.0.0.1", "kme_port": 18444, "agent_port": 18831},
        },
    }
    deployment = deploy(str(topology), parse_addresses(local), tmp_path / "out", time_scale=20, yang_dir=None)

    (host,) = deployment.hosts
    assert host.roles == ["emulator", "controller", "kme:a", "agent:a", "kme:b", "agent:b"]
    assert (host.folder / "topology.yaml").read_bytes() == topology.read_bytes()
    assert _yaml(host.folder / "controller.yaml")["topology"] == "topology.yaml"
    emulator = host.commands[0].argv
    assert emulator[emulator.index("--topology") + 1] == "topology.yaml"
    assert emulator[emulator.index("--time-scale") + 1] == "20"
    assert load_kme_config(host.folder / "kme-b.yaml").links[0].peer_url == "https://127.0.0.1:18443"
    assert not (host.folder / "yang").exists()  # no modules given: the agents use the packaged model
    assert "YANG" not in (host.folder / "commands.txt").read_text(encoding="utf-8")


def test_ipv6_addresses_are_bracketed_in_urls_and_kept_out_of_folder_names(tmp_path: Path) -> None:
    document = addresses(nodes={"norte": {"host": "fd00::3"}})
    deployment = deploy("madrid", parse_addresses(document), tmp_path / "out")
    assert deployment.kme_urls["norte"] == "https://[fd00::3]:8443"
    assert deployment.host_of("kme:norte").folder.name == "fd00__3"
    assert ip_addresses(certificate(deployment.host_of("kme:norte").folder / "pki" / "kme-norte.crt")) == {
        "fd00::3"
    }


@pytest.mark.parametrize(
    ("document", "fragments"),
    [
        (addresses(nodes={"madrid": {"host": "10.77.0.9"}}), ["nodes.madrid: unknown node", "concepcion"]),
        (addresses(nodes={"quintin": None}), ["nodes: missing node 'quintin'"]),
        (
            addresses(nodes={"norte": {"host": "10.77.0.300"}}),
            ["nodes.norte.host", "bad address '10.77.0.300'"],
        ),
        (addresses(nodes={"norte": {"host": "no spaces"}}), ["nodes.norte.host", "bad address"]),
        (addresses(emulator={"host": "0.0.0.0"}), ["emulator.host", "cannot reach"]),
        (
            addresses(controller={"host": "10.77.0.1", "port": 0}),
            ["controller.port", "greater than or equal to 1"],
        ),
        (addresses(nodes={"norte": {"host": "10.77.0.3", "kme-port": 1}}), ["nodes.norte.kme-port", "Extra"]),
        (addresses(controller=None), ["controller", "required"]),
        (
            addresses(emulator={"host": "10.77.0.1", "port": 7443}),
            ["emulator.port", "10.77.0.1:7443", "controller.port"],
        ),
        (
            addresses(nodes={"norte": {"host": "10.77.0.2"}}),
            ["nodes.norte.kme_port: 10.77.0.2:8443 is already nodes.concepcion.kme_port"],
        ),
    ],
)
def test_bad_addresses_are_refused_with_the_field_named(
    document: dict[str, Any], fragments: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        deploy("madrid", load_addresses(path), tmp_path / "out")
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "out").exists()  # nothing written for a refused plan


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "ca").mkdir(parents=True)
    (out / "ca" / "ca.key").write_text("an existing CA key")
    with pytest.raises(ConfigError, match="not an empty folder"):
        deploy("madrid", parse_addresses(addresses()), out)
    assert _files(out) == {"ca/ca.key"}
    assert (out / "ca" / "ca.key").read_text() == "an existing CA key"


def test_sdqkd_deploy_prints_the_commands_of_every_host(sdqkd: Sdqkd, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(addresses()), encoding="utf-8")
    out = tmp_path / "out"

    result = sdqkd("deploy", "--topology", "madrid", "--addresses", hosts, "--out", out, "--time-scale", "5")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for address in ("10.77.0.1", *NODE_HOSTS.values()):
        assert any(
            line.startswith(f"{address} (") and line.endswith(str(out / "hosts" / address)) for line in lines
        )
    assert (
        "  sdqkd emulator --topology madrid --run-dir . --host 10.77.0.1 --port 9443 --time-scale 5" in lines
    )
    assert "  sdqkd controller --config controller.yaml" in lines
    for node in NODE_HOSTS:
        assert f"  sdqkd kme --config kme-{node}.yaml" in lines
        assert f"  sdqkd agent --config agent-{node}.yaml" in lines
    assert f"{out / 'operator' / 'operator-operator.crt'}" in result.stdout
    assert (out / "deployment.json").is_file()


def test_sdqkd_deploy_json_is_the_recorded_plan(sdqkd: Sdqkd, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(addresses()), encoding="utf-8")
    result = sdqkd("deploy", "--addresses", hosts, "--out", tmp_path / "out", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads((tmp_path / "out" / "deployment.json").read_text())


def test_sdqkd_deploy_with_a_bad_address_ends_with_one_error_line(sdqkd: Sdqkd, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(addresses(nodes={"norte": {"host": "10.77.0.999"}})), encoding="utf-8")
    result = sdqkd("deploy", "--addresses", hosts, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"sdqkd: error: {hosts}: nodes.norte.host: bad address '10.77.0.999': "
        "neither an IP address nor a host name"
    ]
    assert result.stdout == ""
