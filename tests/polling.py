"""Polling for the tests: wait until something is so, rather than sleep and hope it is. Importable as
``polling`` from any test (``tests/`` is on the path through its conftest); the support modules of the
test folders re-export it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def wait_for(
    probe: Callable[[], _T],
    accept: Callable[[_T], bool],
    timeout_s: float,
    what: str = "done",
    interval_s: float = 0.02,
) -> _T:
    """Call ``probe`` every ``interval_s`` until ``accept`` approves its answer; the answer, or
    AssertionError (naming ``what`` and the last answer) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s; last: {value!r}")
        time.sleep(interval_s)


async def wait_for_async(
    probe: Callable[[], _T],
    accept: Callable[[_T], bool],
    timeout_s: float,
    what: str = "done",
    interval_s: float = 0.02,
) -> _T:
    """:func:`wait_for` for a coroutine: it awaits between probes, so the tasks of the event loop it
    waits on (a ``CallHome``, a client) go on meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s; last: {value!r}")
        await asyncio.sleep(interval_s)
