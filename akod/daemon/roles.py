"""From a started process to a warm standby, and from standby to leader and back.

Every daemon warms up the same way: API discovery, the cluster cache from the stored copy, the
watches (resumed or relisted), the controller's context (read-only: nothing is written yet), the
watches synced. A daemon without `[ha]` is the leader at once; with `[ha]` it may stay a warm
standby, ready to take over, for as long as the other daemon holds the Lease.

Taking over (`lead`) is the start-up sequence of `akod.sync.reconcile`, run as the one who may
write: the SE group labelled, the applied state rebuilt from the controller (the old leader may
have written anything up to its last moment, so memory is not trusted), every key marked (static
routes included: AKO forgets them on failover), the engine resumed, garbage collected, ready.
Losing the lease (`stand_by`) pauses the engine at once; the write gates already refuse.

A CRD installed after the start (AKO's, a CNI's) is found without a restart: every `[sync]
rediscover_s` the resources discovery did not find (absent or missing) are looked up again, and
one now served is loaded, watched and its readers' keys marked, as if it had been there at the
start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from akod.avi import AviAuthError
from akod.config import Settings
from akod.daemon.leadership import Leadership
from akod.daemon.supervisor import CRITICAL, RESTART, Fatal, Supervisor
from akod.kube import WatchState, run_watch
from akod.kube.resources import Resolution, resolve
from akod.kube.status import KubeWriter
from akod.kube.watching import WatchSpec
from akod.model.observed import Observed
from akod.sync.cluster import Change
from akod.sync.discovery import ControllerContext, ControllerMismatch, discover
from akod.sync.reconcile import Reconciler
from akod.sync.runtime import Runtime

log = logging.getLogger("akod.daemon")
T = TypeVar("T")
GC_THRESHOLD_0 = 10_000
EXIT_FATAL, EXIT_CONFIG = 1, 2


class Roles:
    def __init__(self, *, runtime: Runtime, supervisor: Supervisor, kube: KubeWriter, reconciler: Reconciler,
                 leadership: Leadership, settings: Callable[[], Settings], ready: Callable[[], None],
                 check_drift: Callable[[], None] = lambda: None) -> None:
        self._rt = runtime
        self._supervisor = supervisor
        self._kube = kube
        self._reconciler = reconciler
        self._leadership = leadership
        self._settings = settings
        self._ready = ready
        self._check_drift = check_drift  # a drift check now (after a start on the stored applied state)
        self._led = False  # has this process led before (a takeover always reads the controller back)
        self._resolution = Resolution()

    async def run(self) -> None:
        await self.warm_up()
        self._ready()  # READY=1: as a leader after the start-up sequence, as a standby now
        while True:
            await self._leadership.wait(leader=True)
            await self.lead()
            await self._leadership.wait(leader=False)
            self.stand_by()

    async def warm_up(self) -> None:
        rt = self._rt
        registry = rt.registry
        await rt.store.prune_journal()
        resolution = await retry("API discovery", lambda: resolve(self._kube.api, registry.resources(),
                                                               optional=registry.optional_resources()))
        rt.missing_apis = dict(resolution.missing)
        for name, why in resolution.missing.items():
            log.warning("%s: %s; akod does not watch them", name, why)
        for name, why in resolution.absent.items():
            log.info("%s: %s; akod works without them", name, why)
        rt.absent_apis = dict(resolution.absent)
        rt.apis = {name: v.api for name, v in resolution.chosen.items()}
        registry.inputs.unserved = resolution.unserved
        self._kube.route(resolution.targets)  # status patches and Events go to the API each kind was read from
        # The CRs' last accepted effects, before anything is translated, and before the cache is
        # loaded: which keys an object lands on may depend on them (an AviInfraSetting's shards).
        await registry.restore()
        await self._load_cache(resolution)
        for spec in resolution.specs:
            self._start_watch(spec)
        self._resolution = resolution
        if resolution.unserved:
            self._supervisor.start("rediscover", self._rediscover, policy=RESTART)
        rt.engine.pause()  # keys are marked from now on; they run once this daemon leads
        self._supervisor.start("engine", rt.engine.run, policy=CRITICAL)
        await self._discover(label_se_group=False)
        while not all(w.synced for w in rt.watches.values()):
            await asyncio.sleep(0.05)
        rt.warm = True
        if self._leadership.enabled and not self._leadership.leader:
            log.info("warm standby: watches synced, controller known; waiting for the lease %s/%s",
                     self._leadership.namespace, self._leadership.name)

    async def lead(self) -> None:
        rt, reconciler = self._rt, self._reconciler
        first, self._led = not self._led, True
        trusted, why = (await reconciler.stored_state_trusted(settings=self._settings()) if first
                        else (False, "read back from the controller: taking over the lead"))
        rt.boot_read_back = why
        log.info("taking the lead: applied state %s; re-asserting everything", why)
        await self._discover(label_se_group=True)
        if trusted:
            count = await reconciler.use_stored()
            log.info("using the %d applied objects the state database holds; the drift check runs once every "
                     "key is synced", count)
        else:
            await reconciler.rebuild()
        await reconciler.mark_everything()
        rt.engine.resume()
        await reconciler.collect()
        rt.boot_done = True
        if trusted:
            # Now, not during the pass over every key: listing the controller's objects (50,000 at
            # 10,000 Services) on the same cores made that pass and so the start slower.
            self._check_drift()
        summary = rt.registry.summary()
        log.info("boot reconcile done: %s", ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary.items()))
        self._ready()

    def stand_by(self) -> None:
        self._rt.engine.pause()
        self._rt.boot_done = False
        log.warning("standing by: no writes until this daemon holds the lease again")

    async def _discover(self, *, label_se_group: bool) -> ControllerContext:
        rt = self._rt
        failures = 0
        while True:
            try:
                ctx = await discover(client=rt.client, settings=self._settings(), label_se_group=label_se_group)
            except ControllerMismatch as exc:
                raise Fatal(f"the controller does not match the configuration: {exc}", code=EXIT_CONFIG) from exc
            except AviAuthError as exc:
                raise Fatal(f"login to the controller refused: {exc}", code=EXIT_FATAL) from exc
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - controller down or not ready (or we lost the lead): retry
                failures += 1
                delay = min(15.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.warning("controller not usable yet (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                continue
            inputs = rt.registry.inputs
            inputs.controller = ctx
            inputs.controller_version = rt.client.controller_version or ""
            inputs.api_version = rt.client.api_version or ""
            return ctx

    async def _load_cache(self, resolution: Resolution) -> None:
        """The cluster cache from the stored copy, before the watches deliver what changed since."""
        rt = self._rt
        for name in rt.registry.resources():
            variant = resolution.chosen.get(name)
            if variant is not None:
                objects = await rt.store.observed(kind=variant.kind)
                await rt.registry.load(resource=variant.cursor_name, kind=variant.kind, objects=objects)
                if variant.stale(o.body for o in objects):
                    log.info("%s were stored by an older akod (without %s): listing them again", name,
                             ", ".join(variant.shape))
                    resolution.specs = [replace(s, resume=False) if s.resource == variant.cursor_name else s
                                        for s in resolution.specs]
        # What is loaded by now lives as long as the process: keep it out of the collector's
        # full passes, and collect the young generation less often (a sync key allocates many
        # short-lived dicts; the default threshold of 700 made collections a visible cost).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])

    def _start_watch(self, spec: WatchSpec) -> None:
        self._rt.watches[spec.resource] = WatchState()
        self._supervisor.start(f"watch-{spec.resource}", self._watch_task(spec), policy=RESTART)

    async def _rediscover(self) -> None:
        """Look up the unserved resources again, every `[sync] rediscover_s`, until none is left."""
        while self._resolution.unserved:
            interval = self._settings().sync.rediscover_s
            if interval <= 0:
                return
            await asyncio.sleep(interval)  # a period, not a wait for an outcome
            await self.rediscover_once()

    async def rediscover_once(self) -> list[str]:
        """The unserved resources the server serves now: loaded, watched, their readers' keys marked."""
        rt, registry, known = self._rt, self._rt.registry, self._resolution
        found = await resolve(self._kube.api, sorted(known.unserved), optional=registry.optional_resources())
        for name, variant in found.chosen.items():
            log.info("%s: now served (%s); watching them", name, variant.api)
            known.absent.pop(name, None)
            known.missing.pop(name, None)
            known.chosen[name] = variant
            rt.absent_apis.pop(name, None)
            rt.missing_apis.pop(name, None)
            rt.apis[name] = variant.api
            registry.inputs.unserved = known.unserved
            self._kube.route(known.targets)
            objects = await rt.store.observed(kind=variant.kind)
            keys = await registry.load(resource=variant.cursor_name, kind=variant.kind, objects=objects)
            for spec in found.specs:
                if spec.resource == variant.cursor_name:
                    known.specs.append(spec)
                    self._start_watch(spec)
            for key in sorted(keys | registry.keys_reading(name)):
                await rt.engine.mark(key)
        return sorted(found.chosen)

    def _watch_task(self, spec: WatchSpec) -> Callable[[], Awaitable[None]]:
        rt = self._rt

        async def on_change(upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
            keys = await rt.registry.on_change(Change(resource=spec.resource, kind=spec.kind, upserts=upserts,
                                                      deleted=deleted))
            for key in sorted(keys):
                await rt.engine.mark(key)

        return lambda: run_watch(spec=spec, store=rt.store, state=rt.watches[spec.resource], on_change=on_change)


async def retry(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` until it succeeds, with capped, jittered backoff (the apiserver not answering yet)."""
    failures = 0
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep trying
            failures += 1
            delay = min(15.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)

