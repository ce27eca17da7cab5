"""YANG data in RFC 7951 JSON, walked beside its schema node (yangson).

Normalising client input (member names, unknown members, operational state), merging (RFC 8040
§4.6.1), keeping operational state across a replace, and the ``content`` and ``depth`` views of RFC 8040
§4.8. Types and constraints are yangson's to check.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from yangson.schemanode import ContainerNode, LeafListNode, ListNode

from sdqkd.errors import RestconfError
from sdqkd.restconf.paths import JsonValue, child_node, entry_keys, is_presence_container, key_members

__all__ = [
    "MISSING",
    "Content",
    "always_exists",
    "filter_node",
    "filter_object",
    "keep_state",
    "merge_node",
    "merge_object",
    "normalize_node",
    "normalize_object",
    "prune_node",
    "prune_object",
    "refuse_read_only",
]

Content = Literal["all", "config", "nonconfig"]
"""RFC 8040 §4.8.1: every node, configuration only, or operational state only."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # no such node (a sentinel: None is JSON null)


def always_exists(schema: Any) -> bool:
    """A non-presence container exists whenever its parent does (RFC 7950 §7.5.1)."""
    return isinstance(schema, ContainerNode) and not is_presence_container(schema)


def refuse_read_only(schema: Any, where: str) -> None:
    """Clients write configuration only.

    Raises:
        RestconfError: invalid-value at ``where`` if ``schema`` is ``config false``.
    """
    if not schema.config:
        raise RestconfError(
            "application",
            "invalid-value",
            f"{schema.name} is operational state (config false): only the node itself sets it",
            error_path=where,
        )


# Normalising client input ------------------------------------------------------------------------------


def normalize_node(value: JsonValue, schema: Any, where: str, *, config_only: bool) -> JsonValue:
    """``value`` of a node with RFC 7951's member names; unknown members (and with ``config_only``
    operational state) refused. Types are yangson's to check."""
    if isinstance(schema, ListNode):
        if not isinstance(value, list):
            raise RestconfError(
                "application", "invalid-value", f"{schema.name} must be an array", error_path=where
            )
        return [normalize_object(entry, schema, where, config_only=config_only) for entry in value]
    if isinstance(schema, LeafListNode) and not isinstance(value, list):
        raise RestconfError(
            "application", "invalid-value", f"{schema.name} must be an array", error_path=where
        )
    if isinstance(schema, ContainerNode):
        return normalize_object(value, schema, where, config_only=config_only)
    return value


def normalize_object(value: JsonValue, schema: Any, where: str, *, config_only: bool) -> dict[str, JsonValue]:
    """A container's value or a list entry (``schema`` the list), as :func:`normalize_node`."""
    if not isinstance(value, dict):
        raise RestconfError(
            "application",
            "invalid-value",
            f"{schema.name or 'the data'} must be an object",
            error_path=where or "/",
        )
    result: dict[str, JsonValue] = {}
    for member, item in value.items():
        child = child_node(schema, member)
        if child is None:
            raise RestconfError(
                "application",
                "unknown-element",
                f"{member!r} is not in the data model here",
                error_path=where or "/",
            )
        name = child.iname()
        child_where = f"{where}/{name}"
        if name in result:
            raise RestconfError(
                "application", "invalid-value", f"{name} is given twice", error_path=child_where
            )
        if config_only:
            refuse_read_only(child, child_where)
        result[name] = normalize_node(item, child, child_where, config_only=config_only)
    return result


def keep_state(old: JsonValue, new: JsonValue, schema: Any, *, entry: bool) -> JsonValue:
    """``new`` (configuration from a client) with the operational state of ``old`` carried over where
    its node survives: state members of objects, inside non-presence containers and list entries that
    are still there."""
    if entry or isinstance(schema, ContainerNode):
        return (
            _keep_object_state(old, new, schema) if isinstance(old, dict) and isinstance(new, dict) else new
        )
    if isinstance(schema, ListNode) and isinstance(old, list) and isinstance(new, list):
        return [_keep_entry_state(old, entry_new, schema) for entry_new in new]
    return new


