"""Fixtures for the CLI tests: ``sdqkd`` run in-process, its output collected."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from sdqkd.cli.app import main


@pytest.fixture
def sdqkd(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``sdqkd ARGS...`` through :func:`sdqkd.cli.app.main`; the result reads like a subprocess's."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()  # drop anything printed before
        status = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["sdqkd", *args], status, captured.out, captured.err)

    return run
