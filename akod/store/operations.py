"""Each write of the store as a value the writer can run, alone or folded with others.

The writer takes whatever writes are waiting and runs them in one transaction. Most of them
(watch batches, a key's begin and finish, journal rows, applied rows) only add rows to a few
statements, so they are *grouped*: each folds its rows into a `Group`, and the group runs one
`executemany` per table and kind of change for all of them. The effect is that of running them one
after the other, because the group keeps the last write of each row (an upsert overwrites the whole
row, a key's desired set is replaced whole) and is flushed early when two writes would update the
same journal row. (One difference, harmless: a key that claims a desired object another key gives
up later in the same group succeeds, where in sequence it would have met the other key's row.)
The few writes that must read before they write (a relist, the rebuild of the applied state,
pruning the journal, replacing problems) run *alone*, after the group before them is flushed,
with statements of their own.

Results that the caller gets (journal ids) are known when a write is folded: there is one writer,
so it allocates journal ids itself (`JournalIds`) instead of asking SQLite for them. After the
commit, `settle` brings the in-memory mirror in step with what was written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from akod.store import statements as st
from akod.store.codec import (
    ERROR_LIMIT,
    Ident,
    Params,
    applied_row,
    desired_params,
    ident_of,
    now_iso,
    observed_params,
)
from akod.store.mirror import Mirror
from akod.store.records import INTENT, Applied, Desired, Observed

T = TypeVar("T")


class JournalIds:
    """Journal ids, handed out in memory by the one writer (the next is one past the largest stored)."""

    def __init__(self, *, last: int) -> None:
        self.last = last

    def take(self, count: int) -> list[int]:
        first = self.last + 1
        self.last += count
        return list(range(first, first + count))


@dataclasses.dataclass(slots=True)
class WriteContext:
    """What the writes of one transaction share: the mirror as of the last commit (to read only),
    the journal ids, and the stamp of the writes that take it then (the alone ones)."""

    stamp: str
    ids: JournalIds
    mirror: Mirror


class Operation(Generic[T]):
    """A write; `T` is what its caller gets back once it is committed."""

    __slots__ = ()

    def settle(self, mirror: Mirror) -> None:
        """Committed: bring `mirror` in step (nothing by default)."""


class Grouped(Operation[T]):
    """A write that only adds rows to the statements of a `Group`."""

    __slots__ = ()

    def fold(self, group: Group, ctx: WriteContext) -> T:
        raise NotImplementedError

    def journal_updates(self) -> Collection[int]:
        """The journal rows this write updates (a group never updates one row twice)."""
        return ()


class Alone(Operation[T]):
    """A write that reads before it writes, with statements of its own."""

    __slots__ = ()

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> T:
        raise NotImplementedError


class Group:
    """The rows of grouped writes, by table and kind of change, until `flush` writes them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Params | None] = {}  # (kind, ns, name) -> row, None: delete
        self.cursors: dict[str, Params] = {}
        self.desired: dict[str, list[Params]] = {}  # owner key -> its whole new set
        self.stale: set[str] = set()  # owner keys of `desired` that may have rows to delete first
        self.inserted: set[str] = set()  # owner keys whose rows earlier flushes wrote (not cleared)
        self.journal: list[Params] = []
        self.outcomes: list[Params] = []
        self.attempts: list[Params] = []
        self.updated: set[int] = set()  # journal ids in outcomes or attempts
        self.applied: dict[Ident, Params | None] = {}  # None: delete

    def clashes(self, op: Grouped[Any]) -> bool:
        return not self.updated.isdisjoint(op.journal_updates())

    async def flush(self, conn: AsyncConnection) -> None:
        """Run the statements of what was folded (one `executemany` each), and start empty again."""
        objects = [row for row in self.objects.values() if row is not None]
        if objects:
            await st.P_UPSERT_OBJECT.run(conn, objects)
        gone = [{"b_kind": k, "b_namespace": ns, "b_name": n} for (k, ns, n), row in self.objects.items() if row is None]
        if gone:
            await st.P_DELETE_OBJECT.run(conn, gone)
        if self.cursors:
            await st.P_UPSERT_CURSOR_KEEP_LISTED.run(conn, list(self.cursors.values()))
        if self.stale:
            await st.P_DELETE_DESIRED_OF_OWNER.run(conn, [{"b_owner": owner} for owner in self.stale])
        desired = [row for rows in self.desired.values() for row in rows]
        if desired:
            await st.P_INSERT_DESIRED.run(conn, desired)
        self.inserted.update(owner for owner, rows in self.desired.items() if rows)
        if self.journal:
            await st.P_INSERT_JOURNAL.run(conn, self.journal)
        if self.outcomes:
            await st.P_UPDATE_OUTCOME.run(conn, self.outcomes)
        if self.attempts:
            await st.P_UPDATE_ATTEMPT.run(conn, self.attempts)
        applied = [row for row in self.applied.values() if row is not None]
        if applied:
            await st.P_UPSERT_APPLIED.run(conn, applied)
        forgotten = [{"b_obj_type": t, "b_tenant": tn, "b_name": n}
                     for (t, tn, n), row in self.applied.items() if row is None]
        if forgotten:
            await st.P_DELETE_APPLIED.run(conn, forgotten)
        for rows in (self.objects, self.cursors, self.desired, self.stale, self.journal, self.outcomes,
                     self.attempts, self.updated, self.applied):
            rows.clear()


