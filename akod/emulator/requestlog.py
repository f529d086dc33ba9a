"""The record of what clients asked, for tests that assert on traffic rather than on state.

Tests of a client want to say "after a restart with nothing changed, no write was sent" or "the
daemon never exceeded N calls per second"; the emulator is where that is observable. Each answered
request (everything except `/_emulator/*`) becomes `{t, method, path, query, status, tenant, bytes,
client}` (`bytes`: the size of the request body, for tests that a request does not grow with the
data; `client`: its User-Agent, for tests that tell two clients apart);
`stats` counts by method and by object type. The log keeps the most recent 100,000 entries so a
long benchmark cannot exhaust memory; the counters are never truncated.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Entry:
    t: float
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0 when the connection was dropped on purpose
    tenant: str | None
    size: int = 0
    client: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "method": self.method, "path": self.path, "query": self.query,
                "status": self.status, "tenant": self.tenant, "bytes": self.size, "client": self.client}


def object_type_of(path: str) -> str:
    """`/api/pool/pool-1` -> `pool`; `/login` -> `login`."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        return parts[1]
    return parts[0] if parts else "/"


class RequestLog:
    def __init__(self, *, limit: int = DEFAULT_LIMIT) -> None:
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._by_method: Counter[str] = Counter()
        self._by_type: dict[str, Counter[str]] = {}
        self._by_status: Counter[str] = Counter()
        self._total = 0

    def record(self, *, method: str, path: str, query: Mapping[str, str], status: int,
               tenant: str | None, size: int = 0, client: str = "") -> None:
        self._entries.append(Entry(time.time(), method, path, dict(query), status, tenant, size, client))
        self._total += 1
        self._by_method[method] += 1
        self._by_type.setdefault(object_type_of(path), Counter())[method] += 1
        self._by_status[str(status)] += 1

    def entries(self, *, method: str | None = None, path: str | None = None,
                since: float | None = None) -> list[dict[str, Any]]:
        """The logged requests, oldest first; `since`: only those answered at or after that epoch time."""
        recent: list[Entry] = []
        for e in reversed(self._entries):  # newest first: a bench polling for the last second reads little
            if since is not None and e.t < since:
                break
            recent.append(e)
        return [e.as_json() for e in reversed(recent)
                if (method is None or e.method == method) and (path is None or e.path.startswith(path))]

    def stats(self) -> dict[str, Any]:
        return {
            "total": self._total,
            "by_method": dict(self._by_method),
            "by_type": {t: dict(c) for t, c in sorted(self._by_type.items())},
            "by_status": dict(self._by_status),
        }

    def clear(self) -> None:
        self._entries.clear()
        self._by_method.clear()
        self._by_type.clear()
        self._by_status.clear()
        self._total = 0
