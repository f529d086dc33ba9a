"""The store's one writer: a task that owns the only writing connection and makes every write.

SQLite has one writer at a time. Rather than let callers take turns on a lock (or wait in SQLite's
busy handler), every write is queued here, and one task takes whatever is waiting (up to
`BATCH_LIMIT` writes), runs it all in one transaction on its own SQLAlchemy `AsyncConnection`,
commits, brings the in-memory mirror in step, and only then tells each caller: a write is durable
when its call returns, and the writes of many workers share one commit and one statement per table
(group commit, see `operations`). If the shared transaction fails, each of its writes is run again
alone, so one bad write fails only its own caller.

The writer is long-lived and meant to be supervised: `run` runs it until it is cancelled or
stopped, and raises `StoreWriterDead` if it dies. Once it has ended, every write still waiting and
every later one fails at once with `StoreWriterDead`: a caller never waits on a writer that is gone.
`stalled_for` tells a watchdog how long the oldest waiting write has been waiting without the
writer finishing a transaction.

Cancelling the writer lets the transaction in flight finish (its callers learn how it ended) and
fails the writes still queued; `stop` instead writes everything already queued, then ends.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from akod.store.codec import now_iso
from akod.store.mirror import Mirror, load_mirror
from akod.store.operations import JournalIds, Operation, WriteContext, write_all
from akod.store.statements import JOURNAL

log = logging.getLogger("akod.store")
T = TypeVar("T")

BATCH_LIMIT = 64
"""The most writes one transaction takes; what waits beyond it goes in the next one."""


class StoreWriterDead(RuntimeError):
    """The store's writer is not running (it died, was cancelled, or the store is closed).

    A write that was still queued was not made. A write that was in flight when the writer died
    may or may not be committed: the message says which case it is, and `__cause__` says why the
    writer died, when it did not just stop.
    """


class InjectedWriterCrash(RuntimeError):
    """The fault that `writer_crash_after` injects (tests only)."""


@dataclasses.dataclass(eq=False, slots=True)
class _Pending:
    op: Operation[Any]
    future: asyncio.Future[Any]
    since: float  # time.monotonic() when it was queued


Phase = Literal["new", "running", "ended"]


class Writer:
    """The queue of writes and the task body that empties it (see the module docstring)."""

    def __init__(self, *, engine: AsyncEngine, reader: AsyncEngine, batch_limit: int = BATCH_LIMIT,
                 crash_after: int | None = None) -> None:
        self._engine = engine
        self._reader = reader
        self._batch_limit = batch_limit
        self._crash_after = crash_after
        self._queue: collections.deque[_Pending] = collections.deque()
        self._in_flight: Sequence[_Pending] = ()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()  # the mirror is loaded, or the writer has ended
        self._ended = asyncio.Event()
        self._phase: Phase = "new"
        self._stop_requested = False
        self._failure: BaseException | None = None
        self._why = ""
        self._last_progress = time.monotonic()
        self._ids = JournalIds(last=0)
        self.batches = 0  # batches taken from the queue so far (one retried write by write counts once)
        self.writes = 0  # writes (operations) taken from the queue so far
        self.mirror: Mirror | None = None

    # -- for the store ---------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._phase != "new"

    @property
    def alive(self) -> bool:
        return self._phase == "running"

    def submit(self, op: Operation[T]) -> asyncio.Future[T]:
        """Queue `op`; the future is done once it is committed (or has failed)."""
        if self._stop_requested or self._phase == "ended":
            raise self._dead(in_flight=False)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(op=op, future=future, since=time.monotonic()))
        self._wake.set()
        return future

    async def loaded(self) -> Mirror:
        """The mirror, once the writer has loaded it."""
        while True:
            if self._phase == "ended" and (self._failure is not None or self.mirror is None):
                raise self._dead(in_flight=False)
            if self.mirror is not None:
                return self.mirror
            await self._changed.wait()  # set once, when either of the above becomes true

    def stalled_for(self) -> float:
        """Seconds the oldest waiting write has waited since the writer last finished a transaction.

        0.0 when nothing waits; infinite once the writer has died.
        """
        if self._phase == "ended" and self._failure is not None:
            return math.inf
        head = self._in_flight[0] if self._in_flight else (self._queue[0] if self._queue else None)
        if head is None:
            return 0.0
        return max(0.0, time.monotonic() - max(head.since, self._last_progress))

    def stop(self) -> None:
        """Refuse new writes; write what is queued, then end (once running, if it is not yet)."""
        self._stop_requested = True
        self._wake.set()

    def abandon(self) -> None:
        """Nobody will run this writer: fail what is queued now (nothing, once it has started)."""
        if self._phase == "new":
            self._end(None, why="the store was closed before its writer ran")

    async def ended(self) -> None:
        await self._ended.wait()

    # -- the task --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write until cancelled or stopped; raise `StoreWriterDead` if the writer dies."""
        if self._phase != "new":
            raise RuntimeError("the store's writer runs once per store (it is running or has run)")
        self._phase = "running"
        try:
            async with self._engine.connect() as conn:
                await self._prepare()
                await self._loop(conn)
        except asyncio.CancelledError:
            self._end(None, why="it was cancelled")
            raise
        except BaseException as exc:
            self._end(exc, why=f"it died: {type(exc).__name__}: {exc}")
            if isinstance(exc, Exception):
                raise self._dead(in_flight=False) from exc
            raise
        self._end(None, why="the store is closed")

    async def _prepare(self) -> None:
        """The mirror and the last journal id, read before the first write.

        Read on the read-only engine: nothing else writes the database and this writer has not
        written yet, so what it reads is exactly what the writer's connection would see.
        """
        async with self._reader.connect() as conn:
            mirror = await load_mirror(conn)
            last = await conn.scalar(select(func.max(JOURNAL.c.id)))
        self._ids = JournalIds(last=int(last or 0))
        self.mirror = mirror
        self._changed.set()

    async def _loop(self, conn: AsyncConnection) -> None:
        while True:
            if not self._queue:
                if self._stop_requested:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._batch_limit))]
            self._in_flight = batch
            self.batches += 1
            self.writes += len(batch)
            # Shielded: a cancelled writer still finishes (commits or rolls back) the transaction
            # in flight, so its callers learn what happened and the connection stays usable.
            job = asyncio.ensure_future(self._take(conn, batch))
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                if not job.done():
                    await asyncio.wait([job])
                    if not job.cancelled() and job.exception() is not None:
                        log.error("store write in flight at cancellation failed: %r", job.exception())
                raise
            if self._crash_after is not None and self.writes >= self._crash_after:
                raise InjectedWriterCrash(f"writer_crash_after={self._crash_after}: crashing after "
                                          f"{self.writes} writes, as asked")

    async def _take(self, conn: AsyncConnection, batch: Sequence[_Pending]) -> None:
        """Write `batch`, then tell its callers (once it is no longer in flight)."""
        outcomes = await self._write(conn, batch)
        self._in_flight = ()  # not if the write raised: then `_end` tells the callers
        self._last_progress = time.monotonic()
        for pending, (result, error) in zip(batch, outcomes, strict=True):
            if pending.future.done():  # its caller was cancelled meanwhile
                continue
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result(result)

    async def _write(self, conn: AsyncConnection,
                     batch: Sequence[_Pending]) -> list[tuple[Any, Exception | None]]:
        """`batch` in one transaction, or if that fails each of its writes alone: what each caller gets."""
        mirror = self.mirror
        assert mirror is not None  # loaded before the loop
        mark = self._ids.last
        ctx = WriteContext(stamp=now_iso(), ids=self._ids, mirror=mirror)
        try:
            async with conn.begin():
                results = await write_all(conn, [p.op for p in batch], ctx)
        except Exception as exc:  # noqa: BLE001 - a bad write fails its caller, not the writer
            self._ids.last = mark  # rolled back: the ids were never used
            if len(batch) == 1:
                return [(None, exc)]
            return [outcome for pending in batch for outcome in await self._write(conn, [pending])]
        for pending in batch:
            pending.op.settle(mirror)
        return [(result, None) for result in results]

    def _end(self, failure: BaseException | None, *, why: str) -> None:
        self._phase = "ended"
        self._failure = failure
        self._why = why
        if failure is not None:
            log.error("the store's writer %s", why)
        for pending in self._in_flight:
            if not pending.future.done():
                pending.future.set_exception(self._dead(in_flight=True))
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(self._dead(in_flight=False))
        self._changed.set()
        self._ended.set()

    def _dead(self, *, in_flight: bool) -> StoreWriterDead:
        why = self._why or ("the store is closing" if self._stop_requested else "it is not running")
        what = "it may or may not be committed" if in_flight else "this write was not made"
        exc = StoreWriterDead(f"the store's writer is not running ({why}): {what}")
        exc.__cause__ = self._failure
        return exc
