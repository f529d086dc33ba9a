"""The store: every read and write of the state database the other layers make, one method each.

Each method is one short transaction, so a crash leaves the database at a transaction boundary:
a watch batch and its cursor commit together (a restart never skips or double-applies events),
and a journal intent is durable before the controller call it announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from akod.model.problems import Problem
from akod.store import fastsql as sql
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


Ident = tuple[str, str, str]
T = TypeVar("T")


def _check_aiosqlite() -> None:
    if not callable(getattr(aiosqlite.Connection, "_execute", None)) or not hasattr(aiosqlite.Connection, "_conn"):
        raise ImportError(f"aiosqlite {getattr(aiosqlite, '__version__', '?')} lacks Connection._execute/_conn, "
                          "which the store's group commit uses (see Store._in_db_thread)")


_check_aiosqlite()


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
        self._pending: asyncio.Queue[_KeyWrite] | None = None
        self._writer: asyncio.Task[None] | None = None
        # The hot path's own connection (raw aiosqlite, see fastsql), used only under the write lock.
        self._raw_conn: AsyncConnection | None = None
        self._raw_db: aiosqlite.Connection | None = None
        # What is applied and desired, kept in memory (see _Mirror); None until first needed.
        self._mirror: _Mirror | None = None

    # -- the hot path: group commit on the raw connection, and the in-memory mirror ----------------

    async def _raw(self) -> aiosqlite.Connection:
        if self._raw_db is None:
            conn = await self._engine.connect()
            try:
                fairy = await conn.get_raw_connection()
                db = fairy.driver_connection
                assert isinstance(db, aiosqlite.Connection)
            except BaseException:
                await conn.close()
                raise
            self._raw_conn, self._raw_db = conn, db
        return self._raw_db

    async def _in_db_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(sqlite3_connection, *args)` in the connection's own thread: one round trip in all.

        SQLAlchemy's `AsyncConnection.run_sync` would still make one round trip per statement
        (its greenlet awaits aiosqlite for each), so the whole transaction is handed to the thread
        that aiosqlite runs every call of this connection in, through aiosqlite's queue
        (`Connection._execute`, the method behind all of its public calls; present in every
        version the project allows, checked by `_check_aiosqlite`).
        """
        db = await self._raw()
        return await db._execute(lambda: fn(db._conn, *args))

    async def _loaded(self) -> _Mirror:
        """The mirror, read from the database the first time (and after an invalidation).

        Read under the write lock, so that no transaction commits between the read and the
        moment the mirror is in place; from then on every committed change to `avi_applied` or
        `avi_desired` updates it right after its commit (or invalidates it).
        """
        mirror = self._mirror
        if mirror is not None:
            return mirror
        async with self._write_lock:
            if self._mirror is None:
                self._mirror = await self._in_db_thread(_read_mirror)
            return self._mirror

    async def _group(self, item: _KeyWrite) -> Any:
        """Run `item` in a write transaction shared with whatever else is waiting (group commit).

        Each sync key needs two short transactions; committing the keys of several workers together
        costs one fsync-free commit and a few trips through the database thread for all of them, where
        one transaction each made the workers queue behind the write lock. `item` is durable when
        this returns, exactly as with a transaction of its own.
        """
        if self._pending is None:
            self._pending = asyncio.Queue()
            self._writer = asyncio.create_task(self._write_batches(), name="akod-store-writer")
        self._pending.put_nowait(item)
        return await item.future

    async def _write_batches(self) -> None:
        assert self._pending is not None
        while True:
            batch = [await self._pending.get()]
            while not self._pending.empty() and len(batch) < 64:
                batch.append(self._pending.get_nowait())
            async with self._write_lock:
                try:
                    stamp = now_iso()
                    results = await self._in_db_thread(_transaction, _write_key_batch, batch, stamp)
                except Exception:  # noqa: BLE001 - isolate the failing item: run each alone
                    for item in batch:
                        try:
                            stamp = now_iso()
                            result = (await self._in_db_thread(_transaction, _write_key_batch, [item], stamp))[0]
                        except Exception as exc:  # noqa: BLE001 - handed to the caller
                            if not item.future.done():
                                item.future.set_exception(exc)
                        else:
                            self._mirror_key_writes([item], stamp)
                            if not item.future.done():
                                item.future.set_result(result)
                    continue
                self._mirror_key_writes(batch, stamp)
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)

    def _mirror_key_writes(self, items: Sequence[_KeyWrite], stamp: str) -> None:
        """Committed: bring the mirror in step, in the order the items were written."""
        mirror = self._mirror
        if mirror is None:
            return
        for item in items:
            if isinstance(item, _Begin):
                mirror.set_desired(item.owner_key, item.checksums)
            elif isinstance(item, _Finish):
                for a in item.applied:
                    mirror.put_applied(_stamped(a, stamp))
                for ident in item.forget:
                    mirror.drop_applied(ident)

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
        if self._raw_conn is not None:
            conn, self._raw_conn, self._raw_db = self._raw_conn, None, None
            await conn.close()
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
        if not relist:  # the usual case: shares the group commit with the keys' writes
            item = _Watch(resource=resource, kind=kind, upserts=list(upserts), deletes=list(deletes),
                          resource_version=resource_version, future=asyncio.get_running_loop().create_future())
            await self._group(item)
            return []
        stamp = now_iso()
        async with self._write_lock:
            vanished = await self._in_db_thread(_transaction, _relist, resource, kind, list(upserts), list(deletes),
                                                resource_version, stamp)
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
        if self._mirror is not None:
            self._mirror.set_desired(owner_key, {(d.obj_type, d.tenant, d.name): d.checksum for d in objects})

    async def applied_for_key(self, *, owner_key: str,
                              idents: Collection[tuple[str, str, str]]) -> list[Applied]:
        """The objects `owner_key` applied, and those named by `idents` (any owner).

        Answered from the in-memory mirror of `avi_applied` (no database round trip).
        """
        mirror = await self._loaded()
        found = {ident: mirror.applied[ident] for ident in mirror.owned.get(owner_key, ())}
        for ident in idents:
            a = mirror.applied.get(tuple(ident))  # type: ignore[arg-type]
            if a is not None:
                found[a.obj_type, a.tenant, a.name] = a
        return list(found.values())

    async def begin_key(self, *, owner_key: str, objects: Sequence[Desired],
                        ops: Sequence[tuple[str, str, str, str, str]]) -> list[int]:
        """One transaction: `objects` become the desired set of `owner_key`, and each planned write
        (op, obj_type, tenant, name, checksum) gets its journal intent. Returns the journal ids.

        The transaction is committed (the intents are durable) when this returns."""
        await self._loaded()  # the mirror must exist before the commit it is to follow
        item = _Begin(owner_key=owner_key, objects=list(objects), ops=list(ops),
                      future=asyncio.get_running_loop().create_future())
        return await self._group(item)

    async def finish_key(self, *, outcomes: Sequence[tuple[int, str, str]], applied: Sequence[Applied],
                         forget: Sequence[tuple[str, str, str]]) -> None:
        """One transaction: journal outcomes (id, state, error), applied rows written and forgotten."""
        if not (outcomes or applied or forget):
            return
        await self._loaded()
        item = _Finish(outcomes=list(outcomes), applied=list(applied), forget=[tuple(f) for f in forget],
                       future=asyncio.get_running_loop().create_future())
        await self._group(item)

    async def desired_checksums(self, *, owner_key: str) -> dict[tuple[str, str, str], str]:
        """From the in-memory mirror of `avi_desired` (no database round trip)."""
        mirror = await self._loaded()
        return dict(mirror.desired.get(owner_key, {}))

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
        stamp = now_iso()
        async with self._writing() as s:
            await s.merge(_applied_row(applied, stamp))
        if self._mirror is not None:
            self._mirror.put_applied(_stamped(applied, stamp))

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
        self._mirror = None  # rebuilt from the database when next needed

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
        if self._mirror is not None:
            if applied is not None:
                self._mirror.put_applied(_stamped(applied, stamp))
            if forget is not None:
                self._mirror.drop_applied(tuple(forget))  # type: ignore[arg-type]

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


