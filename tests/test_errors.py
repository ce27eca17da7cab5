"""Every exception class sdqkd defines derives from :class:`sdqkd.errors.SdqkdError` (so a caller can
tell a domain error from a bug), and the tree drawn in :mod:`sdqkd.errors` names each of them."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import sdqkd
from sdqkd import errors
from sdqkd.agent.kme import KmeUnavailable
from sdqkd.emulator.client import EmulatorClientError
from sdqkd.errors import (
    AgentUnavailable,
    Forbidden,
    KeyRequestInvalid,
    KeyServiceUnavailable,
    SdqkdError,
    Unauthenticated,
    Unauthorized,
    Unavailable,
)
from sdqkd.etsi014.client import Etsi014ClientError
from sdqkd.kms.peer import PeerKmeUnavailable
from sdqkd.kms.relay import HopRefused


def _sdqkd_modules() -> list[str]:
    """Every module of the package, by its files: ``pkgutil.walk_packages`` skips the folders that have
    no ``__init__.py`` (namespace packages such as ``sdqkd.emulator``)."""
    (root,) = (Path(path) for path in sdqkd.__path__)
    names = []
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__main__":  # running it is the CLI
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _sdqkd_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _sdqkd_modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("sdqkd."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def test_the_walk_finds_the_classes_of_other_modules_too() -> None:
    names = {cls.__qualname__ for cls in _sdqkd_exception_classes()}
    assert {"SdqkdError", "Etsi014ClientError", "EmulatorClientError", "HopRefused", "LaunchError"} <= names


def test_every_sdqkd_exception_class_derives_from_sdqkd_error() -> None:
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _sdqkd_exception_classes()
        if not issubclass(cls, SdqkdError)
    ]
    assert strays == []


def test_the_tree_in_the_errors_docstring_names_every_public_error_class() -> None:
    tree = errors.__doc__ or ""
    public = [cls for cls in _sdqkd_exception_classes() if not cls.__qualname__.startswith("_")]
    missing = [cls.__qualname__ for cls in public if cls.__qualname__ not in tree]
    assert missing == []


def test_every_client_of_a_remote_service_fails_with_an_unavailable() -> None:
    clients = (AgentUnavailable, KmeUnavailable, EmulatorClientError, Etsi014ClientError, PeerKmeUnavailable)
    for cls in clients:
        assert issubclass(cls, Unavailable), cls
    assert issubclass(PeerKmeUnavailable, KeyServiceUnavailable)  # an SAE waiting on the peer gets 503


def test_refusals_are_one_authorisation_branch_and_a_bad_relay_hop_is_a_refusal() -> None:
    assert issubclass(Unauthorized, Forbidden)  # ETSI 014 spells it 401
    assert not issubclass(Forbidden, Unauthenticated)
    assert not issubclass(Unauthenticated, Forbidden)
    assert issubclass(HopRefused, KeyRequestInvalid)
