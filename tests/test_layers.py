"""The dependency rule of DESIGN §1, checked on the source: a package imports only packages below it,
the controller never imports the agent (what both need lives in ``sdqkd.etsi015``/``sdqkd.restconf``),
and nothing imports the command line or the runtime but the entry points (and the scenarios, which
start a network when none runs)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sdqkd"

LAYERS: dict[str, int] = {
    # the base every package may use
    "errors": 0,
    "units": 0,
    # pure models and the data every plane shares
    "physics": 10,
    "opot": 10,  # OPoT mathematics and profiles: the controller makes them, the data path uses them
    "topology": 10,
    "pki": 10,
    # CV-QKD post-processing: its secret fraction uses the physics' GG02 formulas
    "postproc": 12,
    "planning": 15,
    # shared services and protocol contracts
    "server": 20,
    "etsi014": 30,
    "etsi015": 30,
    "restconf": 30,
    # QKD-TLS: a protocol binding (tlslite-ng) and its HTTP client/server ends, used by the control
    # plane (controller <-> agent channel) and by the applications (sdqkd qtls)
    "qtls": 35,
    # the planes, bottom up
    "emulator": 40,
    "kms": 50,
    "agent": 60,
    "controller": 60,
    # applications (DESIGN §5) take keys through the ETSI 014 client and PKI and are ordered through the
    # controller's northbound client, so they sit above the planes; only the entry points import them
    "apps": 70,
    # the node-side service manager (NFV): runs the applications as `sdqkd` subprocesses, so it imports
    # neither them nor the command line
    "nfv": 70,
    # running it: only the entry points import these
    "web": 80,
    "runtime": 90,
    "scenarios": 95,  # scripted experiments: they start a network with the runtime; the CLI runs them
    "cli": 100,
}
"""Each package's height in DESIGN §1's picture: a package may import only packages strictly lower."""


def _package(module_path: Path) -> str:
    relative = module_path.relative_to(SRC)
    first = relative.parts[0]
    return first.removesuffix(".py")


def _imported_packages(source: str) -> set[str]:
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "sdqkd":
                names = [f"sdqkd.{alias.name}" for alias in node.names if not alias.name.startswith("__")]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sdqkd" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(path for path in SRC.rglob("*.py") if path.parent != SRC or path.stem not in ("__init__",))


def violations(importer: str, source: str) -> list[str]:
    """What a module of package ``importer`` with this ``source`` imports against the rule, one line each."""
    problems = []
    for imported in sorted(_imported_packages(source) - {importer}):
        if imported not in LAYERS or importer not in LAYERS:
            problems.append(f"{importer} → {imported}: a package DESIGN §1 does not place (add it to LAYERS)")
        elif {importer, imported} == {"agent", "controller"}:
            problems.append(f"{importer} → {imported}: agent and controller meet only over RESTCONF")
        elif LAYERS[imported] >= LAYERS[importer]:
            problems.append(f"{importer} → {imported}: imports a package at or above its own layer")
    return problems


def test_every_package_of_the_source_has_a_layer() -> None:
    packages = {_package(path) for path in _modules()}

    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


@pytest.mark.parametrize("module_path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_a_module_imports_only_packages_below_its_own(module_path: Path) -> None:
    assert violations(_package(module_path), module_path.read_text(encoding="utf-8")) == []


def test_the_rule_catches_an_upward_import_and_the_controller_importing_the_agent() -> None:
    controller = "from sdqkd.agent.node import NodeAgent\nimport sdqkd.etsi015\n"
    physics = "def f():\n    from sdqkd import kms\n"

    assert violations("controller", controller) == [
        "controller → agent: agent and controller meet only over RESTCONF"
    ]
    assert violations("physics", physics) == ["physics → kms: imports a package at or above its own layer"]
    assert violations("cli", "from sdqkd.runtime import launcher\n") == []


MAX_MODULE_LINES = 600
"""STYLE.md: modules of one concept, usually 100–400 lines; split past ~600."""


def test_no_module_of_the_source_is_longer_than_600_lines() -> None:
    long = {
        str(path.relative_to(SRC)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }

    assert long == {}