async def write_all(conn: AsyncConnection, ops: Sequence[Operation[Any]], ctx: WriteContext) -> list[Any]:
    """Run `ops` in order on `conn` (inside the caller's transaction); their callers' results."""
    group = Group()
    results: list[Any] = []
    for op in ops:
        if isinstance(op, Grouped):
            if group.clashes(op):
                await group.flush(conn)
            results.append(op.fold(group, ctx))
            group.updated.update(op.journal_updates())
        elif isinstance(op, Alone):
            await group.flush(conn)
            results.append(await op.run(conn, ctx))
        else:
            raise TypeError(f"not a store write: {op!r}")
    await group.flush(conn)
    return results


# -- the grouped writes ----------------------------------------------------------------------------
# Each builds its rows when it is made, in its caller's task and with its own stamp: the writer's
# part (`fold`) then only files them, so that the JSON and the parameters of the next batch are
# built while the writer waits for SQLite on the current one, not in between.

@dataclasses.dataclass(eq=False, slots=True)
class WatchBatch(Grouped[None]):
    """A batch of watch events (not a relist) and the cursor it moves to."""

    resource: str
    kind: str
    upserts: Sequence[Observed]
    deletes: Sequence[tuple[str, str]]
    resource_version: str
    stamp: str = dataclasses.field(default_factory=now_iso)
    rows: list[Params] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.rows = [observed_params(o, kind=self.kind, stamp=self.stamp) for o in self.upserts]

    def fold(self, group: Group, ctx: WriteContext) -> None:
        for namespace, name in self.deletes:
            group.objects[self.kind, namespace, name] = None
        for row in self.rows:
            group.objects[self.kind, row["namespace"], row["name"]] = row
        group.cursors[self.resource] = {"resource": self.resource, "resource_version": self.resource_version,
                                        "listed_at": self.stamp, "updated_at": self.stamp}


