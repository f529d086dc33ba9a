"""Issue 9 b: whatever is edited or deleted on the controller behind akod's back is put back, and
what akod did not make (even named with the cluster prefix) is never written.

Driven as a user does it, through the controller's REST API (the emulator's, over HTTP), while
`akod run` runs with `[sync] drift_check_s = 3`: each repair must land within 3 + 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from tests.e2e.conftest import Controller, Nodes, hops
from tests.e2e.harness import DaemonProcess, eventually
from tests.e2e.ingresses import Ingresses, make_cert, path, rule

C = "S1-AZ1"
DRIFT_S = 3
REPAIR_WITHIN_S = DRIFT_S + 30
TLS_HOST = "drift-tls.avi.iberia.local"
PLAIN_HOST = "drift-plain.avi.iberia.local"


async def seeded(controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
                 ns: str) -> DaemonProcess:
    await nodes.seed()
    await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    await services.create(ns, "app", ports=[(80, "TCP")], endpoints=["10.34.1.11"], svc_type="ClusterIP")
    cert, key = make_cert(TLS_HOST)
    await ingresses.secret(ns, "drift-tls", cert=cert, key=key)
    await ingresses.create(ns, "drift", rules=[rule(TLS_HOST, path("/", "app", 80)), rule(PLAIN_HOST, path("/", "app", 80))],
                           tls=[([TLS_HOST], "drift-tls")])
    akod = make_daemon(extra_config=f"[sync]\ndrift_check_s = {DRIFT_S}\n")
    akod.start()
    await akod.wait_in_sync()
    return akod


async def edit(controller: Controller, obj_type: str, name: str, change: Callable[[dict[str, Any]], None]) -> str:
    """Change `name` by hand (GET, change, PUT, as the UI does); the `_last_modified` it got."""
    body = await controller.one(obj_type, name)
    body.pop("vs_refs", None)  # read-only, computed by the controller
    change(body)
    code, answer = await controller.call("PUT", f"/api/{obj_type}/{body['uuid']}", body)
    assert code == 200, (obj_type, name, code, answer)
    return str(answer["_last_modified"])


async def repaired(controller: Controller, obj_type: str, name: str, *, since: str,
                   holds: Callable[[dict[str, Any]], bool]) -> None:
    started = time.monotonic()

    async def back() -> bool:
        body = await controller.maybe(obj_type, name)
        return body is not None and str(body.get("_last_modified")) != since and holds(body)

    await eventually(back, timeout=REPAIR_WITHIN_S, interval=0.3, what=f"{obj_type} {name} repaired")
    assert time.monotonic() - started <= REPAIR_WITHIN_S


def names(ns: str) -> dict[str, tuple[str, str]]:
    l4 = f"{C}--{ns}-web"
    return {
        "virtualservice": ("virtualservice", l4),
        "vsvip": ("vsvip", l4),
        "pool": ("pool", f"{l4}-TCP-80"),
        "l4policyset": ("l4policyset", l4),
        "sni child": ("virtualservice", f"{C}--{TLS_HOST}"),
        "certificate": ("sslkeyandcertificate", f"{C}--{TLS_HOST}"),
        "poolgroup": ("poolgroup", f"{C}--{ns}-{TLS_HOST}_-drift"),
        "sni policy set": ("httppolicyset", f"{C}--{ns}-{TLS_HOST}"),
    }


async def shard_policy_name(controller: Controller, host: str) -> str:
    """The shard policy set holding `host`'s rules."""
    found = [n for n in await controller.names("httppolicyset", contains=f"{C}--Shared-L7-")
             if host in str((await controller.one("httppolicyset", n))["http_request_policy"])]
    assert len(found) == 1, found
    return found[0]


