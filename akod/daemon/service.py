"""The daemon: the edges, the registry of families, the engine and the status server in one process.

`Daemon.run()` is what `akod run` (and so systemd) executes. Every long-lived task runs under the
`Supervisor` (see there for what each task's end means). Start order: the state database
(migrations) and its writer; the status server (so a starting daemon can already say why it is not
ready); API discovery, then the cluster cache from the stored copy and the watches; then the
start-up sequence (`akod.sync.reconcile`): the controller's context (retried while it is down),
the applied state rebuilt from the controller, every key marked, the engine started, garbage
collected, READY. The controller being down is not fatal: watches keep the store current,
`/readyz` says 503 with the reason, and the backlog drains when the controller is back. Fatal at
start are only a broken config (exit 2), a controller that contradicts the config (exit 2: wrong
cloud, VRF, SE group of another cluster) and a refused login (exit 1).

SIGTERM/SIGINT: stop taking new work, let in-flight calls finish (at most `STOP_GRACE_S`), exit 0.
SIGHUP: re-read the config (one reload at a time; SIGHUPs during a reload coalesce into one more).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from kubernetes_asyncio.client import ApiClient

from akod import __version__
from akod.avi import AviAuthError, AviClient, Pacer
from akod.config import ConfigError, Settings, load_settings, restart_required
from akod.daemon.faults import Faults
from akod.daemon.logsetup import set_level
from akod.daemon.notify import Notifier
from akod.daemon.supervisor import CRITICAL, ONCE, RESTART, Fatal, Supervisor
from akod.kube import WatchState, open_api_client, run_watch
from akod.kube.resources import Resolution, resolve
from akod.kube.watching import WatchSpec
from akod.model.observed import Observed
from akod.statusd import StatusServer
from akod.store import Applied, Store
from akod.sync.cluster import Change, ClusterCache
from akod.sync.discovery import ControllerContext, ControllerMismatch, discover, routes_enabled
from akod.sync.engine import Engine
from akod.sync.family import AppliedLookup, Inputs, SyncIO
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry
from akod.sync.owned import OwnedSync
from akod.sync.reconcile import Reconciler
from akod.sync.registry import Registry
from akod.sync.reporting import ProblemReporter
from akod.sync.runtime import Runtime

log = logging.getLogger("akod.daemon")
T = TypeVar("T")
STOP_GRACE_S = 8.0
HEARTBEAT_S = 10.0
RESYNC_S = 300.0
GC_THRESHOLD_0 = 10_000
KEYS_PER_CALL_SLOT = 2
# Not pinging the watchdog for this long without systemd to act on it: the daemon exits itself.
SELF_EXIT_AFTER_S = 180.0

EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2


class Daemon:
    def __init__(self, *, settings: Settings, config_path: Path, password: str,
                 notifier: Notifier | None = None, faults: Faults | None = None) -> None:
        self.settings = settings
        self._config_path = config_path
        self._password = password
        self._notifier = notifier or Notifier()
        self._faults = faults or Faults()
        self._stop = asyncio.Event()
        self._reload_wanted = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> int:
        os.umask(0o077)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_wanted.set)
        s = self.settings
        store = await Store.open(path=Path(s.state.path), supervised=True,
                                 writer_crash_after=self._faults.store_writer_crash_after)
        telemetry = Telemetry()
        self._pacer = Pacer(rate=s.api.rate, burst=s.api.burst, workers=s.api.workers)
        kube_api: ApiClient | None = None
        try:
            kube_api = await open_api_client(kubeconfig=str(s.cluster.kubeconfig or ""), context=s.cluster.context)
            async with AviClient(
                base_url=s.controller.base_url, username=s.controller.username, password=self._password,
                tenant=s.controller.tenant, version=s.controller.version, ca_file=str(s.controller.ca_file or ""),
                insecure=s.controller.insecure, timeout_s=s.api.timeout_s, pacer=self._pacer, observer=telemetry,
            ) as client:
                return await self._serve(store=store, telemetry=telemetry, client=client, kube_api=kube_api)
        finally:
            if kube_api is not None:
                await kube_api.close()
            await store.close()
            self._notifier.close()

    async def _serve(self, *, store: Store, telemetry: Telemetry, client: AviClient, kube_api: ApiClient) -> int:
        s = self.settings
        inputs = Inputs(cluster=ClusterCache(), settings=s, applied=_applied_lookup(store))
        owned = OwnedSync(store=store, client=client)
        reporter = ProblemReporter(store=store, kube_api=kube_api, telemetry=telemetry)
        registry = Registry(inputs=inputs, io=SyncIO(store=store, owned=owned, reporter=reporter, client=client,
                                                      kube_api=kube_api))
        # The pacer bounds the calls to the controller at `[api] workers`; the engine runs more keys
        # than that, so that while some keys are in their database or Kubernetes steps, others
        # keep the controller's slots busy (the controller never sees more concurrent calls).
        engine = Engine(queue=KeyQueue(), telemetry=telemetry, workers=s.api.workers * KEYS_PER_CALL_SLOT,
                        handler=registry.sync)
        telemetry.on_any_call = engine.note_call
        runtime = Runtime(store=store, telemetry=telemetry, engine=engine, client=client, registry=registry,
                          pacer=self._pacer, version=__version__)
        telemetry.follow_pacer(self._pacer)
        self.runtime = runtime
        reconciler = Reconciler(registry=registry, engine=engine, store=store, owned=owned, client=client)
        status = StatusServer(runtime=runtime, listen=str(s.status.listen))
        supervisor = Supervisor()
        try:
            async with supervisor:
                supervisor.start("store-writer", store.run_writer, policy=CRITICAL)
                await status.start()
                supervisor.start("watchdog", lambda: self._watchdog(runtime), policy=CRITICAL)
                supervisor.start("boot", lambda: self._boot(runtime=runtime, supervisor=supervisor, kube_api=kube_api,
                                                            reconciler=reconciler), policy=ONCE)
                supervisor.start("heartbeat", lambda: self._heartbeat(client), policy=RESTART)
                supervisor.start("reloader", lambda: self._reloader(runtime), policy=RESTART)
                await self._stop.wait()
                log.info("stopping: letting in-flight calls finish")
                self._notifier.stopping()
                supervisor.begin_stop()
                if not await engine.drain(grace_s=STOP_GRACE_S):
                    log.warning("some keys were still being synced after %.0fs; their writes are cut off "
                                "(journal: unknown, resolved at the next start)", STOP_GRACE_S)
                await supervisor.shutdown(first=["engine"], last=["store-writer"])
        finally:
            await status.stop()
        if supervisor.fatal is not None:
            runtime.fatal = str(supervisor.fatal)
            return supervisor.fatal.code
        log.info("stopped")
        return EXIT_OK

    # -- tasks -----------------------------------------------------------------------------------

    async def _boot(self, *, runtime: Runtime, supervisor: Supervisor, kube_api: ApiClient,
                    reconciler: Reconciler) -> None:
        """The start-up sequence, then the periodic full pass (as its own supervised task)."""
        registry, engine, store = runtime.registry, runtime.engine, runtime.store
        await store.prune_journal()
        resolution = await _retry("API discovery", lambda: resolve(kube_api, registry.resources()))
        runtime.missing_apis = dict(resolution.missing)
        await self._load_cache(registry=registry, store=store, resolution=resolution)
        for spec in resolution.specs:
            runtime.watches[spec.resource] = WatchState()
            supervisor.start(f"watch-{spec.resource}",
                             self._watch_task(spec=spec, runtime=runtime), policy=RESTART)
        inputs = registry.inputs
        inputs.controller = await self._discover(runtime.client)
        inputs.controller_version = runtime.client.controller_version or ""
        inputs.api_version = runtime.client.api_version or ""
        while not all(w.synced for w in runtime.watches.values()):
            await asyncio.sleep(0.05)
        await reconciler.rebuild()
        await reconciler.mark_everything()
        supervisor.start("engine", engine.run, policy=CRITICAL)
        await reconciler.collect()
        runtime.boot_done = True
        summary = registry.summary()
        log.info("boot reconcile done: %s", ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary.items()))
        self._notifier.ready(self._status_line(runtime))
        supervisor.start("resync", lambda: self._resync(reconciler), policy=RESTART)

    async def _load_cache(self, *, registry: Registry, store: Store, resolution: Resolution) -> None:
        """The cluster cache from the stored copy, before the watches deliver what changed since."""
        for name in registry.resources():
            variant = resolution.chosen.get(name)
            if variant is not None:
                objects = await store.observed(kind=variant.kind)
                await registry.load(resource=variant.cursor_name, kind=variant.kind, objects=objects)
        # What is loaded by now lives as long as the process: keep it out of the collector's
        # full passes, and collect the young generation less often (a sync key allocates many
        # short-lived dicts; the default threshold of 700 made collections a visible cost).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])

    def _watch_task(self, *, spec: WatchSpec, runtime: Runtime) -> Callable[[], Awaitable[None]]:
        registry, engine = runtime.registry, runtime.engine

        async def on_change(upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
            keys = await registry.on_change(Change(resource=spec.resource, kind=spec.kind, upserts=upserts,
                                                   deleted=deleted))
            for key in sorted(keys):
                await engine.mark(key)

        return lambda: run_watch(spec=spec, store=runtime.store, state=runtime.watches[spec.resource],
                                 on_change=on_change)

    async def _discover(self, client: AviClient) -> ControllerContext:
        failures = 0
        while True:
            try:
                return await discover(client=client, settings=self.settings)
            except ControllerMismatch as exc:
                raise Fatal(f"the controller does not match the configuration: {exc}", code=EXIT_CONFIG) from exc
            except AviAuthError as exc:
                raise Fatal(f"login to the controller refused: {exc}", code=EXIT_FATAL) from exc
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - controller down or not ready: keep trying
                failures += 1
                delay = min(15.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.warning("controller not usable yet (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)

    async def _resync(self, reconciler: Reconciler) -> None:
        while True:
            await asyncio.sleep(RESYNC_S)
            await reconciler.full_pass()

    async def _heartbeat(self, client: AviClient) -> None:
        """A light read every few seconds so readiness notices a controller that went away."""
        while True:
            await asyncio.sleep(HEARTBEAT_S if client.connected else 2.0)
            try:
                await client.get("/api/cluster/runtime")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.debug("controller heartbeat failed: %s", exc)

    async def _watchdog(self, runtime: Runtime) -> None:
        """WATCHDOG=1 only while work progresses; stuck too long without systemd acting: exit."""
        interval = self._notifier.watchdog_interval_s or 5.0
        loop = asyncio.get_running_loop()
        unhealthy_since: float | None = None
        while True:
            await asyncio.sleep(interval)
            healthy, why = runtime.health()
            if healthy:
                if unhealthy_since is not None:
                    log.info("work progresses again; pinging the watchdog again")
                unhealthy_since = None
                self._notifier.watchdog()
            else:
                if unhealthy_since is None:
                    unhealthy_since = loop.time()
                    log.error("not pinging the systemd watchdog: %s", why)
                if loop.time() - unhealthy_since > SELF_EXIT_AFTER_S:
                    raise Fatal(f"stuck for {SELF_EXIT_AFTER_S:.0f}s: {why}")
            self._notifier.status(self._status_line(runtime))

    def _status_line(self, runtime: Runtime) -> str:
        ready, reason = runtime.readiness()
        routes = runtime.registry.summary().get("static_routes", 0)
        return f"{'ready' if ready else 'not ready: ' + reason}; {routes} static routes; {len(runtime.engine.queue)} pending"

    async def _reloader(self, runtime: Runtime) -> None:
        """One reload at a time: SIGHUPs that arrive during a reload coalesce into one more."""
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            await self.reload(runtime)

    async def reload(self, runtime: Runtime) -> None:
        self._notifier.reloading()
        try:
            new = load_settings(self._config_path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration:\n%s", exc)
            self._notifier.ready(self._status_line(runtime))
            return
        needs_restart = restart_required(self.settings, new)
        if needs_restart:
            log.warning("reload: these changes need a restart and are not applied: %s", ", ".join(needs_restart))
        old = self.settings
        live = new if not needs_restart else _merge_live(old=old, new=new)
        self.settings = live
        runtime.registry.inputs.settings = live
        set_level(live.log.level)
        self._pacer.reconfigure(rate=live.api.rate, burst=live.api.burst, workers=live.api.workers)
        if routes_enabled(old) != routes_enabled(live):
            log.info("reload: static route sync is now %s", "on" if routes_enabled(live) else "off")
        for key in sorted(runtime.registry.reassign()):
            await runtime.engine.mark(key)
        log.info("configuration reloaded from %s", self._config_path)
        self._notifier.ready(self._status_line(runtime))


def _applied_lookup(store: Store) -> AppliedLookup:
    async def lookup(obj_type: str, tenant: str, name: str) -> Applied | None:
        return await store.applied(obj_type=obj_type, tenant=tenant, name=name)

    return lookup


async def _retry(what: str, call: Callable[[], Awaitable[T]]) -> T:
    failures = 0
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the apiserver not answering yet: keep trying
            failures += 1
            delay = min(15.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)


def _merge_live(*, old: Settings, new: Settings) -> Settings:
    """Take the sections that can change live from `new`, everything else from `old`."""
    live = ("log", "api", "namespaces", "l4", "routes")
    updates = {name: getattr(new, name) for name in live}
    l7 = new.l7.model_copy(update={"service_type": old.l7.service_type})
    return old.model_copy(update={**updates, "l7": l7})
