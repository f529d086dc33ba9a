"""The live parts of a running daemon, gathered in one object the status server and the watchdog read.

The daemon builds it and keeps it current; `akod.statusd` only reads it. Nothing in here is
global: a test process can run several daemons side by side.

Besides readiness (`/readyz`) it answers `health()`: whether work progresses. The systemd
watchdog is pinged only while it does, so a stuck writer or engine stops the pings and systemd
restarts the unit; proving that the event loop runs is not enough.

`/status` stays small whatever the cluster holds: its `errors` are the first `ERRORS_SHOWN`
problems (by kind, namespace, name, field), next to `errors_total` and `errors_by_reason`;
`errors_page` (the status server's `/errors`) serves all of them, a page at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from akod.avi import AviClient, Pacer
from akod.config import Settings
from akod.kube import WatchState
from akod.store import Store, StoredProblem
from akod.sync.engine import Engine
from akod.sync.metrics import Telemetry
from akod.sync.registry import Registry
from akod.sync.suspects import DriftLedger

# A write waiting this long for the store's writer, or work owed by the engine with no handler
# returning and no controller call finishing for this long, means akod is stuck, not busy.
WRITER_STALL_S = 20.0
ENGINE_STALL_FLOOR_S = 120.0
ERRORS_SHOWN = 100  # problems listed in `/status`; `/errors` pages through the rest
ERRORS_PAGE_MAX = 1000


def _error(p: StoredProblem) -> dict[str, str]:
    return {"kind": p.kind, "namespace": p.namespace, "name": p.name, "field": p.field, "reason": p.reason,
            "message": p.message, "since": p.since}


class LeaderView(Protocol):
    """Who writes (`akod.daemon.leadership.Leadership`), as the status endpoint shows it."""

    @property
    def enabled(self) -> bool: ...

    @property
    def leader(self) -> bool: ...

    @property
    def holder(self) -> str: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass
class Runtime:
    store: Store
    telemetry: Telemetry
    engine: Engine
    client: AviClient
    registry: Registry
    leadership: LeaderView
    pacer: Pacer
    drift: DriftLedger | None = None
    watches: dict[str, WatchState] = field(default_factory=dict)
    missing_apis: dict[str, str] = field(default_factory=dict)
    absent_apis: dict[str, str] = field(default_factory=dict)  # CRDs the cluster does not have
    apis: dict[str, str] = field(default_factory=dict)  # watched resource -> the API discovery chose
    warm: bool = False  # watches synced and the controller known: ready to lead
    boot_done: bool = False  # leading, and the start-up sequence has run
    boot_read_back: str = ""  # how the last lead began: why the controller was read back, or why not
    version: str = ""
    started: float = field(default_factory=time.monotonic)
    fatal: str = ""

    @property
    def settings(self) -> Settings:
        return self.registry.inputs.settings

    def readiness(self) -> tuple[bool, str]:
        """Ready once watches are synced, the controller answers and the start-up sequence is done."""
        if self.fatal:
            return False, self.fatal
        unsynced = [name for name, w in self.watches.items() if not w.synced]
        if unsynced:
            return False, f"watches not synced yet: {', '.join(sorted(unsynced))}"
        if not self.client.connected:
            return False, f"the controller does not answer: {self.client.last_error or 'not connected yet'}"
        if not self.leadership.leader:
            if self.warm:
                return True, f"standby: ready to take over (the lease is held by {self.leadership.holder or 'nobody'})"
            return False, "warming up"
        if not self.boot_done:
            return False, "boot reconcile not finished"
        return True, "ready"

    def health(self) -> tuple[bool, str]:
        """Does work progress? (Not: is the loop alive.) False with the reason when something is stuck."""
        stalled = self.store.writer_stalled_for()
        if not self.store.writer_alive:
            return False, "the state database writer is not running"
        if stalled > WRITER_STALL_S:
            return False, f"a write to the state database has waited {stalled:.0f}s"
        limit = max(ENGINE_STALL_FLOOR_S, 2 * self.settings.api.timeout_s)
        idle_for = time.monotonic() - self.engine.progress_at
        if self.engine.owes_work() and idle_for > limit:
            return False, f"keys are owed but nothing progressed for {idle_for:.0f}s"
        return True, "progressing"

    def in_sync(self) -> bool:
        return self.boot_done and self.engine.in_sync()

    def rate(self) -> dict[str, Any]:
        """The pace of calls: configured, effective now (lower after 429s; 0 = unlimited), 429s seen."""
        pacer = self.pacer
        return {"configured": pacer.rate, "effective": round(pacer.effective_rate, 2),
                "throttled": pacer.throttled, "throttled_429s": pacer.throttled_429s,
                "decreases": pacer.rate_decreases}

    async def status(self) -> dict[str, Any]:
        store = self.store
        journal = await store.journal_counts()
        by_reason = await store.problem_counts()
        problems = await store.problems(limit=ERRORS_SHOWN)
        ready, reason = self.readiness()
        healthy, why = self.health()
        ctx = self.registry.inputs.controller
        return {
            "version": self.version,
            "cluster": self.settings.cluster.name,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "leader": self.leadership.leader,
            "ha": self.leadership.summary(),
            "ready": ready,
            "ready_reason": reason,
            "progress": {"ok": healthy, "reason": why},
            "controller": {
                "url": self.settings.controller.base_url,
                "connected": self.client.connected,
                "version": self.client.controller_version or "",
                "api_version": self.client.api_version or "",
                "last_error": self.client.last_error or "",
                "vrf": ctx.vrf if ctx else "",
                "vrf_source": ctx.vrf_source if ctx else "",
                "license_tier": ctx.license_tier if ctx else "",
                "rate": self.rate(),
            },
            "kubernetes": {
                "connected": bool(self.watches) and all(w.connected for w in self.watches.values()),
                "watches": {
                    name: {"synced": w.synced, "connected": w.connected, "resource_version": w.resource_version,
                           "restarts": w.restarts, "relists": w.relists, "last_error": w.last_error}
                    for name, w in sorted(self.watches.items())
                },
                "apis": dict(sorted(self.apis.items())),
                "missing": dict(sorted(self.missing_apis.items())),
                "absent_crds": dict(sorted(self.absent_apis.items())),
            },
            "sync": {
                "in_sync": self.in_sync(),
                "pending_ops": len(self.engine.queue) + journal.get("intent", 0) + journal.get("unknown", 0),
                "pending_keys": self.engine.queue.waiting_keys()[:50],
                "in_flight": self.engine.in_flight,
                "failed_ops": len(self.engine.failures),
                "failures": {k: {"count": f.count, "error": f.error, "since": f.since}
                             for k, f in sorted(self.engine.failures.items())},
                "held": dict(sorted(self.engine.held.items())[:50]),
                "last_sync_at": self.engine.last_sync_at,
                "journal": journal,
                "api_calls": self.telemetry.api_calls(),
                **self.registry.summary(),
            },
            "boot": {"done": self.boot_done, "applied_state": self.boot_read_back},
            "drift": self.drift.summary(interval_s=self.settings.sync.drift_check_s) if self.drift else {},
            "objects": await store.object_counts(),
            "errors": [_error(p) for p in problems],
            "errors_total": sum(by_reason.values()),
            "errors_by_reason": dict(sorted(by_reason.items())),
        }

    async def errors_page(self, *, offset: int = 0, limit: int = ERRORS_SHOWN, kind: str | None = None,
                          namespace: str | None = None, name: str | None = None) -> dict[str, Any]:
        """One page of the problems (`/errors`): at most `ERRORS_PAGE_MAX`, filtered, with the total."""
        offset, limit = max(offset, 0), min(max(limit, 0), ERRORS_PAGE_MAX)
        page = await self.store.problems(kind=kind, namespace=namespace, name=name, offset=offset, limit=limit)
        if kind is None and namespace is None and name is None:
            total = sum((await self.store.problem_counts()).values())
        else:
            total = len(await self.store.problems(kind=kind, namespace=namespace, name=name))
        following = offset + len(page)
        return {"total": total, "offset": offset, "limit": limit, "errors": [_error(p) for p in page],
                "next_offset": following if following < total else None}
