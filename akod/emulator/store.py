"""The in-memory object store with the indexes the controller's answers need.

A benchmark drives thousands of objects through the emulator, so no request may scan every
object to find one: objects are indexed by uuid, by type (in creation order, which is also the
listing order), by name within a type, and by who refers to whom (a delete of a referenced object
is the controller's 403, `refers_to=` filters use the same index). Bodies are stored with refs as
`Ref` values and without `url`; `render` spells them per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from akod.emulator.refs import Ref
from akod.emulator.schema import Schema


@dataclass(slots=True, eq=False)
class StoredObject:
    type: str
    uuid: str
    name: str
    tenant: str  # tenant uuid; "admin" for global types
    cloud: str | None  # cloud uuid when the object has a cloud_ref
    body: dict[str, Any]  # includes uuid, name, _last_modified; refs as Ref; no url
    secrets: dict[str, Any] = field(default_factory=dict)  # write-only fields (never rendered)
    protected: bool = False  # a system default: cannot be deleted
    refs: frozenset[str] = frozenset()  # uuids this object refers to


def collect_refs(value: Any, into: set[str]) -> None:
    """Every ref target uuid inside a stored body."""
    if isinstance(value, Ref):
        into.add(value.uuid)
    elif isinstance(value, dict):
        for item in value.values():
            collect_refs(item, into)
    elif isinstance(value, list):
        for item in value:
            collect_refs(item, into)


def copy_tree(value: Any) -> Any:
    """A deep copy of a JSON-like tree (Refs are immutable and shared)."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


class Store:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._by_uuid: dict[str, StoredObject] = {}
        self._by_type: dict[str, dict[str, StoredObject]] = {}
        self._by_name: dict[tuple[str, str], dict[str, StoredObject]] = {}
        self._referrers: dict[str, set[str]] = {}
        self._last_stamp = 0

    # -- reads ------------------------------------------------------------------------------

    def get(self, uuid: str) -> StoredObject | None:
        return self._by_uuid.get(uuid)

    def of_type(self, obj_type: str) -> Iterator[StoredObject]:
        """Objects of a type in creation order."""
        return iter(list(self._by_type.get(obj_type, {}).values()))

    def count(self, obj_type: str) -> int:
        return len(self._by_type.get(obj_type, {}))

    def types(self) -> list[str]:
        return [t for t, objs in self._by_type.items() if objs]

    def by_name(self, obj_type: str, name: str) -> list[StoredObject]:
        """Every object of this type and name, whatever its tenant or cloud."""
        return list(self._by_name.get((obj_type, name), {}).values())

    def find(
        self, obj_type: str, name: str, *, tenant: str | None = None, cloud: str | None = None
    ) -> StoredObject | None:
        for obj in self.by_name(obj_type, name):
            if (tenant is None or obj.tenant == tenant) and (cloud is None or obj.cloud == cloud):
                return obj
        return None

    def referrers(self, uuid: str) -> list[StoredObject]:
        """Objects whose body refers to `uuid` (sorted by uuid, so answers are reproducible)."""
        return [self._by_uuid[u] for u in sorted(self._referrers.get(uuid, ())) if u in self._by_uuid]

    def name_of(self, uuid: str) -> str | None:
        obj = self._by_uuid.get(uuid)
        return obj.name if obj is not None else None

    def __len__(self) -> int:
        return len(self._by_uuid)

    # -- writes -----------------------------------------------------------------------------

    def timestamp(self) -> str:
        """`_last_modified`: microseconds since the epoch, strictly increasing per store."""
        stamp = max(time.time_ns() // 1000, self._last_stamp + 1)
        self._last_stamp = stamp
        return str(stamp)

    def put(self, obj: StoredObject) -> None:
        """Insert or replace (same uuid keeps its place in the listing order)."""
        previous = self._by_uuid.get(obj.uuid)
        if previous is not None:
            self._unindex_name(previous)
            self._unlink(previous)
        found: set[str] = set()
        collect_refs(obj.body, found)
        found.discard(obj.uuid)
        obj.refs = frozenset(found)
        self._by_uuid[obj.uuid] = obj
        self._by_type.setdefault(obj.type, {})[obj.uuid] = obj
        self._by_name.setdefault((obj.type, obj.name), {})[obj.uuid] = obj
        for target in obj.refs:
            self._referrers.setdefault(target, set()).add(obj.uuid)

    def remove(self, obj: StoredObject) -> None:
        self._by_uuid.pop(obj.uuid, None)
        self._by_type.get(obj.type, {}).pop(obj.uuid, None)
        self._unindex_name(obj)
        self._unlink(obj)

    def _unindex_name(self, obj: StoredObject) -> None:
        bucket = self._by_name.get((obj.type, obj.name))
        if bucket is not None:
            bucket.pop(obj.uuid, None)
            if not bucket:
                del self._by_name[(obj.type, obj.name)]

    def _unlink(self, obj: StoredObject) -> None:
        for target in obj.refs:
            users = self._referrers.get(target)
            if users is not None:
                users.discard(obj.uuid)
                if not users:
                    del self._referrers[target]
