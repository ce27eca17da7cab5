"""Support for the service manager tests (importable as ``nfv_support``): harmless process kinds
(Python loops; an OPoT node's arguments and share file with a harmless command) beside the real
ones, the certificates of each kind of caller, and a manager served with mutual TLS on loopback."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict

from sdqkd.nfv import DEFAULT_KINDS, Launch, ProcessKind, RestartPolicy, Site, Supervisor
from sdqkd.nfv.app import create_service_manager_app
from sdqkd.nfv.kinds import OpotNodeArgs
from sdqkd.pki import CertificateAuthority, IssuedCertificate, client_ssl_context
from sdqkd.server import BackgroundServer, TlsFiles

NODE = "norte"
POLICY = RestartPolicy(first_delay_s=0.05, max_delay_s=0.2, max_deaths=3, window_s=30.0)
"""Quick restarts; a fourth death within 30 s is a crash loop."""


class LoopArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str
    greeting: str = "hello"


# A process that prints its greeting, writes its stats file and then sleeps until stopped.
_SLEEPER = (
    "import json, sys, time\n"
    "print(sys.argv[1], flush=True)\n"
    "open(sys.argv[2], 'w').write(json.dumps({'greeting': sys.argv[1]}))\n"
    "while True: time.sleep(0.5)\n"
)


def _sleeper(args: LoopArgs, process_id: str, site: Site) -> Launch:
    stats = site.stats_file(process_id)
    return Launch((sys.executable, "-c", _SLEEPER, args.greeting, str(stats)), stats)


class ListenerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str
    listen: str


# A process that listens on its HOST:PORT (accepting nothing) until stopped.
_LISTENER = (
    "import socket, sys, time\n"
    "host, _, port = sys.argv[1].rpartition(':')\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((host, int(port))); s.listen()\n"
    "while True: time.sleep(0.5)\n"
)


def _listener(args: ListenerArgs, process_id: str, site: Site) -> Launch:
    return Launch((sys.executable, "-c", _LISTENER, args.listen))


def _crasher(args: LoopArgs, process_id: str, site: Site) -> Launch:
    return Launch((sys.executable, "-c", "raise SystemExit(3)"))


# An OPoT node stand-in: reads the share file the manager wrote (a file it cannot parse ends it), binds
# its UDP listen address, and writes its pid, the share's node and the file's mode to its stats file.
_SHARE_READER = (
    "import json, os, socket, stat, sys, time\n"
    "share, listen, stats = sys.argv[1:4]\n"
    "node = json.load(open(share))['node']['node']\n"
    "mode = stat.S_IMODE(os.stat(share).st_mode)\n"
    "host, _, port = listen.rpartition(':')\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((host, int(port)))\n"
    "open(stats + '.partial', 'w').write(json.dumps({'pid': os.getpid(), 'node': node, 'mode': mode}))\n"
    "os.replace(stats + '.partial', stats)\n"
    "while True: time.sleep(0.5)\n"
)


def _opot_standin(args: OpotNodeArgs, process_id: str, site: Site) -> Launch:
    """The real ``opot-node`` launch (its stats file, its share file) with a harmless command line."""
    real = DEFAULT_KINDS["opot-node"].launch(args, process_id, site)
    share = real.argv[real.argv.index("--profile") + 1]
    argv = (sys.executable, "-c", _SHARE_READER, share, args.listen, str(real.stats_file))
    return Launch(argv, real.stats_file, real.files)


KINDS = {
    **DEFAULT_KINDS,
    "sleeper": ProcessKind("sleeper", LoopArgs, _sleeper),
    "crasher": ProcessKind("crasher", LoopArgs, _crasher),
    "listener": ProcessKind("listener", ListenerArgs, _listener),
    "opot-standin": ProcessKind("opot-standin", OpotNodeArgs, _opot_standin, socket.SOCK_DGRAM),
}


@dataclass(frozen=True)
class Pki:
    ca: CertificateAuthority
    server: IssuedCertificate
    controller: IssuedCertificate
    operator: IssuedCertificate
    own_agent: IssuedCertificate
    other_agent: IssuedCertificate


@dataclass
class Manager:
    server: BackgroundServer
    supervisor: Supervisor
    pki: Pki

    def client(self, certificate: IssuedCertificate) -> httpx.Client:
        context = client_ssl_context(certificate.cert, certificate.key, self.pki.ca.cert_path)
        return httpx.Client(base_url=self.server.url, verify=context, timeout=10)


def start_manager(pki: Pki, tmp_path: Path) -> Manager:
    """A manager of the node ``norte`` on a free loopback port (stop its ``server`` when done)."""
    supervisor = Supervisor(
        Site(NODE, tmp_path / "run", tmp_path / "logs"), KINDS, POLICY, stop_timeout_s=2.0
    )
    tls = TlsFiles(pki.server.cert, pki.server.key, pki.ca.cert_path)
    server = BackgroundServer(create_service_manager_app(supervisor), tls).start()
    return Manager(server, supervisor, pki)
