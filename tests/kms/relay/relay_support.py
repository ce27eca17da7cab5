"""Test support for the key relay: a chain of KMEs (emulator ``chain:N``, each KME a real mutual-TLS
server on loopback, a KME per node with links to its neighbours) and virtual links from n1 to every
other node; a gate per KME to take it off the network; clients and polling."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from polling import wait_for as wait_for
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi014 import Etsi014Client
from sdqkd.kms import Kme, KmeConfig, SqliteKeyStore, create_kme_app
from sdqkd.pki import CertificateAuthority, IssuedCertificate, Role, client_ssl_context
from sdqkd.runtime.configs import pair_configuration
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.loader import load_topology

_T = TypeVar("_T")

TIME_SCALE = 1e4
POOL_TARGET_BLOCKS = 256
MAX_NODES = 5


@dataclass(frozen=True)
class RelayPki:
    """Certificates from the session's CA: KMEs n1…n5, an SAE ``nK-app`` at every node and
    ``n5-other`` (a second slave), the operator, the controller and an agent."""

    ca: CertificateAuthority
    emulator: IssuedCertificate
    kmes: dict[str, IssuedCertificate]
    saes: dict[str, IssuedCertificate]
    operator: IssuedCertificate
    controller: IssuedCertificate
    agent: IssuedCertificate

    @classmethod
    def issued_by(cls, ca: CertificateAuthority) -> RelayPki:
        nodes = [f"n{i}" for i in range(1, MAX_NODES + 1)]
        saes = {f"{node}-app": ca.issue(Role.SAE, f"{node}-app") for node in nodes}
        saes["n5-other"] = ca.issue(Role.SAE, "n5-other")
        return cls(
            ca=ca,
            emulator=ca.issue(Role.EMULATOR, "emulator"),
            kmes={node: ca.issue(Role.KME, node) for node in nodes},
            saes=saes,
            operator=ca.issue(Role.OPERATOR, "operator"),
            controller=ca.issue(Role.CONTROLLER, "controller"),
            agent=ca.issue(Role.AGENT, "n1"),
        )


class Gate:
    """An ASGI app given later (a server binds its port, which the neighbours' configurations name,
    before its KME is built) that can be closed: while closed every request gets a bare 503, as
    from a proxy whose KME is down. Remembers the server's event loop."""

    def __init__(self) -> None:
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loop = asyncio.get_running_loop()
        if self.closed and scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def virtual_links(nodes: list[str]) -> list[dict[str, Any]]:
    """A virtual link ``v-n1-nK`` from n1 to every other node K, along the chain."""
    return [{"id": f"v-n1-{far}", "path": nodes[: index + 1]} for index, far in enumerate(nodes) if index]


def kme_config(
    node: str, nodes: list[str], pki: RelayPki, emulator_url: str, urls: dict[str, str], db: Path
) -> KmeConfig:
    """The configuration of ``node``'s KME: its links to its neighbours and the virtual links it is on."""
    index = nodes.index(node)
    links = []
    for other in (nodes[index - 1] if index else None, nodes[index + 1] if index + 1 < len(nodes) else None):
        if other is None:
            continue
        low, high = sorted((node, other), key=nodes.index)
        module = f"{low}-{high}-{'tx' if node == low else 'rx'}"
        links.append(
            {
                "id": f"{low}-{high}",
                "peer_kme_id": other,
                "peer_url": urls[other],
                "device": {"etsi014_url": f"{emulator_url}/devices/{module}", "peer_sae_id": other},
            }
        )
    certificate = pki.kmes[node]
    saes = {f"{n}-app": n for n in nodes}
    saes["n5-other"] = "n5"
    return KmeConfig.model_validate(
        {
            "kme_id": node,
            "tls": {"cert": str(certificate.cert), "key": str(certificate.key), "ca": str(pki.ca.cert_path)},
            "storage": {"backend": "sqlite", "path": str(db)},
            "saes": saes,
            "links": links,
            "virtual_links": [v for v in virtual_links(nodes) if node in v["path"]],
            "pool_target_blocks": POOL_TARGET_BLOCKS,
        }
    )


