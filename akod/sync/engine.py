"""The worker pool that turns dirty keys into calls to the controller.

Workers take keys from the `KeyQueue` and run the handler registered for the key's kind (the part
before the first ':'). A failing key is retried with capped exponential backoff and jitter; other
keys go on. Stopping lets every handler already running finish (bounded by a grace period) and
takes no new key, so SIGTERM never cuts a write in half when it can be avoided.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from akod.store import now_iso
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry

log = logging.getLogger("akod.sync")
Handler = Callable[[str], Awaitable[None]]


@dataclass
class KeyFailure:
    count: int
    error: str
    since: str


class Engine:
    def __init__(self, *, queue: KeyQueue, telemetry: Telemetry, workers: int, retry_cap_s: float = 15.0) -> None:
        self.queue = queue
        self._telemetry = telemetry
        self._workers = workers
        self._retry_cap_s = retry_cap_s
        self._handlers: dict[str, Handler] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._retry_timers: dict[str, asyncio.TimerHandle] = {}
        self._stopping = False
        self.failures: dict[str, KeyFailure] = {}
        self.last_sync_at: str = ""
        self.synced_keys = 0

    def register(self, *, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    @property
    def in_flight(self) -> int:
        return self.queue.active

    def in_sync(self) -> bool:
        return self.queue.idle() and not self.failures

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(i), name=f"akod-worker-{i}") for i in range(self._workers)]

    async def mark(self, key: str) -> None:
        await self.queue.mark(key)
        self._telemetry.queue_depth.set(len(self.queue))

    async def stop(self, *, grace_s: float) -> None:
        """Take no new key; let running handlers finish within `grace_s`, then cancel them."""
        self._stopping = True
        for timer in self._retry_timers.values():
            timer.cancel()
        idle = [t for t in self._tasks if getattr(t, "akod_idle", True)]
        for t in idle:
            t.cancel()
        busy = [t for t in self._tasks if t not in idle]
        if busy:
            done, pending = await asyncio.wait(busy, timeout=grace_s)
            for t in pending:
                t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self, index: int) -> None:
        task = asyncio.current_task()
        while not self._stopping:
            setattr(task, "akod_idle", True)
            key = await self.queue.take()
            setattr(task, "akod_idle", False)
            self._telemetry.queue_depth.set(len(self.queue))
            self._telemetry.in_flight.set(self.queue.active)
            try:
                await self._run(key)
            finally:
                await self.queue.done(key)
                self._telemetry.in_flight.set(self.queue.active)
                self._telemetry.queue_depth.set(len(self.queue))

    async def _run(self, key: str) -> None:
        kind = key.split(":", 1)[0]
        handler = self._handlers.get(kind)
        if handler is None:
            log.error("no handler for the key %s", key)
            return
        started = time.monotonic()
        try:
            await handler(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one key's failure must not stop the others
            self._telemetry.sync_failures.labels(kind=kind).inc()
            failure = self.failures.get(key)
            count = failure.count + 1 if failure else 1
            message = f"{type(exc).__name__}: {exc}"[:1000]
            self.failures[key] = KeyFailure(count=count, error=message, since=failure.since if failure else now_iso())
            delay = min(self._retry_cap_s, 0.5 * 2 ** min(count - 1, 10)) * random.uniform(0.5, 1.0)
            log.warning("syncing %s failed (attempt %d): %s; retrying in %.1fs", key, count, message, delay)
            if not self._stopping:
                self._schedule_retry(key, delay)
        else:
            if self.failures.pop(key, None) is not None:
                log.info("%s is in sync again", key)
            self.last_sync_at = now_iso()
            self.synced_keys += 1
        finally:
            self._telemetry.sync_seconds.labels(kind=kind).observe(time.monotonic() - started)

    def _schedule_retry(self, key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        old = self._retry_timers.pop(key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._retry_timers.pop(key, None)
            if not self._stopping:
                asyncio.ensure_future(self.mark(key))

        self._retry_timers[key] = loop.call_later(delay, fire)
