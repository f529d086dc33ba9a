"""Owned objects seen from outside the sync: what `akod plan` lists and what `/objects` shows.

Both read the same things for every family that owns whole Avi objects: the translation of a key
against what the controller holds (plan: create or update, by checksum) and the desired rows of a
key with their sync state (`/objects`: applied, or still pending). Which objects belong to one
Kubernetes object is explicit (`AviObject.subjects`, stored with the desired row): an object with
no subject is shared by its whole key (a shard's VS), one with subjects is made for them only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.problems import ObjectRef
from akod.store import Applied, Store
from akod.sync.family import PlannedChange, Translation


def diff_owned(*, translation: Translation, have: Mapping[tuple[str, str], Applied], owner: str) -> list[PlannedChange]:
    """Create what the controller lacks, update what differs (deletes are the registry's: no key wants them)."""
    changes: list[PlannedChange] = []
    for obj in translation.objects:
        current = have.get((obj.obj_type, obj.name))
        if current is None:
            changes.append(PlannedChange(action="create", obj_type=obj.obj_type, name=obj.name, owner=owner))
        elif current.checksum != obj.checksum:
            changes.append(PlannedChange(action="update", obj_type=obj.obj_type, name=obj.name, owner=owner))
    return changes


async def describe_objects(*, store: Store, key: str, subject: ObjectRef | None = None) -> list[dict[str, Any]]:
    """The Avi objects of `key` (those made for `subject`, and the shared ones), with their sync state."""
    made = []
    for d in await store.desired(owner_key=key):
        if subject is not None and d.subjects and subject not in d.subjects:
            continue
        applied = await store.applied(obj_type=d.obj_type, tenant=d.tenant, name=d.name)
        entry: dict[str, Any] = {
            "type": d.obj_type, "name": d.name, "tenant": d.tenant, "key": key, "role": d.role,
            "uuid": applied.uuid if applied else "",
            "state": "applied" if applied is not None and applied.checksum == d.checksum else "pending",
        }
        if applied is not None and d.obj_type == "vsvip":
            entry["vips"] = applied.info.get("vips", [])
        made.append(entry)
    return made