def _stamped(applied: Applied, stamp: str) -> Applied:
    """`applied` as the row written with `stamp` reads back (`info` through JSON, as stored)."""
    changes: dict[str, Any] = {}
    if not applied.applied_at:
        changes["applied_at"] = stamp
    if applied.info:
        changes["info"] = json.loads(_dumps(applied.info))
    return dataclasses.replace(applied, **changes) if changes else applied


class _Mirror:
    """`avi_applied` (whole rows) and `avi_desired` (checksums) in memory.

    Only this process writes the state database, and every write of these two tables goes
    through the Store, which updates the mirror right after the commit (or drops it, to be read
    again). So a sync key reads nothing from SQLite: `applied_for_key` and `desired_checksums`
    are dictionary look-ups.
    """

    __slots__ = ("applied", "owned", "desired")

    def __init__(self) -> None:
        self.applied: dict[Ident, Applied] = {}
        self.owned: dict[str, set[Ident]] = {}  # owner key -> idents of its applied rows
        self.desired: dict[str, dict[Ident, str]] = {}  # owner key -> ident -> checksum

    def put_applied(self, applied: Applied) -> None:
        ident = (applied.obj_type, applied.tenant, applied.name)
        old = self.applied.get(ident)
        if old is not None and old.owner_key != applied.owner_key:
            self._disown(old.owner_key, ident)
        self.applied[ident] = applied
        self.owned.setdefault(applied.owner_key, set()).add(ident)

    def drop_applied(self, ident: Ident) -> None:
        old = self.applied.pop(ident, None)
        if old is not None:
            self._disown(old.owner_key, ident)

    def _disown(self, owner: str, ident: Ident) -> None:
        idents = self.owned.get(owner)
        if idents is not None:
            idents.discard(ident)
            if not idents:
                del self.owned[owner]

    def set_desired(self, owner_key: str, checksums: dict[Ident, str]) -> None:
        if checksums:
            self.desired[owner_key] = dict(checksums)
        else:
            self.desired.pop(owner_key, None)


