"""Fixtures for the multi-host tests: a prepared deployment of Madrid (``sdqkd deploy``'s output),
and ``sdqkd`` run in-process."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from multihost_support import MADRID_ADDRESSES
from netns_support import Hosts, NamespacesUnavailable

from sdqkd.cli.app import main
from sdqkd.runtime.deploy import Deployment, deploy, parse_addresses


@pytest.fixture(scope="module")
def madrid(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Madrid prepared for four hosts (controller and emulator on one); the agents use the packaged
    ETSI GS QKD 015 model. Read-only for the tests."""
    out = tmp_path_factory.mktemp("deploy") / "madrid"
    return deploy("madrid", parse_addresses(MADRID_ADDRESSES), out)


@pytest.fixture
def sdqkd(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``sdqkd ARGS...`` through :func:`sdqkd.cli.app.main`; the result reads like a subprocess's."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        status = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["sdqkd", *map(str, args)], status, captured.out, captured.err)

    return run


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    """Network namespaces as hosts (see netns_support); skipped where this machine does not allow
    them. Everything started or made in them is removed after the test, however it ended."""
    try:
        with Hosts() as made:
            yield made
    except NamespacesUnavailable as exc:
        pytest.skip(f"needs Linux network namespaces: {exc}")
