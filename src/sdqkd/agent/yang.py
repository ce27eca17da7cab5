"""YANG data models (yangson), RESTCONF resource paths over them, and YANG data in RFC 7951 JSON.

A data model is loaded once per directory from its YANG library (RFC 7895 ``yang-library.json``) and the
modules beside it. Resource paths are the RESTCONF data resource identifiers of RFC 8040 §3.5.3, e.g.
``etsi-qkd-sdn-node:qkd_node/qkd_interfaces/qkd_interface=1/qkdi_att_point``, resolved against the
model's schema into :class:`PathStep` s. JSON member names follow RFC 7951 §4: ``module:name`` at the top
level and wherever the module changes, the bare name elsewhere.

The JSON functions walk a value beside its schema node: normalising client input (member names, unknown
members, operational state), merging (RFC 8040 §4.6.1), keeping operational state across a replace, and
the ``content`` and ``depth`` views of RFC 8040 §4.8. Types and constraints are yangson's to check.

yangson has no type hints: its schema nodes are typed ``Any`` here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from urllib.parse import quote, unquote

from yangson.schemanode import ContainerNode, InternalNode, LeafListNode, ListNode, SequenceNode

from sdqkd.errors import ResourceNotFound, RestconfError

__all__ = [
    "MISSING",
    "Content",
    "JsonValue",
    "PathStep",
    "ResourcePath",
    "always_exists",
    "child_node",
    "entry_keys",
    "filter_node",
    "filter_object",
    "is_presence_container",
    "keep_state",
    "key_members",
    "merge_object",
    "normalize_node",
    "normalize_object",
    "parse_resource_path",
    "prune_node",
    "prune_object",
    "qualified_name",
    "refuse_read_only",
]

JsonValue: TypeAlias = Any
"""A value of RFC 7951 JSON (``json.loads`` output)."""
Content = Literal["all", "config", "nonconfig"]
"""RFC 8040 §4.8.1: every node, configuration only, or operational state only."""

# RFC 3986 §2.3 unreserved characters, plus ':' (module prefixes, identityref keys): everything else in a
# key value is percent-encoded, so ',' '/' '=' '%' never clash with the path syntax (RFC 8040 §3.5.3).
_KEY_SAFE = "-._~:"


def qualified_name(schema: Any) -> str:
    """``module:name`` of a data node (the member name of a top-level JSON object, RFC 7951 §4)."""
    return f"{schema.ns}:{schema.name}"


def is_presence_container(schema: Any) -> bool:
    return isinstance(schema, ContainerNode) and bool(schema.presence)


def child_node(parent: Any, member: str) -> Any | None:
    """The data node a JSON member name (``name`` or ``module:name``) names under ``parent`` (a schema
    node, or the schema root where only ``module:name`` is valid); None if there is none."""
    module, colon, name = member.partition(":")
    if not colon:
        module, name = parent.ns, module
    if not module or not name:
        return None
    # data_children(), not get_data_child(): the latter also finds the nodes of notifications and RPCs.
    return next((c for c in parent.data_children() if c.name == name and c.ns == module), None)


def _key_nodes(schema: Any) -> list[Any]:
    return [schema.get_data_child(name, module) for name, module in schema.keys]


def entry_keys(schema: Any, entry: JsonValue) -> tuple[Any, ...] | None:
    """The key values (yangson's parsed form) of a list entry or leaf-list value in RFC 7951 JSON;
    None if a key is missing or not of its type."""
    if isinstance(schema, LeafListNode):
        value = schema.type.from_raw(entry)
        return None if value is None else (value,)
    if not isinstance(entry, dict):
        return None
    keys = []
    for node in _key_nodes(schema):
        value = node.type.from_raw(entry[node.iname()]) if node.iname() in entry else None
        if value is None:
            return None
        keys.append(value)
    return tuple(keys)


@dataclass(frozen=True)
class PathStep:
    """One step of a resource path: a data node and, for a list or leaf-list entry, its keys.

    Attributes:
        schema: the yangson data node.
        keys: the entry's key values (yangson's parsed form); None where the step names the node as a
            whole (a container, a leaf, or all the entries of a list).
    """

    schema: Any
    keys: tuple[Any, ...] | None = None

    @property
    def member(self) -> str:
        """The JSON member name under the parent (RFC 7951 §4)."""
        return str(self.schema.iname())

    @property
    def is_entry(self) -> bool:
        return self.keys is not None

    def key_texts(self) -> list[str]:
        """The keys in canonical text form."""
        if self.keys is None:
            return []
        if isinstance(self.schema, LeafListNode):
            return [self.schema.type.canonical_string(self.keys[0])]
        return [n.type.canonical_string(k) for n, k in zip(_key_nodes(self.schema), self.keys, strict=True)]

    def matches(self, entry: JsonValue) -> bool:
        """Whether a list entry (or leaf-list value) in JSON has this step's keys."""
        return entry_keys(self.schema, entry) == self.keys


