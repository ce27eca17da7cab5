"""Who may call what: each service's authorisation table, enforced for every route by one dependency.

DESIGN §7 says who may do what; this module makes that a table per service that code enforces, tests
walk and docs/security.md prints. A :class:`Table` maps (method, route path template) to a
:class:`Rule`; a rule is a list of :class:`Grant` s, each a role, optionally bound by a
:class:`Condition` (``kme`` *of its own node*, ``kme`` *peer of a configured link*). A condition is a
name in the table and a predicate the service supplies when it builds its app
(:func:`authorise`), so the table states every restriction even where the domain refines it (the
KME checks the very link a peer KME names; the table admits peer KMEs of any configured link).

:func:`authorise` makes the one app-wide FastAPI dependency. It runs after routing, so it reads the
matched route's template (``request.scope["route"].path``) and the method, and it denies by default:
a route the table does not name is refused to everyone. No usable client certificate is
:class:`~sdqkd.errors.Unauthenticated`, a known caller no grant admits :class:`~sdqkd.errors.Forbidden`;
each app's error table answers them in its protocol's format (401, 403; ETSI GS QKD 014: 401).

:func:`route_keys` lists what an app serves, so a test can check a table against its app both ways
(every route in the table, every entry a route), and :func:`markdown` renders tables for the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from starlette.routing import Mount

from sdqkd.errors import Forbidden
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.identity import peer_identity

__all__ = [
    "OWN_NODE",
    "Check",
    "Condition",
    "Grant",
    "Rule",
    "Table",
    "allow",
    "authorise",
    "markdown",
    "own_node",
    "route_keys",
]

RouteKey = tuple[str, str]
"""(HTTP method, route path template), e.g. ``("PUT", "/api/v1/kme/virtual_links/{virtual_link_id}")``."""

Check = Callable[[Identity, Request], bool]
"""A condition's predicate: whether ``caller`` meets it for this request."""


@dataclass(frozen=True)
class Condition:
    """A restriction on a role, stated in the table and checked by a predicate the service supplies.

    Attributes:
        name: what the table says (``own node``).
        description: what it means, for the docs.
    """

    name: str
    description: str


OWN_NODE = Condition("own node", "the certificate's name is this service's node")
"""The caller is of this service's node: ``kme:N`` or ``agent:N`` at node N's service."""


def own_node(node: str) -> Check:
    """The predicate of :data:`OWN_NODE` at the service of ``node``."""

    def check(caller: Identity, request: Request) -> bool:
        return caller.name == node

    return check


@dataclass(frozen=True)
class Grant:
    """One role admitted, optionally only under ``condition``."""

    role: Role
    condition: Condition | None = None

    def __str__(self) -> str:
        return str(self.role) if self.condition is None else f"{self.role} ({self.condition.name})"


@dataclass(frozen=True)
class Rule:
    """Who may make one call: any of ``grants`` (none: nobody)."""

    grants: tuple[Grant, ...]

    def roles(self) -> frozenset[Role]:
        return frozenset(grant.role for grant in self.grants)

    def __str__(self) -> str:
        return ", ".join(str(grant) for grant in self.grants) or "nobody"


def allow(*grants: Role | Grant) -> Rule:
    """A rule admitting each of ``grants`` (a bare role: unconditionally)."""
    return Rule(tuple(g if isinstance(g, Grant) else Grant(g) for g in grants))


@dataclass(frozen=True)
class Table:
    """A service's authorisation table.

    Attributes:
        service: the service's name in the docs.
        rules: (method, route path template) → rule; HEAD is its own method (no fallback to GET).
        note: what else the docs should say about the service's callers.
    """

    service: str
    rules: Mapping[RouteKey, Rule]
    note: str = ""
    conditions: frozenset[Condition] = field(init=False)

    def __post_init__(self) -> None:
        used = {g.condition for rule in self.rules.values() for g in rule.grants if g.condition is not None}
        object.__setattr__(self, "conditions", frozenset(used))

    def rule(self, method: str, path: str) -> Rule | None:
        return self.rules.get((method, path))

    def admits(
        self, caller: Identity, method: str, path: str, checks: Mapping[Condition, Check], request: Request
    ) -> bool:
        """Whether ``caller`` may make this call (False for a call the table does not name)."""
        rule = self.rule(method, path)
        if rule is None:
            return False
        return any(
            grant.role is caller.role
            and (grant.condition is None or checks[grant.condition](caller, request))
            for grant in rule.grants
        )


def authorise(table: Table, checks: Mapping[Condition, Check] | None = None) -> DependsParam:
    """The app-wide dependency enforcing ``table`` (``FastAPI(dependencies=[authorise(...)])``).

    Args:
        table: the service's table.
        checks: the predicate of every condition the table uses.

    Raises:
        ValueError: a condition of the table without its predicate (at build time, not per request).
    """
    given = dict(checks or {})
    missing = sorted(condition.name for condition in table.conditions - given.keys())
    if missing:
        raise ValueError(f"{table.service}: no predicate for condition(s) {', '.join(missing)}")

    async def dependency(request: Request) -> Identity:
        # async: FastAPI would run a plain function in a worker thread, a thread hop per request
        caller = await peer_identity(request)  # Unauthenticated (401) before anything else
        route = request.scope.get("route")
        path = route.path if isinstance(route, APIRoute) else None
        if path is None or not table.admits(caller, request.method, path, given, request):
            raise Forbidden(f"{caller} may not {request.method} {request.url.path}")
        return caller

    depends: DependsParam = Depends(dependency)
    return depends


def route_keys(app: FastAPI) -> tuple[set[RouteKey], set[str]]:
    """What ``app`` serves: its API routes' (method, path) pairs, and the paths of anything else it
    routes (a mount, or a framework page such as ``/docs``: nothing the dependency guards)."""
    keys: set[RouteKey] = set()
    unguarded: set[str] = set()
    pending: list[Any] = list(app.router.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "effective_candidates"):
            # an included router (FastAPI ≥ 0.16x keeps it as one route): its routes, with the prefix
            pending += route.effective_candidates()
        elif isinstance(getattr(route, "original_route", None), APIRoute):
            keys |= {(method, route.path) for method in route.original_route.methods or ()}
        elif isinstance(route, APIRoute):
            keys |= {(method, route.path) for method in route.methods or ()}
        elif isinstance(route, Mount):
            unguarded.add(route.path or "/")
        else:
            unguarded.add(str(getattr(route, "path", route)))
    return keys, unguarded


def markdown(tables: Iterable[Table]) -> str:
    """``tables`` as markdown: per service a heading, its note, one row per call and the meaning of
    each condition it uses."""
    out: list[str] = []
    for table in tables:
        out += [f"### {table.service}", ""]
        if table.note:
            out += [table.note, ""]
        out += ["| Method | Path | Who may call |", "| --- | --- | --- |"]
        for (method, path), rule in sorted(table.rules.items(), key=lambda item: (item[0][1], item[0][0])):
            out.append(f"| {method} | `{path}` | {rule} |")
        out.append("")
        for condition in sorted(table.conditions, key=lambda c: c.name):
            out.append(f"- *{condition.name}*: {condition.description}.")
        if table.conditions:
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
