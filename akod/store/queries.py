"""The store's reads that the mirror does not answer, on a read-only engine of their own.

They never touch the writer's connection: SQLite in WAL mode lets readers run beside the writer,
each query seeing the database as of the last commit before it started, so a read never waits
for a write transaction, and a read made after a write has returned sees that write. The engine
opens the file with `mode=ro`, so a read cannot write by mistake either.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from akod.store.codec import applied_from, cursor_from, desired_from, journal_from, observed_from, problem_from
from akod.store.mirror import Mirror, load_mirror
from akod.store.records import Applied, Cursor, Desired, JournalEntry, Observed, StoredProblem
from akod.store.statements import APPLIED, CURSORS, DESIRED, JOURNAL, OBJECTS, PROBLEMS


class Queries:
    """Read queries over one state database file."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _rows(self, query: Select[Any]) -> list[RowMapping]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).mappings())

    async def mirror(self) -> Mirror:
        async with self._engine.connect() as conn:
            return await load_mirror(conn)

    # -- cursors and observed objects ------------------------------------------------------------

    async def cursor(self, *, resource: str) -> Cursor | None:
        rows = await self._rows(select(CURSORS).where(CURSORS.c.resource == resource))
        return cursor_from(rows[0]) if rows else None

    async def cursors(self) -> list[Cursor]:
        return [cursor_from(r) for r in await self._rows(select(CURSORS).order_by(CURSORS.c.resource))]

    async def observed(self, *, kind: str, namespace: str | None = None) -> list[Observed]:
        query = select(OBJECTS).where(OBJECTS.c.kind == kind)
        if namespace is not None:
            query = query.where(OBJECTS.c.namespace == namespace)
        return [observed_from(r) for r in await self._rows(query.order_by(OBJECTS.c.namespace, OBJECTS.c.name))]

    async def observed_one(self, *, kind: str, namespace: str, name: str) -> Observed | None:
        rows = await self._rows(select(OBJECTS).where(OBJECTS.c.kind == kind, OBJECTS.c.namespace == namespace,
                                                      OBJECTS.c.name == name))
        return observed_from(rows[0]) if rows else None

    # -- desired and applied Avi objects ---------------------------------------------------------

    async def desired(self, *, owner_key: str | None = None) -> list[Desired]:
        query = select(DESIRED)
        if owner_key is not None:
            query = query.where(DESIRED.c.owner_key == owner_key)
        return [desired_from(r) for r in await self._rows(query.order_by(DESIRED.c.obj_type, DESIRED.c.name))]

    async def applied(self, *, obj_type: str, tenant: str, name: str) -> Applied | None:
        rows = await self._rows(select(APPLIED).where(APPLIED.c.obj_type == obj_type, APPLIED.c.tenant == tenant,
                                                      APPLIED.c.name == name))
        return applied_from(rows[0]) if rows else None

    async def all_applied(self, *, obj_type: str | None = None) -> list[Applied]:
        query = select(APPLIED)
        if obj_type is not None:
            query = query.where(APPLIED.c.obj_type == obj_type)
        return [applied_from(r) for r in await self._rows(query.order_by(APPLIED.c.obj_type, APPLIED.c.name))]

    async def unowned_applied(self, *, exclude_types: Collection[str]) -> list[Applied]:
        """Applied objects that no key wants any more (no desired row): garbage to delete."""
        wanted = select(DESIRED.c.obj_type, DESIRED.c.tenant, DESIRED.c.name)
        async with self._engine.connect() as conn:
            applied = list((await conn.execute(
                select(APPLIED).where(APPLIED.c.obj_type.not_in(list(exclude_types))))).mappings())
            desired = {(t, tn, n) for t, tn, n in await conn.execute(wanted)}
        return [applied_from(r) for r in applied if (r["obj_type"], r["tenant"], r["name"]) not in desired]

    async def recorded_names(self, *, obj_type: str) -> set[str]:
        """Names of `obj_type` this database ever recorded akod making: applied, desired, or journaled."""
        queries = [select(APPLIED.c.name).where(APPLIED.c.obj_type == obj_type),
                   select(DESIRED.c.name).where(DESIRED.c.obj_type == obj_type),
                   select(JOURNAL.c.name).where(JOURNAL.c.obj_type == obj_type, JOURNAL.c.op != "DELETE")]
        async with self._engine.connect() as conn:
            return {str(name) for query in queries for (name,) in await conn.execute(query)}

    async def object_counts(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(APPLIED.c.obj_type, func.count()).group_by(APPLIED.c.obj_type))
            return {str(t): int(str(n)) for t, n in rows}

    # -- journal and problems --------------------------------------------------------------------

    async def journal(self, *, states: Collection[str] | None = None, limit: int = 200) -> list[JournalEntry]:
        query = select(JOURNAL)
        if states is not None:
            query = query.where(JOURNAL.c.state.in_(list(states)))
        return [journal_from(r) for r in await self._rows(query.order_by(JOURNAL.c.id.desc()).limit(limit))]

    async def journal_counts(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(JOURNAL.c.state, func.count()).group_by(JOURNAL.c.state))
            return {str(state): int(str(n)) for state, n in rows}

    async def problems(self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None,
                       offset: int = 0, limit: int | None = None) -> list[StoredProblem]:
        """The current problems by kind, namespace, name and field; filtered, and a page of them if asked."""
        p = PROBLEMS
        query = select(p)
        for column, value in ((p.c.kind, kind), (p.c.namespace, namespace), (p.c.name, name)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(p.c.kind, p.c.namespace, p.c.name, p.c.field).offset(max(offset, 0))
        if limit is not None:
            query = query.limit(max(limit, 0))
        return [problem_from(r) for r in await self._rows(query)]

    async def problem_counts(self) -> dict[str, int]:
        """How many problems there are, by reason (their sum is the total)."""
        p = PROBLEMS
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(p.c.reason, func.count()).group_by(p.c.reason))
            return {str(reason): int(str(n)) for reason, n in rows}