@dataclass
class Chain:
    """The emulator and the KMEs of a chain n1…nN; ``urls``, ``kmes``, ``stores``, ``gates`` by node."""

    nodes: list[str]
    urls: dict[str, str]
    kmes: dict[str, Kme]
    stores: dict[str, SqliteKeyStore]
    gates: dict[str, Gate]
    pki: RelayPki

    def client(self, node: str, sae: str | None = None) -> Etsi014Client:
        """An ETSI 014 client of ``node``'s KME as SAE ``sae`` (default ``node-app``); close it."""
        certificate = self.pki.saes[sae or f"{node}-app"]
        return Etsi014Client(
            self.urls[node],
            cert=certificate.cert,
            key=certificate.key,
            ca=self.pki.ca.cert_path,
            timeout_s=20,
        )

    def http(self, node: str, certificate: IssuedCertificate) -> httpx.Client:
        """A raw HTTPS client of ``node``'s KME presenting ``certificate`` (close it)."""
        context = client_ssl_context(certificate.cert, certificate.key, self.pki.ca.cert_path)
        return httpx.Client(base_url=self.urls[node], verify=context, timeout=20)

    def pools(self, node: str) -> dict[str, Any]:
        """``GET /api/v1/kme`` of ``node``'s KME (operator)."""
        with self.http(node, self.pki.operator) as http:
            response = http.get("/api/v1/kme")
        response.raise_for_status()
        data = response.json()
        assert isinstance(data, dict)
        return data

    def link_counters(self, node: str) -> dict[str, dict[str, int]]:
        """Per physical link of ``node``: its relay counters."""
        return {
            link["id"]: {k: link[k] for k in ("blocks_used_for_relay", "peer_blocks_used_for_relay")}
            for link in self.pools(node)["links"]
        }

    def wait_for_ready_blocks(self, minimum: int = POOL_TARGET_BLOCKS, timeout_s: float = 20.0) -> None:
        """Until every KME holds at least ``minimum`` ready blocks of its own on each of its links."""

        def levels() -> list[int]:
            return [link["ready_blocks"] for node in self.nodes for link in self.pools(node)["links"]]

        wait_for(
            levels, lambda found: min(found) >= minimum, timeout_s, f"{minimum} ready blocks on every link"
        )


@contextmanager
def running_chain(pki: RelayPki, directory: Path, length: int) -> Iterator[Chain]:
    """The chain of ``length`` nodes with its pairs configured and every KME serving; stopped on exit."""
    topology = load_topology(f"chain:{length}")
    nodes = [node.id for node in topology.nodes]
    emulator = Emulator(topology, time_scale=TIME_SCALE)
    for module_id, pair in pair_configuration(topology).items():
        emulator.world.configure(module_id, pair["peers"], pair["dwdm_channel"], enabled=True)
    emulator.refresh()
    with ExitStack() as stack:
        emulator_tls = TlsFiles(pki.emulator.cert, pki.emulator.key, pki.ca.cert_path)
        emulator_server = stack.enter_context(BackgroundServer(create_emulator_app(emulator), emulator_tls))
        stores = {node: SqliteKeyStore(directory / f"{node}.db") for node in nodes}
        for store in stores.values():
            stack.callback(store.close)
        gates = {node: Gate() for node in nodes}
        servers = {
            node: BackgroundServer(
                gates[node], TlsFiles(pki.kmes[node].cert, pki.kmes[node].key, pki.ca.cert_path)
            )
            for node in nodes
        }
        for server in servers.values():
            stack.callback(server.stop)  # exits in reverse: the KMEs stop before their stores close
        urls = {node: server.url for node, server in servers.items()}
        kmes = {}
        for node in nodes:
            config = kme_config(node, nodes, pki, emulator_server.url, urls, stores[node].path)
            kmes[node] = Kme(config, stores[node])
            gates[node].app = create_kme_app(kmes[node])
        for server in servers.values():
            server.start()
        for node in nodes:
            stack.callback(stop_kme, kmes[node], gates[node])
        yield Chain(nodes=nodes, urls=urls, kmes=kmes, stores=stores, gates=gates, pki=pki)


def stop_kme(kme: Kme, gate: Gate) -> None:
    """Stop ``kme``'s supply and clients on its server's loop, before the servers stop (an idle
    KME↔KME connection would hold up the peer server's graceful shutdown)."""
    gate.closed = False
    if gate.loop is not None and gate.loop.is_running():
        asyncio.run_coroutine_threadsafe(kme.stop(), gate.loop).result(timeout=10)


def etsi(
    chain: Chain, node: str, action: Callable[[Etsi014Client], Awaitable[_T]], sae: str | None = None
) -> _T:
    """``action`` with an ETSI 014 client of ``node``'s KME (then closed)."""

    async def call() -> _T:
        async with chain.client(node, sae) as client:
            return await action(client)

    return asyncio.run(call())


def rows(db: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Query a KME's database directly (a separate read connection, as an inspector would)."""
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def database_bytes(db: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk."""
    return b"".join(path.read_bytes() for path in (db, db.with_name(db.name + "-wal")) if path.exists())
