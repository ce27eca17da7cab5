"""The kinds of service intent the controller takes (``POST /api/v1/services``) and what each becomes: the
applications to admit and the processes to order at the nodes' service managers (docs/nfv.md), in order.

``encrypted-tunnel`` ``{"a": {"node", "listen"}, "b": {"node", "forward"}, "rekey_s", "min_rate_bps"}``
    one application ``{a}-app`` → ``{b}-app``; a ``tunnel-exit`` at b (listening on a port b's manager
    chooses), then a ``tunnel-entry`` at a connecting to it.

``opot`` ``{"path": [n0, …, nk], "listen", "forward", "refresh_packets", "refresh_s", "min_rate_bps"}``
    Ordered Proof of Transit over the path: new profiles (:func:`sdqkd.opot.generate_profiles`), one
    application per hop ``{n_i}-app`` → ``{n_i+1}-app`` (the hop's masks are its keys), and one
    ``opot-node`` per node given only its own :class:`~sdqkd.opot.NodeShare` — the verifier first, each
    node before it pointed at the one after it, the ingress last, listening where asked (``listen``,
    default a port its manager chooses) for the plain datagrams that enter the path.

A plan is data: :class:`Step` says which process, at which node, of which kind, and how its arguments
follow from the arguments of the steps before it (the ports their managers chose when ordered). The
processes are ordered in turn and then started together: the creation waits until those marked
``wait`` serve.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.controller.admission import AppRequest
from sdqkd.opot import generate_profiles

__all__ = [
    "SECRET_ARGS",
    "EncryptedTunnel",
    "OpotChain",
    "Plan",
    "ServiceIntent",
    "Step",
    "plan",
]

_HOST_PORT = r"^\S+:\d{1,5}$"
_NODE = Annotated[str, Field(min_length=1, max_length=64)]
SECRET_ARGS = frozenset({"share"})
"""Process arguments that are secret: kept by the controller to order the process again, never shown."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntrySide(_Strict):
    node: _NODE
    listen: str = Field(pattern=_HOST_PORT, max_length=300)


class ExitSide(_Strict):
    node: _NODE
    forward: str = Field(pattern=_HOST_PORT, max_length=300)


class EncryptedTunnel(_Strict):
    """An ``encrypted-tunnel`` intent: plaintext TCP into ``a.listen`` comes out of b towards
    ``b.forward``, encrypted in between with keys of a QKD application of ``min_rate_bps``."""

    type: Literal["encrypted-tunnel"]
    a: EntrySide
    b: ExitSide
    rekey_s: float = Field(default=60.0, gt=0, le=86400, allow_inf_nan=False)
    min_rate_bps: int = Field(default=0, ge=0, le=2**32 - 1)


class OpotChain(_Strict):
    """An ``opot`` intent: datagrams into the ingress (``path[0]``, at ``listen``) cross the path in order
    and reach the verifier (``path[-1]``), which checks their proof of transit and sends the payloads that
    verify to ``forward`` (none: it only counts them)."""

    type: Literal["opot"]
    path: list[_NODE] = Field(min_length=2, max_length=16)
    listen: str | None = Field(default=None, pattern=_HOST_PORT, max_length=300)
    forward: str | None = Field(default=None, pattern=_HOST_PORT, max_length=300)
    refresh_packets: int = Field(default=10_000, ge=0, le=2**32)
    refresh_s: float = Field(default=60.0, ge=0, le=86400, allow_inf_nan=False)
    min_rate_bps: int = Field(default=0, ge=0, le=2**32 - 1)


ServiceIntent = Annotated[EncryptedTunnel | OpotChain, Field(discriminator="type")]
"""A service intent, told apart by its ``type``."""

