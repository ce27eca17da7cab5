"""Every path of every service's OpenAPI document, called with a method the document does not list,
answers 405 with an ``Allow`` header naming exactly the methods it lists (RFC 9110 §15.5.6)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fuzz_support import FuzzPki
from starlette.routing import Mount

from asgi_support import clients_presenting

pytestmark = [pytest.mark.fuzz, pytest.mark.anyio]

_PROBED = ("GET", "PUT", "POST", "DELETE", "PATCH")
_PARAMETER = re.compile(r"\{[^}]+\}")


def _mounted(app: FastAPI, prefix: str) -> FastAPI:
    (mount,) = [r for r in app.routes if isinstance(r, Mount) and r.path == prefix]
    mounted: FastAPI = mount.app  # type: ignore[assignment]
    return mounted


def _services(
    request: pytest.FixtureRequest, fuzz_pki: FuzzPki, name: str
) -> tuple[Any, dict[str, Any], Any, str]:
    """(app, document, an allowed caller, the prefix of the document's paths) of ``name``."""
    if name == "kme":
        app = request.getfixturevalue("kme_app")
        return app, app.openapi(), fuzz_pki.controller, ""
    if name == "kme-etsi014":
        app = request.getfixturevalue("kme_app")
        return app, _mounted(app, "").openapi(), fuzz_pki.sae, ""
    if name == "controller":
        app, document = request.getfixturevalue("controller_app")
        return app, document, fuzz_pki.operator, ""
    if name == "emulator":
        app = request.getfixturevalue("emulator_app")
        return app, app.openapi(), fuzz_pki.operator, ""
    if name == "emulator-etsi014":
        app = request.getfixturevalue("emulator_app")
        return app, _mounted(app, "/devices/norte-rx").openapi(), fuzz_pki.kme, "/devices/norte-rx"
    app = request.getfixturevalue("restconf_app")
    return app, app.openapi(), fuzz_pki.controller, ""


def _template(path: str) -> re.Pattern[str]:
    return re.compile(_PARAMETER.sub("[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")))


def _methods(item: dict[str, Any]) -> set[str]:
    return {method.upper() for method in item if method != "parameters"}


@pytest.mark.parametrize(
    "service", ["kme", "kme-etsi014", "controller", "emulator", "emulator-etsi014", "restconf"]
)
async def test_a_method_a_path_has_not_is_405_with_the_methods_it_has(
    request: pytest.FixtureRequest, fuzz_pki: FuzzPki, service: str
) -> None:
    app, document, caller, prefix = _services(request, fuzz_pki, service)
    wrong: list[str] = []
    async with clients_presenting(app, "https://service.test") as call_as:
        client: httpx.AsyncClient = call_as(caller)
        templates = {_template(path): _methods(item) for path, item in document["paths"].items()}
        for path in document["paths"]:
            concrete = _PARAMETER.sub("x", path)
            # every template the path matches: /modules/x/status is also /modules/{id}/{action}
            listed = set().union(*(m for t, m in templates.items() if t.fullmatch(concrete)))
            url = prefix + concrete
            for method in sorted(set(_PROBED) - listed):
                response = await client.request(method, url)
                allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
                if response.status_code != 405 or allow != listed:
                    got = f"{response.status_code}, Allow {sorted(allow)}"
                    wrong.append(f"{method} {path}: {got}, listed {sorted(listed)}")
    assert not wrong, "\n".join(wrong)