@dataclasses.dataclass(eq=False)
class _Begin:
    """A `begin_key` waiting for the group commit."""

    owner_key: str
    objects: list[Desired]
    ops: list[tuple[str, str, str, str, str]]
    future: asyncio.Future[Any]

    @property
    def checksums(self) -> dict[Ident, str]:
        return {(d.obj_type, d.tenant, d.name): d.checksum for d in self.objects}


@dataclasses.dataclass(eq=False)
class _Finish:
    """A `finish_key` waiting for the group commit."""

    outcomes: list[tuple[int, str, str]]
    applied: list[Applied]
    forget: list[Ident]
    future: asyncio.Future[Any]


@dataclasses.dataclass(eq=False)
class _Watch:
    """A batch of watch events (not a relist) and its cursor, waiting for the group commit."""

    resource: str
    kind: str
    upserts: list[Observed]
    deletes: list[tuple[str, str]]
    resource_version: str
    future: asyncio.Future[Any]


_KeyWrite = _Begin | _Finish | _Watch


def _read_mirror(conn: sqlite3.Connection) -> _Mirror:
    mirror = _Mirror()
    for t, tn, n, uuid, cks, lm, at, owner, info in conn.execute(sql.SELECT_APPLIED).fetchall():
        mirror.put_applied(Applied(obj_type=t, tenant=tn, name=n, uuid=uuid, checksum=cks, last_modified=lm,
                                   applied_at=at, owner_key=owner, info=json.loads(info or "{}")))
    for owner, t, tn, n, cks in conn.execute(sql.SELECT_DESIRED_CHECKSUMS).fetchall():
        mirror.desired.setdefault(owner, {})[(t, tn, n)] = cks
    return mirror


def _transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    """`fn(conn, *args)` as one transaction, committed before this returns (in the database thread)."""
    if conn.isolation_level is None:  # autocommit mode: sqlite3 would not begin by itself
        conn.execute("BEGIN")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return result


def _write_objects(conn: sqlite3.Connection, *, kind: str,
                   final: dict[tuple[str, str], Observed | None], stamp: str) -> None:
    """Observed objects of `kind`: upserted, or deleted where `final` says None."""
    upserts = [sql.ordered(sql.UPSERT_OBJECT_PARAMS, {
        "kind": kind, "namespace": o.namespace, "name": o.name, "uid": o.uid,
        "resource_version": o.resource_version, "body": _dumps(o.body), "updated_at": stamp})
        for o in final.values() if o is not None]
    if upserts:
        conn.executemany(sql.UPSERT_OBJECT, upserts)
    deletes = [sql.ordered(sql.DELETE_OBJECT_PARAMS, {"k": kind, "ns": ns, "n": n})
               for (ns, n), o in final.items() if o is None]
    if deletes:
        conn.executemany(sql.DELETE_OBJECT, deletes)


def _relist(conn: sqlite3.Connection, resource: str, kind: str, upserts: list[Observed],
            deletes: list[tuple[str, str]], resource_version: str, stamp: str) -> list[Observed]:
    """A whole list of `kind` replaces what is stored; returns the stored objects it lacks."""
    keep = {(o.namespace, o.name) for o in upserts}
    gone = [r for r in conn.execute(sql.SELECT_OBJECTS_OF_KIND, (kind,)).fetchall() if (r[0], r[1]) not in keep]
    vanished = [Observed(kind=kind, namespace=ns, name=n, uid=uid, resource_version=rv, body=json.loads(body))
                for ns, n, uid, rv, body in gone]
    final: dict[tuple[str, str], Observed | None] = {(ns, n): None for ns, n in [*deletes, *((r[0], r[1]) for r in gone)]}
    final.update({(o.namespace, o.name): o for o in upserts})
    _write_objects(conn, kind=kind, final=final, stamp=stamp)
    conn.execute(sql.UPSERT_CURSOR_LISTED, sql.ordered(sql.UPSERT_CURSOR_PARAMS, {
        "resource": resource, "resource_version": resource_version, "listed_at": stamp, "updated_at": stamp}))
    return vanished


