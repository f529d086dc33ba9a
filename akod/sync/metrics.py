"""The daemon's counters, kept once and shown twice: as `/status` JSON and as Prometheus text.

Each daemon owns its own `CollectorRegistry` (never the process-global one), so several daemons
can live in one test process and a reload never registers a metric twice. `Telemetry` is also the
Avi client's call observer: every HTTP attempt to the controller is counted by method and status,
and every 429 once more in `akod_avi_throttled_total`; the pacer's configured and effective rates
are gauges read when `/metrics` is asked (`follow_pacer`).
"""

from __future__ import annotations

import time
from collections import Counter as TallyCounter
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from akod.avi import Pacer

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("akod_avi_calls", "Calls to the Avi controller", ["method", "status"], registry=self.registry)
        self.call_seconds = Histogram("akod_avi_call_seconds", "Latency of calls to the Avi controller", ["method"],
                                      registry=self.registry)
        self.queue_depth = Gauge("akod_sync_queue_depth", "Keys waiting to be synced", registry=self.registry)
        self.in_flight = Gauge("akod_sync_in_flight", "Keys being synced now", registry=self.registry)
        self.sync_seconds = Histogram("akod_sync_seconds", "Time to sync one key (desired -> applied)", ["kind"],
                                      buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                                      registry=self.registry)
        self.sync_failures = Counter("akod_sync_failures", "Key syncs that failed and will be retried", ["kind"],
                                     registry=self.registry)
        # Gauges set from the watches' own counters when /metrics is read (they only ever grow).
        self.watch_restarts = Gauge("akod_watch_restarts", "Watch connections re-established since start",
                                    ["resource"], registry=self.registry)
        self.watch_relists = Gauge("akod_watch_relists", "Full relists since start (first start or 410 Gone)",
                                   ["resource"], registry=self.registry)
        self.drift_repairs = Counter("akod_drift_repairs", "Objects written again because they were edited or "
                                     "deleted on the controller", ["type"], registry=self.registry)
        self.object_errors = Gauge("akod_object_errors", "Kubernetes objects with a translation error",
                                   registry=self.registry)
        self.throttled = Counter("akod_avi_throttled", "Calls the controller answered 429 Too Many Requests",
                                 registry=self.registry)
        self.rate_configured = Gauge("akod_avi_rate_configured", "[api] rate: calls per second allowed (0 = unlimited)",
                                     registry=self.registry)
        self.rate_effective = Gauge("akod_avi_rate_effective",
                                    "Calls per second allowed now: lower than configured after 429s (0 = unlimited)",
                                    registry=self.registry)
        self.api_calls_by_method: TallyCounter[str] = TallyCounter()
        self.started = time.monotonic()
        # Told of every finished call (the engine's progress, for the watchdog).
        self.on_any_call: Callable[[], None] | None = None

    # The Avi client's CallObserver protocol.
    def on_call(self, *, method: str, obj_type: str, status: int | None, elapsed_s: float) -> None:
        self.api_calls_by_method[method] += 1
        self.calls.labels(method=method, status=str(status) if status is not None else "error").inc()
        self.call_seconds.labels(method=method).observe(elapsed_s)
        if status == 429:
            self.throttled.inc()
        if self.on_any_call is not None:
            self.on_any_call()

    def follow_pacer(self, pacer: Pacer) -> None:
        """Read the rate gauges from `pacer` whenever the metrics are collected."""
        self.rate_configured.set_function(lambda: pacer.rate)
        self.rate_effective.set_function(lambda: pacer.effective_rate)

    def api_calls(self) -> dict[str, int]:
        return {m: self.api_calls_by_method.get(m, 0) for m in ("GET", *WRITE_METHODS)}
