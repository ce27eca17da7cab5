"""A YANG-modelled datastore: one JSON tree (RFC 7951) edited by RESTCONF's methods (RFC 8040 §4),
validated against its data model on every change.

Two writers, two rules:

- clients (the SDN controller, through RESTCONF) edit *configuration*: :meth:`Datastore.put`,
  :meth:`~Datastore.post`, :meth:`~Datastore.patch`, :meth:`~Datastore.delete`. They never touch a
  ``config false`` node; a replaced subtree keeps the operational state of the nodes that survive it.
  A change is made on a copy, validated (the configuration as ``ContentType.config``, the whole tree as
  ``ContentType.all``), committed, then offered to the change callbacks, any of which may veto it by
  raising :class:`~sdqkd.errors.RestconfError`: the change is then rolled back and the error is the
  client's answer. This is how the node agent applies a link to its devices before accepting it.
- the owner (the agent) sets anything, operational state included, with :meth:`Datastore.set_operational`;
  the whole tree is validated (``ContentType.all``) and no callback runs.

Concurrency: one asyncio event loop. Client writes are serialised by a lock held until their callbacks
have answered; the owner's synchronous updates may interleave with a callback (a veto then undoes only
the vetoed change). Reads see the last committed tree.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeAlias

from yangson.enumerations import ContentType
from yangson.exceptions import RawDataError, RawMemberError, ValidationError
from yangson.schemanode import InternalNode, ListNode, SequenceNode

from sdqkd.errors import ResourceNotFound, RestconfError
from sdqkd.restconf.data import (
    MISSING,
    Content,
    always_exists,
    filter_node,
    filter_object,
    keep_state,
    merge_object,
    normalize_node,
    normalize_object,
    prune_node,
    prune_object,
    refuse_read_only,
)
from sdqkd.restconf.paths import (
    JsonValue,
    PathStep,
    ResourcePath,
    child_node,
    entry_keys,
    key_members,
    parse_resource_path,
    qualified_name,
)

__all__ = ["ChangeCallback", "ChangeKind", "Content", "Datastore"]

ChangeKind = Literal["create", "replace", "merge", "delete"]
ChangeCallback: TypeAlias = Callable[[ChangeKind, str, JsonValue, JsonValue], Awaitable[None] | None]
"""``callback(kind, path, old, new)`` after a client's change is committed: ``path`` the canonical
resource path of the changed node, ``old``/``new`` its value before and after (a list entry as its
object; None where it did not or no longer exists). Raising :class:`RestconfError` vetoes the change."""


class Datastore:
    """The JSON tree of one YANG data model, e.g. ``{"etsi-qkd-sdn-node:qkd_node": {...}}``.

    Args:
        model: the yangson data model (:func:`sdqkd.etsi015.load_data_model`).
        initial: the whole tree in RFC 7951 JSON, operational state included.

    Raises:
        RestconfError: ``initial`` is not valid for ``model``.
    """

    def __init__(self, model: Any, initial: dict[str, JsonValue]) -> None:
        self._model = model
        tree = normalize_object(initial, model.schema, "", config_only=False)
        self._check(tree, config=False)
        self._tree: dict[str, JsonValue] = tree
        self._callbacks: list[ChangeCallback] = []
        self._lock = asyncio.Lock()

    @property
    def model(self) -> Any:
        """The yangson data model."""
        return self._model

    def tree(self) -> dict[str, JsonValue]:
        """A copy of the whole tree."""
        return copy.deepcopy(self._tree)

    def resolve(self, path: str | None) -> ResourcePath:
        """The resource a RESTCONF path names (percent-encoded; None or "": the datastore itself).

        Raises:
            ResourceNotFound: the data model has no such node.
            RestconfError: a malformed path.
        """
        return parse_resource_path(self._model, path)

    def on_change(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` after each client change is committed (in registration order; the first
        veto stops the others). It may call :meth:`set_operational`, not the client writes (they wait
        for it). Returns a function that removes it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    # Reading ---------------------------------------------------------------------------------------

    def get(self, path: str | None = None, content: Content = "all", depth: int | None = None) -> JsonValue:
        """The RESTCONF representation of a resource (RFC 8040 §3.5, §4.3).

        Args:
            path: the data resource (None: the datastore, answered as ``{"ietf-restconf:data": {...}}``).
            content: RFC 8040 §4.8.1: every node, configuration only, or operational state only (with the
                keys of the list entries that hold it).
            depth: RFC 8040 §4.8.2: levels of the subtree returned, the target being level 1 (None:
                unbounded). List entries at the last level keep their keys.

        Returns:
            ``{"module:name": value}``; a list entry as an array of that entry (RFC 7951 §5.4).

        Raises:
            ResourceNotFound: no data there (with this ``content``).
        """
        target = self.resolve(path)
        if not target.steps:
            data = self._tree if content == "all" else filter_object(self._tree, target.root, content)
            data = {} if data is MISSING else data
            if depth is not None:
                data = prune_object(data, target.root, 1, depth, entry=False)
            return {"ietf-restconf:data": copy.deepcopy(data)}
        step = target.target
        value = _find(self._tree, target, virtual=True)
        if value is not MISSING and step.is_entry:
            value = [value]
        if value is not MISSING and content != "all":
            value = filter_node(value, step.schema, content)
        if value is MISSING:
            raise ResourceNotFound(f"no data at {target}", error_path=target.instance_id)
        if depth is not None:
            value = prune_node(value, step.schema, 1, depth)
        return {qualified_name(step.schema): copy.deepcopy(value)}

    # Client writes (configuration) ------------------------------------------------------------------

    async def put(self, path: str, body: JsonValue) -> bool:
        """Create or replace a data resource (RFC 8040 §4.5). ``body`` is ``{"module:name": value}``
        (a list entry: an array of one entry whose keys are the path's). Operational state below the
        resource is kept where its node survives. Returns True if it created the resource.

        Raises:
            RestconfError: refused; nothing changed.
        """
        target = self._writable(path, "PUT")
        value = self._body_value(target, body)
        step = target.target

        def edit(tree: dict[str, JsonValue]) -> tuple[ChangeKind, JsonValue, JsonValue]:
            parent = _parent_for_write(tree, target)
            old = _get_member(parent, step)
            new = value if old is MISSING else keep_state(old, value, step.schema, entry=step.is_entry)
            _set_member(parent, step, new)
            return ("create" if old is MISSING else "replace"), old, new

        return await self._commit(target, edit) == "create"

    async def post(self, path: str | None, body: JsonValue) -> str:
        """Create a child of a resource (RFC 8040 §4.4.1): ``body`` is ``{"module:child": value}`` (a
        list entry: an array of one entry). Returns the new resource's path.

        Raises:
            RestconfError: ``data-exists`` if it exists; refused otherwise; nothing changed.
        """
        parent_path = self.resolve(path)
        parent_schema = parent_path.schema
        where = parent_path.instance_id
        if parent_path.steps:
            step = parent_path.target
            if not isinstance(parent_schema, InternalNode) or (
                isinstance(parent_schema, SequenceNode) and not step.is_entry
            ):
                raise RestconfError(
                    "protocol",
                    "invalid-value",
                    "POST creates a child of a container or list entry",
                    error_path=where,
                )
            refuse_read_only(parent_schema, where)
        member, value = _single_member(body)
        child = child_node(parent_schema, member)
        if child is None:
            raise RestconfError(
                "application", "unknown-element", f"{member!r} is not a child here", error_path=where
            )
        child_where = f"{where.rstrip('/')}/{child.iname() if parent_path.steps else member}"
        refuse_read_only(child, child_where)
        if isinstance(child, SequenceNode):
            entry = _only_entry(value, child, child_where)
            new = (
                normalize_object(entry, child, child_where, config_only=True)
                if isinstance(child, ListNode)
                else entry
            )
            keys = entry_keys(child, new)
            if keys is None:
                raise RestconfError(
                    "application",
                    "invalid-value",
                    f"the new {child.name} lacks a valid key",
                    error_path=child_where,
                )
            created = parent_path.child(PathStep(child, keys))
        else:
            new = normalize_node(value, child, child_where, config_only=True)
            created = parent_path.child(PathStep(child))

        def edit(tree: dict[str, JsonValue]) -> tuple[ChangeKind, JsonValue, JsonValue]:
            parent = _parent_for_write(tree, created)
            if _get_member(parent, created.target) is not MISSING:
                raise RestconfError(
                    "application", "data-exists", f"{created} exists already", error_path=created.instance_id
                )
            _set_member(parent, created.target, new)
            return "create", MISSING, new

        await self._commit(created, edit)
        return str(created)

    async def patch(self, path: str, body: JsonValue) -> None:
        """Merge ``body`` (as for :meth:`put`) into an existing resource (RFC 8040 §4.6.1 plain patch):
        members merge recursively, list entries by key, leaf-list values are added, leaves replaced.

        Raises:
            RestconfError: ``data-missing`` if the resource does not exist; refused otherwise; nothing
                changed.
        """
        target = self._writable(path, "PATCH")
        value = self._body_value(target, body)
        step = target.target

        def edit(tree: dict[str, JsonValue]) -> tuple[ChangeKind, JsonValue, JsonValue]:
            parent = _parent_for_write(tree, target)
            old = _get_member(parent, step)
            if old is MISSING and (step.is_entry or not always_exists(step.schema)):
                raise RestconfError(
                    "application",
                    "data-missing",
                    f"{target} does not exist (PATCH does not create it)",
                    error_path=target.instance_id,
                )
            base = {} if old is MISSING else copy.deepcopy(old)
            new = merge_object(base, value, step.schema) if isinstance(base, dict) else value
            _set_member(parent, step, new)
            return "merge", old, new

        await self._commit(target, edit)

    async def delete(self, path: str) -> None:
        """Delete a data resource (RFC 8040 §4.7).

        Raises:
            RestconfError: ``data-missing`` if it does not exist; refused otherwise; nothing changed.
        """
        target = self._writable(path, "DELETE")
        step = target.target

        def edit(tree: dict[str, JsonValue]) -> tuple[ChangeKind, JsonValue, JsonValue]:
            old = _find(tree, target, virtual=False)
            if old is MISSING:
                raise RestconfError(
                    "application", "data-missing", f"{target} does not exist", error_path=target.instance_id
                )
            _remove_member(_parent_for_write(tree, target), step)
            return "delete", old, MISSING

        await self._commit(target, edit)

    # The owner's writes ---------------------------------------------------------------------------

    def set_operational(self, path: str | None, value: JsonValue) -> None:
        """Set any node, operational state included, as the owner of the data (no callbacks).

        Args:
            path: the node (None: the whole tree); ancestors that are list entries must exist.
            value: its new value in RFC 7951 JSON (a list entry as its object, keys filled in from the
                path where absent; a whole list as an array); None removes the node if present.

        Raises:
            RestconfError: the tree would not be valid (``ContentType.all``); nothing changed.
        """
        target = self.resolve(path)
        if not target.steps:
            if value is None:
                raise RestconfError("application", "invalid-value", "the datastore cannot be removed")
            tree = normalize_object(value, target.root, "", config_only=False)
            self._check(tree, config=False)
            self._tree = tree
            return
        self.set_operational_many([(path, value)])

    def set_operational_many(self, changes: Iterable[tuple[str | None, JsonValue]]) -> None:
        """Set several nodes as :meth:`set_operational` does, validating the tree once: all of them,
        or (when one is refused) none.

        Args:
            changes: ``(path, value)`` pairs, applied in order; a path names a node below the root.

        Raises:
            RestconfError: a path names the whole datastore, or the tree would not be valid; nothing
                changed.
        """
        draft = copy.deepcopy(self._tree)
        changed = False
        for path, value in changes:
            target = self.resolve(path)
            if not target.steps:
                raise RestconfError("application", "invalid-value", "set the whole datastore on its own")
            _set_operational(draft, target, value)
            changed = True
        if changed:
            self._check(draft, config=False)
            self._tree = draft

    # Internals ------------------------------------------------------------------------------------

    def _writable(self, path: str | None, method: str) -> ResourcePath:
        target = self.resolve(path)
        if not target.steps:
            raise RestconfError(
                "protocol", "operation-not-supported", f"{method} names a data resource, not the datastore"
            )
        step = target.target
        if isinstance(step.schema, SequenceNode) and not step.is_entry:
            raise RestconfError(
                "protocol",
                "invalid-value",
                f"{method} names one entry of {step.schema.name} ({step.member}=KEY)",
                error_path=target.instance_id,
            )
        refuse_read_only(step.schema, target.instance_id)
        return target

    def _body_value(self, target: ResourcePath, body: JsonValue) -> JsonValue:
        """The target's new value from a PUT or PATCH body, normalised and checked against the path."""
        step = target.target
        schema = step.schema
        where = target.instance_id
        member, value = _single_member(body)
        if member != qualified_name(schema):
            raise RestconfError(
                "protocol",
                "invalid-value",
                f"the body must hold the target {qualified_name(schema)!r}, not {member!r}",
                error_path=where,
            )
        if not step.is_entry:
            return normalize_node(value, schema, where, config_only=True)
        entry = _only_entry(value, schema, where)
        if isinstance(schema, ListNode):
            entry = normalize_object(entry, schema, where, config_only=True)
        keys = entry_keys(schema, entry)
        if keys != step.keys:
            # RFC 8040 §4.5: the key values in the body must be those of the request URI.
            given = "missing" if keys is None else ",".join(map(str, keys))
            raise RestconfError(
                "protocol",
                "invalid-value",
                f"the key(s) in the body ({given}) differ from the URI's ({','.join(step.key_texts())})",
                error_path=where,
            )
        return entry

    async def _commit(
        self,
        target: ResourcePath,
        edit: Callable[[dict[str, JsonValue]], tuple[ChangeKind, JsonValue, JsonValue]],
    ) -> ChangeKind:
        async with self._lock:
            draft = copy.deepcopy(self._tree)
            kind, old, new = edit(draft)
            self._check(draft, config=True)
            before, self._tree = self._tree, draft
            old_json = None if old is MISSING else copy.deepcopy(old)
            new_json = None if new is MISSING else copy.deepcopy(new)
            for callback in list(self._callbacks):
                try:
                    answer = callback(kind, str(target), old_json, new_json)
                    if inspect.isawaitable(answer):
                        await answer
                except BaseException:  # a veto, a failure or a cancelled request: the change is not made
                    self._roll_back(draft, before, target, old)
                    raise
            return kind

    def _roll_back(
        self, draft: dict[str, JsonValue], before: dict[str, JsonValue], target: ResourcePath, old: JsonValue
    ) -> None:
        if self._tree is draft:
            self._tree = before
            return
        # The owner changed the tree meanwhile: undo the client's change only, keep the owner's.
        tree = copy.deepcopy(self._tree)
        try:
            parent = _parent_for_write(tree, target)
        except ResourceNotFound:
            return  # the owner removed an ancestor: the change went with it
        if old is MISSING:
            _remove_member(parent, target.target)
        else:
            _set_member(parent, target.target, old)
        self._tree = tree

    def _check(self, tree: dict[str, JsonValue], *, config: bool) -> None:
        """Validate the whole tree, and with ``config`` its configuration on its own.

        Raises:
            RestconfError: invalid-value (unknown-element for a member the model lacks).
        """
        try:
            if config:
                projection = filter_object(tree, self._model.schema, "config")
                self._model.from_raw({} if projection is MISSING else projection).validate(
                    ctype=ContentType.config
                )
            self._model.from_raw(tree).validate(ctype=ContentType.all)
        except RawMemberError as exc:
            raise RestconfError(
                "application", "unknown-element", f"{exc.path} is not in the data model"
            ) from exc
        except RawDataError as exc:
            raise RestconfError("application", "invalid-value", str(exc)) from exc
        except ValidationError as exc:
            tag = str(exc.tag).removeprefix("config ")  # yangson names the content type it checked
            raise RestconfError(
                "application",
                "invalid-value",
                f"{tag}: {exc.message}" if exc.message else tag,
                error_path=str(exc.instance.instance_route()),
                error_app_tag=tag,
            ) from exc


# JSON tree helpers -----------------------------------------------------------------------------------


def _set_operational(draft: dict[str, JsonValue], target: ResourcePath, value: JsonValue) -> None:
    """Set the node ``target`` (below the root) of ``draft`` to ``value`` (None: remove it)."""
    step = target.target
    where = target.instance_id
    parent = _parent_for_write(draft, target)
    if value is None:
        _remove_member(parent, step)
    elif step.is_entry and isinstance(step.schema, ListNode):
        entry = normalize_object(value, step.schema, where, config_only=False)
        for name in key_members(step.schema):
            entry.setdefault(name, _raw_key(step, name))
        if entry_keys(step.schema, entry) != step.keys:
            raise RestconfError("application", "invalid-value", f"the keys of the entry differ from {target}")
        _set_member(parent, step, entry)
    elif step.is_entry:
        if entry_keys(step.schema, value) != step.keys:
            raise RestconfError("application", "invalid-value", f"the value differs from {target}")
        _set_member(parent, step, value)
    else:
        _set_member(parent, step, normalize_node(value, step.schema, where, config_only=False))


def _raw_key(step: PathStep, member: str) -> JsonValue:
    """A key of ``step`` in RFC 7951 JSON (numbers as numbers, others as strings)."""
    index = key_members(step.schema).index(member)
    node = step.schema.get_data_child(*step.schema.keys[index])
    return node.type.to_raw((step.keys or ())[index])


def _single_member(body: JsonValue) -> tuple[str, JsonValue]:
    if not isinstance(body, dict) or len(body) != 1:
        raise RestconfError("protocol", "malformed-message", "the body must be a JSON object of one member")
    ((member, value),) = body.items()
    if ":" not in member:
        raise RestconfError(
            "protocol",
            "invalid-value",
            f"the body's member {member!r} must be module-qualified (RFC 7951 §4)",
        )
    return member, value


def _only_entry(value: JsonValue, schema: Any, where: str) -> JsonValue:
    if not isinstance(value, list) or len(value) != 1:
        raise RestconfError(
            "protocol",
            "invalid-value",
            f"{schema.name} entries are written one at a time, as an array of one (RFC 7951 §5.4)",
            error_path=where,
        )
    return value[0]


def _find(tree: dict[str, JsonValue], path: ResourcePath, *, virtual: bool) -> JsonValue:
    """The value at ``path`` (a list entry: the entry), or MISSING. With ``virtual``, an absent
    non-presence container reads as empty."""
    node: JsonValue = tree
    for step in path.steps:
        node = _get_member(node, step) if isinstance(node, dict) else MISSING
        if node is MISSING:
            if not (virtual and not step.is_entry and always_exists(step.schema)):
                return MISSING
            node = {}
    return node


def _get_member(parent: dict[str, JsonValue], step: PathStep) -> JsonValue:
    value = parent.get(step.member, MISSING)
    if step.keys is None or value is MISSING:
        return value
    return next((entry for entry in value if step.matches(entry)), MISSING)


def _set_member(parent: dict[str, JsonValue], step: PathStep, value: JsonValue) -> None:
    if step.keys is None:
        parent[step.member] = value
        return
    entries = parent.setdefault(step.member, [])
    for index, entry in enumerate(entries):
        if step.matches(entry):
            entries[index] = value
            return
    entries.append(value)


def _remove_member(parent: dict[str, JsonValue], step: PathStep) -> None:
    if step.keys is None:
        parent.pop(step.member, None)
        return
    remaining = [entry for entry in parent.get(step.member, []) if not step.matches(entry)]
    if remaining:
        parent[step.member] = remaining
    else:
        parent.pop(step.member, None)  # an empty list is no list (RFC 7951 §5.4)


def _parent_for_write(tree: dict[str, JsonValue], path: ResourcePath) -> dict[str, JsonValue]:
    """The object that holds ``path``'s target, creating absent non-presence containers on the way.

    Raises:
        ResourceNotFound: an ancestor list entry (or presence container) does not exist.
    """
    node = tree
    for index, step in enumerate(path.steps[:-1]):
        child = _get_member(node, step)
        if child is MISSING:
            if step.is_entry or not always_exists(step.schema):
                ancestor = ResourcePath(path.steps[: index + 1], path.root)
                raise ResourceNotFound(f"{ancestor} does not exist", error_path=ancestor.instance_id)
            child = node[step.member] = {}
        node = child
    return node
