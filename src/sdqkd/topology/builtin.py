"""Built-in topologies and device profiles.

- ``madrid``: the Madrid Quantum Network of 2018–2019 (``data/madrid.yaml``; every number carries
  its provenance: published, derived, measured, assumption or placeholder).
- ``chain:N``: N nodes in a line, a QKD link on each span.
- ``grid:RxC``: R×C nodes, a QKD link on each horizontal and vertical span.

Device profiles (``data/profiles.yaml``) can be named by any topology file without defining them.
"""

from __future__ import annotations

import copy
import itertools
import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

from sdqkd.errors import UnknownTopology

__all__ = [
    "BUILTIN_NAMES",
    "GENERATED_FIBRE_LENGTH_KM",
    "MAX_GENERATED_NODES",
    "builtin_profile_dicts",
    "builtin_topology_dict",
]

BUILTIN_NAMES = ("madrid", "chain:N", "grid:RxC")
#: Span length of the generated topologies, km (metro spans of MadQCI range 1.9–33.1 km).
GENERATED_FIBRE_LENGTH_KM = 10.0
#: Largest generated topology, nodes.
MAX_GENERATED_NODES = 400

_CHAIN = re.compile(r"^chain:(\d+)$")
_GRID = re.compile(r"^grid:(\d+)x(\d+)$")


@cache
def _data(name: str) -> Any:
    text = resources.files("sdqkd.topology").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def builtin_profile_dicts() -> list[dict[str, Any]]:
    """The built-in device profiles, as topology-file dictionaries (fresh copies)."""
    return copy.deepcopy(list(_data("profiles.yaml")["device_profiles"]))


def builtin_topology_dict(spec: str) -> dict[str, Any] | None:
    """The built-in topology ``spec`` as a topology-file dictionary, or None if ``spec`` names no
    built-in.

    Raises:
        UnknownTopology: ``chain:N`` / ``grid:RxC`` with sizes out of range.
    """
    if spec == "madrid":
        return copy.deepcopy(dict(_data("madrid.yaml")))
    if match := _CHAIN.match(spec):
        count = int(match.group(1))
        _check_size(spec, count, minimum=2)
        names = [f"n{i}" for i in range(1, count + 1)]
        return _generated(spec, names, list(itertools.pairwise(names)))
    if match := _GRID.match(spec):
        rows, cols = int(match.group(1)), int(match.group(2))
        _check_size(spec, rows * cols, minimum=2)
        names = [f"r{r}c{c}" for r in range(1, rows + 1) for c in range(1, cols + 1)]
        spans = [(f"r{r}c{c}", f"r{r}c{c + 1}") for r in range(1, rows + 1) for c in range(1, cols)]
        spans += [(f"r{r}c{c}", f"r{r + 1}c{c}") for r in range(1, rows) for c in range(1, cols + 1)]
        return _generated(spec, names, spans)
    return None


def _check_size(spec: str, nodes: int, minimum: int) -> None:
    if not minimum <= nodes <= MAX_GENERATED_NODES:
        raise UnknownTopology(f"{spec}: a generated topology needs {minimum} to {MAX_GENERATED_NODES} nodes")


def _generated(name: str, nodes: list[str], spans: list[tuple[str, str]]) -> dict[str, Any]:
    """A topology with one fibre, one transmitter/receiver pair and one QKD link per span.

    Each span carries one co-propagating 10G channel at 0 dBm (DWDM ch 35), so that plans show a
    Raman contribution; the device profile is ``madrid-2018``.
    """
    fibres, modules, links = [], [], []
    for a, b in spans:
        span = f"{a}-{b}"
        fibres.append(
            {
                "id": span,
                "a": a,
                "b": b,
                "length_km": GENERATED_FIBRE_LENGTH_KM,
                "attenuation_db_per_km": 0.2,
                "extra_loss_db": 1.0,
                "classical_channels": [
                    {"id": "ch35", "dwdm_channel": 35, "launch_power_dbm": 0.0, "direction": "a_to_b"}
                ],
            }
        )
        modules.append(
            {"id": f"{span}-tx", "node": a, "role": "transmitter", "profile": "madrid-2018",
             "attachment": {"fibre": span}}
        )  # fmt: skip
        modules.append(
            {"id": f"{span}-rx", "node": b, "role": "receiver", "profile": "madrid-2018",
             "attachment": {"fibre": span}}
        )  # fmt: skip
        links.append({"id": span, "transmitter": f"{span}-tx", "receiver": f"{span}-rx"})
    return {
        "name": name,
        "description": f"generated {name}: {GENERATED_FIBRE_LENGTH_KM:g} km spans, one QKD link per span",
        "nodes": [{"id": node, "name": node} for node in nodes],
        "fibres": fibres,
        "qkd_modules": modules,
        "qkd_links": links,
    }
