"""Test support for the KME tests (imported by the conftest and the tests): the session's
certificates, a two-node network (emulator and two KMEs, each a real mutual-TLS server on
loopback), clients that present a given certificate, and polling."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from polling import wait_for as wait_for
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError
from sdqkd.kms import Kme, KmeConfig, SqliteKeyStore, create_kme_app
from sdqkd.pki import CertificateAuthority, IssuedCertificate, client_ssl_context
from sdqkd.runtime.configs import pair_configuration
from sdqkd.server import BackgroundServer, TlsFiles
from sdqkd.topology.loader import load_topology

_T = TypeVar("_T")

LINK = "n1-n2"
# chain:2 makes ~1e5 bit/s of secret key at x1: at x1e4 the modules' buffers fill within a second.
TIME_SCALE = 1e4
POOL_TARGET_BLOCKS = 512


@dataclass(frozen=True)
class KmsPki:
    """The session's CA and a certificate for every caller of the tests. ``n1_other`` is a second
    SAE at n1, ``n2_other`` one at n2 (a second slave for multicast); ``stranger`` is an SAE in no
    KME's directory; ``kme_n3`` a KME of no link; ``foreign_sae`` comes from another CA."""

    ca: CertificateAuthority
    emulator: IssuedCertificate
    kme_n1: IssuedCertificate
    kme_n2: IssuedCertificate
    kme_n3: IssuedCertificate
    n1_app: IssuedCertificate
    n2_app: IssuedCertificate
    n1_other: IssuedCertificate
    n2_other: IssuedCertificate
    stranger: IssuedCertificate
    operator: IssuedCertificate
    foreign_ca: CertificateAuthority
    foreign_sae: IssuedCertificate


SAE_DIRECTORY = {"n1-app": "n1", "n1-other": "n1", "n2-app": "n2", "n2-other": "n2"}


class LateApp:
    """An ASGI app given later: a server binds its port (which the peer's configuration names)
    before the KME it serves is built. Remembers the server's event loop."""

    def __init__(self) -> None:
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


def stop_kme(kme: Kme, late: LateApp) -> None:
    """Stop ``kme``'s supply and close its clients on its server's loop. Before the servers stop:
    a KME's idle TLS connection to its peer would hold up the peer server's graceful shutdown
    (nothing reads the server's close_notify). The lifespan's ``kme.stop()`` then has nothing left."""
    if late.loop is not None and late.loop.is_running():
        asyncio.run_coroutine_threadsafe(kme.stop(), late.loop).result(timeout=10)


@dataclass
class Network:
    """The emulator and the KMEs of n1 and n2, served on loopback; ``urls``, ``kmes`` and
    ``stores`` by node."""

    emulator: Emulator
    emulator_url: str
    urls: dict[str, str]
    kmes: dict[str, Kme]
    stores: dict[str, SqliteKeyStore]
    pki: KmsPki

    def client(self, node: str, certificate: IssuedCertificate) -> Etsi014Client:
        """An ETSI 014 client of ``node``'s KME presenting ``certificate`` (close it)."""
        return Etsi014Client(
            self.urls[node],
            cert=certificate.cert,
            key=certificate.key,
            ca=self.pki.ca.cert_path,
            timeout_s=10,
        )

    def http(self, node: str, certificate: IssuedCertificate) -> httpx.Client:
        """A raw HTTPS client of ``node``'s KME presenting ``certificate`` (close it)."""
        context = client_ssl_context(certificate.cert, certificate.key, self.pki.ca.cert_path)
        return httpx.Client(base_url=self.urls[node], verify=context, timeout=10)

    def pools(self, node: str) -> dict[str, Any]:
        """``GET /api/v1/kme`` of ``node``'s KME with the operator's certificate: levels of the link."""
        with self.http(node, self.pki.operator) as http:
            response = http.get("/api/v1/kme")
        response.raise_for_status()
        (link,) = response.json()["links"]
        assert isinstance(link, dict)
        return link

    def wait_for_ready_blocks(self, minimum: int = 1, timeout_s: float = 10.0) -> None:
        """Until both KMEs hold at least ``minimum`` ready blocks of their own."""
        wait_for(
            lambda: [self.pools(node)["ready_blocks"] for node in ("n1", "n2")],
            lambda levels: all(level >= minimum for level in levels),
            timeout_s=timeout_s,
            what=f"{minimum} ready blocks at both KMEs",
        )


