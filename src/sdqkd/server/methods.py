"""The ``Allow`` header of a 405 answer: every method the requested path has.

RFC 9110 §15.5.6: a 405 answer MUST carry ``Allow`` with the target resource's methods. Starlette
answers 405 from the first route whose path matches, naming that route's methods only; a path served
by several routes (``GET /apps/{id}`` and ``DELETE /apps/{id}``) would then claim to allow one method
of its two. :func:`allowed_methods` asks every route of the app.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match, Route

__all__ = ["allowed_methods"]


def allowed_methods(request: Request) -> str:
    """The ``Allow`` value for ``request``'s path: the methods of every route of its app that matches
    the path, sorted; empty if none does. (A Starlette route serves HEAD with GET and lists it; a
    FastAPI ``@app.get`` route does neither.)"""
    scope = dict(request.scope)
    methods: set[str] = set()
    for route in request.app.router.routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))
