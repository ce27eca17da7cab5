"""The fuzz driver: schemathesis generates requests from a service's OpenAPI document, valid ones and
malformed ones, sends them to the app in process as a given certificate holder, and checks every
answer against the document.

What must hold, for every answer:

- no server error, except a 502/503 the operation documents (ETSI GS QKD 014's 503 is a spec answer;
  the controller's 502 says an agent did not take a change); a 500 is always a failure (this replaces
  schemathesis' ``not_a_server_error``, which fails the documented 503s too);
- the status is documented for the operation, the content type is one documented for that status, the
  body matches the documented schema, documented headers are present and valid (schemathesis'
  ``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``,
  ``response_headers_conformance``);
- for a caller whose role may not call, the answer is a refusal (401/403) and nothing else.

Depth: ``SDQKD_FUZZ_EXAMPLES`` examples per operation and generation mode (default
:data:`CI_EXAMPLES`, a bounded run for every test run; ``SDQKD_FUZZ_EXAMPLES=500`` is the
nightly-style deep run). Generation is derandomized: the same examples on every run, so CI does not
flake, and a failure reproduces.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from asgi_support import WithClientCertificate
from sdqkd.pki import CertificateAuthority, IssuedCertificate

CI_EXAMPLES = 4
"""Examples per operation and generation mode in an ordinary test run (the whole fuzz suite stays well
under a minute on one core)."""

CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
_ALLOWED_SERVER_ERRORS = frozenset({502, 503})
_CALL_TIMEOUT_S = 10.0
_STREAM_TIMEOUT_S = 0.3  # an event stream opens with a comment or a retry field: no event to wait for


RUNS: list[tuple[str, FuzzReport]] = []
"""Every fuzz run of the session, by test: the conftest prints their figures at the end."""


def examples_per_operation() -> int:
    """``SDQKD_FUZZ_EXAMPLES`` (a positive integer), else :data:`CI_EXAMPLES`."""
    text = os.environ.get("SDQKD_FUZZ_EXAMPLES", "")
    return int(text) if text.strip() else CI_EXAMPLES


@dataclass(frozen=True)
class FuzzPki:
    """A certificate for every role the services tell apart."""

    ca: CertificateAuthority
    operator: IssuedCertificate
    controller: IssuedCertificate
    emulator: IssuedCertificate
    agent: IssuedCertificate  # agent:n1 (the KME n1's node; a node of the chain topologies)
    kme: IssuedCertificate  # kme:n1
    peer_kme: IssuedCertificate  # kme:n2, n1's peer on the link n1-n2
    sae: IssuedCertificate  # sae:n1-app, attached to n1


@dataclass
class FuzzReport:
    """What one fuzz run did: examples sent per operation, statuses seen, and the failures (one line
    per distinct failure, with a request that shows it)."""

    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def operations(self) -> int:
        return len(self.examples)

    def summary(self) -> str:
        failures = "\n".join(f"  {key}\n    {example}" for key, example in sorted(self.failures.items()))
        return (
            f"{self.operations} operations, {sum(self.examples.values())} examples, statuses "
            f"{dict(sorted(self.statuses.items()))}, {len(self.failures)} failures\n{failures}"
        )


def fuzz(
    document: dict[str, Any],
    app: Any,
    caller: IssuedCertificate | None,
    *,
    refused: Collection[int] | None = None,
    base_url: str = "http://testserver",
    only: str = "",
    path_parameters: dict[str, str] | None = None,
) -> FuzzReport:
    """Fuzz every operation of ``document`` against ``app`` as ``caller``.

    Args:
        document: the OpenAPI document of ``app`` (what ``app.openapi()`` returns).
        app: the ASGI app, called in process with ``caller``'s certificate in the TLS extension.
        caller: the certificate presented (None: none).
        refused: for a caller that may not call: the only statuses it may get (e.g. ``{403}``).
        base_url: where the document's paths are (a mounted app: its mount point).
        only: a regular expression: only the operations whose label (``"GET /path"``) it finds.
        path_parameters: path parameters given, not generated (a resource that exists).

    Returns:
        The report; every answer is checked (see the module's description).
    """
    schema = schemathesis.openapi.from_dict(document)
    schema.config.max_stream_events = 1  # an event stream is answered once its first event is in
    wrapped = WithClientCertificate(app, caller.cert.read_text() if caller is not None else None)
    report = FuzzReport()
    RUNS.append((os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0], report))
    examples = examples_per_operation()
    # malformed requests only where the caller may call: one that may not is refused before its
    # request is read, except a body that is not JSON at all (see test_fuzz_refusals.py)
    negative = refused is None
    with schemathesis_asgi.get_client(wrapped) as session:  # one client for every call
        for result in schema.get_all_operations():
            operation = result.ok()
            if not re.search(only, operation.label):
                continue
            modes = [GenerationMode.POSITIVE]
            if negative and _negatable(operation.definition.raw):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:

                def call(case: Case) -> None:
                    _call(case, wrapped, session, base_url, refused, report)

                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
                _run(strategy, examples, call)
    return report


_ANY_TEXT_KEYS = frozenset({"type", "title", "description"})


def _negatable(operation: dict[str, Any]) -> bool:
    """Whether a request of ``operation`` can be made invalid: it has a body, or a parameter that is
    more than any text (any path segment is a valid free-form string; hypothesis would search in vain)."""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if schema.get("type") != "string" or set(schema) - _ANY_TEXT_KEYS:
            return True
    return False


def _streams(operation: dict[str, Any]) -> bool:
    """Whether ``operation`` answers an event stream (read until the timeout, then cut)."""
    ok = operation.get("responses", {}).get("200", {})
    return "text/event-stream" in ok.get("content", {})


def _run(strategy: Any, examples: int, call: Callable[[Case], None]) -> None:
    @given(strategy)
    @settings(
        max_examples=examples,
        derandomize=True,  # the same examples on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def each(case: Case) -> None:
        call(case)

    each()


def _call(
    case: Case,
    app: Any,
    session: Any,
    base_url: str,
    refused: Collection[int] | None,
    report: FuzzReport,
) -> None:
    label = case.operation.label
    timeout_s = _STREAM_TIMEOUT_S if _streams(case.operation.definition.raw) else _CALL_TIMEOUT_S
    response = case.call(app=app, session=session, base_url=base_url, timeout=timeout_s)
    status = response.status_code
    report.examples[label] += 1
    report.statuses[status] += 1
    documented = set(case.operation.definition.raw.get("responses", {}))
    problems: list[str] = []
    if status >= 500 and (status not in _ALLOWED_SERVER_ERRORS or str(status) not in documented):
        problems.append(f"server error {status}")
    if refused is not None and status not in refused:
        problems.append(f"{status} to a caller that may not call (expected one of {sorted(refused)})")
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except Failure as failure:
        problems.append(_line(failure))
    except FailureGroup as group:
        problems.extend(_line(failure) for failure in group.exceptions)
    for problem in problems:
        key = f"{label}: {problem}"
        if key not in report.failures:
            body = response.text[:300].replace("\n", " ")
            report.failures[key] = f"{case.as_curl_command()} -> {status} {body}"


def _line(failure: Failure) -> str:
    first = failure.message.strip().splitlines()[0] if failure.message.strip() else ""
    return f"{failure.title}: {first}"


@contextmanager
def in_process_lifespans() -> Iterator[None]:
    """Stop, on exit, the lifespans schemathesis started for the apps it called (it keeps each app's
    lifespan running until the interpreter exits otherwise)."""
    try:
        yield
    finally:
        schemathesis_asgi.shutdown_lifespans()
