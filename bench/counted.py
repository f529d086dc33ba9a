"""`python -m bench.counted run --config ...`: `akod run`, counting what one sync costs.

A profiler cannot attribute SQLAlchemy's work to akod's callers (the ORM runs in greenlets whose
stacks start fresh), so this launcher wraps, without changing akod, the calls worth counting:

- every public coroutine of `akod.store.Store` (calls and wall time, lock waits included);
- each round trip to an aiosqlite connection thread (`aiosqlite.Connection._execute`);
- `L4Sync.sync` (how often each key is synced) and the Kubernetes API requests by method;
- the Avi calls by method (`AviClient._call`).

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


def install() -> None:
    import aiosqlite.core
    from kubernetes_asyncio.client import api_client

    from akod.avi.client import AviClient
    from akod.store import Store
    from akod.sync.l4sync import L4Sync

    for name, fn in list(vars(Store).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(fn) and name not in ("open", "close"):
            _wrap(Store, name, f"store.{name}")
    _wrap(aiosqlite.core.Connection, "_execute", "sqlite thread round trips")
    _wrap(L4Sync, "sync", "L4Sync.sync")
    _wrap(api_client.ApiClient, "request", "kubernetes", key=lambda _self, method, url, *a, **k: method)
    _wrap(AviClient, "_call", "avi", key=lambda _self, method, *a, **k: method)

    def dump() -> None:
        path = os.environ.get("AKOD_BENCH_COUNTS")
        if path:
            with open(path, "w") as f:
                json.dump({k: {"calls": calls[k], "wall_s": round(wall[k], 3)} for k in sorted(calls)}, f, indent=1)

    atexit.register(dump)


if __name__ == "__main__":
    install()
    from akod.cli.main import main

    raise SystemExit(main())