def kme_config(
    node: str,
    peer: str,
    pki: KmsPki,
    emulator_url: str,
    peer_url: str,
    db: Path,
    key_ttl_s: float,
    pool_target_blocks: int,
) -> KmeConfig:
    """The configuration ``sdqkd up`` would write for ``node``'s KME (``configs.kme_config``)."""
    certificate = pki.kme_n1 if node == "n1" else pki.kme_n2
    module = "n1-n2-tx" if node == "n1" else "n1-n2-rx"
    return KmeConfig.model_validate(
        {
            "kme_id": node,
            "tls": {"cert": str(certificate.cert), "key": str(certificate.key), "ca": str(pki.ca.cert_path)},
            "storage": {"backend": "sqlite", "path": str(db)},
            "saes": SAE_DIRECTORY,
            "links": [
                {
                    "id": LINK,
                    "peer_kme_id": peer,
                    "peer_url": peer_url,
                    "device": {"etsi014_url": f"{emulator_url}/devices/{module}", "peer_sae_id": peer},
                }
            ],
            "key_ttl_s": key_ttl_s,
            "pool_target_blocks": pool_target_blocks,
        }
    )


@contextmanager
def running_network(
    pki: KmsPki,
    directory: Path,
    key_ttl_s: float = 3600.0,
    pool_target_blocks: int = POOL_TARGET_BLOCKS,
    serve: Callable[[str, Any], Any] | None = None,
) -> Iterator[Network]:
    """The chain:2 network with its pair configured and both KMEs serving; stopped on exit.

    ``serve(node, app)``, if given, is what ``node``'s server serves instead of its KME's ``app``
    (e.g. the app behind a fake that answers some calls itself)."""
    topology = load_topology("chain:2")
    emulator = Emulator(topology, time_scale=TIME_SCALE)
    for module_id, pair in pair_configuration(topology).items():
        emulator.world.configure(module_id, pair["peers"], pair["dwdm_channel"], enabled=True)
    emulator.refresh()
    with ExitStack() as stack:
        emulator_tls = TlsFiles(pki.emulator.cert, pki.emulator.key, pki.ca.cert_path)
        emulator_server = stack.enter_context(BackgroundServer(create_emulator_app(emulator), emulator_tls))
        stores = {node: SqliteKeyStore(directory / f"{node}.db") for node in ("n1", "n2")}
        for store in stores.values():
            stack.callback(store.close)
        late = {"n1": LateApp(), "n2": LateApp()}
        servers = {
            node: BackgroundServer(app, TlsFiles(certificate.cert, certificate.key, pki.ca.cert_path))
            for node, app, certificate in (("n1", late["n1"], pki.kme_n1), ("n2", late["n2"], pki.kme_n2))
        }
        for server in servers.values():
            stack.callback(server.stop)  # exits in reverse: the KMEs stop before their stores close
        kmes: dict[str, Kme] = {}
        for node, peer in (("n1", "n2"), ("n2", "n1")):
            config = kme_config(
                node, peer, pki, emulator_server.url, servers[peer].url, stores[node].path,
                key_ttl_s, pool_target_blocks,
            )  # fmt: skip
            kmes[node] = Kme(config, stores[node])
            late[node].app = create_kme_app(kmes[node])
            if serve is not None:
                late[node].app = serve(node, late[node].app)
        for server in servers.values():
            server.start()
        for node in ("n1", "n2"):
            stack.callback(stop_kme, kmes[node], late[node])
        yield Network(
            emulator=emulator,
            emulator_url=emulator_server.url,
            urls={node: server.url for node, server in servers.items()},
            kmes=kmes,
            stores=stores,
            pki=pki,
        )


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to completion (pytest-asyncio is not used)."""
    return asyncio.run(coroutine)


def etsi(
    network: Network,
    node: str,
    certificate: IssuedCertificate,
    action: Callable[[Etsi014Client], Awaitable[_T]],
) -> _T:
    """``action`` with an ETSI 014 client of ``node``'s KME presenting ``certificate`` (then closed)."""

    async def call() -> _T:
        async with network.client(node, certificate) as client:
            return await action(client)

    return asyncio.run(call())


def refusal(
    network: Network,
    node: str,
    certificate: IssuedCertificate,
    action: Callable[[Etsi014Client], Awaitable[object]],
) -> Etsi014ClientError:
    """The error ``action`` fails with (AssertionError if it delivers)."""
    try:
        etsi(network, node, certificate, action)
    except Etsi014ClientError as exc:
        return exc
    raise AssertionError("the request was served")


def rows(db: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Query a KME's database directly (a separate read connection, as an inspector would)."""
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()
