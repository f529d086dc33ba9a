"""Issue 8: what the cluster stops wanting around a restart goes, and a dead writer stops the daemon.

Driven as users run akod: a real kube-apiserver, the strict emulator over HTTP, `akod run` as a
process stopped with SIGTERM, killed with SIGKILL, and started again. A Service (or an Ingress)
deleted while akod is stopped, while it is down after a kill -9, or while it is starting must lose
every one of its Avi objects within 30 s of the restart, and `/status` must not say `in_sync`
while one of them is still on the controller.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import DaemonProcess, akod_cli, eventually
from tests.e2e.ingresses import Ingresses, make_cert, path, rule

C = "S1-AZ1"
L4_TYPES = ("virtualservice", "vsvip", "pool", "l4policyset")
L7_OWN_TYPES = ("pool", "poolgroup", "httppolicyset", "virtualservice", "sslkeyandcertificate")


async def l4_objects(controller: Controller, ns: str, name: str) -> list[tuple[str, str]]:
    prefix = f"{C}--{ns}-{name}"
    found = []
    for obj_type in L4_TYPES:
        found += [(obj_type, n) for n in await controller.names(obj_type, contains=prefix)
                  if n == prefix or n.startswith(f"{prefix}-TCP-")]
    return found


async def gone_within(controller: Controller, akod: DaemonProcess, what: Any, *, timeout: float = 30.0) -> None:
    """`what()` lists objects; they must all be gone within `timeout`, and in_sync must not lie before that."""
    started = time.monotonic()

    async def none_left() -> bool:
        left = await what()
        status = await akod.in_sync_status()
        assert not (status and left), f"/status says in_sync while {left} are still on the controller"
        return not left

    await eventually(none_left, timeout=timeout, interval=0.2, what="the deleted object's Avi objects to go")
    assert time.monotonic() - started <= timeout


async def start_slowly_and_act_during_start_up(akod: DaemonProcess, controller: Controller, act: Any) -> None:
    """Start akod with slow controller reads, and run `act` while it answers but is not ready yet."""
    await controller.faults({"latency_ms": {"read": 400, "write": 0}})
    akod.start()

    async def answering_not_ready() -> bool:
        try:
            code, _ = await akod.get("/readyz")
        except OSError:
            return False
        return code == 503

    await eventually(answering_not_ready, timeout=20, interval=0.05, what="akod starting, not ready yet")
    await act()
    await controller.faults({"latency_ms": {"read": 0, "write": 0}})


async def test_a_service_deleted_while_stopped_killed_or_starting_loses_all_its_objects(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_namespace: str) -> None:
    ns = kube_namespace
    await nodes.seed()
    for name in ("stopped", "killed", "starting", "kept"):
        await services.create(ns, name, ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    for name in ("stopped", "killed", "starting", "kept"):
        assert len(await l4_objects(controller, ns, name)) == 4, name

    assert akod.stop() == 0
    await services.delete(ns, "stopped")
    akod.start()
    await gone_within(controller, akod, lambda: l4_objects(controller, ns, "stopped"))
    await akod.wait_in_sync()

    akod.kill9()
    await services.delete(ns, "killed")
    akod.start()
    await gone_within(controller, akod, lambda: l4_objects(controller, ns, "killed"))
    await akod.wait_in_sync()

    assert akod.stop() == 0
    await start_slowly_and_act_during_start_up(akod, controller, lambda: services.delete(ns, "starting"))
    await gone_within(controller, akod, lambda: l4_objects(controller, ns, "starting"))
    await akod.wait_in_sync()
    assert len(await l4_objects(controller, ns, "kept")) == 4
    assert akod.stop() == 0


async def ingress_objects(controller: Controller, tls_host: str, plain_host: str) -> list[str]:
    """The objects made for one Ingress only (its hosts are its own): pools, pool groups, SNI child,
    certificate and SNI policy set; the shard's objects stay (a stable VIP)."""
    found = []
    for obj_type in L7_OWN_TYPES:
        found += [f"{obj_type} {n}" for n in await controller.names(obj_type, contains=f"{C}--")
                  if "Shared-L7" not in n and (tls_host in n or plain_host in n)]
    return found


