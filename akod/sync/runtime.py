"""The live parts of a running daemon, gathered in one object the status server reads.

The daemon builds it and keeps it current; `akod.statusd` only reads it. Nothing in here is
global: a test process can run several daemons side by side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from akod.avi import AviClient
from akod.config import Settings
from akod.kube import WatchState
from akod.store import Store
from akod.sync.discovery import ControllerContext
from akod.sync.engine import Engine
from akod.sync.metrics import Telemetry
from akod.sync.l4sync import L4Sync
from akod.sync.l7sync import L7Sync
from akod.sync.routesync import RouteSync


@dataclass
class Runtime:
    settings: Settings
    store: Store
    telemetry: Telemetry
    engine: Engine
    client: AviClient
    routes: RouteSync
    l4: L4Sync | None = None
    l7: L7Sync | None = None
    watches: dict[str, WatchState] = field(default_factory=dict)
    context: ControllerContext | None = None
    boot_done: bool = False
    kube_connected: bool = False
    leader: bool = True
    version: str = ""
    started: float = field(default_factory=time.monotonic)
    fatal: str = ""

    def controller_url(self) -> str:
        return self.settings.controller.base_url

    def readiness(self) -> tuple[bool, str]:
        """Ready once watches are synced, the controller answers and boot reconcile is done."""
        if self.fatal:
            return False, self.fatal
        unsynced = [name for name, w in self.watches.items() if not w.synced]
        if unsynced:
            return False, f"watches not synced yet: {', '.join(sorted(unsynced))}"
        if not self.client.connected:
            return False, f"the controller does not answer: {self.client.last_error or 'not connected yet'}"
        if not self.boot_done:
            return False, "boot reconcile not finished"
        return True, "ready"

    async def status(self) -> dict[str, Any]:
        store = self.store
        journal = await store.journal_counts()
        problems = await store.problems()
        return {
            "version": self.version,
            "cluster": self.settings.cluster.name,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "leader": self.leader,
            "ready": self.readiness()[0],
            "ready_reason": self.readiness()[1],
            "controller": {
                "url": self.controller_url(),
                "connected": self.client.connected,
                "version": self.client.controller_version or "",
                "api_version": getattr(self.client, "api_version", "") or "",
                "last_error": self.client.last_error or "",
                "vrf": self.context.vrf if self.context else "",
                "vrf_source": self.context.vrf_source if self.context else "",
            },
            "kubernetes": {
                "connected": any(w.connected for w in self.watches.values()) if self.watches else False,
                "watches": {
                    name: {"synced": w.synced, "connected": w.connected, "resource_version": w.resource_version,
                           "restarts": w.restarts, "relists": w.relists, "last_error": w.last_error}
                    for name, w in sorted(self.watches.items())
                },
            },
            "sync": {
                "in_sync": self.engine.in_sync() and self.boot_done,
                "pending_ops": len(self.engine.queue) + journal.get("intent", 0),
                "pending_keys": self.engine.queue.waiting_keys()[:50],
                "in_flight": self.engine.in_flight,
                "failed_ops": len(self.engine.failures),
                "failures": {k: {"count": f.count, "error": f.error, "since": f.since}
                             for k, f in sorted(self.engine.failures.items())},
                "last_sync_at": self.engine.last_sync_at,
                "journal": journal,
                "api_calls": self.telemetry.api_calls(),
                "static_routes": self.routes.route_count,
            },
            "objects": await store.object_counts(),
            "errors": [
                {"kind": p.kind, "namespace": p.namespace, "name": p.name, "field": p.field,
                 "reason": p.reason, "message": p.message, "since": p.since}
                for p in problems
            ],
        }
