"""The store: every read and write of the state database the other layers make, one method each.

This is the facade; the work is done by three parts, each on its own path to SQLite:

- writes go to the one writer task (`writer`), which owns the only writing connection and commits
  the writes of many callers together. Each write is one transaction (or part of one shared with
  others), committed when its method returns: a watch batch and its cursor commit together (a
  restart never skips or double-applies events), and a journal intent is durable before the
  controller call it announces;
- what a sync key reads on every pass (what is applied for it, its desired checksums) comes from
  the in-memory `mirror`, which the writer keeps in step with each commit;
- every other read is a query on a read-only engine (`queries`), beside the writer (WAL mode).

The writer is a long-lived task. The daemon runs it under its supervisor with `run_writer()` (open
the store with `supervised=True` so that nothing else starts it); for CLI tools and tests, the
first write (or mirror read) starts it on demand when nobody has called `run_writer()`, and
`close()` stops it. Either way, once it has ended, writes fail with `StoreWriterDead`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from akod.model.problems import Problem
from akod.store.codec import Ident
from akod.store.creffects import CrEffect, DropCrEffect, SaveCrEffect, read_effects
from akod.store.database import migrate, open_engine
from akod.store.mirror import Mirror
from akod.store.operations import BeginKey, FinishKey, JournalAttempt, JournalIntent, Operation, WatchBatch
from akod.store.queries import Queries
from akod.store.records import Applied, Cursor, Desired, JournalEntry, Observed, StoredProblem
from akod.store.standalone import PruneJournal, Relist, ReplaceApplied, ReplaceProblems
from akod.store.writer import StoreWriterDead, Writer

T = TypeVar("T")


class StoreReadOnly(RuntimeError):
    """A write (or the writer) was asked of a store opened with `read_only=True`."""


class Store:
    """The repository over one state database file."""

    def __init__(self, *, path: Path, reader: AsyncEngine, writer_engine: AsyncEngine | None = None,
                 supervised: bool = False, writer_crash_after: int | None = None) -> None:
        self.path = path
        self._reader = reader
        self._queries = Queries(engine=reader)
        self._writer_engine = writer_engine
        self._writer = (None if writer_engine is None else
                        Writer(engine=writer_engine, reader=reader, crash_after=writer_crash_after))
        self._supervised = supervised
        self._own_writer: asyncio.Task[None] | None = None  # the writer started on demand
        self._read_only_mirror: Mirror | None = None

    @classmethod
    async def open(cls, *, path: Path, read_only: bool = False, supervised: bool = False,
                   writer_crash_after: int | None = None) -> Store:
        """Open (and, unless `read_only`, create and migrate) the state database at `path`.

        `supervised`: the caller runs the writer with `run_writer()`; writes wait for it (and
        `writer_stalled_for()` grows) until it does. `writer_crash_after` (tests only): the writer
        raises once it has taken that many writes, as if it had crashed.
        """
        if read_only:
            if not path.exists():
                raise FileNotFoundError(f"state database {path} does not exist (has akod run yet?)")
            return cls(path=path, reader=open_engine(path=path, read_only=True))
        migrate(path=path)
        return cls(path=path, writer_engine=open_engine(path=path), reader=open_engine(path=path, read_only=True),
                   supervised=supervised, writer_crash_after=writer_crash_after)

    async def close(self) -> None:
        """Write what is queued, stop the writer, close the engines."""
        writer = self._writer
        if writer is not None:
            writer.stop()
            if self._own_writer is not None:  # started on demand: it drains the queue, then ends
                await asyncio.gather(self._own_writer, return_exceptions=True)
            elif writer.started:  # run by a supervisor: it ends the same way
                await writer.ended()
            writer.abandon()  # never run (a supervised store nobody ran): fail what waits
        if self._writer_engine is not None:
            await self._writer_engine.dispose()
        await self._reader.dispose()

    # -- the writer, for a supervisor --------------------------------------------------------------

    async def run_writer(self) -> None:
        """Run the writer until cancelled (or the store is closed); raise `StoreWriterDead` if it dies.

        Call it before the first write (or open the store with `supervised=True`): a writer that
        was already started on demand cannot be run a second time.
        """
        if self._writer is None:
            raise StoreReadOnly(f"state database {self.path} is open read-only: it has no writer")
        if self._own_writer is not None:
            raise RuntimeError("the store's writer was already started on demand by an earlier write; "
                               "open the store with supervised=True to run it yourself")
        await self._writer.run()

    @property
    def writer_alive(self) -> bool:
        return self._writer is not None and self._writer.alive

    def writer_stalled_for(self) -> float:
        """Seconds the oldest waiting write has waited without the writer finishing a transaction.

        0.0 when no write waits (and for a read-only store); infinite once the writer has died.
        """
        return 0.0 if self._writer is None else self._writer.stalled_for()

    def _started_writer(self) -> Writer:
        writer = self._writer
        if writer is None:
            raise StoreReadOnly(f"state database {self.path} is open read-only: it cannot be written")
        if not writer.started and not self._supervised and self._own_writer is None:
            self._own_writer = asyncio.create_task(self._run_own_writer(writer), name="akod-store-writer")
        return writer

    async def _run_own_writer(self, writer: Writer) -> None:
        try:
            await writer.run()
        except StoreWriterDead:
            pass  # logged by the writer; every write sees it

    async def _write(self, op: Operation[T]) -> T:
        return await self._started_writer().submit(op)

    async def _mirror(self) -> Mirror:
        if self._writer is not None:
            return await self._started_writer().loaded()
        if self._read_only_mirror is None:  # nothing in this process writes: read it once
            self._read_only_mirror = await self._queries.mirror()
        return self._read_only_mirror

    # -- cursors and observed objects ------------------------------------------------------------

    async def cursor(self, *, resource: str) -> Cursor | None:
        return await self._queries.cursor(resource=resource)

    async def cursors(self) -> list[Cursor]:
        return await self._queries.cursors()

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
        if relist:
            return await self._write(Relist(resource=resource, kind=kind, upserts=list(upserts),
                                            deletes=list(deletes), resource_version=resource_version))
        await self._write(WatchBatch(resource=resource, kind=kind, upserts=list(upserts), deletes=list(deletes),
                                     resource_version=resource_version))
        return []

    async def observed(self, *, kind: str, namespace: str | None = None) -> list[Observed]:
        return await self._queries.observed(kind=kind, namespace=namespace)

    async def observed_one(self, *, kind: str, namespace: str, name: str) -> Observed | None:
        return await self._queries.observed_one(kind=kind, namespace=namespace, name=name)

    # -- desired and applied Avi objects ---------------------------------------------------------

    async def replace_desired(self, *, owner_key: str, objects: Sequence[Desired]) -> None:
        """Make `objects` the whole desired set of `owner_key`."""
        await self._write(BeginKey(owner_key=owner_key, objects=list(objects)))

    async def applied_for_key(self, *, owner_key: str,
                              idents: Collection[tuple[str, str, str]]) -> list[Applied]:
        """The objects `owner_key` applied, and those named by `idents` (any owner).

        Answered from the in-memory mirror of `avi_applied` (no database round trip).
        """
        mirror = await self._mirror()
        return mirror.applied_for_key(owner_key=owner_key, idents=[(t, tn, n) for t, tn, n in idents])

    async def begin_key(self, *, owner_key: str, objects: Sequence[Desired],
                        ops: Sequence[tuple[str, str, str, str, str]]) -> list[int]:
        """One transaction: `objects` become the desired set of `owner_key`, and each planned write
        (op, obj_type, tenant, name, checksum) gets its journal intent. Returns the journal ids.

        The transaction is committed (the intents are durable) when this returns."""
        return await self._write(BeginKey(owner_key=owner_key, objects=list(objects), ops=list(ops)))

    async def finish_key(self, *, outcomes: Sequence[tuple[int, str, str]], applied: Sequence[Applied],
                         forget: Sequence[tuple[str, str, str]]) -> None:
        """One transaction: journal outcomes (id, state, error), applied rows written and forgotten."""
        if not (outcomes or applied or forget):
            return
        await self._write(FinishKey(outcomes=list(outcomes), applied=list(applied), forget=_idents(forget)))

    async def desired_checksums(self, *, owner_key: str) -> dict[tuple[str, str, str], str]:
        """From the in-memory mirror of `avi_desired` (no database round trip)."""
        return (await self._mirror()).desired_checksums(owner_key=owner_key)

    async def desired(self, *, owner_key: str | None = None) -> list[Desired]:
        return await self._queries.desired(owner_key=owner_key)

    async def applied(self, *, obj_type: str, tenant: str, name: str) -> Applied | None:
        """From the in-memory mirror of `avi_applied` (no database round trip)."""
        return (await self._mirror()).applied.get((obj_type, tenant, name))

    async def owner_keys(self) -> set[str]:
        """Every key that has desired or applied rows (the start-up sequence syncs each)."""
        mirror = await self._mirror()
        return set(mirror.desired) | set(mirror.owned)

    async def all_applied(self, *, obj_type: str | None = None) -> list[Applied]:
        """Every applied object (of `obj_type`), by type and name.

        In the daemon, from the in-memory mirror, which the writer keeps exactly as the table reads
        back: at 10,000 Services the table is 50,000 rows, read by every start and every drift check
        (about 1 s each). A process without the writer (`akod state`, `akod plan`) reads the table."""
        if self._writer is None:
            return await self._queries.all_applied(obj_type=obj_type)
        mirror = await self._mirror()
        found = [a for a in mirror.applied.values() if obj_type is None or a.obj_type == obj_type]
        found.sort(key=lambda a: (a.obj_type, a.name, a.tenant))
        return found

    async def record_applied(self, applied: Applied) -> None:
        await self._write(FinishKey(applied=[applied]))

    async def replace_applied(self, *, objects: Sequence[Applied], types: Collection[str]) -> None:
        """Make `objects` the whole applied state for `types` (a rebuild from the controller's copy).

        Rows keep their owner key (and role) when the object is still there; new rows keep those given.
        """
        await self._write(ReplaceApplied(objects=list(objects), types=frozenset(types)))

    async def unowned_applied(self, *, exclude_types: Collection[str]) -> list[Applied]:
        """Applied objects that no key wants any more (no desired row): garbage to delete."""
        return await self._queries.unowned_applied(exclude_types=exclude_types)

    async def recorded_names(self, *, obj_type: str) -> set[str]:
        """Names of `obj_type` akod recorded making (applied, desired or journaled): what it owns by record."""
        return await self._queries.recorded_names(obj_type=obj_type)

    async def object_counts(self) -> dict[str, int]:
        return await self._queries.object_counts()

    # -- journal ---------------------------------------------------------------------------------

    async def journal_intent(self, *, key: str, op: str, obj_type: str, tenant: str, name: str, checksum: str) -> int:
        return await self._write(JournalIntent(key=key, op=op, obj_type=obj_type, tenant=tenant, name=name,
                                               checksum=checksum))

    async def journal_attempt(self, *, entry_id: int, error: str) -> None:
        await self._write(JournalAttempt(entry_id=entry_id, error=error))

    async def journal_outcome(self, *, entry_id: int, state: str, error: str = "", applied: Applied | None = None,
                              forget: tuple[str, str, str] | None = None) -> None:
        """Close a journal row; with `applied`/`forget`, update the applied state in the same transaction."""
        await self._write(FinishKey(outcomes=[(entry_id, state, error)],
                                    applied=[] if applied is None else [applied],
                                    forget=[] if forget is None else _idents([forget])))

    async def journal(self, *, states: Collection[str] | None = None, limit: int = 200) -> list[JournalEntry]:
        return await self._queries.journal(states=states, limit=limit)

    async def journal_counts(self) -> dict[str, int]:
        return await self._queries.journal_counts()

    async def prune_journal(self, *, keep_done: int = 10000) -> int:
        """Drop the oldest finished rows beyond `keep_done`; open (`intent`, `unknown`) rows are never dropped."""
        return await self._write(PruneJournal(keep_done=keep_done))

    # -- object errors ---------------------------------------------------------------------------

    async def replace_problems(
        self, *, kind: str, problems: Iterable[Problem], names: Collection[tuple[str, str]] | None = None
    ) -> list[Problem]:
        """Make `problems` the current problems of the objects in scope; return the new ones.

        The scope is every object of `kind`, or only `names` ((namespace, name) pairs) when given.
        A problem that persists keeps its `since`; only new problems are returned, so the caller
        emits one Kubernetes Event per problem rather than one per pass.
        """
        return await self._write(ReplaceProblems(kind=kind, problems=list(problems),
                                                 names=None if names is None else frozenset(names)))

    async def problems(self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None,
                       offset: int = 0, limit: int | None = None) -> list[StoredProblem]:
        return await self._queries.problems(kind=kind, namespace=namespace, name=name, offset=offset, limit=limit)

    async def problem_counts(self) -> dict[str, int]:
        return await self._queries.problem_counts()

    # -- the last accepted effect of each custom resource ---------------------------------------

    async def cr_effects(self, *, kind: str | None = None) -> list[CrEffect]:
        return await read_effects(self._reader, kind=kind)

    async def save_cr_effect(self, effect: CrEffect) -> None:
        await self._write(SaveCrEffect(effect=effect))

    async def drop_cr_effect(self, *, kind: str, namespace: str, name: str) -> None:
        await self._write(DropCrEffect(kind=kind, namespace=namespace, name=name))


def _idents(idents: Iterable[Sequence[str]]) -> list[Ident]:
    return [(t, tn, n) for t, tn, n in idents]


__all__ = ["Store", "StoreReadOnly", "StoreWriterDead"]
