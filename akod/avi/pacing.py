"""One pace for every call to a controller: a token bucket and a bound on calls in flight.

A controller throttles per client IP (429 beyond roughly 32 requests/s) and an operator sizes
`[api] rate`, `burst` and `workers` to stay below that while a large backlog drains. So every
HTTP request that akod sends to a controller (logins, reads, writes, and each retry) passes
through one `Pacer.slot()`: it first waits for one of `workers` slots, then for a token from a
bucket that holds up to `burst` tokens and refills at the effective rate. `rate <= 0` turns the
bucket off (only the worker bound remains) until the controller answers 429.

The effective rate is the configured one until the controller says 429 (`note_429()`, called by
the transport for every such answer): then it adapts as `throttling.Throttle` describes (halved
at most once a second, back up by 5 % of the configured rate per second after a quiet period of
2-3 s). A decrease also drops the tokens the bucket held, less a random fraction of one, so the
calls queued behind it wait for the new rate (and two daemons throttled together fall out of
step); while throttled the bucket holds at most `burst` scaled down by the same factor as the
rate, so a pause does not save up a full burst for the overloaded controller.

Waiters for a worker slot are served in order of priority, then first come, first served. A
call's priority is `CALL_PRIORITY` in its context: the engine sets it to the time the sync of the
key it belongs to started (tasks inherit it), and a call outside a key sync (a login, the
heartbeat, the drift check's reads) counts from when it asked. So a key that started earlier
finishes first: its later writes (the virtual service after its pools) go ahead of the first
writes of keys that started after it, instead of queueing behind every one of them, and its
Kubernetes status can be written while the next keys' objects are sent. With 8 shards of 3,375
pools each at 30 writes/s, plain arrival order had every shard's virtual service (and so every
Ingress status) wait until all 27,000 pools were written. The token waits are timers on the event
loop (no polling), and `reconfigure()` applies a reloaded configuration to the live pacer: a larger
worker count admits waiters at once, a new rate wakes the waiter at the head of the queue so it
recomputes its wait. `in_flight`, `waiting` and the rates feed the status endpoint and metrics.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import heapq
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable

from akod.avi.throttling import AimdPolicy, Throttle

SENT_WINDOW_S = 1.0  # what "the rate that was being sent" is measured over
# The priority of the calls made in this context (lower first; this pacer's clock): set by the
# engine to the start of the key sync the calls belong to. Unset: the time the call asks.
CALL_PRIORITY: contextvars.ContextVar[float | None] = contextvars.ContextVar("akod_call_priority", default=None)


class Pacer:
    """Token bucket (the effective rate per second, `burst` deep) plus at most `workers` calls in flight."""

    def __init__(self, *, rate: float, burst: int, workers: int, policy: AimdPolicy = AimdPolicy(),
                 clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[float, float], float] = random.uniform) -> None:
        self._rate = 0.0
        self._burst = 1
        self._workers = 1
        self._set(rate=rate, burst=burst, workers=workers)
        self._clock = clock
        self._rng = rng
        self._throttle = Throttle(configured=self._rate, policy=policy, rng=rng)
        self._sent: collections.deque[float] = collections.deque()  # when tokens were handed out, last second
        self._tokens = float(self._burst)
        self._stamp = clock()
        self._holding = 0  # worker slots handed out (waiting for a token or running)
        # A heap of (priority, arrival, waiter) for worker slots.
        self._slot_waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._token_lock: asyncio.Lock | None = None
        self._rate_changed: asyncio.Event | None = None
        self._in_flight = 0
        self._waiting = 0

    def __repr__(self) -> str:
        return (
            f"Pacer(rate={self._rate}, effective={self.effective_rate:.2f}, burst={self._burst}, "
            f"workers={self._workers}, in_flight={self._in_flight}, waiting={self._waiting})"
        )

    @property
    def rate(self) -> float:
        """The configured rate (`[api] rate`; 0 = unlimited)."""
        return self._rate

    @property
    def effective_rate(self) -> float:
        """The rate calls go out at now: the configured one, or less after 429s (0 = unlimited)."""
        return self._throttle.rate(now=self._clock())

    @property
    def throttled(self) -> bool:
        """True while a 429 holds the effective rate below the configured one."""
        return self._throttle.throttled(now=self._clock())

    @property
    def throttled_429s(self) -> int:
        """429 answers seen since start (each one reported by `note_429`)."""
        return self._throttle.throttled_429s

    @property
    def rate_decreases(self) -> int:
        """How often a 429 lowered the effective rate since start."""
        return self._throttle.decreases

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
        """Apply new limits to the running pacer (config reload); calls in flight finish.

        A throttled pacer stays throttled (the controller is as busy as before the reload), capped
        at the new rate and recovering towards it."""
        now = self._clock()
        self._refill(now)
        self._set(rate=rate, burst=burst, workers=workers)
        self._throttle.reconfigure(configured=self._rate, now=now)
        self._tokens = min(self._tokens, self._capacity(now))
        self._admit_slot_waiters()
        self._wake_token_waiter()

    def note_429(self, *, sent_at: float | None = None) -> None:
        """The controller answered a call sent at `sent_at` (this pacer's clock) with 429: slow down."""
        now = self._clock()
        self._refill(now)
        if self._throttle.on_429(now=now, sent_at=sent_at, sent_rate=self._sent_rate(now)):
            self._tokens = -self._rng(0.0, 1.0)
            self._stamp = now
            self._wake_token_waiter()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a worker slot and a token, then hold the slot for the body.

        The body gets the time the token was handed out (this pacer's clock): what `note_429`
        wants to know of the call."""
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
        sent_at = self._clock()
        self._sent.append(sent_at)
        self._sent_rate(sent_at)  # forget what is older than the window
        try:
            yield sent_at
        finally:
            self._in_flight -= 1
            self._release_slot()

    def _set(self, *, rate: float, burst: int, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._rate = max(0.0, float(rate))
        self._burst = max(1, int(burst))
        self._workers = int(workers)

    # Worker slots: a hand-off semaphore (by priority, then arrival) whose size can change while in use.

    async def _acquire_slot(self) -> None:
        if not self._slot_waiters and self._holding < self._workers:
            self._holding += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        priority = CALL_PRIORITY.get()
        entry = (self._clock() if priority is None else priority, next(self._arrivals), waiter)
        heapq.heappush(self._slot_waiters, entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # the slot was handed to us just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._slot_waiters.remove(entry)
                    heapq.heapify(self._slot_waiters)
            raise

    def _release_slot(self) -> None:
        self._holding -= 1
        self._admit_slot_waiters()

    def _admit_slot_waiters(self) -> None:
        while self._slot_waiters and self._holding < self._workers:
            _, _, waiter = heapq.heappop(self._slot_waiters)
            if not waiter.done():
                self._holding += 1
                waiter.set_result(None)

    # Tokens: one waiter at a time (the lock keeps the order), sleeping until a token is due.

    def _capacity(self, now: float) -> float:
        """`burst`, scaled down with the rate while throttled (at least one token)."""
        if not self._throttle.throttled(now=now):
            return float(self._burst)
        return max(1.0, self._burst * self._throttle.rate(now=now) / self._throttle.ceiling())

    def _refill(self, now: float) -> None:
        rate = self._throttle.rate(now=now)
        if rate > 0:
            self._tokens = min(self._capacity(now), self._tokens + (now - self._stamp) * rate)
        self._stamp = now

    def _sent_rate(self, now: float) -> float:
        """Calls per second handed a token over the last `SENT_WINDOW_S`."""
        while self._sent and self._sent[0] < now - SENT_WINDOW_S:
            self._sent.popleft()
        return len(self._sent) / SENT_WINDOW_S

    def _wake_token_waiter(self) -> None:
        if self._rate_changed is not None:
            self._rate_changed.set()
            self._rate_changed = None

    async def _take_token(self) -> None:
        if self._throttle.rate(now=self._clock()) <= 0:
            return
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            while True:
                now = self._clock()
                rate = self._throttle.rate(now=now)
                if rate <= 0:
                    return
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                delay = (1.0 - self._tokens) / rate
                if self._rate_changed is None:
                    self._rate_changed = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._rate_changed.wait()
