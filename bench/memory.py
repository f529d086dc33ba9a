"""`python -m bench.memory run --config ...`: `akod run` under tracemalloc, to see where its memory goes.

Started with tracemalloc on (frames `$AKOD_BENCH_MEMORY_FRAMES`, default 6), it writes on SIGUSR2
the live allocations grouped two ways to `$AKOD_BENCH_MEMORY` (text): by source line, and by the
innermost akod frame that led to them (so a dict built in json or kubernetes_asyncio is charged
to the akod code that asked for it). tracemalloc slows the daemon down several times: use it for
where the memory is, never for timings.
"""

from __future__ import annotations

import collections
import os
import signal
import tracemalloc
from pathlib import Path


def _akod_frame(traceback: tracemalloc.Traceback) -> str:
    for frame in traceback:  # most recent call first
        if "/akod/" in frame.filename:
            return f"{frame.filename.split('/akod/', 1)[1]}:{frame.lineno}"
    return "(no akod frame)"


def dump(*_: object) -> None:
    out = Path(os.environ.get("AKOD_BENCH_MEMORY", "akod-memory.txt"))
    snap = tracemalloc.take_snapshot()
    traced, peak = tracemalloc.get_traced_memory()
    lines = [f"traced now {traced / 2**20:.1f} MiB, traced peak {peak / 2**20:.1f} MiB", "", "by line:"]
    for stat in snap.statistics("lineno")[:25]:
        lines.append(f"  {stat.size / 2**20:7.1f} MiB {stat.count:>9} blocks  {stat.traceback[0]}")
    lines += ["", "by the innermost akod frame:"]
    by_akod: collections.Counter[str] = collections.Counter()
    for stat in snap.statistics("traceback"):  # grouped by whole traceback first: far fewer than the traces
        by_akod[_akod_frame(stat.traceback)] += stat.size
    lines += [f"  {size / 2**20:7.1f} MiB  {where}" for where, size in by_akod.most_common(30)]
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    tracemalloc.start(int(os.environ.get("AKOD_BENCH_MEMORY_FRAMES", "6")))
    signal.signal(signal.SIGUSR2, dump)
    from akod.cli.main import main

    raise SystemExit(main())