async def test_edits_on_the_controller_are_repaired(controller: Controller, nodes: Nodes, services: Any,
                                                    ingresses: Ingresses, make_daemon: Any, kube_namespace: str) -> None:
    akod = await seeded(controller, nodes, services, ingresses, make_daemon, kube_namespace)
    targets = names(kube_namespace)
    mark = "edited by hand in the UI"
    for what, (obj_type, name) in targets.items():
        if obj_type == "vsvip":
            stamp = await edit(controller, obj_type, name, lambda b: b.update(dns_info=[{"fqdn": "hijacked.example.com"}]))
            await repaired(controller, obj_type, name, since=stamp,
                           holds=lambda b: all(d.get("fqdn") != "hijacked.example.com" for d in b.get("dns_info") or []))
        elif obj_type == "sslkeyandcertificate":
            stamp = await edit(controller, obj_type, name, lambda b: b.update(enable_ocsp_stapling=True))
            await repaired(controller, obj_type, name, since=stamp, holds=lambda b: not b.get("enable_ocsp_stapling"))
        elif obj_type == "pool":
            stamp = await edit(controller, obj_type, name, lambda b: b.update(servers=[
                {"ip": {"addr": "192.0.2.66", "type": "V4"}, "port": 8080}]))
            await repaired(controller, obj_type, name, since=stamp,
                           holds=lambda b: [s["ip"]["addr"] for s in b.get("servers") or []] == ["10.34.1.10"])
        else:
            stamp = await edit(controller, obj_type, name, lambda b: b.update(description=mark))
            await repaired(controller, obj_type, name, since=stamp, holds=lambda b: b.get("description") != mark)
        assert (await akod.status())["drift"]["repairs"], what
    # The shard's HTTP policy set with the plain host's rules removed by hand: rewritten whole.
    shard = await shard_policy_name(controller, PLAIN_HOST)
    body = await controller.one("httppolicyset", shard)
    rules = body["http_request_policy"]["rules"]
    kept = [r for r in rules if PLAIN_HOST not in str(r)]
    assert len(kept) < len(rules)
    stamp = await edit(controller, "httppolicyset", shard,
                       lambda b: b["http_request_policy"].update(rules=kept))
    await repaired(controller, "httppolicyset", shard, since=stamp,
                   holds=lambda b: any(PLAIN_HOST in str(r) for r in b["http_request_policy"]["rules"]))
    repairs = (await akod.status())["drift"]["repairs"]
    assert set(repairs) >= {"virtualservice", "vsvip", "pool", "poolgroup", "l4policyset", "httppolicyset",
                            "sslkeyandcertificate"}, repairs
    assert akod.stop() == 0


async def delete(controller: Controller, obj_type: str, name: str) -> str:
    body = await controller.one(obj_type, name)
    code, answer = await controller.call("DELETE", f"/api/{obj_type}/{body['uuid']}")
    assert code in (200, 204), (obj_type, name, code, answer)
    return str(body["uuid"])


async def recreated(controller: Controller, obj_type: str, name: str, old_uuid: str) -> Callable[[], Awaitable[bool]]:
    async def back() -> bool:
        body = await controller.maybe(obj_type, name)
        return body is not None and body["uuid"] != old_uuid
    return back


async def test_deletions_on_the_controller_are_repaired(controller: Controller, nodes: Nodes, services: Any,
                                                        ingresses: Ingresses, make_daemon: Any,
                                                        kube_namespace: str) -> None:
    akod = await seeded(controller, nodes, services, ingresses, make_daemon, kube_namespace)
    targets = names(kube_namespace)
    # Deleted parents first, as the controller insists (an object in use cannot be deleted).
    order = ["sni child", "sni policy set", "poolgroup", "certificate", "virtualservice", "l4policyset", "pool",
             "vsvip"]
    gone = {what: await delete(controller, *targets[what]) for what in order}
    started = time.monotonic()
    for what in order:
        obj_type, name = targets[what]
        await eventually(await recreated(controller, obj_type, name, gone[what]), timeout=REPAIR_WITHIN_S,
                         interval=0.3, what=f"{what} {name} created again")
    assert time.monotonic() - started <= REPAIR_WITHIN_S
    # A static route removed by hand comes back too.
    vrf = await controller.one("vrfcontext", "VRF_AZ1")
    ours = [r for r in vrf["static_routes"] if {"key": "clustername", "value": C} in (r.get("labels") or [])]
    removed = ours[0]
    code, answer = await controller.call("PUT", f"/api/vrfcontext/{vrf['uuid']}",
                                         {**vrf, "static_routes": [r for r in vrf["static_routes"] if r is not removed]})
    assert code == 200, answer

    async def route_back() -> bool:
        return len(hops(await controller.vrf_routes())) == len(ours)

    await eventually(route_back, timeout=REPAIR_WITHIN_S, interval=0.3, what="the static route put back")
    status = await akod.wait_in_sync()
    assert status["drift"]["repairs"].get("vrfcontext", 0) >= 1  # the routes put back count as a repair
    assert akod.stop() == 0


