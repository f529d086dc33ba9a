"""Plain values the store hands to and takes from the other layers (no ORM objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from akod.model.observed import Observed as Observed  # re-exported for the store's callers
from akod.model.problems import ObjectRef


@dataclass(frozen=True, slots=True)
class Cursor:
    resource: str
    resource_version: str
    listed_at: str
    updated_at: str


# `role` on Desired and Applied: a label the sync layer gives an object within its key ("" when it
# gives none). The store keeps it with the row and hands it back; it never interprets it.


@dataclass(frozen=True, slots=True)
class Desired:
    obj_type: str
    tenant: str
    name: str
    owner_key: str
    body: dict[str, Any] = field(hash=False, compare=False)
    checksum: str = ""
    role: str = ""
    # The Kubernetes objects this one is made for; empty: every object of its key (a shared VS).
    subjects: tuple[ObjectRef, ...] = field(default=(), hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Applied:
    obj_type: str
    tenant: str
    name: str
    uuid: str
    checksum: str
    last_modified: str
    applied_at: str = ""
    owner_key: str = ""
    info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    role: str = ""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    key: str
    op: str
    obj_type: str
    tenant: str
    name: str
    checksum: str
    state: str
    attempts: int
    last_error: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class StoredProblem:
    kind: str
    namespace: str
    name: str
    field: str
    reason: str
    message: str
    since: str


# Journal states. `intent` is written before the call and means "outcome not known yet": after a
# crash, every `intent` row is resolved by reading the object back from the controller.
INTENT = "intent"
DONE = "done"
FAILED = "failed"
SUPERSEDED = "superseded"
# A write cut off in flight (e.g. SIGTERM during the call): it may or may not have reached the
# controller, and the daemon stopped before it could find out. Resolved, like `intent`, by reading
# the object back at the next start. The store stores it like any other state and never sets it.
UNKNOWN = "unknown"
