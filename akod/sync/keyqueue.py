"""The dirty-key queue: coalescing, FIFO, and never the same key on two workers at once.

A key names one unit of sync work (the VRF's routes, one L4 Service, one L7 shard...). Marking a
key that is already waiting does nothing (it will be computed from the newest observed state when
its turn comes), so a burst of a hundred events for one Service costs one sync. Marking a key that
a worker is busy with re-queues it once that worker is done, so the last change is never lost and
one key's operations never run concurrently.
"""

from __future__ import annotations

import asyncio


class KeyQueue:
    def __init__(self) -> None:
        self._waiting: dict[str, None] = {}
        self._active: set[str] = set()
        self._again: set[str] = set()
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

    async def mark(self, key: str) -> None:
        async with self._wakeup:
            if key in self._active:
                self._again.add(key)
            elif key not in self._waiting:
                self._waiting[key] = None
                self._wakeup.notify()

    async def take(self) -> str:
        async with self._wakeup:
            while not self._waiting:
                await self._wakeup.wait()
            key = next(iter(self._waiting))
            del self._waiting[key]
            self._active.add(key)
            return key

    async def done(self, key: str) -> None:
        async with self._wakeup:
            self._active.discard(key)
            if key in self._again:
                self._again.discard(key)
                if key not in self._waiting:
                    self._waiting[key] = None
            self._wakeup.notify_all()

    async def wait_idle(self) -> None:
        async with self._wakeup:
            while not self.idle():
                await self._wakeup.wait()
