"""The daemon: the edges, the registry of families, the engine and the status server in one process.

`Daemon.run()` is what `akod run` (and so systemd) executes. Every long-lived task runs under the
`Supervisor` (see there for what each task's end means): the store's writer, the watchdog, the
election (`Leadership`), the start-up and role changes (`Roles`: warm up, then lead or stand by),
the watches, the engine, the drift check, the controller heartbeat and the reloader. The
controller being down is not fatal: watches keep the store current, `/readyz` says 503 with the
reason, and the backlog drains when the controller is back. Fatal at start are only a broken
config (exit 2), a controller that contradicts the config (exit 2: wrong cloud, VRF, SE group of
another cluster) and a refused login (exit 1).

Every write leaves through a gate: the Avi client asks `Leadership.check_write` right before each
write is sent, and the Kubernetes client's REST layer asks it before each POST/PUT/PATCH/DELETE.
The Lease is written through a second, ungated client.

SIGTERM/SIGINT: stop taking new work, let in-flight calls finish (at most `STOP_GRACE_S`), hand
the lease back, exit 0. SIGHUP: re-read the config (one reload at a time; SIGHUPs during a reload
coalesce into one more).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from akod import __version__
from akod.avi import AviClient, Pacer
from akod.config import ConfigError, Settings, load_settings, restart_required
from akod.daemon.faults import Faults
from akod.daemon.leadership import Leadership
from akod.daemon.logsetup import set_level
from akod.daemon.notify import Notifier
from akod.daemon.roles import Roles
from akod.daemon.supervisor import CRITICAL, ONCE, RESTART, Fatal, Supervisor
from akod.kube import open_api_client
from akod.kube.gating import KubeWriteRefused, gate_writes
from akod.kube.status import KubeWriter
from akod.statusd import StatusServer
from akod.store import Applied, Store
from akod.sync.cluster import ClusterCache
from akod.sync.crs import avi_exists, avi_read
from akod.sync.discovery import routes_enabled
from akod.sync.drift import DriftCheck
from akod.sync.engine import Engine
from akod.sync.family import AppliedLookup, Inputs, SyncIO
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry
from akod.sync.owned import OwnedSync
from akod.sync.reconcile import Reconciler
from akod.sync.registry import Registry
from akod.sync.reporting import ProblemReporter
from akod.sync.runtime import Runtime
from akod.sync.suspects import DriftLedger

log = logging.getLogger("akod.daemon")
STOP_GRACE_S = 8.0
HEARTBEAT_S = 10.0
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
        lease_api: ApiClient | None = None
        try:
            kube_api = await open_api_client(kubeconfig=str(s.cluster.kubeconfig or ""), context=s.cluster.context)
            if s.ha.enabled:
                lease_api = await open_api_client(kubeconfig=str(s.cluster.kubeconfig or ""),
                                                  context=s.cluster.context)
            leadership = Leadership(settings=s, api=lease_api)
            agent = f"akod/{__version__} ({leadership.identity})"
            kube_api.user_agent = agent
            gate_writes(kube_api, lambda: _kube_gate(leadership))
            async with AviClient(
                base_url=s.controller.base_url, username=s.controller.username, password=self._password,
                tenant=s.controller.tenant, version=s.controller.version, ca_file=str(s.controller.ca_file or ""),
                insecure=s.controller.insecure, timeout_s=s.api.timeout_s, pacer=self._pacer, observer=telemetry,
                write_gate=leadership.check_write, user_agent=agent,
            ) as client:
                return await self._serve(store=store, telemetry=telemetry, client=client, kube_api=kube_api,
                                         leadership=leadership)
        finally:
            for api in (kube_api, lease_api):
                if api is not None:
                    await api.close()
            await store.close()
            self._notifier.close()

    async def _serve(self, *, store: Store, telemetry: Telemetry, client: AviClient, kube_api: ApiClient,
                     leadership: Leadership) -> int:
        s = self.settings
        inputs = Inputs(cluster=ClusterCache(), settings=s, applied=_applied_lookup(store),
                        avi_exists=avi_exists(client), avi_read=avi_read(client))
        ledger = DriftLedger(telemetry=telemetry)
        owned = OwnedSync(store=store, client=client, drift=ledger)
        # Routed to the APIs discovery chooses (`Roles.warm_up`): nothing is written to Kubernetes before.
        kube = KubeWriter(api=kube_api, normal_events=s.sync.enable_events)
        reporter = ProblemReporter(store=store, kube=kube, telemetry=telemetry)
        registry = Registry(inputs=inputs, io=SyncIO(store=store, owned=owned, reporter=reporter, client=client,
                                                      kube=kube, drift=ledger))
        # The pacer bounds the calls to the controller at `[api] workers`; the engine runs more keys
        # than that, so that while some keys are in their database or Kubernetes steps, others
        # keep the controller's slots busy (the controller never sees more concurrent calls).
        engine = Engine(queue=KeyQueue(), telemetry=telemetry, workers=s.api.workers * KEYS_PER_CALL_SLOT,
                        handler=registry.sync)
        telemetry.on_any_call = engine.note_call
        assert registry.io is not None
        registry.io.mark = engine.mark  # one family's sync may wake another's keys (a CR's effect changed)
        runtime = Runtime(store=store, telemetry=telemetry, engine=engine, client=client, registry=registry,
                          leadership=leadership, drift=ledger, pacer=self._pacer, version=__version__)
        telemetry.follow_pacer(self._pacer)
        self.runtime = runtime
        reconciler = Reconciler(registry=registry, engine=engine, store=store, owned=owned, client=client)
        drift = DriftCheck(registry=registry, engine=engine, store=store, client=client, ledger=ledger,
                           interval_s=lambda: self.settings.sync.drift_check_s, active=leadership.may_write)
        status = StatusServer(runtime=runtime, listen=str(s.status.listen))
        supervisor = Supervisor()
        roles = Roles(runtime=runtime, supervisor=supervisor, kube=kube, reconciler=reconciler,
                      leadership=leadership, settings=lambda: self.settings,
                      ready=lambda: self._notifier.ready(self._status_line(runtime)), check_drift=drift.soon)
        try:
            async with supervisor:
                supervisor.start("store-writer", store.run_writer, policy=CRITICAL)
                await status.start()
                supervisor.start("watchdog", lambda: self._watchdog(runtime), policy=CRITICAL)
                supervisor.start("leadership", leadership.run, policy=RESTART)
                supervisor.start("roles", roles.run, policy=ONCE)
                supervisor.start("drift-check", drift.run, policy=RESTART)
                supervisor.start("heartbeat", lambda: self._heartbeat(client), policy=RESTART)
                supervisor.start("reloader", lambda: self._reloader(runtime), policy=RESTART)
                await self._stop.wait()
                log.info("stopping: letting in-flight calls finish")
                self._notifier.stopping()
                supervisor.begin_stop()
                if not await engine.drain(grace_s=STOP_GRACE_S):
                    log.warning("some keys were still being synced after %.0fs; their writes are cut off "
                                "(journal: unknown, resolved at the next start)", STOP_GRACE_S)
                await supervisor.shutdown(first=["engine"], last=["store-writer", "leadership"])
                await leadership.release()
        finally:
            await status.stop()
        if supervisor.fatal is not None:
            runtime.fatal = str(supervisor.fatal)
            return supervisor.fatal.code
        log.info("stopped")
        return EXIT_OK

    # -- tasks -----------------------------------------------------------------------------------

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
        role = "leader" if runtime.leadership.leader else "standby"
        return (f"{'ready' if ready else 'not ready: ' + reason}; {role}; {routes} static routes; "
                f"{len(runtime.engine.queue)} pending")

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
        if runtime.registry.io is not None and runtime.registry.io.kube is not None:
            runtime.registry.io.kube.normal_events = live.sync.enable_events
        if routes_enabled(old) != routes_enabled(live):
            log.info("reload: static route sync is now %s", "on" if routes_enabled(live) else "off")
        for key in sorted(runtime.registry.reassign()):
            await runtime.engine.mark(key)
        log.info("configuration reloaded from %s", self._config_path)
        self._notifier.ready(self._status_line(runtime))


def _kube_gate(leadership: Leadership) -> None:
    if not leadership.may_write():
        raise KubeWriteRefused(f"{leadership.identity} may not write to Kubernetes: not the leader "
                               f"(holder: {leadership.holder or 'nobody'})")


def _applied_lookup(store: Store) -> AppliedLookup:
    async def lookup(obj_type: str, tenant: str, name: str) -> Applied | None:
        return await store.applied(obj_type=obj_type, tenant=tenant, name=name)

    return lookup


def _merge_live(*, old: Settings, new: Settings) -> Settings:
    """Take the sections that can change live from `new`, everything else from `old`."""
    live = ("log", "api", "namespaces", "l4", "routes", "sync")
    updates = {name: getattr(new, name) for name in live}
    l7 = new.l7.model_copy(update={"service_type": old.l7.service_type})
    return old.model_copy(update={**updates, "l7": l7})
