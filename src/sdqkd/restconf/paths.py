"""RESTCONF data resource paths (RFC 8040 §3.5.3) resolved against a YANG data model (yangson).

A resource path such as ``etsi-qkd-sdn-node:qkd_node/qkd_interfaces/qkd_interface=1/qkdi_att_point`` is
resolved against the model's schema into :class:`PathStep` s. JSON member names follow RFC 7951 §4:
``module:name`` at the top level and wherever the module changes, the bare name elsewhere; the schema
helpers here (:func:`child_node`, :func:`entry_keys`, :func:`key_members`) map member names and list
keys to schema nodes for :mod:`sdqkd.restconf.data` too.

yangson has no type hints: its schema nodes are typed ``Any`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import quote, unquote

from yangson.schemanode import ContainerNode, InternalNode, LeafListNode, ListNode, SequenceNode

from sdqkd.errors import ResourceNotFound, RestconfError

__all__ = [
    "JsonValue",
    "PathStep",
    "ResourcePath",
    "child_node",
    "entry_keys",
    "is_presence_container",
    "key_members",
    "parse_resource_path",
    "qualified_name",
]

JsonValue: TypeAlias = Any
"""A value of RFC 7951 JSON (``json.loads`` output)."""

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


def key_members(schema: Any) -> list[str]:
    """The JSON member names of a list's keys, in key order."""
    return [schema.get_data_child(name, module).iname() for name, module in schema.keys]
