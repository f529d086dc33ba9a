"""The dirty-key queue: coalescing, FIFO, paced per key, delayed retries, never one key on two workers.

A key names one unit of sync work (the VRF's routes, one L4 Service, one L7 shard...). Marking a
key that is already waiting does nothing: it will be computed from the newest observed state when
its turn comes. Marking a key a worker is busy with re-queues it once that worker is done, so the
last change is never lost and one key's operations never run concurrently.

A key is also not started again within `min_interval_s` of its previous start: a quiet key runs
at once, but a Service whose endpoints change a hundred times a second is synced a few times, with
its final state, instead of a hundred times. A retry is a mark with a delay (`mark(key,
delay_s=...)`); an event that marks the key sooner wins, so a fix by the user is applied at once
instead of after the backoff. No timer lives outside the queue: the workers' `take()` waits for
the earliest key that may start.

Waiting keys are kept in a heap by the time they may start (lazily pruned: an entry whose time is
no longer the key's is skipped), so taking a key, finding the next due time and asking whether
anything is due cost O(log n), not a scan of every waiting key: at 10,000 keys a scan per `take()`
and per `done()` (which wakes `wait_idle`) made the queue a visible share of a cold sync.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class KeyQueue:
    def __init__(self, *, min_interval_s: float = 0.5) -> None:
        self._waiting: dict[str, float] = {}  # key -> monotonic time it may start (FIFO by marking)
        self._heap: list[tuple[float, int, str]] = []  # (time it may start, tie-break, key); stale entries skipped
        self._seq = itertools.count()
        self._active: set[str] = set()
        self._again: dict[str, float] = {}  # active keys marked again -> when they may start
        self._last_start: dict[str, float] = {}
        self._min_interval = min_interval_s
        self._wakeup = asyncio.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._active)

    def idle(self) -> bool:
        return not self._waiting and not self._active

    def waiting_keys(self) -> list[str]:
        return list(self._waiting)

    def _put(self, key: str, at: float) -> None:
        """`key` waits until `at`, or until the earlier time it already waits for."""
        current = self._waiting.get(key)
        if current is not None and current <= at:
            return
        self._waiting[key] = at
        heapq.heappush(self._heap, (at, next(self._seq), key))

    def _earliest(self) -> tuple[float, str] | None:
        """The waiting key that may start first, and when (stale heap entries dropped on the way)."""
        heap = self._heap
        while heap:
            at, _, key = heap[0]
            if self._waiting.get(key) == at:
                return at, key
            heapq.heappop(heap)
        return None

    def _ready_at(self, key: str, delay_s: float) -> float:
        now = time.monotonic()
        last = self._last_start.get(key)
        at = now + max(0.0, delay_s)
        return at if last is None else max(at, last + self._min_interval)

    async def mark(self, key: str, *, delay_s: float = 0.0) -> None:
        async with self._wakeup:
            at = self._ready_at(key, delay_s)
            if key in self._active:
                self._again[key] = min(self._again.get(key, at), at)
            else:
                self._put(key, at)
                self._wakeup.notify()

    async def take(self) -> str | None:
        """The next key that may start (marked active); None once the queue is closed."""
        async with self._wakeup:
            while not self._closed:
                now = time.monotonic()
                earliest = self._earliest()
                if earliest is not None and earliest[0] <= now:
                    key = earliest[1]
                    heapq.heappop(self._heap)
                    del self._waiting[key]
                    self._active.add(key)
                    self._last_start[key] = now
                    return key
                await self._wait(None if earliest is None else earliest[0] - now)
            return None

    async def done(self, key: str) -> None:
        async with self._wakeup:
            self._active.discard(key)
            again = self._again.pop(key, None)
            if again is not None:
                self._put(key, again)
            if len(self._last_start) > 50000:  # forget keys that have been quiet for long
                cutoff = time.monotonic() - 60
                self._last_start = {k: t for k, t in self._last_start.items() if t > cutoff}
            self._wakeup.notify_all()

    async def close(self) -> None:
        """No key is handed out any more: idle workers' `take()` returns None."""
        async with self._wakeup:
            self._closed = True
            self._wakeup.notify_all()

    async def wait_idle(self) -> None:
        """Until nothing is waiting that may start now, and nothing is being synced.

        Keys waiting for a delayed retry do not count: a key that keeps failing must not hold up
        whoever waits (the start-up sequence); it shows as a failure instead.
        """
        async with self._wakeup:
            while self._active or self.any_due():
                await self._wait(self._next_due())

    async def _wait(self, timeout: float | None) -> None:
        """Wait for a notification, at most `timeout` seconds (the lock held, as `Condition.wait`).

        `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a cancellation that
        arrives as the condition is notified, and a worker that ignores its cancel never stops.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()
        except TimeoutError:
            pass

    def any_due(self) -> bool:
        """Whether a waiting key could start now (O(log n): the earliest one decides)."""
        earliest = self._earliest()
        return earliest is not None and earliest[0] <= time.monotonic()

    def _next_due(self) -> float | None:
        earliest = self._earliest()
        if earliest is None:
            return None
        return max(0.0, earliest[0] - time.monotonic()) + 0.001