@dataclass(frozen=True)
class ResourcePath:
    """A RESTCONF data resource: the steps from the datastore root (none: the datastore itself)."""

    steps: tuple[PathStep, ...]
    root: Any  # the schema root

    @property
    def schema(self) -> Any:
        """The target's data node (the schema root for the datastore)."""
        return self.steps[-1].schema if self.steps else self.root

    @property
    def target(self) -> PathStep:
        return self.steps[-1]

    def parent(self) -> ResourcePath:
        return ResourcePath(self.steps[:-1], self.root)

    def child(self, step: PathStep) -> ResourcePath:
        return ResourcePath((*self.steps, step), self.root)

    def __str__(self) -> str:
        """The canonical resource identifier (RFC 8040 §3.5.3), without a leading '/'."""
        parts: list[str] = []
        for step in self.steps:
            part = step.member if parts else qualified_name(step.schema)
            if step.keys is not None:
                part += "=" + ",".join(quote(text, safe=_KEY_SAFE) for text in step.key_texts())
            parts.append(part)
        return "/".join(parts)

    @property
    def instance_id(self) -> str:
        """The instance-identifier of the target (RFC 7951 §6.11), as RESTCONF's ``error-path``."""
        return "".join(_instance_id_step(step, first=i == 0) for i, step in enumerate(self.steps)) or "/"


def _instance_id_step(step: PathStep, *, first: bool) -> str:
    text = "/" + (qualified_name(step.schema) if first else step.member)
    if step.keys is None:
        return text
    if isinstance(step.schema, LeafListNode):
        return text + f"[.={_quoted(step.key_texts()[0])}]"
    names = [n.iname() for n in _key_nodes(step.schema)]
    return text + "".join(f"[{name}={_quoted(v)}]" for name, v in zip(names, step.key_texts(), strict=True))


def _quoted(text: str) -> str:
    return f"'{text}'" if '"' in text else f'"{text}"'


def parse_resource_path(model: Any, text: str | None) -> ResourcePath:
    """A RESTCONF data resource identifier (RFC 8040 §3.5.3), still percent-encoded, resolved against
    ``model``'s schema; None or "" is the datastore itself.

    The first node is module-qualified; list keys follow ``=``, several comma-separated, each
    percent-encoded. A list (or leaf-list) without keys names all its entries, and only as the last step.

    Raises:
        ResourceNotFound: a node the schema does not have (404).
        RestconfError: invalid-value (400): malformed keys, keys on a node that has none, an empty step.
    """
    root = model.schema
    path = ResourcePath((), root)
    if not text:
        return path
    segments = text.split("/")
    for index, segment in enumerate(segments):
        name_text, has_keys, keys_text = segment.partition("=")
        name = _decode(name_text)
        where = path.instance_id
        if not name:
            raise RestconfError("protocol", "invalid-value", f"empty step in the resource path {text!r}")
        if index == 0 and ":" not in name:
            raise RestconfError(
                "protocol", "invalid-value", f"the first node {name!r} of a resource path needs its module"
            )
        parent = path.schema
        node = child_node(parent, name) if isinstance(parent, InternalNode) else None
        if node is None:
            raise ResourceNotFound(f"the data model has no node {name!r} here", error_path=where)
        if not has_keys:
            if isinstance(node, SequenceNode) and index != len(segments) - 1:
                raise RestconfError(
                    "protocol",
                    "invalid-value",
                    f"{name} is a list: name an entry ({name}=KEY)",
                    error_path=where,
                )
            path = path.child(PathStep(node))
            continue
        if not isinstance(node, SequenceNode):
            raise RestconfError("protocol", "invalid-value", f"{name} is not a list: it has no keys")
        path = path.child(PathStep(node, _parse_keys(node, keys_text, where)))
    return path


def _decode(text: str) -> str:
    """Percent-decoding (RFC 3986 §2.1) of a path step or key, as UTF-8."""
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise RestconfError("protocol", "invalid-value", f"{text!r} is not percent-encoded UTF-8") from exc


def _parse_keys(node: Any, text: str, where: str) -> tuple[Any, ...]:
    if isinstance(node, LeafListNode):
        texts, types = [_decode(text)], [node.type]  # one value, commas included
    else:
        texts = [_decode(part) for part in text.split(",")]
        types = [n.type for n in _key_nodes(node)] if isinstance(node, ListNode) else []
    if len(texts) != len(types):
        raise RestconfError(
            "protocol",
            "invalid-value",
            f"{node.name} has {len(types)} key(s), the path gives {len(texts)}",
            error_path=where,
        )
    keys = []
    for key_text, key_type in zip(texts, types, strict=True):
        value = key_type.parse_value(key_text)
        if value is None or value not in key_type:
            raise RestconfError(
                "protocol",
                "invalid-value",
                f"{key_text!r} is not a valid key of {node.name}",
                error_path=where,
            )
        keys.append(value)
    return tuple(keys)


# RFC 7951 JSON against the schema ------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # no such node (a sentinel: None is JSON null)


def key_members(schema: Any) -> list[str]:
    """The JSON member names of a list's keys, in key order."""
    return [schema.get_data_child(name, module).iname() for name, module in schema.keys]


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
