"""`python -m bench.counted run --config ...`: `akod run`, counting what one sync costs.

A profiler cannot attribute SQLAlchemy's work to akod's callers (the ORM runs in greenlets whose
stacks start fresh), so this launcher wraps, without changing akod, the calls worth counting:

- every public coroutine of `akod.store.Store` (calls and wall time, lock waits included);
- each round trip to an aiosqlite connection thread (`aiosqlite.Connection._execute`);
- `L4Sync.sync` (how often each key is synced) and the Kubernetes API requests by method;
- the Avi calls by method (`AviClient._call`);
- how long the store's write lock (`Store._write_lock`, one writer at a time) is held and waited for.

`$AKOD_BENCH_SWITCH_INTERVAL` sets `sys.setswitchinterval()` (the GIL hand-over period, 5 ms by
default) for experiments.

At exit it writes the counts as JSON to `$AKOD_BENCH_COUNTS`.
"""

from __future__ import annotations

import atexit
import collections
import functools
import inspect
import json
import os
import time
from typing import Any

calls: collections.Counter[str] = collections.Counter()
wall: collections.Counter[str] = collections.Counter()


def _wrap(owner: Any, name: str, label: str, *, key: Any = None) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        tag = label if key is None else f"{label} {key(*args, **kwargs)}"
        calls[tag] += 1
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            wall[tag] += time.perf_counter() - started

    setattr(owner, name, wrapper)


class _TimedLock:
    """An asyncio.Lock that adds its hold and wait times to the counters."""

    def __init__(self) -> None:
        import asyncio

        self._lock = asyncio.Lock()
        self._since = 0.0

    async def acquire(self) -> bool:
        asked = time.perf_counter()
        await self._lock.acquire()
        self._since = time.perf_counter()
        calls["store write lock: held"] += 1
        wall["store write lock: waiting"] += self._since - asked
        return True

    def release(self) -> None:
        wall["store write lock: held"] += time.perf_counter() - self._since
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


def install() -> None:
    import aiosqlite.core
    from kubernetes_asyncio.client import api_client

    from akod.avi.client import AviClient
    from akod.store import Store

    try:
        from akod.sync.families.l4 import L4Family as l4_sync  # the family registry (issue 8 on)
    except ImportError:  # an older revision benched with --rev
        from akod.sync.l4sync import L4Sync as l4_sync  # type: ignore[no-redef]

    original_init = Store.__init__

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if hasattr(self, "_write_lock"):
            self._write_lock = _TimedLock()

    Store.__init__ = init  # type: ignore[method-assign]
    if os.environ.get("AKOD_BENCH_SWITCH_INTERVAL"):
        import sys

        sys.setswitchinterval(float(os.environ["AKOD_BENCH_SWITCH_INTERVAL"]))
    for name, fn in list(vars(Store).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(fn) and name not in ("open", "close"):
            _wrap(Store, name, f"store.{name}")
    original_execute = aiosqlite.core.Connection._execute

    async def execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One round trip to the connection's thread, split: pickup, SQLite work, back to the loop."""
        marks = [0.0, 0.0]

        def timed() -> Any:
            marks[0] = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                marks[1] = time.perf_counter()

        calls["sqlite thread round trips"] += 1
        asked = time.perf_counter()
        try:
            return await original_execute(self, timed)
        finally:
            back = time.perf_counter()
            wall["sqlite thread round trips"] += back - asked
            if marks[1]:
                wall["sqlite round trip: 1 thread pickup (queue, GIL)"] += marks[0] - asked
                wall["sqlite round trip: 2 SQLite work"] += marks[1] - marks[0]
                wall["sqlite round trip: 3 back in the event loop"] += back - marks[1]

    aiosqlite.core.Connection._execute = execute  # type: ignore[method-assign]
    _wrap(l4_sync, "sync", "L4 sync")
    _wrap(api_client.ApiClient, "request", "kubernetes", key=lambda _self, method, url, *a, **k: method)
    _wrap(AviClient, "_call", "avi", key=lambda _self, method, *a, **k: method)

    def dump() -> None:
        path = os.environ.get("AKOD_BENCH_COUNTS")
        if path:
            with open(path, "w") as f:
                json.dump({k: {"calls": calls[k], "wall_s": round(wall[k], 3)} for k in sorted(set(calls) | set(wall))},
                          f, indent=1)

    atexit.register(dump)


if __name__ == "__main__":
    install()
    from akod.cli.main import main

    raise SystemExit(main())
