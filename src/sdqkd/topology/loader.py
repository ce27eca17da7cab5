"""Read topologies: a built-in by name (``madrid``, ``chain:N``, ``grid:RxC``) or a YAML file.

Top-level keys starting with ``x-`` are ignored, so a file can define YAML anchors there (as in
Compose files) and reuse them. Errors name the field and where it is:
``net.yaml:14: fibres[1] (id 'b-c').length_km: Input should be greater than 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sdqkd.errors import TopologyError, UnknownTopology
from sdqkd.topology.builtin import BUILTIN_NAMES, builtin_profile_dicts, builtin_topology_dict
from sdqkd.topology.models import Topology

__all__ = ["load_topology", "parse_topology"]

_MAX_FILE_BYTES = 10 * 1024 * 1024


def load_topology(spec: str | Path) -> Topology:
    """A topology from a built-in name or a YAML file path.

    Args:
        spec: ``madrid``, ``chain:N``, ``grid:RxC``, or the path of a topology file.

    Raises:
        UnknownTopology: neither a built-in nor an existing file.
        TopologyError: the topology is invalid (the message says where).
    """
    text_spec = str(spec)
    raw = builtin_topology_dict(text_spec)
    if raw is not None:
        return _validate(raw, origin=f"built-in topology {text_spec!r}", source=None)
    path = Path(spec)
    if not path.is_file():
        raise UnknownTopology(
            f"unknown topology {text_spec!r}: not a built-in ({', '.join(BUILTIN_NAMES)}) and no such file"
        )
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise TopologyError(f"file is larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB", location=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(f"cannot read file: {exc}", location=str(path)) from exc
    return parse_topology(text, origin=str(path))


def parse_topology(text: str, origin: str = "<topology>") -> Topology:
    """A topology from YAML text.

    Args:
        text: the YAML document.
        origin: how to name the document in errors (usually its path).

    Raises:
        TopologyError: invalid YAML or an invalid topology.
    """
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark, exc.context_mark
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        detail = str(exc.problem or exc)
        if context is not None and mark is not None and context.line != mark.line:
            detail += f" ({exc.context or 'started'} at line {context.line + 1})"
        raise TopologyError(f"invalid YAML: {detail}", location=where) from exc
    except yaml.YAMLError as exc:
        raise TopologyError(f"invalid YAML: {exc}", location=origin) from exc
    if not isinstance(raw, dict):
        raise TopologyError("a topology file must hold a mapping (name, nodes, fibres, ...)", location=origin)
    return _validate(raw, origin=origin, source=root)


def _validate(raw: dict[str, Any], origin: str, source: yaml.Node | None) -> Topology:
    # Top-level keys starting with "x-" hold YAML anchors for reuse (as in Compose files).
    raw = _with_builtin_profiles({k: v for k, v in raw.items() if not str(k).startswith("x-")})
    try:
        return Topology.model_validate(raw)
    except ValidationError as exc:
        # A misspelt field shows up twice (an unknown key and a missing one): name the misspelling.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        error = errors[0]
        loc = tuple(error["loc"])
        line = _line_of(source, loc)
        where = f"{origin}:{line}" if line is not None else origin
        path = _describe_path(raw, loc)
        message = error["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise TopologyError(
            f"{path}: {message}{more}" if path else f"{message}{more}", location=where
        ) from exc


def _with_builtin_profiles(raw: dict[str, Any]) -> dict[str, Any]:
    """Add the built-in device profiles the modules name but the file does not define."""
    modules = raw.get("qkd_modules")
    profiles = raw.get("device_profiles")
    if not isinstance(modules, list) or not (profiles is None or isinstance(profiles, list)):
        return raw
    defined = {p.get("id") for p in profiles or [] if isinstance(p, dict)}
    named = {m.get("profile") for m in modules if isinstance(m, dict)}
    extra = [p for p in builtin_profile_dicts() if p["id"] in named - defined]
    return {**raw, "device_profiles": [*(profiles or []), *extra]} if extra else raw


def _describe_path(raw: Any, loc: tuple[Any, ...]) -> str:
    """``fibres[1] (id 'b-c').length_km`` for the pydantic location ``('fibres', 1, 'length_km')``."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            label = f"[{key}]"
            if isinstance(item, dict) and "id" in item:
                label += f" (id {item['id']!r})"
            parts.append(label)
            node = item
        else:
            # pydantic names union members ('FibreAttachment'); those are not fields of the file
            if isinstance(node, dict) and key not in node and parts and key[:1].isupper():
                continue
            parts.append(("." if parts else "") + str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node the location reaches."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            for key_node, value_node in node.value:
                if key_node.value == key:
                    node, line = value_node, key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line
