"""Isolation inside shared objects, end to end: whatever one object holds, it costs only itself.

Real kube-apiserver (1.20), the emulator in strict mode, akod as a process. Every bad object sits
beside good ones that share its shard (one shard: `shard_vs_size = "SMALL"`), its VRF or its
namespace, and the good ones are checked the way a user would: the emulator's data plane serves
them, their status is written, and `/status` carries an error for the bad one only.

Of the paths of the bug report, the apiserver lets all three through (`/foo(.*)$[a-z]+`, `%00`,
an ImplementationSpecific regex); what it refuses itself (`//`, `%2f` in Prefix and Exact paths)
is covered by tests/unit/test_l7_paths.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kubernetes_asyncio import client as k8s

from tests.e2e.conftest import SEED_NODES, Controller, Nodes
from tests.e2e.harness import eventually
from tests.e2e.ingresses import Ingresses, path, rule
from tests.e2e.test_l4 import service_status
from tests.e2e.test_l7 import routed, seed_apps, vip_of
from tests.e2e.test_static_routes import routes_become

C = "S1-AZ1"
SHARD = f"{C}--Shared-L7-0"
ONE_SHARD = '[l7]\nshard_vs_size = "SMALL"\n'
BEFORE, BAD, AFTER = "before.avi.iberia.local", "bad.avi.iberia.local", "after.avi.iberia.local"
MAP_FIELD = "metadata.annotations[ako.vmware.com/host-fqdn-vs-uuid-map]"
SEED_HOPS = {cidrs[0]: ip for _, ip, cidrs in SEED_NODES}


async def errors_of(akod: Any, kind: str, name: str) -> list[dict[str, Any]]:
    code, page = await akod.get(f"/errors?kind={kind}&name={name}&limit=1000")
    assert code == 200, page
    found: list[dict[str, Any]] = page["errors"]
    return found


async def errors_become(akod: Any, kind: str, name: str, check: Any, *, timeout: float = 30) -> list[dict[str, Any]]:
    async def probe() -> tuple[list[dict[str, Any]]] | bool:
        found = await errors_of(akod, kind, name)
        return (found,) if check(found) else False  # a tuple: "no error" is an answer too

    return (await eventually(probe, timeout=timeout, what=f"the errors of {kind} {name}"))[0]


async def test_ingress_paths_the_controller_cannot_match_cost_only_their_own_path(
        controller: Controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    await ingresses.create("default", "before", rules=[rule(BEFORE, path("/", "hackazon", 80))])
    akod = make_daemon(extra_config=ONE_SHARD)
    akod.start()
    await akod.wait_in_sync()
    vip = await vip_of(controller, SHARD)
    await routed(controller, vip=vip, port=80, host=BEFORE)

    await ingresses.create("default", "bad", rules=[rule(
        BAD, path("/foo(.*)$[a-z]+", "kuard", 8080), path("/foo%00", "kuard", 8080),
        path("/api/v[0-9]+/.*", "kuard", 8080, path_type="ImplementationSpecific"), path("/ok", "kuard", 8080))])
    await ingresses.create("default", "after", rules=[rule(AFTER, path("/", "hackazon", 80))])

    for host in (BEFORE, AFTER):
        answer = await routed(controller, vip=vip, port=80, host=host, path="/index.html")
        assert answer["pool"] == f"{C}--{host}_-default-{host.split('.')[0]}"
    ok = await routed(controller, vip=vip, port=80, host=BAD, path="/ok/x")
    assert ok["pool"] == f"{C}--{BAD}_ok-default-bad"
    code, _ = await controller.route(vip=vip, port=80, host=BAD, path="/foo")  # none of the bad paths is served
    assert code == 404
    found = await errors_become(akod, "Ingress", "bad", lambda e: len(e) == 3)
    assert [(e["field"], e["reason"]) for e in found] == [
        ("spec.rules[0].http.paths[0].path", "InvalidPath"),
        ("spec.rules[0].http.paths[1].path", "InvalidPath"),
        ("spec.rules[0].http.paths[2].path", "RegexPathNotSupported")]
    assert "'/foo(.*)$[a-z]+'" in found[0]["message"] and "'%00'" in found[1]["message"]
    assert "literal prefix" in found[2]["message"]
    status = await akod.wait_in_sync()
    assert not [e for e in status["errors"] if e["kind"] == "Ingress" and e["name"] != "bad"]
    assert await controller.names("pool") == sorted([f"{C}--{BEFORE}_-default-before", f"{C}--{AFTER}_-default-after",
                                                     f"{C}--{BAD}_ok-default-bad"])
    events = await ingresses.events_for("default", "bad")
    assert {"InvalidPath", "RegexPathNotSupported"} <= {e.reason for e in events}

    async def statuses() -> bool:
        for name, host in (("before", BEFORE), ("after", AFTER), ("bad", BAD)):
            if [e["hostname"] for e in await ingresses.status("default", name)] != [host]:
                return False
        return True

    await eventually(statuses, what="the statuses of all three Ingresses (bad serves its /ok)")
    assert akod.stop() == 0


async def test_a_host_the_controller_refuses_is_left_out_and_every_other_host_of_the_shard_is_served(
        controller: Controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    refused_rules, refused_pool = "refused.avi.iberia.local", "poolrefused.avi.iberia.local"
    await controller.faults({"errors": [
        # The shard's policy set, whenever it holds this host's rules (PATCH, then the PUT akod falls back to).
        {"path": "/api/httppolicyset", "status": 422, "body_contains": f'"{refused_rules}"',
         "message": "Invalid match string in rule"},
        {"method": "POST", "path": "/api/pool", "status": 400, "body_contains": refused_pool,
         "message": "Invalid pool name"}]})
    await seed_apps(services, nodes)
    await ingresses.create("default", "before", rules=[rule(BEFORE, path("/", "hackazon", 80))])
    akod = make_daemon(extra_config=ONE_SHARD)
    akod.start()
    await akod.wait_in_sync()
    vip = await vip_of(controller, SHARD)
    for name, host in (("refused", refused_rules), ("poolrefused", refused_pool), ("after", AFTER)):
        await ingresses.create("default", name, rules=[rule(host, path("/", "kuard", 8080))])

    for host in (BEFORE, AFTER):
        await routed(controller, vip=vip, port=80, host=host)
    await akod.wait_in_sync(timeout=60)  # done, not retrying: nothing is failing
    for name, host, obj in (("refused", refused_rules, f"httppolicyset {SHARD}"),
                            ("poolrefused", refused_pool, f"pool {C}--{refused_pool}_-default-poolrefused")):
        (error,) = await errors_become(akod, "Ingress", name, lambda e: len(e) == 1)
        assert (error["field"], error["reason"]) == ("spec.rules[0].host", "ControllerRejected"), error
        assert obj in error["message"] and host in error["message"], error
        code, _ = await controller.route(vip=vip, port=80, host=host)
        assert code == 404
    status = await akod.status()
    assert sorted(e["name"] for e in status["errors"] if e["kind"] == "Ingress") == ["poolrefused", "refused"]
    refusals = [r for r in await controller.requests() if r["status"] in (400, 422)]
    assert 0 < len(refusals) < 20, refusals  # a bounded search, not a loop

    # The refused Ingress changes: it is tried again (and served once the controller takes it).
    await controller.faults({})
    await ingresses.replace_rules("default", "refused", [rule(refused_rules, path("/", "kuard", 8080),
                                                              path("/v2", "kuard", 8080))])
    await routed(controller, vip=vip, port=80, host=refused_rules, path="/v2")
    await errors_become(akod, "Ingress", "refused", lambda e: e == [])
    await routed(controller, vip=vip, port=80, host=AFTER)
    code, _ = await controller.route(vip=vip, port=80, host=refused_pool)
    assert code == 404  # unchanged: still left out

    # A restart tries the unit left out once more (the controller still refuses its pool), then settles.
    await controller.faults({"errors": [{"method": "POST", "path": "/api/pool", "status": 400,
                                         "body_contains": refused_pool, "message": "Invalid pool name"}]})
    assert akod.stop() == 0
    before = len(await controller.requests())
    akod.start()
    await akod.wait_in_sync(timeout=60)
    (error,) = await errors_become(akod, "Ingress", "poolrefused", lambda e: len(e) == 1)
    assert error["reason"] == "ControllerRejected"
    writes = [(r["method"], r["path"].split("/")[2], r["status"]) for r in (await controller.requests())[before:]
              if r["method"] in ("POST", "PUT", "PATCH", "DELETE") and r["path"].startswith("/api/")]
    # The unit's host is put in the VIP's DNS entries first (a VsVip is written before pools), then taken out.
    assert writes == [("PUT", "vsvip", 200), ("POST", "pool", 400), ("PUT", "vsvip", 200)], writes
    for host in (BEFORE, AFTER, refused_rules):
        await routed(controller, vip=vip, port=80, host=host)
    assert akod.stop() == 0


async def test_a_service_whose_annotations_leave_no_room_for_the_fqdn_map_gets_its_status_and_an_error(
        controller: Controller, nodes: Nodes, services, make_daemon) -> None:
    await nodes.seed()
    # The apiserver holds at most 256 KiB of annotations (keys and values); this leaves too little for the map.
    blob_key = "example.com/blob"
    blob = {blob_key: "x" * (256 * 1024 - len(blob_key) - 40)}
    await services.create("default", "big", ports=[(80, "TCP")], endpoints=["10.34.1.10"], annotations=blob)
    await services.create("default", "small", ports=[(80, "TCP")], endpoints=["10.34.1.11"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    for name in ("big", "small"):
        await eventually(lambda name=name: _has_status(services, name), what=f"{name}'s EXTERNAL-IP")
    (error,) = await errors_become(akod, "Service", "big", lambda e: len(e) == 1)
    assert (error["field"], error["reason"]) == (MAP_FIELD, "WriteBackRefused")
    assert "422" in error["message"] and "262144" in error["message"]
    assert not await errors_of(akod, "Service", "small")
    events = [e for e in (await services.core.list_namespaced_event("default")).items
              if e.involved_object.name == "big" and e.reason == "WriteBackRefused"]
    assert len(events) == 1
    status = await akod.wait_in_sync()
    assert status["sync"]["failed_ops"] == 0

    await services.patch("default", "big", {"metadata": {"annotations": {blob_key: None}}})
    await errors_become(akod, "Service", "big", lambda e: e == [])
    svc = await services.get("default", "big")
    assert json.loads(svc.metadata.annotations["ako.vmware.com/host-fqdn-vs-uuid-map"])
    assert akod.stop() == 0


async def _has_status(services, name: str) -> bool:
    return bool(await service_status(services, "default", name))


async def test_a_pod_cidr_annotation_that_would_divert_all_traffic_is_refused_and_other_routes_stay(
        controller: Controller, nodes: Nodes, make_daemon) -> None:
    await nodes.seed()
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, SEED_HOPS)
    await nodes.set_cidr_annotation("site1-az1-k8s-worker01", "0.0.0.0/0")
    await nodes.set_cidr_annotation("site1-az1-k8s-worker02", "10.10.25.0/25, 10.44.2.0/24")  # half the VIP network
    annotation = "metadata.annotations[ako.vmware.com/pod-cidrs]"
    found = await errors_become(akod, "Node", "site1-az1-k8s-worker01", lambda e: len(e) == 2)
    assert [(e["field"], e["reason"]) for e in found] == [(annotation, "UnsafePodCIDR"),
                                                          (f"{annotation}[0]", "UnsafePodCIDR")]
    assert "default route" in found[1]["message"] and "using spec.podCIDRs 10.34.1.0/24" in found[0]["message"]
    (vip,) = await errors_become(akod, "Node", "site1-az1-k8s-worker02", lambda e: len(e) == 1)
    assert vip["field"] == f"{annotation}[0]" and "VIP network AVI_FRONTEND_3025" in vip["message"]
    expected = {**{k: v for k, v in SEED_HOPS.items() if k != "10.34.2.0/24"}, "10.44.2.0/24": "10.10.30.13"}
    routes = await routes_become(controller, expected)
    assert not [r for r in routes if r["prefix"]["mask"] == 0]
    events = await nodes.events_for("site1-az1-k8s-worker01")
    assert any(e.reason == "UnsafePodCIDR" for e in events)
    assert akod.stop() == 0


async def test_status_stays_small_with_a_thousand_bad_services(
        controller: Controller, nodes: Nodes, kube_client, kube_namespace: str, make_daemon) -> None:
    core = k8s.CoreV1Api(kube_client)
    count = 1050

    def manifest(i: int) -> dict[str, Any]:
        value = "x" * 200_000 if i < 3 else f"banana-{i}"  # three of them with a huge value
        return {"metadata": {"name": f"svc-{i:04d}", "annotations": {"ako.vmware.com/load-balancer-ip": value}},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}}

    for start in range(0, count, 50):
        await asyncio.gather(*(core.create_namespaced_service(kube_namespace, manifest(i))
                               for i in range(start, min(start + 50, count))))
    try:
        akod = make_daemon()
        akod.start()
        await akod.wait_ready(timeout=60)

        async def all_reported() -> dict[str, Any] | bool:
            status = await akod.status()
            return status if status["errors_total"] >= count and status["ready"] else False

        status = await eventually(all_reported, timeout=180, interval=1.0, what="an error for each bad Service")
        code, text = await akod.get("/status")
        size = len(json.dumps(text))
        assert size < 100_000, size
        assert len(status["errors"]) == 100 and status["errors_by_reason"]["InvalidLoadBalancerIP"] >= count
        assert max(len(e["message"]) for e in status["errors"]) < 400
        seen = 0
        offset: int | None = 0
        while offset is not None:
            code, page = await akod.get(f"/errors?namespace={kube_namespace}&offset={offset}&limit=1000")
            seen += len(page["errors"])
            offset = page["next_offset"]
        assert seen == count
        assert akod.stop() == 0
    finally:
        names = [f"svc-{i:04d}" for i in range(count)]
        for start in range(0, count, 50):
            await asyncio.gather(*(core.delete_namespaced_service(n, kube_namespace) for n in names[start:start + 50]),
                                 return_exceptions=True)
