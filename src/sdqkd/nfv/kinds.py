"""The kinds of process a service manager may start: a fixed table from a kind's name to the model of
its arguments and the ``sdqkd`` command line they make.

A controller orders *services*, never commands: the body of an order names a kind of this table and
its arguments, which are validated (pydantic, no unknown members, ``HOST:PORT`` addresses, the node
the manager runs on) before any argument list is built. Nothing of the order reaches a shell; the
argument list is passed to ``exec`` as it is, every value in an option of its own.

Kinds (DESIGN §5, the data-plane tunnel of :mod:`sdqkd.apps.tunnel`):

============== ===============================================================================
``tunnel-entry`` ``sdqkd tunnel entry --run-dir R --node N --peer P --listen L --connect C
                 --rekey-s S --rekey-bytes B [--key-lifetime-s T] --stats-file LOG/ID.stats.json``
``tunnel-exit``  ``sdqkd tunnel exit --run-dir R --node N --listen L --forward F
                 --stats-file LOG/ID.stats.json``
``opot-node``    ``sdqkd opot node --run-dir R --node N --profile LOG/ID.share.json --listen L
                 (--next X | [--forward F]) --refresh-packets P --refresh-s S
                 --stats-file LOG/ID.stats.json`` — UDP; ``share`` (the node's OPoT share, a secret) is
                 written owner-only to ``LOG/ID.share.json`` before each start, never put on the command
                 line, and shown as ``**********`` in the manager's answers
============== ===============================================================================

A table is a parameter of the supervisor (:data:`DEFAULT_KINDS` by default), so a test can run a
harmless kind of its own.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from sdqkd.errors import ConfigError
from sdqkd.opot import NodeShare

__all__ = [
    "DEFAULT_KINDS",
    "SDQKD_COMMAND",
    "Launch",
    "OpotNodeArgs",
    "ProcessKind",
    "ProcessRefused",
    "Site",
    "TunnelEntryArgs",
    "TunnelExitArgs",
]

SDQKD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "sdqkd.cli.app")
"""``sdqkd`` as the manager runs it: the same interpreter and installation as the manager's own."""


class ProcessRefused(ConfigError):
    """An order the service manager does not carry out: an unknown kind, arguments that do not
    validate, a process for another node, an id that cannot name a file."""


def _host_port(text: str) -> str:
    # ``HOST:PORT``, an IPv6 host in brackets: the form ``sdqkd tunnel`` parses
    host, sep, port = text.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("not HOST:PORT")
    if host.startswith("-") or any(c.isspace() for c in host):
        raise ValueError("not HOST:PORT")
    return text


HostPort = Annotated[str, AfterValidator(_host_port)]
NodeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: NodeId
    """The node the process runs as (its SAE): the manager's own."""


class TunnelEntryArgs(_Args):
    """The arguments of a tunnel entry gateway (``sdqkd tunnel entry``)."""

    peer: NodeId
    listen: HostPort
    connect: HostPort
    rekey_s: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    rekey_bytes: int = Field(default=1 << 30, ge=0)
    key_lifetime_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _two_nodes(self) -> TunnelEntryArgs:
        if self.node == self.peer:
            raise ValueError("node and peer must be two different nodes")
        return self


class TunnelExitArgs(_Args):
    """The arguments of a tunnel exit gateway (``sdqkd tunnel exit``)."""

    listen: HostPort
    forward: HostPort