async def test_an_ingress_deleted_while_stopped_killed_or_starting_loses_its_pools_and_sni_children(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
        kube_namespace: str) -> None:
    ns = kube_namespace
    await nodes.seed()
    await services.create(ns, "app", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="ClusterIP")
    cases = ("stopped", "killed", "starting", "kept")
    hosts = {case: (f"{case}-tls.avi.iberia.local", f"{case}-plain.avi.iberia.local") for case in cases}
    for case, (tls_host, plain_host) in hosts.items():
        cert, key = make_cert(tls_host)
        await ingresses.secret(ns, f"{case}-tls", cert=cert, key=key)
        await ingresses.create(ns, case, rules=[rule(tls_host, path("/", "app", 80)),
                                                rule(plain_host, path("/", "app", 80))],
                               tls=[([tls_host], f"{case}-tls")])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()

    def own(case: str) -> Any:
        return lambda: ingress_objects(controller, *hosts[case])

    for case in cases:
        made = await own(case)()
        kinds = {entry.split()[0] for entry in made}
        assert kinds == set(L7_OWN_TYPES), (case, made)

    assert akod.stop() == 0
    await ingresses.delete(ns, "stopped")
    akod.start()
    await gone_within(controller, akod, own("stopped"))
    await akod.wait_in_sync()

    akod.kill9()
    await ingresses.delete(ns, "killed")
    akod.start()
    await gone_within(controller, akod, own("killed"))
    await akod.wait_in_sync()

    assert akod.stop() == 0
    await start_slowly_and_act_during_start_up(akod, controller, lambda: ingresses.delete(ns, "starting"))
    await gone_within(controller, akod, own("starting"))
    await akod.wait_in_sync()
    assert {e.split()[0] for e in await own("kept")()} == set(L7_OWN_TYPES)
    assert akod.stop() == 0


async def test_plan_reports_the_problems_the_daemon_reports(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
        kube_namespace: str) -> None:
    ns = kube_namespace
    await nodes.seed()
    await nodes.create("no-cidr-node", ip="10.10.30.99", cidrs=None)
    await services.create(ns, "banana", ports=[(80, "TCP")], endpoints=["10.34.1.10"],
                          annotations={"ako.vmware.com/load-balancer-ip": "banana"})
    await services.create(ns, "outside", ports=[(80, "TCP")], lb_ip="192.168.1.1")
    await services.create(ns, "app", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="ClusterIP")
    await ingresses.create(ns, "missing-backend", rules=[rule("mb.avi.iberia.local", path("/", "nope", 80))])
    await ingresses.create(ns, "wildcard", rules=[rule("*.wild.avi.iberia.local", path("/", "app", 80))])
    await ingresses.create(ns, "no-secret", rules=[rule("ns.avi.iberia.local", path("/", "app", 80))],
                           tls=[(["ns.avi.iberia.local"], "absent")])
    akod = make_daemon()

    def ours(errors: list[dict[str, Any]]) -> set[tuple[str, str, str, str, str]]:
        return {(e["kind"], e["namespace"], e["name"], e["field"], e["reason"]) for e in errors
                if e["namespace"] in (ns, "") and e["reason"] != "ControllerRejected"}

    plan = akod_cli("plan", "--config", str(akod.config), "--json")
    assert plan.returncode == 10, plan.stdout + plan.stderr
    planned = ours(json.loads(plan.stdout)["errors"])
    assert {p[2] for p in planned} >= {"no-cidr-node", "banana", "outside", "missing-backend", "wildcard",
                                       "no-secret"}, planned
    akod.start()
    status = await akod.wait_in_sync()
    assert ours(status["errors"]) == planned
    assert akod.stop() == 0
    again = akod_cli("plan", "--config", str(akod.config), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert ours(json.loads(again.stdout)["errors"]) == planned


async def test_a_dead_store_writer_stops_the_watchdog_and_the_daemon_exits_non_zero(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_namespace: str,
        tmp_path: Path) -> None:
    ns = kube_namespace
    await nodes.seed()
    names = [f"svc-{i:02d}" for i in range(20)]
    for name in names:
        await services.create(ns, name, ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    received: list[tuple[float, str]] = []

    def drain() -> None:
        try:
            while True:
                received.append((time.monotonic(), sock.recv(4096).decode()))
        except BlockingIOError:
            pass

    akod = make_daemon()
    await controller.faults({"latency_ms": {"write": 100, "read": 0}})
    env = {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000", "AKOD_TEST_FAULTS": "store_writer_crash_after=30"}
    try:
        akod.start(env=env)

        async def writer_died() -> bool:
            drain()
            return "task store-writer died" in akod.log()

        await eventually(writer_died, timeout=60, interval=0.05, what="the store writer to die")
        seen_dead = time.monotonic()

        async def exited() -> bool:
            drain()
            return akod.proc is not None and akod.proc.poll() is not None

        await eventually(exited, timeout=20, what="akod to exit after its writer died")
        assert akod.proc is not None and akod.proc.returncode not in (0, None), akod.log_tail()
        drain()
        pings = [t for t, m in received if "WATCHDOG=1" in m]
        assert pings and all(t <= seen_dead for t in pings), "WATCHDOG=1 after the writer died"
    finally:
        sock.close()
    # systemd would restart it: nothing is lost.
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    status = await akod.wait_in_sync(timeout=60)
    for name in names:
        assert len(await l4_objects(controller, ns, name)) == 4, name
    assert status["sync"]["journal"].get("intent", 0) == 0 and status["sync"]["journal"].get("unknown", 0) == 0
    vs = await controller.names("virtualservice", contains=f"{C}--{ns}-")
    assert len(vs) == len(names)  # nothing created twice
    assert akod.stop() == 0
