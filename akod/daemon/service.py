"""The daemon: wiring the edges, the sync engine and the status server into one process.

`Daemon.run()` is what `akod run` (and so systemd) executes. Start order: state database
(migrations), status server (so a starting daemon can already say why it is not ready), the
Kubernetes watches, the controller discovery with retries, then the engine. The controller being
down is not fatal: watches keep the store current, `/readyz` says 503 with the reason, and the
backlog drains when the controller is back. Fatal at start are only a broken config (exit 2),
a controller that contradicts the config (exit 2: wrong cloud, VRF, SE group of another cluster)
and a refused login (exit 1).

SIGTERM/SIGINT: stop taking new work, let in-flight calls finish (at most `STOP_GRACE_S`), exit 0.
SIGHUP: re-read the config; apply what can change live, log what needs a restart.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import signal
from collections.abc import Sequence
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from akod import __version__
from akod.avi import AviAuthError, AviClient, Pacer
from akod.config import ConfigError, Settings, load_settings, restart_required
from akod.daemon.logsetup import set_level
from akod.daemon.notify import Notifier
from akod.kube import WatchState, open_api_client, run_watch
from akod.statusd import StatusServer
from akod.store import Store
from akod.daemon.watches import OnChange, watch_specs
from akod.model.observed import Observed
from akod.sync.discovery import ControllerMismatch, discover, routes_enabled
from akod.sync.gc import collect_garbage
from akod.sync.inventory import rebuild_applied
from akod.sync.l4sync import CLEAR as L4_CLEAR
from akod.sync.l4sync import KIND as L4_KIND
from akod.sync.l4sync import L4Sync
from akod.sync.l7sync import CLEAR as L7_CLEAR
from akod.sync.l7sync import KIND as L7_KIND
from akod.sync.l7sync import L7Sync
from akod.sync.owned import OwnedSync
from akod.sync.engine import Engine
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry
from akod.sync.reporting import ProblemReporter
from akod.sync.routesync import KEY as ROUTES_KEY
from akod.sync.routesync import RouteSync
from akod.sync.runtime import Runtime

log = logging.getLogger("akod.daemon")
STOP_GRACE_S = 8.0
HEARTBEAT_S = 10.0
DRIFT_CHECK_S = 300.0
GC_THRESHOLD_0 = 10_000
KEYS_PER_CALL_SLOT = 2

EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2


class Fatal(Exception):
    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


class Daemon:
    def __init__(self, *, settings: Settings, config_path: Path, password: str,
                 notifier: Notifier | None = None) -> None:
        self.settings = settings
        self._config_path = config_path
        self._password = password
        self._notifier = notifier or Notifier()
        self._stop = asyncio.Event()
        self._fatal: Fatal | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> int:
        os.umask(0o077)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        s = self.settings
        store = await Store.open(path=Path(s.state.path))
        telemetry = Telemetry()
        pacer = Pacer(rate=s.api.rate, burst=s.api.burst, workers=s.api.workers)
        self._pacer = pacer
        kube_api: ApiClient | None = None
        try:
            kube_api = await open_api_client(kubeconfig=str(s.cluster.kubeconfig or ""), context=s.cluster.context)
            async with AviClient(
                base_url=s.controller.base_url, username=s.controller.username, password=self._password,
                tenant=s.controller.tenant, version=s.controller.version, ca_file=str(s.controller.ca_file or ""),
                insecure=s.controller.insecure, timeout_s=s.api.timeout_s, pacer=pacer, observer=telemetry,
            ) as client:
                return await self._serve(store=store, telemetry=telemetry, client=client, kube_api=kube_api)
        finally:
            if kube_api is not None:
                await kube_api.close()
            await store.close()
            self._notifier.close()

    async def _serve(self, *, store: Store, telemetry: Telemetry, client: AviClient, kube_api: ApiClient) -> int:
        s = self.settings
        # The pacer bounds the calls to the controller at `[api] workers`; the engine runs more keys
        # than that, so that while some keys are in their database or Kubernetes steps, others
        # keep the controller's slots busy (the controller never sees more concurrent calls).
        engine = Engine(queue=KeyQueue(), telemetry=telemetry, workers=s.api.workers * KEYS_PER_CALL_SLOT)
        reporter = ProblemReporter(store=store, kube_api=kube_api, telemetry=telemetry)
        owned = OwnedSync(store=store, client=client)
        runtime: Runtime
        route_sync = RouteSync(
            store=store, client=client, reporter=reporter, cluster=s.cluster.name,
            enabled=lambda: routes_enabled(self.settings), context=lambda: runtime.context,
        )
        specs, endpoints_kind = await watch_specs(kube_api)
        l4 = L4Sync(store=store, owned=owned, reporter=reporter, kube_api=kube_api, settings=lambda: self.settings,
                    context=lambda: runtime.context, controller_version=lambda: client.controller_version or "",
                    mark=engine.mark, endpoints_kind=lambda: endpoints_kind)
        l7 = L7Sync(store=store, owned=owned, reporter=reporter, kube_api=kube_api, settings=lambda: self.settings,
                    context=lambda: runtime.context, controller_version=lambda: client.controller_version or "",
                    mark=engine.mark, l4=l4)
        runtime = Runtime(settings=s, store=store, telemetry=telemetry, engine=engine, client=client,
                          routes=route_sync, l4=l4, l7=l7, version=__version__)
        self.runtime = runtime
        self._owned, self._l4, self._l7 = owned, l4, l7
        engine.register(kind=ROUTES_KEY, handler=route_sync.sync)
        engine.register(kind=L4_KIND, handler=l4.sync)
        engine.register(kind=L4_CLEAR, handler=l4.clear)
        engine.register(kind=L7_KIND, handler=l7.sync)
        engine.register(kind=L7_CLEAR, handler=l7.clear)
        status = StatusServer(runtime=runtime, listen=str(s.status.listen))
        await status.start()

        async def nodes_changed(upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
            if runtime.context is not None:  # before discovery, boot marks the key itself
                await engine.mark(ROUTES_KEY)
            await l4.on_nodes(upserts, deleted)
            await l7.on_nodes(upserts, deleted)

        def both(first: OnChange, second: OnChange) -> OnChange:
            async def handler(upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
                await first(upserts, deleted)
                await second(upserts, deleted)
            return handler

        await l4.load()
        await l7.load()
        # What is loaded by now lives as long as the process: keep it out of the collector's
        # full passes, and collect the young generation less often (a sync key allocates many
        # short-lived dicts; the default threshold of 700 made collections a visible cost).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])
        handlers = {"nodes": nodes_changed, "namespaces": both(l4.on_namespaces, l7.on_namespaces),
                    "services": both(l4.on_services, l7.on_services),
                    "endpoints": both(l4.on_endpoints, l7.on_endpoints),
                    "endpointslices": both(l4.on_endpoints, l7.on_endpoints),
                    "ingressclasses": l7.on_classes, "ingresses": l7.on_ingresses, "secrets": l7.on_secrets}
        self._tasks = []
        for spec in specs:
            runtime.watches[spec.resource] = WatchState()
            self._tasks.append(asyncio.create_task(
                run_watch(spec=spec, store=store, state=runtime.watches[spec.resource],
                          on_change=handlers[spec.resource]), name=f"watch-{spec.resource}"))
        self._tasks += [
            asyncio.create_task(self._boot(runtime=runtime, client=client), name="boot"),
            asyncio.create_task(self._heartbeat(runtime=runtime, client=client), name="heartbeat"),
            asyncio.create_task(self._watchdog(runtime=runtime), name="watchdog"),
        ]
        await store.prune_journal()
        engine.start()
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([stop_wait, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            log.info("stopping: letting in-flight calls finish")
            self._notifier.stopping()
            await engine.stop(grace_s=STOP_GRACE_S)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await status.stop()
        if self._fatal is not None:
            log.error("%s", self._fatal)
            return self._fatal.code
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("task %s failed: %r", task.get_name(), task.exception())
                return EXIT_FATAL
        log.info("stopped")
        return EXIT_OK

    def _die(self, fatal: Fatal) -> None:
        self._fatal = fatal
        self.runtime.fatal = str(fatal)
        self._stop.set()

    # -- tasks -----------------------------------------------------------------------------------

    async def _boot(self, *, runtime: Runtime, client: AviClient) -> None:
        """Learn the controller's context (retrying while it is down), then reconcile everything once."""
        failures = 0
        while runtime.context is None:
            try:
                runtime.context = await discover(client=client, settings=self.settings)
            except ControllerMismatch as exc:
                self._die(Fatal(f"the controller does not match the configuration: {exc}", code=EXIT_CONFIG))
                return
            except AviAuthError as exc:
                self._die(Fatal(f"login to the controller refused: {exc}", code=EXIT_FATAL))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - controller down or not ready: keep trying
                failures += 1
                delay = min(15.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.warning("controller not usable yet (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
        while not all(w.synced for w in runtime.watches.values()):
            await asyncio.sleep(0.05)
        await self._reconcile_all(runtime=runtime, client=client)
        runtime.boot_done = True
        log.info("boot reconcile done: %d static routes in VRF %s, %d L4 virtual services, %d Ingresses on %d L7 keys",
                 runtime.routes.route_count, runtime.context.vrf, len(self._l4.index.members),
                 len(self._l7.index.keys_of), len(self._l7.index.members))
        self._notifier.ready(self._status_line(runtime))
        while True:
            await asyncio.sleep(DRIFT_CHECK_S)
            await self._reconcile_all(runtime=runtime, client=client)

    async def _reconcile_all(self, *, runtime: Runtime, client: AviClient) -> None:
        """Re-read what the controller holds, sync every key once against it, then collect garbage."""
        s = self.settings
        while True:
            try:
                await rebuild_applied(client=client, store=runtime.store, cluster=s.cluster.name,
                                      cloud=s.controller.cloud, tenant=s.controller.tenant)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - controller trouble: try again shortly
                log.warning("could not read the controller's objects (%s); retrying", exc)
                await asyncio.sleep(2.0)
        resolved = await self._owned.resolve_open_rows()
        if resolved:
            log.info("resolved %d journal rows left open by the last run, by reading the controller back", resolved)
        self._l4.ready = True
        self._l7.ready = True
        keys = self._l4.all_keys() + await self._l7.all_keys()
        runtime.routes.verify_next = True
        for key in [ROUTES_KEY, *keys]:
            await runtime.engine.mark(key)
        await runtime.engine.queue.wait_idle()
        try:
            await collect_garbage(store=runtime.store, owned=self._owned)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried at the next reconcile
            log.warning("garbage collection failed: %s", exc)

    async def _heartbeat(self, *, runtime: Runtime, client: AviClient) -> None:
        """A light read every few seconds so readiness notices a controller that went away."""
        while True:
            await asyncio.sleep(HEARTBEAT_S if client.connected else 2.0)
            try:
                await client.get("/api/cluster/runtime")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.debug("controller heartbeat failed: %s", exc)

    async def _watchdog(self, *, runtime: Runtime) -> None:
        interval = self._notifier.watchdog_interval_s
        while True:
            await asyncio.sleep(interval or 5.0)
            if interval:
                self._notifier.watchdog()
            self._notifier.status(self._status_line(runtime))

    def _status_line(self, runtime: Runtime) -> str:
        ready, reason = runtime.readiness()
        return (f"{'ready' if ready else 'not ready: ' + reason}; {runtime.routes.route_count} static routes; "
                f"{len(runtime.engine.queue)} pending")

    async def reload(self) -> None:
        self._notifier.reloading()
        try:
            new = load_settings(self._config_path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration:\n%s", exc)
            self._notifier.ready(self._status_line(self.runtime))
            return
        needs_restart = restart_required(self.settings, new)
        if needs_restart:
            log.warning("reload: these changes need a restart and are not applied: %s", ", ".join(needs_restart))
        old = self.settings
        live = new if not needs_restart else _merge_live(old=old, new=new)
        self.settings = live
        self.runtime.settings = live
        set_level(live.log.level)
        self._pacer.reconfigure(rate=live.api.rate, burst=live.api.burst, workers=live.api.workers)
        if routes_enabled(old) != routes_enabled(live):
            log.info("reload: static route sync is now %s", "on" if routes_enabled(live) else "off")
        await self.runtime.engine.mark(ROUTES_KEY)
        await self._l4.reassign_all()
        await self._l7.reassign_all()
        log.info("configuration reloaded from %s", self._config_path)
        self._notifier.ready(self._status_line(self.runtime))


def _merge_live(*, old: Settings, new: Settings) -> Settings:
    """Take the sections that can change live from `new`, everything else from `old`."""
    live = ("log", "api", "namespaces", "l4", "routes")
    updates = {name: getattr(new, name) for name in live}
    l7 = new.l7.model_copy(update={"service_type": old.l7.service_type})
    return old.model_copy(update={**updates, "l7": l7})