class OpotNodeArgs(_Args):
    """The arguments of one node of an OPoT data path (``sdqkd opot node``): its share of the path (a
    :class:`~sdqkd.opot.NodeShare` as JSON: secret), a UDP address to listen on, and the next node's
    address — or, at the verifier, where verified payloads go (none: only counted)."""

    share: SecretStr
    listen: HostPort
    next: HostPort | None = None
    forward: HostPort | None = None
    refresh_packets: int = Field(default=10_000, ge=0, le=2**32)
    refresh_s: float = Field(default=60.0, ge=0, le=86400, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_node_of_the_path(self) -> OpotNodeArgs:
        try:
            share = NodeShare.from_json(self.share.get_secret_value())
        except ConfigError:
            raise ValueError("share is not an OPoT node share") from None
        if share.node.node != self.node:
            raise ValueError("share is another node's")
        if share.verifier is None and (self.next is None or self.forward is not None):
            raise ValueError("a node before the verifier takes next, not forward")
        if share.verifier is not None and self.next is not None:
            raise ValueError("the verifier takes forward (or nothing), not next")
        return self


@dataclass(frozen=True)
class Site:
    """Where a manager starts its processes: its node, the run directory the ``sdqkd`` commands read
    (``--run-dir``: PKI, the network's KMEs) and the folder of the processes' logs and stats files."""

    node_id: str
    run_dir: Path
    log_dir: Path

    def stats_file(self, process_id: str) -> Path:
        return self.log_dir / f"{process_id}.stats.json"


@dataclass(frozen=True)
class Launch:
    """What to execute for one process: its argument list, the stats file it keeps (if any), and files
    the manager writes, readable by its own user only, before each start (secrets a command line would
    show to every user of the host)."""

    argv: tuple[str, ...]
    stats_file: Path | None = None
    files: tuple[tuple[Path, bytes], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ProcessKind:
    """One kind of process: the model of its arguments and how they become a :class:`Launch`.

    Attributes:
        name: the kind's name in orders (``tunnel-entry``).
        args: the pydantic model of its arguments (``extra="forbid"``; a ``node`` member, when it has
            one, must be the manager's node).
        launch: ``launch(args, process_id, site)``: the command line of the validated arguments.
        listen_type: what a ``listen`` of port 0 must find free: a TCP or a UDP port.
    """

    name: str
    args: type[BaseModel]
    launch: Callable[[Any, str, Site], Launch]
    listen_type: socket.SocketKind = socket.SOCK_STREAM

    def prepare(self, args: Mapping[str, Any], process_id: str, site: Site) -> tuple[BaseModel, Launch]:
        """Validate ``args`` and build the command line.

        Raises:
            ProcessRefused: the arguments do not validate (the message says where and why, never
                what was sent), or name another node than the manager's.
        """
        try:
            model = self.args.model_validate(dict(args))
        except ValidationError as exc:
            error = exc.errors()[0]
            # a member's error names it (args.listen); one of the whole model (a model validator) args
            where = ".".join(("args", *(str(part) for part in error.get("loc", ()))))
            raise ProcessRefused(f"{self.name}: {where}: {error['msg']}") from None
        node = getattr(model, "node", site.node_id)
        if node != site.node_id:
            raise ProcessRefused(
                f"{self.name}: args.node {node!r} is not this manager's node {site.node_id!r}"
            )
        return model, self.launch(model, process_id, site)


def _tunnel_entry(args: TunnelEntryArgs, process_id: str, site: Site) -> Launch:
    stats = site.stats_file(process_id)
    argv = [
        *SDQKD_COMMAND, "tunnel", "entry",
        "--run-dir", str(site.run_dir),
        "--node", args.node,
        "--peer", args.peer,
        "--listen", args.listen,
        "--connect", args.connect,
        "--rekey-s", repr(args.rekey_s),
        "--rekey-bytes", str(args.rekey_bytes),
    ]  # fmt: skip
    if args.key_lifetime_s is not None:
        argv += ["--key-lifetime-s", repr(args.key_lifetime_s)]
    return Launch((*argv, "--stats-file", str(stats)), stats)


def _tunnel_exit(args: TunnelExitArgs, process_id: str, site: Site) -> Launch:
    stats = site.stats_file(process_id)
    argv = (
        *SDQKD_COMMAND, "tunnel", "exit",
        "--run-dir", str(site.run_dir),
        "--node", args.node,
        "--listen", args.listen,
        "--forward", args.forward,
        "--stats-file", str(stats),
    )  # fmt: skip
    return Launch(argv, stats)


def _opot_node(args: OpotNodeArgs, process_id: str, site: Site) -> Launch:
    stats = site.stats_file(process_id)
    share = site.log_dir / f"{process_id}.share.json"
    onward = ["--next", args.next] if args.next else (["--forward", args.forward] if args.forward else [])
    argv = (
        *SDQKD_COMMAND, "opot", "node",
        "--run-dir", str(site.run_dir),
        "--node", args.node,
        "--profile", str(share),
        "--listen", args.listen,
        *onward,
        "--refresh-packets", str(args.refresh_packets),
        "--refresh-s", repr(args.refresh_s),
        "--stats-file", str(stats),
    )  # fmt: skip
    return Launch(argv, stats, ((share, args.share.get_secret_value().encode()),))


DEFAULT_KINDS: Mapping[str, ProcessKind] = {
    kind.name: kind
    for kind in (
        ProcessKind("tunnel-entry", TunnelEntryArgs, _tunnel_entry),
        ProcessKind("tunnel-exit", TunnelExitArgs, _tunnel_exit),
        ProcessKind("opot-node", OpotNodeArgs, _opot_node, socket.SOCK_DGRAM),
    )
}
"""The kinds a manager runs unless told otherwise."""