def _keep_entry_state(old_entries: list[JsonValue], new_entry: JsonValue, schema: Any) -> JsonValue:
    keys = entry_keys(schema, new_entry)
    match = next((e for e in old_entries if entry_keys(schema, e) == keys), MISSING)
    return new_entry if match is MISSING else _keep_object_state(match, new_entry, schema)


def _keep_object_state(
    old: dict[str, JsonValue], new: dict[str, JsonValue], schema: Any
) -> dict[str, JsonValue]:
    result = dict(new)
    for member, old_value in old.items():
        child = child_node(schema, member)
        if child is None:
            continue
        if not child.config:
            result.setdefault(member, copy.deepcopy(old_value))
        elif member in result:
            result[member] = keep_state(old_value, result[member], child, entry=False)
        elif always_exists(child):
            kept = _keep_object_state(old_value, {}, child)
            if kept:
                result[member] = kept
    return result


def merge_node(old: JsonValue, new: JsonValue, schema: Any) -> JsonValue:
    """RFC 7950 §7.8.6/RFC 8040 §4.6.1 merge of a node's value."""
    if isinstance(schema, ListNode) and isinstance(old, list):
        merged = list(old)
        for entry in new:
            keys = entry_keys(schema, entry)
            index = next((i for i, e in enumerate(merged) if entry_keys(schema, e) == keys), None)
            if index is None:
                merged.append(entry)
            else:
                merged[index] = merge_object(merged[index], entry, schema)
        return merged
    if isinstance(schema, LeafListNode) and isinstance(old, list):
        return old + [value for value in new if value not in old]
    if isinstance(schema, ContainerNode) and isinstance(old, dict):
        return merge_object(old, new, schema)
    return new


def merge_object(old: dict[str, JsonValue], new: dict[str, JsonValue], schema: Any) -> dict[str, JsonValue]:
    """``new`` merged into a container's value or a list entry ``old`` (both normalised)."""
    merged = dict(old)
    for member, value in new.items():
        merged[member] = (
            merge_node(merged[member], value, child_node(schema, member)) if member in merged else value
        )
    return merged


# Reading: content and depth ---------------------------------------------------------------------------


def filter_node(value: JsonValue, schema: Any, content: Content) -> JsonValue:
    """RFC 8040 §4.8.1: ``value`` with only configuration or only state (MISSING if nothing is left)."""
    if content == "config" and not schema.config:
        return MISSING
    if isinstance(schema, ListNode):
        entries = [filter_object(entry, schema, content, entry=True) for entry in value]
        kept = [entry for entry in entries if entry is not MISSING]
        return kept or MISSING
    if isinstance(schema, ContainerNode):
        return filter_object(value, schema, content)
    if content == "nonconfig" and schema.config:
        return MISSING
    return value


def filter_object(
    value: dict[str, JsonValue], schema: Any, content: Content, *, entry: bool = False
) -> JsonValue:
    """A container's value or a list entry (``entry``) as :func:`filter_node` filters it."""
    result: dict[str, JsonValue] = {}
    for member, item in value.items():
        kept = filter_node(item, child_node(schema, member), content)
        if kept is not MISSING:
            result[member] = kept
    if content == "nonconfig" and schema.config:
        if not result:
            return MISSING  # no state below this configuration node
        if entry:  # state inside a configured list entry keeps the entry's keys
            result = {k: value[k] for k in key_members(schema) if k in value} | result
    elif value and not result and not is_presence_container(schema) and not entry:
        return MISSING  # nothing left of a non-presence container
    return result


def prune_node(value: JsonValue, schema: Any, level: int, depth: int) -> JsonValue:
    """RFC 8040 §4.8.2: ``value`` (at ``level``) without the nodes deeper than ``depth``."""
    if isinstance(schema, ListNode):
        return [prune_object(entry, schema, level, depth, entry=True) for entry in value]
    if isinstance(schema, ContainerNode):
        return prune_object(value, schema, level, depth, entry=False)
    return value


def prune_object(
    value: dict[str, JsonValue], schema: Any, level: int, depth: int, *, entry: bool
) -> JsonValue:
    """A container's value or a list entry (``entry``: it keeps its keys) as :func:`prune_node` prunes it."""
    if level >= depth:
        return {k: value[k] for k in key_members(schema) if k in value} if entry else {}
    return {m: prune_node(v, child_node(schema, m), level + 1, depth) for m, v in value.items()}
