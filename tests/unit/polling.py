"""Waiting for an outcome the way the tests must: poll with a deadline, never sleep a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, within_s: float = 5.0, what: str = "") -> None:
    """Poll `check` (plain or async) every 10 ms until it holds; fail after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what}")
        await asyncio.sleep(0.01)
