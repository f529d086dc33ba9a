"""The writes that read before they write, so they cannot share a group's statements.

A relist must know which stored objects the list lacks; the rebuild of the applied state keeps the
owner of each row that is still there; pruning finds the cutoff id; replacing problems keeps the
`since` of a problem that persists. Each reads and writes on the writer's connection, inside the
writer's transaction, so nothing can commit between its read and its write (there is no other
writer, but the group flushed before it is part of what it must see). They are rare (a relist per
410 Gone, a rebuild at boot, one prune per start, problems per pass), so they cost a few
statements each and nobody waits on them in the hot path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from akod.model.problems import Problem
from akod.store import statements as st
from akod.store.codec import applied_row, ident_of, observed_from, observed_params
from akod.store.mirror import Mirror
from akod.store.operations import Alone, WriteContext
from akod.store.records import INTENT, UNKNOWN, Applied, Observed

OPEN_STATES = (INTENT, UNKNOWN)
"""Journal states whose outcome is not known yet: never pruned, resolved at the next start."""


@dataclasses.dataclass(eq=False, slots=True)
class Relist(Alone[list[Observed]]):
    """A whole list of `kind` replaces what is stored, and the cursor (with `listed_at`) moves.

    The caller gets the stored objects of `kind` that the list lacks: they were deleted while
    nobody watched, and what they fed must be marked dirty.
    """

    resource: str
    kind: str
    upserts: Sequence[Observed]
    deletes: Sequence[tuple[str, str]]
    resource_version: str

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> list[Observed]:
        keep = {(o.namespace, o.name) for o in self.upserts}
        stored = (await conn.execute(select(st.OBJECTS).where(st.OBJECTS.c.kind == self.kind))).mappings()
        vanished = [observed_from(row) for row in stored if (row["namespace"], row["name"]) not in keep]
        gone = {*self.deletes, *((o.namespace, o.name) for o in vanished)} - keep
        final = {(o.namespace, o.name): o for o in self.upserts}  # the last of one name wins
        if final:
            await conn.execute(st.UPSERT_OBJECT, [observed_params(o, kind=self.kind, stamp=ctx.stamp)
                                                  for o in final.values()])
        if gone:
            await conn.execute(st.DELETE_OBJECT, [{"b_kind": self.kind, "b_namespace": ns, "b_name": n}
                                                  for ns, n in sorted(gone)])
        await conn.execute(st.UPSERT_CURSOR_LISTED, {"resource": self.resource,
                                                     "resource_version": self.resource_version,
                                                     "listed_at": ctx.stamp, "updated_at": ctx.stamp})
        return vanished


@dataclasses.dataclass(eq=False, slots=True)
class ReplaceApplied(Alone[None]):
    """`objects` become the whole applied state for `types` (a rebuild from the controller's copy).

    A row that is still there keeps its stored owner key and role (the controller knows neither);
    a new row keeps what the caller gives.
    """

    objects: Sequence[Applied]
    types: Collection[str]
    written: list[Applied] = dataclasses.field(default_factory=list, init=False)  # set by run, for settle

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> None:
        types = sorted(self.types)
        query = select(st.APPLIED.c.obj_type, st.APPLIED.c.tenant, st.APPLIED.c.name, st.APPLIED.c.owner_key,
                       st.APPLIED.c.role).where(st.APPLIED.c.obj_type.in_(types))
        kept = {(str(t), str(tn), str(n)): (str(owner), str(role))
                for t, tn, n, owner, role in await conn.execute(query)}
        await conn.execute(delete(st.APPLIED).where(st.APPLIED.c.obj_type.in_(types)))
        rows = []
        self.written = []
        for a in self.objects:
            owner, role = kept.get(ident_of(a), (a.owner_key, a.role))
            role = role or a.role  # a row from before roles: the controller's body tells it
            row, stored = applied_row(a, stamp=ctx.stamp, owner_key=owner, role=role)
            rows.append(row)
            self.written.append(stored)
        if rows:
            await conn.execute(st.INSERT_APPLIED, rows)

    def settle(self, mirror: Mirror) -> None:
        mirror.replace_applied(types=self.types, objects=self.written)


@dataclasses.dataclass(eq=False, slots=True)
class PruneJournal(Alone[int]):
    """Drop the oldest finished rows beyond `keep_done`; open rows are never dropped. Gets the count."""

    keep_done: int

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> int:
        j = st.JOURNAL
        finished = j.c.state.not_in(OPEN_STATES)
        cutoff = await conn.scalar(select(j.c.id).where(finished).order_by(j.c.id.desc())
                                   .offset(self.keep_done).limit(1))
        if cutoff is None:
            return 0
        result = await conn.execute(delete(j).where(j.c.id <= cutoff, finished))
        return int(result.rowcount or 0)


@dataclasses.dataclass(eq=False, slots=True)
class ReplaceProblems(Alone[list[Problem]]):
    """`problems` become the current problems of the objects in scope; the caller gets the new ones.

    The scope is every object of `kind`, or only `names` ((namespace, name) pairs) when given. A
    problem that persists keeps its `since`.
    """

    kind: str
    problems: Sequence[Problem]
    names: Collection[tuple[str, str]] | None = None

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> list[Problem]:
        p = st.PROBLEMS
        wanted = {(x.obj.namespace, x.obj.name, x.field): x for x in self.problems if x.obj.kind == self.kind}
        query = select(p.c.namespace, p.c.name, p.c.field, p.c.reason, p.c.message).where(p.c.kind == self.kind)
        current = {(ns, n, f): (reason, message) for ns, n, f, reason, message in await conn.execute(query)
                   if self.names is None or (ns, n) in self.names}
        gone = [{"b_kind": self.kind, "b_namespace": ns, "b_name": n, "b_field": f}
                for ns, n, f in current if (ns, n, f) not in wanted]
        new = [x for ident, x in wanted.items() if current.get(ident) != (x.reason, x.message)]
        if gone:
            await conn.execute(st.DELETE_PROBLEM, gone)
        if new:
            await conn.execute(st.UPSERT_PROBLEM, [
                {"kind": self.kind, "namespace": x.obj.namespace, "name": x.obj.name, "field": x.field,
                 "reason": x.reason, "message": x.message, "since": ctx.stamp} for x in new])
        return new
