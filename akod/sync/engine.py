"""The worker pool that turns dirty keys into calls to the controller.

Workers take keys from the `KeyQueue` and hand each to the handler (the registry, which routes it
to the key's family). A handler says how the key ended with an `Outcome`: done, held (bad input:
shown as a problem, nothing to retry) or requeue (after its own delay, or after the engine's
capped exponential backoff with jitter). An exception is a bug or an edge nobody caught: it is
logged with its traceback and the key is retried with backoff; other keys go on.

`run()` is a long-lived coroutine owned by the daemon's supervisor; it holds the workers in a
`TaskGroup`. `drain()` stops handing out keys and lets every handler already running finish
(bounded by a grace period), so SIGTERM never cuts a write in half when it can be avoided.

Each key's controller calls carry the time its sync started (`akod.avi.CALL_PRIORITY`): the
pacer serves earlier keys' calls first, so a key's last writes do not queue behind every key
that started after it.

`progress_at` is when the engine last showed it moves (a handler returned, or a controller call
finished through `note_call`): the watchdog compares it with the work owed.

`pause()` (a standby, or a leader that lost its lease) stops handing out keys; marks keep coming
and coalescing, and `resume()` (a takeover) lets the workers at them again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from akod.avi import CALL_PRIORITY
from akod.store import now_iso
from akod.sync.family import DONE_STATE, HOLD_STATE, Outcome
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry

log = logging.getLogger("akod.sync")
Handler = Callable[[str], Awaitable[Outcome]]


@dataclass
class KeyFailure:
    count: int
    error: str
    since: str


class Engine:
    def __init__(self, *, queue: KeyQueue, telemetry: Telemetry, workers: int, handler: Handler,
                 retry_cap_s: float = 15.0) -> None:
        self.queue = queue
        self._telemetry = telemetry
        self._workers = workers
        self._handler = handler
        self._retry_cap_s = retry_cap_s
        self._stopping = False
        self._busy = 0
        self._running = asyncio.Event()
        self._open = asyncio.Event()  # set: workers take keys; clear: paused
        self._open.set()
        self.failures: dict[str, KeyFailure] = {}
        self.held: dict[str, str] = {}
        self.last_sync_at: str = ""
        self.synced_keys = 0
        self.progress_at = time.monotonic()

    @property
    def in_flight(self) -> int:
        return self.queue.active

    def in_sync(self) -> bool:
        return self.queue.idle() and not self.failures

    def note_call(self) -> None:
        """A controller call finished (whatever its answer): the engine is not stuck."""
        self.progress_at = time.monotonic()

    def owes_work(self) -> bool:
        return self._busy > 0 or (self._running.is_set() and self._open.is_set() and self.queue.any_due())

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    def pause(self) -> None:
        """Hand out no key until `resume()`; handlers already running go on (their writes are gated)."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()
        self.progress_at = time.monotonic()

    async def mark(self, key: str, *, delay_s: float = 0.0) -> None:
        await self.queue.mark(key, delay_s=delay_s)
        self._telemetry.queue_depth.set(len(self.queue))

    async def run(self) -> None:
        """The workers, until cancelled or drained."""
        self._running.set()
        self.progress_at = time.monotonic()
        try:
            async with asyncio.TaskGroup() as group:
                for i in range(self._workers):
                    group.create_task(self._worker(), name=f"akod-worker-{i}")
        finally:
            self._running.clear()

    async def drain(self, *, grace_s: float) -> bool:
        """Hand out no new key and wait for the running handlers; False if the grace ran out."""
        self._stopping = True
        await self.queue.close()
        deadline = time.monotonic() + grace_s
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self._busy == 0

    async def _worker(self) -> None:
        while not self._stopping:
            await self._open.wait()
            key = await self.queue.take()
            if key is None:
                return
            if not self._open.is_set():  # paused while this worker waited: the key waits for the resume
                await self.queue.done(key)
                await self.queue.mark(key)
                continue
            self._busy += 1
            self._telemetry.queue_depth.set(len(self.queue))
            self._telemetry.in_flight.set(self.queue.active)
            try:
                outcome = await self._run(key)
            finally:
                self._busy -= 1
                await self.queue.done(key)
                self._telemetry.in_flight.set(self.queue.active)
                self._telemetry.queue_depth.set(len(self.queue))
                self.progress_at = time.monotonic()
            if outcome is not None and not self._stopping:
                await self._settle(key, outcome)

    async def _run(self, key: str) -> Outcome | None:
        kind = key.split(":", 1)[0]
        started = time.monotonic()
        # The key's controller calls wait for the pacer by this start: a key begun earlier finishes first.
        CALL_PRIORITY.set(started)
        try:
            return await self._handler(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one key's failure must not stop the others
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Cancelled, and a clean-up on the way out (a `finally` writing the journal) raised
                # instead: the cancel still stands, or this worker would never stop.
                raise asyncio.CancelledError() from exc
            if getattr(exc, "refused_write", False):  # not the leader (any more): nothing was sent
                return Outcome("requeue", reason=str(exc))
            log.exception("syncing %s raised", key)
            return Outcome("requeue", reason=f"{type(exc).__name__}: {exc}")
        finally:
            self._telemetry.sync_seconds.labels(kind=kind).observe(time.monotonic() - started)

    async def _settle(self, key: str, outcome: Outcome) -> None:
        kind = key.split(":", 1)[0]
        if outcome.state in (DONE_STATE, HOLD_STATE):
            if self.failures.pop(key, None) is not None:
                log.info("%s is in sync again", key)
            if outcome.state == HOLD_STATE:
                self.held[key] = outcome.reason
            else:
                self.held.pop(key, None)
            self.last_sync_at = now_iso()
            self.synced_keys += 1
            return
        self._telemetry.sync_failures.labels(kind=kind).inc()
        self.held.pop(key, None)  # it fails now: shown as failing, not as held
        failure = self.failures.get(key)
        count = failure.count + 1 if failure else 1
        message = outcome.reason[:1000]
        self.failures[key] = KeyFailure(count=count, error=message, since=failure.since if failure else now_iso())
        delay = outcome.after_s
        if delay is None:
            delay = min(self._retry_cap_s, 0.5 * 2 ** min(count - 1, 10)) * random.uniform(0.5, 1.0)
        log.warning("syncing %s failed (attempt %d): %s; retrying in %.1fs", key, count, message, delay)
        await self.mark(key, delay_s=delay)
