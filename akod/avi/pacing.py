"""One pace for every call to a controller: a token bucket and a bound on calls in flight.

A controller throttles per client (429 beyond roughly 30 requests/s) and an operator sizes
`[api] rate`, `burst` and `workers` to stay well below that while a large backlog drains. So
every HTTP request that akod sends to a controller (logins, reads, writes, and each retry)
passes through one `Pacer.slot()`: it first waits for one of `workers` slots, then for a token
from a bucket that holds up to `burst` tokens and refills at `rate` per second. `rate <= 0`
turns the bucket off (only the worker bound remains).

Waiters are served first come, first served, the waits are timers on the event loop (no
polling), and `reconfigure()` applies a reloaded configuration to the live pacer: a larger
worker count admits waiters at once, a new rate wakes the waiter at the head of the queue so it
recomputes its wait. `in_flight` and `waiting` feed the status endpoint.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator


class Pacer:
    """Token bucket (`rate` per second, `burst` deep) plus at most `workers` calls in flight."""

    def __init__(self, *, rate: float, burst: int, workers: int) -> None:
        self._rate = 0.0
        self._burst = 1
        self._workers = 1
        self._set(rate=rate, burst=burst, workers=workers)
        self._tokens = float(self._burst)
        self._stamp = time.monotonic()
        self._holding = 0  # worker slots handed out (waiting for a token or running)
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._token_lock: asyncio.Lock | None = None
        self._reconfigured: asyncio.Event | None = None
        self._in_flight = 0
        self._waiting = 0

    def __repr__(self) -> str:
        return (
            f"Pacer(rate={self._rate}, burst={self._burst}, workers={self._workers}, "
            f"in_flight={self._in_flight}, waiting={self._waiting})"
        )

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def in_flight(self) -> int:
        """Calls that hold a worker slot and a token, i.e. are talking to the controller."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Calls waiting for a worker slot or a token."""
        return self._waiting

    def reconfigure(self, *, rate: float, burst: int, workers: int) -> None:
        """Apply new limits to the running pacer (config reload); calls in flight finish."""
        self._refill(time.monotonic())
        self._set(rate=rate, burst=burst, workers=workers)
        self._tokens = min(self._tokens, float(self._burst))
        self._admit_slot_waiters()
        if self._reconfigured is not None:
            self._reconfigured.set()
            self._reconfigured = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a worker slot and a token, then hold the slot for the body."""
        self._waiting += 1
        try:
            await self._acquire_slot()
            try:
                await self._take_token()
            except BaseException:
                self._release_slot()
                raise
        finally:
            self._waiting -= 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._release_slot()

    def _set(self, *, rate: float, burst: int, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._rate = max(0.0, float(rate))
        self._burst = max(1, int(burst))
        self._workers = int(workers)

    # Worker slots: a FIFO hand-off semaphore whose size can change while it is in use.

    async def _acquire_slot(self) -> None:
        if not self._slot_waiters and self._holding < self._workers:
            self._holding += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # the slot was handed to us just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._slot_waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        self._holding -= 1
        self._admit_slot_waiters()

    def _admit_slot_waiters(self) -> None:
        while self._slot_waiters and self._holding < self._workers:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                self._holding += 1
                waiter.set_result(None)

    # Tokens: one waiter at a time (the lock keeps the order), sleeping until a token is due.

    def _refill(self, now: float) -> None:
        if self._rate > 0:
            self._tokens = min(float(self._burst), self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    async def _take_token(self) -> None:
        if self._rate <= 0:
            return
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            while self._rate > 0:
                self._refill(time.monotonic())
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                delay = (1.0 - self._tokens) / self._rate
                if self._reconfigured is None:
                    self._reconfigured = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._reconfigured.wait()
