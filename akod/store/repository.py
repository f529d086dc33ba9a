"""The store: every read and write of the state database the other layers make, one method each.

Each method is one short transaction, so a crash leaves the database at a transaction boundary:
a watch batch and its cursor commit together (a restart never skips or double-applies events),
and a journal intent is durable before the controller call it announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from akod.model.problems import Problem
from akod.store.database import migrate, open_engine
from akod.store.records import (
    DONE,
    INTENT,
    Applied,
    Cursor,
    Desired,
    JournalEntry,
    Observed,
    StoredProblem,
)
from akod.store.schema import (
    AviAppliedRow,
    AviDesiredRow,
    CursorRow,
    JournalRow,
    K8sObjectRow,
    ObjectErrorRow,
)


T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class Store:
    """The repository over one state database file."""

    def __init__(self, *, engine: AsyncEngine, path: Path) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.path = path
        # SQLite has one writer at a time; a second writer waits in SQLite's busy handler, which
        # sleeps in growing steps. Queueing writers here instead costs nothing and keeps the
        # workers' writes back to back. Readers are not queued (WAL lets them run alongside).
        self._write_lock = asyncio.Lock()
        self._pending: asyncio.Queue[tuple[Work[Any], asyncio.Future[Any]]] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def _group(self, work: Work[T]) -> T:
        """Run `work` in a write transaction shared with whatever else is waiting (group commit).

        Each sync key needs two short transactions; committing the keys of several workers together
        costs one fsync-free commit and one trip through the database thread for all of them, where
        one transaction each made the workers queue behind the write lock. `work` is durable when
        this returns, exactly as with a transaction of its own.
        """
        if self._pending is None:
            self._pending = asyncio.Queue()
            self._writer = asyncio.create_task(self._write_batches(), name="akod-store-writer")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait((work, future))
        return await future

    async def _write_batches(self) -> None:
        assert self._pending is not None
        while True:
            batch = [await self._pending.get()]
            while not self._pending.empty() and len(batch) < 64:
                batch.append(self._pending.get_nowait())
            try:
                results = []
                async with self._writing() as session:
                    for work, _ in batch:
                        results.append(await work(session))
            except Exception:  # noqa: BLE001 - isolate the failing work: run each alone
                for work, future in batch:
                    try:
                        async with self._writing() as session:
                            result = await work(session)
                    except Exception as exc:  # noqa: BLE001 - handed to the caller
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(result)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        async with self._write_lock, self._sessions.begin() as session:
            yield session

    @classmethod
    async def open(cls, *, path: Path, read_only: bool = False) -> Store:
        if not read_only:
            migrate(path=path)
        elif not path.exists():
            raise FileNotFoundError(f"state database {path} does not exist (has akod run yet?)")
        return cls(engine=open_engine(path=path, read_only=read_only), path=path)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._engine.dispose()

    # -- cursors and observed objects ------------------------------------------------------------

    async def cursor(self, *, resource: str) -> Cursor | None:
        async with self._sessions() as s:
            row = await s.get(CursorRow, resource)
            return None if row is None else _cursor(row)

    async def cursors(self) -> list[Cursor]:
        async with self._sessions() as s:
            rows = (await s.scalars(select(CursorRow).order_by(CursorRow.resource))).all()
            return [_cursor(r) for r in rows]

    async def apply_watch_batch(
        self,
        *,
        resource: str,
        kind: str,
        upserts: Sequence[Observed],
        deletes: Sequence[tuple[str, str]],
        resource_version: str,
        relist: bool = False,
    ) -> list[Observed]:
        """Store a batch of watch events (or a whole relist) and the cursor, in one transaction.

        With `relist`, objects of `kind` absent from `upserts` were deleted while nobody watched;
        they are removed and returned so the caller can mark what they fed dirty.
        """
        stamp = now_iso()
        vanished: list[Observed] = []
        table = K8sObjectRow.__table__
        async with self._writing() as s:
            if relist:
                keep = {(o.namespace, o.name) for o in upserts}
                rows = (await s.scalars(select(K8sObjectRow).where(K8sObjectRow.kind == kind))).all()
                gone = [r for r in rows if (r.namespace, r.name) not in keep]
                vanished = [_observed(r) for r in gone]
                deletes = [*deletes, *((r.namespace, r.name) for r in gone)]
            if upserts:
                rows_in = [{"kind": kind, "namespace": o.namespace, "name": o.name, "uid": o.uid,
                            "resource_version": o.resource_version, "body": _dumps(o.body), "updated_at": stamp}
                           for o in upserts]
                stmt = sqlite_insert(table)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["kind", "namespace", "name"],
                    set_={c: stmt.excluded[c] for c in ("uid", "resource_version", "body", "updated_at")})
                for start in range(0, len(rows_in), 500):
                    await s.execute(stmt, rows_in[start:start + 500])
            for namespace, name in deletes:
                await s.execute(delete(table).where(table.c.kind == kind, table.c.namespace == namespace,
                                                    table.c.name == name))
            existing = await s.get(CursorRow, resource)
            listed_at = stamp if relist or existing is None else existing.listed_at
            await s.merge(
                CursorRow(resource=resource, resource_version=resource_version, listed_at=listed_at, updated_at=stamp)
            )
        return vanished

    async def observed(self, *, kind: str, namespace: str | None = None) -> list[Observed]:
        async with self._sessions() as s:
            q = select(K8sObjectRow).where(K8sObjectRow.kind == kind)
            if namespace is not None:
                q = q.where(K8sObjectRow.namespace == namespace)
            rows = (await s.scalars(q.order_by(K8sObjectRow.namespace, K8sObjectRow.name))).all()
            return [_observed(r) for r in rows]

    async def observed_one(self, *, kind: str, namespace: str, name: str) -> Observed | None:
        async with self._sessions() as s:
            row = await s.get(K8sObjectRow, (kind, namespace, name))
            return None if row is None else _observed(row)

    # -- desired and applied Avi objects ---------------------------------------------------------

    async def replace_desired(self, *, owner_key: str, objects: Sequence[Desired]) -> None:
        """Make `objects` the whole desired set of `owner_key`."""
        stamp = now_iso()
        table = AviDesiredRow.__table__
        async with self._writing() as s:
            await s.execute(delete(table).where(table.c.owner_key == owner_key))
            if objects:
                await s.execute(sqlite_insert(table), [
                    {"obj_type": d.obj_type, "tenant": d.tenant, "name": d.name, "owner_key": owner_key,
                     "body": _dumps(d.body), "checksum": d.checksum, "updated_at": stamp} for d in objects])

    async def applied_for_key(self, *, owner_key: str,
                              idents: Collection[tuple[str, str, str]]) -> list[Applied]:
        """In one query: the objects `owner_key` applied, and those named by `idents` (any owner)."""
        async with self._sessions() as s:
            cond = AviAppliedRow.owner_key == owner_key
            if idents:
                cond = cond | tuple_(AviAppliedRow.obj_type, AviAppliedRow.tenant, AviAppliedRow.name).in_(list(idents))
            return [_applied(r) for r in (await s.scalars(select(AviAppliedRow).where(cond))).all()]

    async def begin_key(self, *, owner_key: str, objects: Sequence[Desired],
                        ops: Sequence[tuple[str, str, str, str, str]]) -> list[int]:
        """One transaction: `objects` become the desired set of `owner_key`, and each planned write
        (op, obj_type, tenant, name, checksum) gets its journal intent. Returns the journal ids."""
        stamp = now_iso()
        table = AviDesiredRow.__table__
        jt = JournalRow.__table__

        async def work(s: AsyncSession) -> list[int]:
            await s.execute(delete(table).where(table.c.owner_key == owner_key))
            if objects:
                await s.execute(sqlite_insert(table), [
                    {"obj_type": d.obj_type, "tenant": d.tenant, "name": d.name, "owner_key": owner_key,
                     "body": _dumps(d.body), "checksum": d.checksum, "updated_at": stamp} for d in objects])
            if not ops:
                return []
            result = await s.execute(
                sqlite_insert(jt).returning(jt.c.id),
                [{"key": owner_key, "op": op, "obj_type": t, "tenant": tenant, "name": name, "checksum": cks,
                  "state": INTENT, "attempts": 1, "last_error": "", "created_at": stamp, "updated_at": stamp}
                 for op, t, tenant, name, cks in ops],
            )
            return [int(row[0]) for row in result.all()]

        return await self._group(work)

    async def finish_key(self, *, outcomes: Sequence[tuple[int, str, str]], applied: Sequence[Applied],
                         forget: Sequence[tuple[str, str, str]]) -> None:
        """One transaction: journal outcomes (id, state, error), applied rows written and forgotten."""
        if not (outcomes or applied or forget):
            return
        stamp = now_iso()
        jt = JournalRow.__table__
        at = AviAppliedRow.__table__

        async def work(s: AsyncSession) -> None:
            if outcomes:
                await s.execute(
                    update(jt).where(jt.c.id == bindparam("entry_id")).values(
                        state=bindparam("new_state"), last_error=bindparam("error"), updated_at=stamp),
                    [{"entry_id": i, "new_state": st, "error": err[:2000]} for i, st, err in outcomes])
            if applied:
                await s.execute(_UPSERT_APPLIED, [_applied_values(a, stamp) for a in applied])
            for obj_type, tenant, name in forget:
                await s.execute(delete(at).where(at.c.obj_type == obj_type, at.c.tenant == tenant, at.c.name == name))

        await self._group(work)

    async def desired_checksums(self, *, owner_key: str) -> dict[tuple[str, str, str], str]:
        async with self._sessions() as s:
            rows = (await s.execute(select(AviDesiredRow.obj_type, AviDesiredRow.tenant, AviDesiredRow.name,
                                           AviDesiredRow.checksum).where(AviDesiredRow.owner_key == owner_key))).all()
            return {(t, tn, n): c for t, tn, n, c in rows}

    async def desired(self, *, owner_key: str | None = None) -> list[Desired]:
        async with self._sessions() as s:
            q = select(AviDesiredRow)
            if owner_key is not None:
                q = q.where(AviDesiredRow.owner_key == owner_key)
            rows = (await s.scalars(q.order_by(AviDesiredRow.obj_type, AviDesiredRow.name))).all()
            return [
                Desired(
                    obj_type=r.obj_type,
                    tenant=r.tenant,
                    name=r.name,
                    owner_key=r.owner_key,
                    body=json.loads(r.body),
                    checksum=r.checksum,
                )
                for r in rows
            ]

    async def applied(self, *, obj_type: str, tenant: str, name: str) -> Applied | None:
        async with self._sessions() as s:
            row = await s.get(AviAppliedRow, (obj_type, tenant, name))
            return None if row is None else _applied(row)

    async def all_applied(self, *, obj_type: str | None = None) -> list[Applied]:
        async with self._sessions() as s:
            q = select(AviAppliedRow)
            if obj_type is not None:
                q = q.where(AviAppliedRow.obj_type == obj_type)
            rows = (await s.scalars(q.order_by(AviAppliedRow.obj_type, AviAppliedRow.name))).all()
            return [_applied(r) for r in rows]

    async def record_applied(self, applied: Applied) -> None:
        async with self._writing() as s:
            await s.merge(_applied_row(applied, now_iso()))

    async def replace_applied(self, *, objects: Sequence[Applied], types: Collection[str]) -> None:
        """Make `objects` the whole applied state for `types` (a rebuild from the controller's copy).

        Rows keep their owner key when the object is still there; new rows keep the owner given.
        """
        stamp = now_iso()
        async with self._writing() as s:
            rows = (await s.scalars(select(AviAppliedRow).where(AviAppliedRow.obj_type.in_(list(types))))).all()
            owners = {(r.obj_type, r.tenant, r.name): r.owner_key for r in rows}
            await s.execute(delete(AviAppliedRow).where(AviAppliedRow.obj_type.in_(list(types))))
            for a in objects:
                owner = owners.get((a.obj_type, a.tenant, a.name), a.owner_key)
                row = _applied_row(a, stamp)
                row.owner_key = owner
                s.add(row)

    async def unowned_applied(self, *, exclude_types: Collection[str]) -> list[Applied]:
        """Applied objects that no key wants any more (no desired row): garbage to delete."""
        async with self._sessions() as s:
            desired = select(AviDesiredRow.obj_type, AviDesiredRow.tenant, AviDesiredRow.name)
            rows = (await s.scalars(select(AviAppliedRow).where(AviAppliedRow.obj_type.not_in(list(exclude_types))))).all()
            wanted = {tuple(r) for r in (await s.execute(desired)).all()}
            return [_applied(r) for r in rows if (r.obj_type, r.tenant, r.name) not in wanted]

    async def object_counts(self) -> dict[str, int]:
        async with self._sessions() as s:
            rows = (
                await s.execute(select(AviAppliedRow.obj_type, func.count()).group_by(AviAppliedRow.obj_type))
            ).all()
            return {t: int(n) for t, n in rows}

    # -- journal ---------------------------------------------------------------------------------

    async def journal_intent(self, *, key: str, op: str, obj_type: str, tenant: str, name: str, checksum: str) -> int:
        stamp = now_iso()
        async with self._writing() as s:
            row = JournalRow(
                key=key,
                op=op,
                obj_type=obj_type,
                tenant=tenant,
                name=name,
                checksum=checksum,
                state=INTENT,
                attempts=1,
                last_error="",
                created_at=stamp,
                updated_at=stamp,
            )
            s.add(row)
            await s.flush()
            return int(row.id)

    async def journal_attempt(self, *, entry_id: int, error: str) -> None:
        async with self._writing() as s:
            await s.execute(
                update(JournalRow)
                .where(JournalRow.id == entry_id)
                .values(attempts=JournalRow.attempts + 1, last_error=error[:2000], updated_at=now_iso())
            )

    async def journal_outcome(self, *, entry_id: int, state: str, error: str = "", applied: Applied | None = None,
                              forget: tuple[str, str, str] | None = None) -> None:
        """Close a journal row; with `applied`/`forget`, update the applied state in the same transaction."""
        stamp = now_iso()
        async with self._writing() as s:
            await s.execute(
                update(JournalRow)
                .where(JournalRow.id == entry_id)
                .values(state=state, last_error=error[:2000], updated_at=stamp)
            )
            if applied is not None:
                await s.merge(_applied_row(applied, stamp))
            if forget is not None:
                obj_type, tenant, name = forget
                await s.execute(
                    delete(AviAppliedRow).where(
                        AviAppliedRow.obj_type == obj_type, AviAppliedRow.tenant == tenant, AviAppliedRow.name == name
                    )
                )

    async def journal(self, *, states: Collection[str] | None = None, limit: int = 200) -> list[JournalEntry]:
        async with self._sessions() as s:
            q = select(JournalRow)
            if states is not None:
                q = q.where(JournalRow.state.in_(list(states)))
            rows = (await s.scalars(q.order_by(JournalRow.id.desc()).limit(limit))).all()
            return [_journal(r) for r in rows]

    async def journal_counts(self) -> dict[str, int]:
        async with self._sessions() as s:
            rows = (await s.execute(select(JournalRow.state, func.count()).group_by(JournalRow.state))).all()
            return {state: int(n) for state, n in rows}

    async def prune_journal(self, *, keep_done: int = 10000) -> int:
        """Drop the oldest finished rows beyond `keep_done`; open (`intent`) rows are never dropped."""
        async with self._writing() as s:
            cutoff = await s.scalar(
                select(JournalRow.id).where(JournalRow.state != INTENT).order_by(JournalRow.id.desc()).offset(keep_done).limit(1)
            )
            if cutoff is None:
                return 0
            result = await s.execute(delete(JournalRow).where(JournalRow.id <= cutoff, JournalRow.state != INTENT))
            return int(result.rowcount or 0)

    # -- object errors ---------------------------------------------------------------------------

    async def replace_problems(
        self, *, kind: str, problems: Iterable[Problem], names: Collection[tuple[str, str]] | None = None
    ) -> list[Problem]:
        """Make `problems` the current problems of the objects in scope; return the new ones.

        The scope is every object of `kind`, or only `names` ((namespace, name) pairs) when given.
        A problem that persists keeps its `since`; only new problems are returned, so the caller
        emits one Kubernetes Event per problem rather than one per pass.
        """
        stamp = now_iso()
        wanted = {(p.obj.namespace, p.obj.name, p.field): p for p in problems if p.obj.kind == kind}
        new: list[Problem] = []
        async with self._writing() as s:
            q = select(ObjectErrorRow).where(ObjectErrorRow.kind == kind)
            rows = (await s.scalars(q)).all()
            current = {}
            for row in rows:
                if names is not None and (row.namespace, row.name) not in names:
                    continue
                current[(row.namespace, row.name, row.field)] = row
            for ident, row in current.items():
                p = wanted.get(ident)
                if p is None:
                    await s.delete(row)
                elif (row.reason, row.message) != (p.reason, p.message):
                    row.reason, row.message, row.since = p.reason, p.message, stamp
                    new.append(p)
            for ident, p in wanted.items():
                if ident not in current:
                    s.add(
                        ObjectErrorRow(
                            kind=kind, namespace=ident[0], name=ident[1], field=ident[2],
                            reason=p.reason, message=p.message, since=stamp,
                        )
                    )
                    new.append(p)
        return new

    async def problems(self) -> list[StoredProblem]:
        async with self._sessions() as s:
            rows = (
                await s.scalars(
                    select(ObjectErrorRow).order_by(
                        ObjectErrorRow.kind, ObjectErrorRow.namespace, ObjectErrorRow.name, ObjectErrorRow.field
                    )
                )
            ).all()
            return [
                StoredProblem(
                    kind=r.kind, namespace=r.namespace, name=r.name, field=r.field,
                    reason=r.reason, message=r.message, since=r.since,
                )
                for r in rows
            ]


def _cursor(row: CursorRow) -> Cursor:
    return Cursor(resource=row.resource, resource_version=row.resource_version, listed_at=row.listed_at, updated_at=row.updated_at)


def _observed(row: K8sObjectRow) -> Observed:
    return Observed(
        kind=row.kind, namespace=row.namespace, name=row.name, uid=row.uid,
        resource_version=row.resource_version, body=json.loads(row.body),
    )


def _applied(row: AviAppliedRow) -> Applied:
    return Applied(
        obj_type=row.obj_type, tenant=row.tenant, name=row.name, uuid=row.uuid,
        checksum=row.checksum, last_modified=row.last_modified, applied_at=row.applied_at,
        owner_key=row.owner_key, info=json.loads(row.info or "{}"),
    )


def _upsert_applied() -> Any:
    stmt = sqlite_insert(AviAppliedRow.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["obj_type", "tenant", "name"],
        set_={c: stmt.excluded[c] for c in ("uuid", "checksum", "last_modified", "applied_at", "owner_key", "info")})


_UPSERT_APPLIED = _upsert_applied()


def _applied_values(applied: Applied, stamp: str) -> dict[str, Any]:
    return {"obj_type": applied.obj_type, "tenant": applied.tenant, "name": applied.name, "uuid": applied.uuid,
            "checksum": applied.checksum, "last_modified": applied.last_modified,
            "applied_at": applied.applied_at or stamp, "owner_key": applied.owner_key, "info": _dumps(applied.info)}


def _applied_row(applied: Applied, stamp: str) -> AviAppliedRow:
    return AviAppliedRow(
        obj_type=applied.obj_type, tenant=applied.tenant, name=applied.name, uuid=applied.uuid,
        checksum=applied.checksum, last_modified=applied.last_modified, applied_at=applied.applied_at or stamp,
        owner_key=applied.owner_key, info=_dumps(applied.info),
    )


def _journal(row: JournalRow) -> JournalEntry:
    return JournalEntry(
        id=row.id, key=row.key, op=row.op, obj_type=row.obj_type, tenant=row.tenant, name=row.name,
        checksum=row.checksum, state=row.state, attempts=row.attempts, last_error=row.last_error,
        created_at=row.created_at, updated_at=row.updated_at,
    )


__all__ = ["DONE", "INTENT", "Store", "now_iso"]
