"""Drift suspicions: objects the drift check found changed on the controller, waiting for their key.

The drift check (`drift.py`) finds; the key's own sync (`owned.py`, or the routes family) repairs.
This ledger is what passes between them, and what `/status` and the metrics tell about repairs.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from akod.store import now_iso
from akod.sync.metrics import Telemetry

log = logging.getLogger("akod.sync")
Ident = tuple[str, str, str]
DELETED, EDITED = "deleted", "edited"
RECENT = 20  # repairs /status lists


@dataclass(frozen=True, slots=True)
class Suspect:
    """An object the last check found changed on the controller (`how`), as of `since` (ISO time)."""

    how: str
    since: str


@dataclass
class DriftLedger:
    """Suspicions waiting for their key's sync, and what was repaired (for /status and metrics)."""

    telemetry: Telemetry
    checks: int = 0
    last_check_at: str = ""
    last_check_s: float = 0.0
    last_found: int = 0
    repairs: collections.Counter[str] = field(default_factory=collections.Counter)
    recent: collections.deque[dict[str, str]] = field(default_factory=lambda: collections.deque(maxlen=RECENT))
    _suspects: dict[str, dict[Ident, Suspect]] = field(default_factory=dict)

    def suspect(self, key: str, found: Mapping[Ident, Suspect]) -> None:
        self._suspects.setdefault(key, {}).update(found)

    def take(self, key: str) -> dict[Ident, Suspect]:
        return self._suspects.pop(key, {})

    def repaired(self, *, obj_type: str, name: str, how: str) -> None:
        log.warning("repaired %s %s: it was %s on the controller, not by akod", obj_type, name, how)
        self.repairs[obj_type] += 1
        self.telemetry.drift_repairs.labels(type=obj_type).inc()
        self.recent.append({"type": obj_type, "name": name, "how": how, "at": now_iso()})

    def summary(self, *, interval_s: float) -> dict[str, Any]:
        return {"interval_s": interval_s, "checks": self.checks, "last_check_at": self.last_check_at,
                "last_check_s": round(self.last_check_s, 3), "last_found": self.last_found,
                "pending": sum(len(v) for v in self._suspects.values()),
                "repairs": dict(sorted(self.repairs.items())), "recent": list(self.recent)}