Args = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One process of a service.

    Attributes:
        name: its name in the service (``entry``, ``exit``; a node's name on an OPoT path).
        node: the node whose manager runs it.
        kind: the manager's kind (docs/nfv.md).
        args: its arguments, from the arguments of the steps before it (by name, each as ordered with
            the port its manager chose).
        wait: whether the creation waits until this process serves (once every process is ordered:
            a step needs only the ports of those before it, which their managers choose at the order).
    """

    name: str
    node: str
    kind: str
    args: Callable[[Mapping[str, Args]], Args]
    wait: bool = True


@dataclass(frozen=True)
class Plan:
    """What an intent becomes: applications to admit, processes to order (in order), and what the
    service's record shows of the intent."""

    apps: list[AppRequest]
    steps: list[Step]
    fields: dict[str, Any] = field(default_factory=dict)


def plan(intent: EncryptedTunnel | OpotChain, sae: Callable[[str], str], host: Callable[[str], str]) -> Plan:
    """The plan of ``intent``; ``sae(node)`` is a node's service SAE, ``host(node)`` the address its
    processes listen on for their peers."""
    if isinstance(intent, EncryptedTunnel):
        return _tunnel(intent, sae, host)
    return _opot(intent, sae, host)


def _app(sae: Callable[[str], str], client: str, server: str, rate: int) -> AppRequest:
    return AppRequest(
        server_sae_id=sae(server),
        server_node=server,
        client_sae_id=sae(client),
        client_node=client,
        qos={"min_bandwidth": rate},
    )


def _fixed(args: Args) -> Callable[[Mapping[str, Args]], Args]:
    """Arguments that depend on no other step."""
    return lambda _: dict(args)


def _pointed(args: Args, after: str) -> Callable[[Mapping[str, Args]], Args]:
    """Arguments with ``next`` at the address the step ``after`` listens on."""
    return lambda before: args | {"next": before[after]["listen"]}


def _tunnel(intent: EncryptedTunnel, sae: Callable[[str], str], host: Callable[[str], str]) -> Plan:
    a, b = intent.a.node, intent.b.node
    exit_args = {"node": b, "listen": f"{host(b)}:0", "forward": intent.b.forward}
    steps = [
        Step("exit", b, "tunnel-exit", _fixed(exit_args)),
        Step(
            "entry",
            a,
            "tunnel-entry",
            lambda before: {
                "node": a,
                "peer": b,
                "listen": intent.a.listen,
                "connect": before["exit"]["listen"],
                "rekey_s": intent.rekey_s,
            },
        ),
    ]
    fields = {
        "a": intent.a.model_dump(),
        "b": intent.b.model_dump(),
        "rekey_s": intent.rekey_s,
        "min_rate_bps": intent.min_rate_bps,
    }
    return Plan([_app(sae, a, b, intent.min_rate_bps)], steps, fields)


def _opot(intent: OpotChain, sae: Callable[[str], str], host: Callable[[str], str]) -> Plan:
    path = list(intent.path)
    profiles = generate_profiles(path)  # checks the path: distinct names, at least 2
    steps: list[Step] = []
    for i in reversed(range(len(path))):
        node = path[i]
        args: Args = {
            "node": node,
            "share": profiles.share_for(node).to_json(),
            "listen": intent.listen if i == 0 and intent.listen else f"{host(node)}:0",
            "refresh_packets": intent.refresh_packets,
            "refresh_s": intent.refresh_s,
        }
        if i == len(path) - 1:
            if intent.forward is not None:
                args["forward"] = intent.forward
            steps.append(Step(node, node, "opot-node", _fixed(args)))
        else:
            steps.append(Step(node, node, "opot-node", _pointed(args, path[i + 1])))
    apps = [_app(sae, here, there, intent.min_rate_bps) for here, there in itertools.pairwise(path)]
    fields = {
        "path": path,
        "listen": intent.listen,
        "forward": intent.forward,
        "refresh_packets": intent.refresh_packets,
        "refresh_s": intent.refresh_s,
        "min_rate_bps": intent.min_rate_bps,
        "route": path,
    }
    return Plan(apps, steps, fields)
