"""When to try a call again and how long to wait first.

A controller that is restarting, overloaded (429) or briefly unreachable should cost the daemon
a few seconds, not an error per object; one that stays down must surface as `AviUnavailable`
within a bounded time so the sync layer can report not-ready and keep its backlog. This module
holds that policy and nothing else: exponential backoff with *full jitter* (the wait is drawn
uniformly from [0, min(cap, base * 2**n)], so many workers that failed together do not retry
together), a cap on the attempts, an overall deadline per call, and `Retry-After` honoured as a
lower bound: the jittered wait is added on top of it, not hidden under it, because a controller
answers every call of one overload with the same `Retry-After` (the emulator says 1 s), and
waiting exactly that long would send all of them, and another daemon's, back at the same instant.
Which failures are retryable is decided by the client; this module only answers "wait how long,
or give up?".
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429}) | frozenset(range(500, 600))


def is_retryable_status(status: int) -> bool:
    """5xx and 429 are worth another try; other statuses are final answers."""
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters; `max_attempts` counts the first try too."""

    max_attempts: int = 6
    base_s: float = 0.2
    cap_s: float = 10.0
    deadline_s: float = 120.0
    rng: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < 0 or self.deadline_s <= 0:
            raise ValueError("backoff base, cap and deadline must be positive")

    def start(self, *, now: float) -> Retry:
        """The retry state of one call that starts at `now` (monotonic seconds)."""
        return Retry(policy=self, started=now)


@dataclass
class Retry:
    """Attempts made so far by one call, and the decision for the next one."""

    policy: RetryPolicy
    started: float
    attempts: int = 0

    def backoff(self, *, now: float, retry_after: float | None = None) -> float | None:
        """Record a failed attempt; return the wait before the next one, or None to give up."""
        self.attempts += 1
        if self.attempts >= self.policy.max_attempts:
            return None
        ceiling = min(self.policy.cap_s, self.policy.base_s * (2 ** (self.attempts - 1)))
        delay = self.policy.rng(0.0, ceiling)
        if retry_after is not None:
            delay += retry_after
        if now + delay - self.started > self.policy.deadline_s:
            return None
        return delay
