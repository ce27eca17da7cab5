"""Concrete ports for orders that ask for any (``listen: HOST:0``).

A process the manager restarts must come back on the address its peers know, so a port of 0 cannot be
left to the process (it would get another port at every start). The manager chooses a free one once,
when the order arrives, by binding a socket to ``HOST:0`` and closing it, and orders the process with
that port; the process's ``args`` then show it, and every restart reuses it. Between the test and the
process's own bind another program could take the port: the process then dies, is restarted and the
order stays visible as a failing one — the same as any port clash.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from sdqkd.nfv.kinds import ProcessRefused

__all__ = ["LISTEN_MEMBER", "free_port_on", "resolve_listen"]

LISTEN_MEMBER = "listen"
"""The argument, in any kind, that names the address a process listens on."""


def free_port_on(host: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A ``kind`` (TCP or UDP) port that is free on ``host`` now (an IPv6 host may be in brackets).

    Raises:
        ProcessRefused: ``host`` is not an address of this machine (nothing can bind to it).
    """
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare, 0, type=kind, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ProcessRefused(f"args.{LISTEN_MEMBER}: host {host!r} cannot be resolved: {exc}") from None
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            port: int = probe.getsockname()[1]
    except OSError as exc:
        raise ProcessRefused(f"args.{LISTEN_MEMBER}: cannot listen on {host!r}: {exc.strerror}") from None
    return port


def resolve_listen(args: Mapping[str, Any], kind: socket.SocketKind = socket.SOCK_STREAM) -> dict[str, Any]:
    """``args`` with a ``listen`` of ``HOST:0`` made ``HOST:PORT`` with a free ``kind`` port; as they
    are otherwise."""
    resolved = dict(args)
    listen = resolved.get(LISTEN_MEMBER)
    if isinstance(listen, str):
        host, sep, port = listen.rpartition(":")
        if sep and port.isdigit() and int(port) == 0:
            resolved[LISTEN_MEMBER] = f"{host}:{free_port_on(host, kind)}"
    return resolved