async def test_objects_akod_did_not_create_are_never_written(controller: Controller, nodes: Nodes, services: Any,
                                                             ingresses: Ingresses, make_daemon: Any,
                                                             kube_namespace: str) -> None:
    # Hand-made objects named like akod's: a VsVip (no created_by to tell) and a pool of another creator.
    code, vip = await controller.call("POST", "/api/vsvip", {
        "name": f"{C}--handmade-vip", "cloud_ref": "/api/cloud/?name=Default-Cloud",
        "vrf_context_ref": "/api/vrfcontext/?name=VRF_AZ1",
        "vip": [{"vip_id": "0", "auto_allocate_ip": True,
                 "ipam_network_subnet": {"network_ref": "/api/network/?name=AVI_FRONTEND_3025",
                                         "subnet": {"ip_addr": {"addr": "10.10.25.0", "type": "V4"}, "mask": 24}}}]})
    assert code == 201, vip
    code, pool = await controller.call("POST", "/api/pool", {"name": f"{C}--handmade-pool",
                                                            "cloud_ref": "/api/cloud/?name=Default-Cloud"})
    assert code == 201, pool
    foreign = {vip["uuid"], pool["uuid"]}
    akod = await seeded(controller, nodes, services, ingresses, make_daemon, kube_namespace)
    # A few drift checks, then a restart (whose garbage collection once deleted such a VsVip).
    checks = (await akod.status())["drift"]["checks"]

    async def more_checks() -> bool:
        return (await akod.status())["drift"]["checks"] >= checks + 3

    await eventually(more_checks, timeout=30, interval=0.5, what="three more drift checks")
    assert (await akod.status())["drift"]["repairs"] == {}  # nothing changed: nothing is taken for drift
    assert akod.stop() == 0
    akod.start()
    await akod.wait_in_sync()
    assert akod.stop() == 0
    touched = [w for w in await controller.writes() if any(u in w["path"] for u in foreign)]
    assert touched == [], touched
    assert await controller.maybe("vsvip", f"{C}--handmade-vip") is not None
    assert await controller.maybe("pool", f"{C}--handmade-pool") is not None


async def test_a_clean_restart_uses_the_stored_state_and_repairs_what_changed_while_down(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
        kube_namespace: str) -> None:
    """Issue 12: a restart after a clean stop does not read the controller back before it is in sync; the drift
    check it runs at once (not after `drift_check_s`, 600 s here) repairs what was edited or deleted meanwhile."""
    ns = kube_namespace
    await nodes.seed()
    await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    await services.create(ns, "app", ports=[(80, "TCP")], endpoints=["10.34.1.11"], svc_type="ClusterIP")
    cert, key = make_cert(TLS_HOST)
    await ingresses.secret(ns, "drift-tls", cert=cert, key=key)
    await ingresses.create(ns, "drift", rules=[rule(TLS_HOST, path("/", "app", 80))], tls=[([TLS_HOST], "drift-tls")])
    akod = make_daemon(extra_config="[sync]\ndrift_check_s = 600\n")
    akod.start()
    first = await akod.wait_in_sync()
    assert first["boot"]["applied_state"].startswith("read back"), first["boot"]  # a new state database
    assert akod.stop() == 0
    targets = names(ns)
    stamp = await edit(controller, "pool", targets["pool"][1], lambda b: b.update(servers=[
        {"ip": {"addr": "192.0.2.66", "type": "V4"}, "port": 8080}]))
    gone = await delete(controller, *targets["sni child"])
    akod.start()
    status = await akod.wait_ready(timeout=60)
    assert status["boot"]["applied_state"].startswith("stored"), status["boot"]
    await repaired(controller, "pool", targets["pool"][1], since=stamp,
                   holds=lambda b: [s["ip"]["addr"] for s in b.get("servers") or []] == ["10.34.1.10"])
    await eventually(await recreated(controller, *targets["sni child"], gone), timeout=REPAIR_WITHIN_S,
                     interval=0.3, what="the SNI child created again")
    status = await akod.wait_in_sync()
    assert status["drift"]["checks"] == 1 and status["drift"]["repairs"], status["drift"]
    # Asked to read the controller back at every start, it does, and finds nothing to write.
    assert akod.stop() == 0
    akod.configure(options=replace(akod.options, extra="[sync]\ndrift_check_s = 600\nread_back_at_boot = true\n"))
    before = len(await controller.writes())
    akod.start()
    status = await akod.wait_in_sync()
    assert "read_back_at_boot" in status["boot"]["applied_state"], status["boot"]
    assert (await controller.writes())[before:] == []
    assert akod.stop() == 0