@dataclasses.dataclass(eq=False, slots=True)
class BeginKey(Grouped[list[int]]):
    """`objects` become the whole desired set of `owner_key`; each of `ops` (op, obj_type, tenant,
    name, checksum) gets a journal intent. The caller gets the intents' ids, in the order of `ops`."""

    owner_key: str
    objects: Sequence[Desired]
    ops: Sequence[tuple[str, str, str, str, str]] = ()
    stamp: str = dataclasses.field(default_factory=now_iso)
    rows: list[Params] = dataclasses.field(init=False)
    intents: list[Params] = dataclasses.field(init=False)  # without their ids (given when folded)

    def __post_init__(self) -> None:
        self.rows = [desired_params(d, owner_key=self.owner_key, stamp=self.stamp) for d in self.objects]
        self.intents = [_intent(key=self.owner_key, op=op, obj_type=t, tenant=tn, name=n, checksum=cks,
                                stamp=self.stamp) for op, t, tn, n, cks in self.ops]

    def fold(self, group: Group, ctx: WriteContext) -> list[int]:
        # Rows to delete only if the key has some: committed (the mirror says so exactly) or
        # written earlier in this transaction. A first sync (no rows yet) saves the statement.
        if self.owner_key in ctx.mirror.desired or self.owner_key in group.inserted:
            group.stale.add(self.owner_key)
        group.desired[self.owner_key] = self.rows
        ids = ctx.ids.take(len(self.intents))
        group.journal += [{**row, "id": entry} for entry, row in zip(ids, self.intents, strict=True)]
        return ids

    def settle(self, mirror: Mirror) -> None:
        mirror.set_desired(self.owner_key, {ident_of(d): d.checksum for d in self.objects})


@dataclasses.dataclass(eq=False, slots=True)
class FinishKey(Grouped[None]):
    """Journal outcomes (id, state, error); applied rows written, and forgotten by identity."""

    outcomes: Sequence[tuple[int, str, str]] = ()
    applied: Sequence[Applied] = ()
    forget: Sequence[Ident] = ()
    stamp: str = dataclasses.field(default_factory=now_iso)
    outcome_rows: list[Params] = dataclasses.field(init=False)
    applied_rows: list[Params] = dataclasses.field(init=False)
    stored: list[Applied] = dataclasses.field(init=False)  # `applied` as the rows read back

    def __post_init__(self) -> None:
        self.outcome_rows = [{"b_id": entry, "b_state": state, "b_error": error[:ERROR_LIMIT], "b_stamp": self.stamp}
                             for entry, state, error in self.outcomes]
        self.applied_rows, self.stored = [], []
        for a in self.applied:
            row, stored = applied_row(a, stamp=self.stamp)
            self.applied_rows.append(row)
            self.stored.append(stored)

    def fold(self, group: Group, ctx: WriteContext) -> None:
        group.outcomes += self.outcome_rows
        for a, row in zip(self.stored, self.applied_rows, strict=True):
            group.applied[ident_of(a)] = row
        for ident in self.forget:
            group.applied[ident] = None

    def journal_updates(self) -> Collection[int]:
        return [entry for entry, _, _ in self.outcomes]

    def settle(self, mirror: Mirror) -> None:
        for a in self.stored:
            mirror.put_applied(a)
        for ident in self.forget:
            mirror.drop_applied(ident)


@dataclasses.dataclass(eq=False, slots=True)
class JournalIntent(Grouped[int]):
    """One journal intent outside a key's begin; the caller gets its id."""

    key: str
    op: str
    obj_type: str
    tenant: str
    name: str
    checksum: str
    stamp: str = dataclasses.field(default_factory=now_iso)

    def fold(self, group: Group, ctx: WriteContext) -> int:
        (entry,) = ctx.ids.take(1)
        group.journal.append({**_intent(key=self.key, op=self.op, obj_type=self.obj_type, tenant=self.tenant,
                                        name=self.name, checksum=self.checksum, stamp=self.stamp), "id": entry})
        return entry


@dataclasses.dataclass(eq=False, slots=True)
class JournalAttempt(Grouped[None]):
    """One more attempt of a journal row, and why the last one failed."""

    entry_id: int
    error: str
    stamp: str = dataclasses.field(default_factory=now_iso)

    def fold(self, group: Group, ctx: WriteContext) -> None:
        group.attempts.append({"b_id": self.entry_id, "b_error": self.error[:ERROR_LIMIT], "b_stamp": self.stamp})

    def journal_updates(self) -> Collection[int]:
        return (self.entry_id,)


def _intent(*, key: str, op: str, obj_type: str, tenant: str, name: str, checksum: str, stamp: str) -> Params:
    return {"key": key, "op": op, "obj_type": obj_type, "tenant": tenant, "name": name, "checksum": checksum,
            "state": INTENT, "attempts": 1, "last_error": "", "created_at": stamp, "updated_at": stamp}
