"""The dirty-key queue: coalescing, FIFO, paced per key, and never one key on two workers.

A key names one unit of sync work (the VRF's routes, one L4 Service, one L7 shard...). Marking a
key that is already waiting does nothing: it will be computed from the newest observed state when
its turn comes. Marking a key a worker is busy with re-queues it once that worker is done, so the
last change is never lost and one key's operations never run concurrently.

A key is also not started again within `min_interval_s` of its previous start: a quiet key runs
at once, but a Service whose endpoints change a hundred times a second is synced a few times, with
its final state, instead of a hundred times.
"""

from __future__ import annotations

import asyncio
import time


class KeyQueue:
    def __init__(self, *, min_interval_s: float = 0.5) -> None:
        self._waiting: dict[str, float] = {}  # key -> monotonic time it may start
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._last_start: dict[str, float] = {}
        self._min_interval = min_interval_s
        self._wakeup = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._active)

    def idle(self) -> bool:
        return not self._waiting and not self._active

    def waiting_keys(self) -> list[str]:
        return list(self._waiting)

    def _ready_at(self, key: str) -> float:
        last = self._last_start.get(key)
        now = time.monotonic()
        return now if last is None else max(now, last + self._min_interval)

    async def mark(self, key: str) -> None:
        async with self._wakeup:
            if key in self._active:
                self._again.add(key)
            elif key not in self._waiting:
                self._waiting[key] = self._ready_at(key)
                self._wakeup.notify()

    async def take(self) -> str:
        async with self._wakeup:
            while True:
                now = time.monotonic()
                earliest: float | None = None
                for key, ready_at in self._waiting.items():
                    if ready_at <= now:
                        del self._waiting[key]
                        self._active.add(key)
                        self._last_start[key] = now
                        return key
                    earliest = ready_at if earliest is None else min(earliest, ready_at)
                try:
                    timeout = None if earliest is None else earliest - now
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
                except TimeoutError:
                    pass

    async def done(self, key: str) -> None:
        async with self._wakeup:
            self._active.discard(key)
            if key in self._again:
                self._again.discard(key)
                if key not in self._waiting:
                    self._waiting[key] = self._ready_at(key)
            if len(self._last_start) > 50000:  # forget keys that have been quiet for long
                cutoff = time.monotonic() - 60
                self._last_start = {k: t for k, t in self._last_start.items() if t > cutoff}
            self._wakeup.notify_all()

    async def wait_idle(self) -> None:
        async with self._wakeup:
            while not self.idle():
                await self._wakeup.wait()
