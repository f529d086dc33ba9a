"""Waiting for an outcome by polling against a deadline, never by sleeping a fixed time.

A fixed sleep is either too short on a busy machine (a flaky test, a wrong benchmark figure) or
too long everywhere else. Every wait of the dev harness (the daemon ready, routes on the
controller, a Service status) is instead a probe called again and again until it returns
something truthy or the deadline passes, and then the error says what was awaited and what the
probe saw last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from akod.devenv.errors import ProcessExited, TimedOut

T = TypeVar("T")

# What a timeout message quotes of the probe's last answer: enough to see why, not a whole dump.
_LAST_CHARS = 2000


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, interval: float = 0.1,
                     what: str = "condition") -> T:
    """Await `probe()` until it returns a truthy value, and return that value.

    (A probe may answer None for "not yet": the type says so, and the answer returned is never None.)
    An AssertionError raised by the probe (a failed check, a HarnessError) counts as "not yet";
    ProcessExited does not (a dead process will not come back). After `timeout` seconds this
    raises TimedOut naming `what` and the probe's last answer.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            answer = await probe()
        except ProcessExited:
            raise
        except AssertionError as exc:
            last = exc
        else:
            if answer:
                return answer
            last = answer
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:g}s waiting for {what}; last: {repr(last)[:_LAST_CHARS]}")
        await asyncio.sleep(interval)


async def consistently(probe: Callable[[], Awaitable[object]], *, duration: float, interval: float = 1.0,
                       what: str = "condition") -> None:
    """Await `probe()` every `interval` seconds for `duration` seconds; it must stay truthy throughout.

    The counterpart of `eventually` for what must *not* happen (a relist loop, a write): the window
    is the measurement itself, not a guess at how long an outcome takes. Fails at the first falsy
    answer, naming `what` and the answer.
    """
    deadline = time.monotonic() + duration
    while True:
        answer = await probe()
        if not answer:
            raise AssertionError(f"{what} stopped holding after {duration - (deadline - time.monotonic()):.1f}s: "
                                 f"{repr(answer)[:_LAST_CHARS]}")
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