def _write_key_batch(conn: sqlite3.Connection, batch: Sequence[_KeyWrite], stamp: str) -> list[Any]:
    """The writes of `batch`, one statement per table and kind of change (in the database thread).

    The result is what each item's caller gets: its journal ids for a `_Begin`, None otherwise.
    The effect is that of running the items one after the other: items of one batch never touch
    the same journal rows or desired sets (a key is synced by one worker at a time), and for
    `avi_applied` and observed objects the last write of each row wins, as it would in sequence.
    """
    begins = [item for item in batch if isinstance(item, _Begin)]
    finishes = [item for item in batch if isinstance(item, _Finish)]
    watches = [item for item in batch if isinstance(item, _Watch)]
    results: dict[int, Any] = {id(item): None for item in [*finishes, *watches]}
    if watches:
        objects: dict[str, dict[tuple[str, str], Observed | None]] = {}
        cursors: dict[str, str] = {}
        for w in watches:  # in order: a later batch of the same resource wins, as in sequence
            final = objects.setdefault(w.kind, {})
            for namespace, name in w.deletes:
                final[namespace, name] = None
            for o in w.upserts:
                final[o.namespace, o.name] = o
            cursors[w.resource] = w.resource_version
        for kind, final in objects.items():
            _write_objects(conn, kind=kind, final=final, stamp=stamp)
        conn.executemany(sql.UPSERT_CURSOR_KEEP_LISTED, [
            sql.ordered(sql.UPSERT_CURSOR_PARAMS, {"resource": resource, "resource_version": rv,
                                                   "listed_at": stamp, "updated_at": stamp})
            for resource, rv in cursors.items()])
    if begins:
        owners = [b.owner_key for b in begins]
        for part in sql.chunks(owners, sql.MAX_PARAMS):
            conn.execute(sql.delete_desired_of(len(part)), part)
        desired = [(d.obj_type, d.tenant, d.name, b.owner_key, _dumps(d.body), d.checksum, stamp)
                   for b in begins for d in b.objects]
        if desired:
            conn.executemany(sql.INSERT_DESIRED, desired)
        rows = [(b.owner_key, op, t, tenant, name, cks, INTENT, 1, "", stamp, stamp)
                for b in begins for op, t, tenant, name, cks in b.ops]
        ids: dict[tuple[str, str, str, str, str], list[int]] = {}
        for part in sql.chunks(rows, sql.JOURNAL_ROWS_PER_INSERT):
            flat = [value for row in part for value in row]
            for entry_id, key, op, t, tenant, name in conn.execute(sql.insert_journal(len(part)), flat).fetchall():
                ids.setdefault((key, op, t, tenant, name), []).append(int(entry_id))
        for same in ids.values():
            same.sort(reverse=True)  # rows alike get their ids in insertion order (pop from the end)
        for b in begins:
            results[id(b)] = [ids[(b.owner_key, op, t, tenant, name)].pop() for op, t, tenant, name, _ in b.ops]
    if finishes:
        outcomes = [(st, err[:2000], stamp, entry) for f in finishes for entry, st, err in f.outcomes]
        if outcomes:
            conn.executemany(sql.UPDATE_OUTCOME, outcomes)
        final_applied: dict[Ident, Applied | None] = {}
        for f in finishes:
            for a in f.applied:
                final_applied[(a.obj_type, a.tenant, a.name)] = a
            for ident in f.forget:
                final_applied[ident] = None
        upserts = [sql.ordered(sql.UPSERT_APPLIED_PARAMS, _applied_values(a, stamp))
                   for a in final_applied.values() if a is not None]
        if upserts:
            conn.executemany(sql.UPSERT_APPLIED, upserts)
        gone = [ident for ident, a in final_applied.items() if a is None]
        if gone:
            conn.executemany(sql.DELETE_APPLIED, gone)
    return [results[id(item)] for item in batch]


assert sql.UPDATE_OUTCOME_PARAMS == ("new_state", "error", "stamp", "entry_id")
assert sql.DELETE_APPLIED_PARAMS == ("t", "tn", "n")

__all__ = ["DONE", "INTENT", "Store", "now_iso"]
