"""Leadership: which of two akod daemons for one cluster writes, and the gate every write passes.

Network teams run two jump hosts. Both daemons keep their watches, cluster cache and state
database warm, but only the holder of the `coordination.k8s.io/v1` Lease (`[ha] lease_namespace`
/ `lease_name`) writes: to the controller, to Kubernetes (statuses, Events), to the SE group. The
election is client-go's, with AKO's timings: every `retry_period_s` (2 s) a daemon reads the Lease
and renews it (its own), takes it (free, or not renewed for `lease_duration_s`, 15 s, as *this*
daemon observed it: no trust in the other host's clock), or stays standby.

Fencing: a leader may write only until `renew_deadline_s` (10 s) after the start of its last
successful renewal, measured on its own monotonic clock, which keeps running while the process is
stopped. So a leader that cannot renew (the apiserver unreachable, the process paused with
SIGSTOP) stops writing before its Lease can have expired anywhere, and a paused leader resumed
after another took over finds its gate shut before any of its writes leaves (`check_write`, asked
right before each write is sent), then sees the new holder and steps down to standby without
exiting. On a clean stop the leader releases the Lease, so the standby takes over in ~2 s.

Without `[ha] enabled` there is no Lease: the daemon is always the leader and the gate always open.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.avi import AviWriteRefused
from akod.config import Settings
from akod.kube.lease import LeaseConflict, LeaseRecord, micro_time, read_lease, write_lease

log = logging.getLogger("akod.daemon")


def _short(exc: Exception) -> str:
    """An error in one line: an ApiException's status and the server's message, not its headers."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    if status is not None and body:
        message = str(body)
        with contextlib.suppress(ValueError, AttributeError):
            message = str(json.loads(body).get("message") or message)
        return f"{status}: {message}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def default_identity() -> str:
    """`<host name>-<pid>`: unique per daemon, and says where it runs."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Leadership:
    def __init__(self, *, settings: Settings, api: ApiClient | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        ha = settings.ha
        self.enabled = ha.enabled
        self.identity = ha.identity or default_identity()
        self.namespace = ha.lease_namespace
        self.name = ha.lease_for(settings.cluster.name)
        self._duration_s = ha.lease_duration_s
        self._renew_deadline_s = ha.renew_deadline_s
        self._retry_s = ha.retry_period_s
        self._api = api
        self._clock = clock
        self.leader = not self.enabled
        self.holder = self.identity if not self.enabled else ""
        self.transitions = 0
        self.last_error = ""
        self._renewed_at = -math.inf  # monotonic time the last successful renewal was started
        self._observed: tuple[str, str, str] | None = None  # (holder, renewTime, resourceVersion) last seen
        self._observed_at = -math.inf
        self._leading = asyncio.Event()
        self._following = asyncio.Event()
        (self._leading if self.leader else self._following).set()

    # -- the gate ------------------------------------------------------------------------------------

    def may_write(self) -> bool:
        if not self.enabled:
            return True
        return self.leader and self._clock() < self._renewed_at + self._renew_deadline_s

    def check_write(self) -> None:
        """Raise `AviWriteRefused` unless this daemon may write now (asked right before each write)."""
        if not self.may_write():
            why = ("not the leader" if not self.leader
                   else f"the lease was not renewed for {self._renew_deadline_s:.0f}s")
            raise AviWriteRefused(status=None, message=f"{self.identity} may not write: {why} "
                                  f"(holder: {self.holder or 'nobody'})", method="", path="")

    # -- waiting for a role --------------------------------------------------------------------------

    async def wait(self, *, leader: bool) -> None:
        await (self._leading if leader else self._following).wait()

    def summary(self) -> dict[str, Any]:
        renewed = self._clock() - self._renewed_at
        return {"enabled": self.enabled, "identity": self.identity, "holder": self.holder, "leader": self.leader,
                "lease": f"{self.namespace}/{self.name}" if self.enabled else "",
                "renewed_s_ago": round(renewed, 1) if self.enabled and math.isfinite(renewed) else None,
                "transitions": self.transitions, "last_error": self.last_error}

    # -- the election --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Acquire or renew every `retry_period_s` (with a little jitter), forever."""
        if not self.enabled:
            await asyncio.Event().wait()
        while True:
            await self.try_once()
            await asyncio.sleep(self._retry_s * random.uniform(0.9, 1.1))

    async def try_once(self) -> None:
        assert self._api is not None
        started = self._clock()
        now = micro_time()
        try:
            current = await read_lease(self._api, namespace=self.namespace, name=self.name)
            if current is None:
                await self._take(LeaseRecord(holder=self.identity, duration_s=int(self._duration_s), acquired=now,
                                             renewed=now, transitions=0), started=started)
                return
            self._observe(current)
            if current.holder == self.identity:
                await self._take(dataclasses.replace(current, renewed=now, duration_s=int(self._duration_s)),
                                 started=started)
                return
            if current.holder and not self._expired(current):
                self._follow(holder=current.holder)
                return
            log.info("the lease %s/%s of %s has expired; taking it", self.namespace, self.name,
                     current.holder or "nobody")
            await self._take(LeaseRecord(holder=self.identity, duration_s=int(self._duration_s), acquired=now,
                                         renewed=now, transitions=current.transitions + 1,
                                         resource_version=current.resource_version), started=started)
        except asyncio.CancelledError:
            raise
        except LeaseConflict as exc:
            self.last_error = str(exc)
            self._give_up_if_past_deadline()
        except Exception as exc:  # noqa: BLE001 - the apiserver not answering: stop writing in time
            why = _short(exc)
            if why != self.last_error:  # once per distinct error, not every retry period
                log.warning("could not read or renew the lease %s/%s: %s", self.namespace, self.name, why)
            self.last_error = why
            self._give_up_if_past_deadline()

    async def release(self) -> None:
        """On a clean stop: hand the Lease back (holder empty) so that the standby need not wait for it."""
        if not self.enabled or not self.leader or self._api is None:
            return
        self.leader = False
        try:
            current = await read_lease(self._api, namespace=self.namespace, name=self.name)
            if current is not None and current.holder == self.identity:
                await write_lease(self._api, namespace=self.namespace, name=self.name, record=dataclasses.replace(
                    current, holder="", renewed=micro_time(), duration_s=1))
                log.info("released the lease %s/%s", self.namespace, self.name)
        except Exception as exc:  # noqa: BLE001 - the standby takes over when the lease expires anyway
            log.warning("could not release the lease %s/%s: %s", self.namespace, self.name, exc)

    def _observe(self, record: LeaseRecord) -> None:
        seen = (record.holder, record.renewed, record.resource_version)
        if seen != self._observed:
            self._observed, self._observed_at = seen, self._clock()

    def _expired(self, record: LeaseRecord) -> bool:
        """Not renewed for its duration, as observed here (the other host's clock is not trusted)."""
        return self._clock() > self._observed_at + max(record.duration_s, 1)

    async def _take(self, record: LeaseRecord, *, started: float) -> None:
        assert self._api is not None
        written = await write_lease(self._api, namespace=self.namespace, name=self.name, record=record)
        self._observe(written)
        self._renewed_at = started
        self.last_error = ""
        if not self.leader:
            self.transitions += 1
            log.info("leading: holding the lease %s/%s as %s", self.namespace, self.name, self.identity)
        self.leader, self.holder = True, self.identity
        self._following.clear()
        self._leading.set()

    def _follow(self, *, holder: str) -> None:
        if self.leader:
            log.warning("the lease %s/%s is held by %s now: standing by (no writes)", self.namespace, self.name,
                        holder)
            self.transitions += 1
        elif holder != self.holder:
            log.info("standing by: the lease %s/%s is held by %s", self.namespace, self.name, holder)
        self.leader, self.holder = False, holder
        self._leading.clear()
        self._following.set()

    def _give_up_if_past_deadline(self) -> None:
        if self.leader and self._clock() >= self._renewed_at + self._renew_deadline_s:
            log.error("the lease %s/%s was not renewed for %.0fs: stopping writes", self.namespace, self.name,
                      self._renew_deadline_s)
            self._follow(holder=self.holder)
