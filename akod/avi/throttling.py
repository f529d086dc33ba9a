"""How fast akod may call the controller now: slower after a 429, back up slowly (AIMD).

`[api] rate` is what an operator allows akod; the controller's own limit is per client IP
(Broadcom KB 372209: about 32 req/s by default, 429 past the burst), so several daemons on one
jump host, or akod next to other scripts, share one budget that none of them knows. A fixed
rate cannot be right for all of them; retrying each 429 after a backoff alone keeps every
client at its full rate, so they hit the limit again and again, in step. So the rate adapts the
way TCP's congestion window and client-go's flow control do, additive increase and
multiplicative decrease:

- **Decrease.** A 429 halves the effective rate (`decrease_factor`), never below `floor`
  (1 req/s). One overload answers many calls with 429 at once (every call already in flight),
  so at most one decrease happens per `window_s` (1 s), and a 429 to a call sent before the last
  decrease is an echo of the overload already answered: it is counted, nothing more.
- **Quiet, then increase.** Each fresh 429 restarts a quiet period of `quiet_s` (2 s) stretched
  by a random factor of up to `1 + quiet_jitter` (so two daemons throttled by the same overload
  do not speed up again in step). After it the rate grows linearly by `recovery_per_s` (5 %) of
  the rate it recovers to, per second, at least `min_step` (1 req/s): from half the configured
  rate back to it in about 10 s. It never exceeds the configured rate; once there, the episode
  is over.
- **Unlimited** (`rate = 0`). A 429 still slows akod down: the rate starts at half of what was
  sent in the last second, but at most `unlimited_start` (20 req/s, the default `[api] rate`,
  below a controller's default limit), and recovers towards what was sent (at least twice
  `unlimited_start`); reaching it turns pacing off again.
- **Reload.** A new configured rate caps the effective one at once; a throttled rate stays
  throttled (the controller is still as busy) and recovers towards the new configured rate.

This module is the arithmetic only, over a clock the caller passes in (monotonic seconds), so it
can be tested without waiting; `Pacer` applies it to its token bucket, and the client tells the
pacer about each 429 (`Retry-After` is honoured by the retry itself, see `retrying.py`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class AimdPolicy:
    """The constants of the adaptation; the defaults are documented in the module docstring."""

    decrease_factor: float = 0.5
    floor: float = 1.0
    window_s: float = 1.0
    quiet_s: float = 2.0
    quiet_jitter: float = 0.5
    recovery_per_s: float = 0.05
    min_step: float = 1.0
    unlimited_start: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")
        if self.floor <= 0 or self.unlimited_start < self.floor:
            raise ValueError("floor must be positive and unlimited_start at least the floor")
        if self.window_s < 0 or self.quiet_s < 0 or self.quiet_jitter < 0:
            raise ValueError("window, quiet period and jitter cannot be negative")
        if self.recovery_per_s <= 0 or self.min_step <= 0:
            raise ValueError("the recovery must make progress")


class Throttle:
    """The effective rate of one client: its configured rate, or less after 429s (0 = unlimited)."""

    def __init__(self, *, configured: float, policy: AimdPolicy = AimdPolicy(),
                 rng: Callable[[float, float], float] = random.uniform) -> None:
        self._configured = max(0.0, float(configured))
        self._policy = policy
        self._rng = rng
        self._base: float | None = None  # None: not throttled; else the rate at `_recover_from`
        self._recover_from = 0.0
        self._last_decrease = float("-inf")
        self._unlimited_ceiling = 0.0
        self.throttled_429s = 0
        self.decreases = 0

    def __repr__(self) -> str:
        state = "not throttled" if self._base is None else f"throttled from {self._base:.2f}/s"
        return f"Throttle(configured={self._configured}, {state}, 429s={self.throttled_429s})"

    @property
    def configured(self) -> float:
        return self._configured

    def throttled(self, *, now: float) -> bool:
        return self.rate(now=now) != self._configured

    def ceiling(self) -> float:
        """The rate a throttled client recovers to: the configured one, or (unlimited) what it sent."""
        return self._configured if self._configured > 0 else self._unlimited_ceiling

    def rate(self, *, now: float) -> float:
        """The effective rate at `now` (calls per second; 0 = unlimited)."""
        if self._base is None:
            return self._configured
        ceiling = self.ceiling()
        rate = self._base + self._step(ceiling) * max(0.0, now - self._recover_from)
        if rate >= ceiling:
            self._base = None  # recovered: the episode is over
            return self._configured
        return rate

    def on_429(self, *, now: float, sent_at: float | None = None, sent_rate: float = 0.0) -> bool:
        """A call sent at `sent_at` was answered 429 at `now`; `sent_rate`: calls sent in the last second.

        True when this 429 lowered the rate (the caller drops its stored tokens then).
        """
        self.throttled_429s += 1
        p = self._policy
        if sent_at is not None and sent_at < self._last_decrease:
            return False  # sent before the last decrease: the overload it answers was already acted on
        current = self.rate(now=now)
        decrease = now - self._last_decrease >= p.window_s or self._base is None
        if decrease:
            if current <= 0:
                self._unlimited_ceiling = max(sent_rate, 2 * p.unlimited_start)
                self._base = max(p.floor, min(p.decrease_factor * sent_rate, p.unlimited_start))
            else:
                self._base = max(p.floor, p.decrease_factor * current)
            self._last_decrease = now
            self.decreases += 1
        else:
            self._base = current  # still overloaded right after a decrease: hold, start the quiet again
        self._recover_from = now + p.quiet_s * (1.0 + self._rng(0.0, p.quiet_jitter))
        return decrease

    def reconfigure(self, *, configured: float, now: float) -> None:
        """A reloaded `[api] rate`: caps the effective rate, keeps a throttle (and its quiet period)."""
        current = self.rate(now=now)
        old_ceiling = self.ceiling()
        self._configured = max(0.0, float(configured))
        if self._base is None:
            return
        if self._configured == 0:
            self._unlimited_ceiling = max(old_ceiling, 2 * self._policy.unlimited_start)
        ceiling = self.ceiling()
        if now >= self._recover_from:
            self._base, self._recover_from = min(current, ceiling), now
        else:
            self._base = min(self._base, ceiling)

    def _step(self, ceiling: float) -> float:
        return max(self._policy.min_step, self._policy.recovery_per_s * ceiling)
