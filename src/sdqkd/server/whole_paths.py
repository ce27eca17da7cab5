"""Routes that match the whole of a path, newlines included.

Starlette matches a mount with ``^/prefix/(?P<path>.*)$`` and a ``{name:path}`` parameter with ``.*``:
``.`` stops at a newline, so a request whose path holds one (``%0A`` in an SAE ID, a module id, a
RESTCONF key) misses the route and gets the outer app's 404, before any caller is checked and in the
wrong error format (not the mounted protocol's). Here such patterns match any character, to the very
end of the path (``$`` would also match before a final newline).
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.convertors import PathConvertor
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Scope

__all__ = ["WholePathMount", "match_whole_paths", "mount"]


def _whole(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(pattern.pattern.removesuffix("$") + r"\Z", re.DOTALL)


class WholePathMount(Mount):
    """A :class:`~starlette.routing.Mount` whose pattern matches any path under its prefix.

    Args:
        path: the mount point.
        app: the app mounted.
        under: if given, the mount takes only these paths and those below them; any other is left to
            the outer app's routes. A mount at ``/`` that takes every path would also take a request
            for one of the outer app's own paths with a method that path has not (a mount matches any
            method), and answer 404 where the outer app answers 405 with ``Allow``.
    """

    def __init__(self, path: str, app: ASGIApp, *, under: tuple[str, ...] = ()) -> None:
        super().__init__(path, app=app)
        self.path_regex = _whole(self.path_regex)
        self.under = under

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.under and scope["type"] == "http":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            if not any(path == prefix or path.startswith(prefix + "/") for prefix in self.under):
                return Match.NONE, {}
        return super().matches(scope)


def mount(app: FastAPI, path: str, sub: ASGIApp, *, under: tuple[str, ...] = ()) -> None:
    """Mount ``sub`` at ``path`` of ``app`` (as ``app.mount``) with a :class:`WholePathMount`."""
    app.router.routes.append(WholePathMount(path, sub, under=under))


def match_whole_paths(app: FastAPI) -> None:
    """Make every route of ``app`` that has a ``{name:path}`` parameter match paths with newlines
    (call it once its routes are added)."""
    for route in app.router.routes:
        if _has_path_parameter(route):
            route.path_regex = _whole(route.path_regex)  # type: ignore[attr-defined]


def _has_path_parameter(route: BaseRoute) -> bool:
    convertors = getattr(route, "param_convertors", {})
    return any(isinstance(convertor, PathConvertor) for convertor in convertors.values())
