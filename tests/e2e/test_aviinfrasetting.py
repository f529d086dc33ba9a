"""Issue 10, AviInfraSetting end to end: a second IngressClass on its own SE group and VIP network.

Real kube-apiserver with AKO's CRDs installed from `deploy/crds/` (removed after this module), the
emulator in strict mode, `akod run` as a process. Asserted as a user sees it: the shards of the
class on the controller (names, SE group, VIP network and VRF), the VIPs the data plane serves and
the Ingress status shows, the default class untouched, the AviInfraSetting's `status`, `/status`
errors, and the writes each change costs.
"""

from __future__ import annotations

import collections
import ipaddress
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from akod.devenv import crds
from akod.devenv.crds import AviInfraSettings
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import akod_cli, eventually
from tests.e2e.ingresses import Ingresses, make_cert, path, rule
from tests.e2e.test_l7 import HACK, fnv1a_32, routed, seed_ingresses, shard, vip_of

C = "S1-AZ1"
INFRA = "az2"
CLASS = "avi-az2"
HOST = "az2.avi.iberia.local"
TLS_HOST = "az2s.avi.iberia.local"
AZ2_NET = ipaddress.ip_network("10.10.26.0/24")
AZ1_NET = ipaddress.ip_network("10.10.25.0/24")
SPEC = {"seGroup": {"name": "S1-AZ2-SE-Group"}, "network": {"vipNetworks": [{"networkName": "AVI_FRONTEND_3026"}]}}
FAST_RECHECK = "[sync]\ndrift_check_s = 2\n"


def infra_shard(host: str, shards: int = 8) -> str:
    return f"{C}--Shared-L7-{INFRA}-{fnv1a_32(host) & (shards - 1)}"


@pytest.fixture(scope="module")
async def crd_cluster(kube_client: client.ApiClient) -> AsyncIterator[None]:
    await crds.install(kube_client)
    yield
    await crds.remove(kube_client)


@pytest.fixture
async def infras(crd_cluster: None, kube_client: client.ApiClient) -> AsyncIterator[AviInfraSettings]:
    made = AviInfraSettings(kube_client)
    await made.delete_all()
    yield made
    await made.delete_all()


async def infra_class(ingresses: Ingresses, name: str = CLASS, infra: str = INFRA) -> None:
    await ingresses.net.create_ingress_class({
        "metadata": {"name": name},
        "spec": {"controller": "ako.vmware.com/avi-lb",
                 "parameters": {"apiGroup": "ako.vmware.com", "kind": "AviInfraSetting", "name": infra}}})
    ingresses.made.append(("IngressClass", "", name))


async def status_of(infras: AviInfraSettings, name: str, want: str) -> dict[str, str]:
    async def probe() -> dict[str, str] | bool:
        found = await infras.status(name)
        return found if found.get("status") == want else False

    return await eventually(probe, timeout=30, what=f"AviInfraSetting {name} {want}")


def points_at(ref: str | None, obj: dict[str, Any]) -> bool:
    return bool(ref) and str(ref).split("#")[0].endswith(f"/{obj['uuid']}")


def per_object(writes: list[dict[str, Any]]) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((w["method"], w["path"]) for w in writes)


async def test_an_infra_class_gets_its_own_shards_on_its_se_group_and_vip_network_and_moves_back(
        controller: Controller, nodes: Nodes, services, ingresses: Ingresses, infras: AviInfraSettings,
        make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    await infras.create(INFRA, SPEC)
    await infra_class(ingresses)
    cert, key = make_cert(TLS_HOST)
    await ingresses.secret("default", "az2s-tls", cert=cert, key=key)
    await ingresses.create("default", "az2", rules=[rule(HOST, path("/", "hackazon", 80))], class_name=CLASS)
    await ingresses.create("default", "az2s", rules=[rule(TLS_HOST, path("/", "kuard", 8080))], class_name=CLASS,
                           tls=[([TLS_HOST], "az2s-tls")])
    await services.create("default", "az2-lb", ports=[(8080, "TCP")], endpoints=["10.34.1.11"],
                          annotations={"aviinfrasetting.ako.vmware.com/name": INFRA})
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    assert await status_of(infras, INFRA, "Accepted") == {"status": "Accepted"}
    await akod.wait_in_sync(timeout=60)
    az2_group = await controller.one("serviceenginegroup", "S1-AZ2-SE-Group")
    az1_group = await controller.one("serviceenginegroup", "S1-AZ1-SE-Group")
    vrf_az2 = await controller.one("vrfcontext", "VRF_AZ2")
    # The SE group is labelled as the default one is.
    assert {"key": "clustername", "value": C} in (az2_group.get("labels") or [])

    # Its own shards, named as AKO names them, on its SE group, VIPs from its network, in its VRF.
    for host in (HOST, TLS_HOST):
        vs = await controller.one("virtualservice", infra_shard(host))
        assert points_at(vs["se_group_ref"], az2_group), vs
        assert points_at(vs["vrf_context_ref"], vrf_az2)
        vsvip = await controller.one("vsvip", infra_shard(host))
        assert points_at(vsvip["vrf_context_ref"], vrf_az2)
        assert ipaddress.ip_address(await vip_of(controller, infra_shard(host))) in AZ2_NET
    assert await controller.maybe("pool", f"{C}--{INFRA}-{HOST}_-default-az2") is not None
    child = await controller.one("virtualservice", f"{C}--{INFRA}-{TLS_HOST}")
    assert points_at(child["se_group_ref"], az2_group)
    vip = await vip_of(controller, infra_shard(HOST))
    answer = await routed(controller, vip=vip, port=80, host=HOST)
    assert answer["vs"] == infra_shard(HOST) and answer["pool"] == f"{C}--{INFRA}-{HOST}_-default-az2"
    tls_vip = await vip_of(controller, infra_shard(TLS_HOST))
    answer = await routed(controller, vip=tls_vip, port=443, host=TLS_HOST)
    assert answer["vs"] == f"{C}--{INFRA}-{TLS_HOST}"

    async def ingress_vip(name: str, net: ipaddress.IPv4Network) -> str | bool:
        status = await ingresses.status("default", name)
        return status[0]["ip"] if status and ipaddress.ip_address(status[0]["ip"]) in net else False

    await eventually(lambda: ingress_vip("az2", AZ2_NET), timeout=30, what="the Ingress's VIP in 10.10.26.0/24")
    # The default class is unchanged: its shard on the default SE group, its VIP in 10.10.25.0/24.
    hack_vs = await controller.one("virtualservice", shard(HACK))
    assert points_at(hack_vs["se_group_ref"], az1_group)
    assert ipaddress.ip_address(await vip_of(controller, shard(HACK))) in AZ1_NET
    assert (await routed(controller, vip=await vip_of(controller, shard(HACK)), port=80, host=HACK))["vs"] == shard(HACK)
    # The LoadBalancer Service with the annotation: its L4 VS and VsVip on the SE group and network.
    l4 = await controller.one("virtualservice", f"{C}--default-az2-lb")
    assert points_at(l4["se_group_ref"], az2_group)
    assert ipaddress.ip_address(await vip_of(controller, f"{C}--default-az2-lb")) in AZ2_NET

    # A restart with nothing changed writes nothing.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync(timeout=60)
    assert (await controller.writes())[writes_before:] == []

    code, objects = await akod.get("/objects?kind=Ingress&namespace=default&name=az2")
    assert code == 200
    assert {"kind": "AviInfraSetting", "namespace": "", "name": INFRA} in objects["objects"][0]["custom_resources"]
    code, objects = await akod.get(f"/objects?kind=AviInfraSetting&name={INFRA}")
    (entry,) = objects["objects"]
    assert entry["effect"]["seGroup"] == "S1-AZ2-SE-Group" and entry["effect"]["vrf"] == "VRF_AZ2"
    assert f"l7:{infra_shard(HOST)}" in entry["acts_on_keys"] and f"l4:{C}--default-az2-lb" in entry["acts_on_keys"]

    # `akod plan` names the AviInfraSetting behind a change (enableRhi, while the daemon is down).
    assert akod.stop() == 0
    await infras.patch(INFRA, {"network": {"enableRhi": True}})
    plan = akod_cli("plan", "--config", str(akod.config), "--json")
    assert plan.returncode == 10, plan.stdout + plan.stderr
    planned = json.loads(plan.stdout)["objects"]
    assert {(c["action"], c["type"], c["name"]) for c in planned} == {
        ("update", "virtualservice", infra_shard(HOST)), ("update", "virtualservice", infra_shard(TLS_HOST)),
        ("update", "virtualservice", f"{C}--default-az2-lb")}, planned
    assert all(f"AviInfraSetting {INFRA}" in c["for"] for c in planned), planned
    writes_before = len(await controller.writes())
    akod.start()

    async def rhi() -> bool:
        return (await controller.one("virtualservice", infra_shard(HOST))).get("enable_rhi") is True

    await eventually(rhi, timeout=30, what="enable_rhi on the infra shard")
    await akod.wait_in_sync(timeout=60)
    step = per_object((await controller.writes())[writes_before:])
    assert sorted(step.values()) == [1, 1, 1] and {m for m, _ in step} == {"PUT"}, step
    assert (await controller.one("virtualservice", f"{C}--default-az2-lb")).get("enable_rhi") is True
    assert "enable_rhi" not in await controller.one("virtualservice", shard(HACK))

    # Drift repair covers what the AviInfraSetting sets: the SE group put back.
    vs = await controller.one("virtualservice", infra_shard(HOST))
    edited = {**vs, "se_group_ref": f"/api/serviceenginegroup/{az1_group['uuid']}"}
    code, answer = await controller.call("PUT", f"/api/virtualservice/{vs['uuid']}", edited)
    assert code == 200, answer

    async def repaired() -> bool:
        return points_at((await controller.one("virtualservice", infra_shard(HOST)))["se_group_ref"], az2_group)

    await eventually(repaired, timeout=30, what="the SE group put back by the drift check")
    await akod.wait_in_sync()

    # Moving the Ingress back to the default class: it moves to the default shard, the infra shard
    # nothing wants goes (VS, VsVip, policy set, pool), one write per changed object.
    gone_vs = await controller.one("virtualservice", infra_shard(HOST))
    gone = {("virtualservice", gone_vs["uuid"]),
            ("vsvip", (await controller.one("vsvip", infra_shard(HOST)))["uuid"]),
            ("httppolicyset", (await controller.one("httppolicyset", infra_shard(HOST)))["uuid"]),
            ("pool", (await controller.one("pool", f"{C}--{INFRA}-{HOST}_-default-az2"))["uuid"])}
    same_shard = infra_shard(HOST) == infra_shard(TLS_HOST)
    writes_before = len(await controller.writes())
    await ingresses.patch("default", "az2", {"spec": {"ingressClassName": "avi-lb"}})
    await eventually(lambda: ingress_vip("az2", AZ1_NET), timeout=30, what="the Ingress back on 10.10.25.0/24")
    await akod.wait_in_sync()
    answer = await routed(controller, vip=await vip_of(controller, shard(HOST)), port=80, host=HOST)
    assert answer["vs"] == shard(HOST) and answer["pool"] == f"{C}--{HOST}_-default-az2"
    step = per_object((await controller.writes())[writes_before:])
    assert all(n == 1 for n in step.values()), step
    if not same_shard:
        for obj_type, uuid in sorted(gone):
            assert step[("DELETE", f"/api/{obj_type}/{uuid}")] == 1, (obj_type, step)
        assert await controller.maybe("virtualservice", infra_shard(HOST)) is None
        deletes = [w["path"].split("/")[2] for w in (await controller.writes())[writes_before:]
                   if w["method"] == "DELETE"]
        assert deletes.index("virtualservice") < deletes.index("vsvip") < len(deletes)
        assert deletes.index("virtualservice") < deletes.index("pool")

    # `l7Settings.shardSize` changes the number of shards of that class only.
    old_shard = infra_shard(TLS_HOST)
    writes_before = len(await controller.writes())
    await infras.patch(INFRA, {"l7Settings": {"shardSize": "SMALL"}})

    async def one_shard() -> bool:
        child = await controller.maybe("virtualservice", f"{C}--{INFRA}-{TLS_HOST}")
        parent = await controller.maybe("virtualservice", f"{C}--Shared-L7-{INFRA}-0")
        return bool(child and parent and points_at(child["vh_parent_vs_ref"], parent))

    await eventually(one_shard, timeout=30, what="the TLS host on the class's single shard")
    await akod.wait_in_sync(timeout=60)
    if old_shard != f"{C}--Shared-L7-{INFRA}-0":
        assert await controller.maybe("virtualservice", old_shard) is None
    answer = await routed(controller, vip=await vip_of(controller, f"{C}--Shared-L7-{INFRA}-0"), port=443,
                          host=TLS_HOST)
    assert answer["vs"] == f"{C}--{INFRA}-{TLS_HOST}"
    touched = {w["path"] for w in (await controller.writes())[writes_before:]}
    default_objects = {f"/api/virtualservice/{(await controller.one('virtualservice', n))['uuid']}"
                       for n in (shard(HACK), shard(HOST))}
    assert not touched & default_objects, touched

    # Deleting the AviInfraSetting: the rest moves back to the defaults (TLS host, L4 Service).
    await infras.delete(INFRA)

    async def l4_back() -> bool:
        vs = await controller.one("virtualservice", f"{C}--default-az2-lb")
        return points_at(vs["se_group_ref"], az1_group)

    await eventually(l4_back, timeout=30, what="the L4 VS back on the default SE group")
    await akod.wait_in_sync()
    assert ipaddress.ip_address(await vip_of(controller, f"{C}--default-az2-lb")) in AZ1_NET
    answer = await routed(controller, vip=await vip_of(controller, shard(TLS_HOST)), port=443, host=TLS_HOST)
    assert answer["vs"] == f"{C}--{TLS_HOST}"
    assert await controller.objects("virtualservice", contains=f"{C}--Shared-L7-{INFRA}-") == []
    assert await controller.objects("virtualservice", contains=f"{C}--{INFRA}-") == []
    plan = akod_cli("plan", "--config", str(akod.config))
    assert akod.stop() == 0
    assert plan.returncode in (0, 10), plan.stdout + plan.stderr


async def test_an_infra_setting_naming_a_missing_se_group_is_rejected_and_holds_back_only_its_class(
        controller: Controller, nodes: Nodes, services, ingresses: Ingresses, infras: AviInfraSettings,
        make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    await infras.create("nosuch", {"seGroup": {"name": "No-Such-SE-Group"}})
    rejected = await status_of(infras, "nosuch", "Rejected")
    assert rejected["error"].startswith("spec.seGroup.name: ServiceEngineGroup 'No-Such-SE-Group' does not exist")
    await infra_class(ingresses, name="avi-nosuch", infra="nosuch")
    await ingresses.create("default", "held", rules=[rule(HOST, path("/", "hackazon", 80))], class_name="avi-nosuch")

    async def held() -> dict[str, Any] | bool:
        status = await akod.status()
        found = [e for e in status["errors"] if e["kind"] == "Ingress" and e["name"] == "held"]
        return found[0] if found else False

    error = await eventually(held, timeout=30, what="the held-back Ingress's error")
    assert error["field"] == "spec.ingressClassName"
    assert "IngressClass avi-nosuch spec.parameters.name names AviInfraSetting nosuch" in error["message"]
    status = await akod.status()
    assert any(e["kind"] == "AviInfraSetting" and e["name"] == "nosuch" and e["field"] == "spec.seGroup.name"
               for e in status["errors"])

    async def event() -> bool:
        return any(e.reason == "AviObjectMissing" for e in await infras.events_for("nosuch"))

    await eventually(event, what="the Event of the rejected AviInfraSetting")
    await akod.wait_in_sync()
    # Not served anywhere: neither on another class's VIP nor on a shard of its own.
    assert await controller.objects("pool", contains=HOST) == []
    assert await controller.objects("virtualservice", contains="Shared-L7-nosuch") == []
    assert await ingresses.status("default", "held") == []
    # The daemon and the other objects are unaffected.
    akod.assert_running()
    assert (await routed(controller, vip=await vip_of(controller, shard(HACK)), port=80, host=HACK))["vs"] == shard(HACK)

    # A field akod does not apply: Accepted, with a warning Event naming it.
    await infras.create("public", {"seGroup": {"name": "S1-AZ2-SE-Group"}, "network": {"enablePublicIP": True}})
    assert await status_of(infras, "public", "Accepted") == {"status": "Accepted"}

    async def warned() -> bool:
        return any(e.reason == "FieldNotApplied" and "spec.network.enablePublicIP" in e.message
                   for e in await infras.events_for("public"))

    await eventually(warned, what="the FieldNotApplied Event")

    # The SE group appears under that name: accepted at the next check, the Ingress is served.
    az2 = await controller.one("serviceenginegroup", "S1-AZ2-SE-Group")
    code, body = await controller.call("POST", "/api/serviceenginegroup",
                                       {"name": "No-Such-SE-Group", "cloud_ref": az2["cloud_ref"]})
    assert code == 201, body
    await status_of(infras, "nosuch", "Accepted")

    async def served() -> bool:
        vs = await controller.maybe("virtualservice", f"{C}--Shared-L7-nosuch-{fnv1a_32(HOST) & 7}")
        return vs is not None

    await eventually(served, timeout=30, what="the Ingress on the shard of its class")
    # An accepted AviInfraSetting edited into something invalid keeps its last accepted spec.
    await infras.patch("nosuch", {"l7Settings": {"shardSize": "SMALL"}, "network": {"bgpPeerLabels": ["p1"]}})
    broken = await status_of(infras, "nosuch", "Rejected")
    assert broken["error"].startswith("spec.network.bgpPeerLabels: cannot be set unless enableRhi is true")
    assert broken["error"].endswith("the last accepted spec stays applied")
    await akod.wait_in_sync()
    assert await controller.maybe("virtualservice", f"{C}--Shared-L7-nosuch-{fnv1a_32(HOST) & 7}") is not None
    assert akod.stop() == 0


async def test_kill9_while_an_infra_class_is_applied_then_restart_gives_exact_objects(
        controller: Controller, nodes: Nodes, services, ingresses: Ingresses, infras: AviInfraSettings,
        make_daemon) -> None:
    await nodes.seed()
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11"], svc_type="ClusterIP")
    await infras.create(INFRA, SPEC)
    await infra_class(ingresses)
    hosts = [f"in{i}.avi.iberia.local" for i in range(12)]
    for i, host in enumerate(hosts):
        await ingresses.create("default", f"in{i}", rules=[rule(host, path("/", "kuard", 8080))], class_name=CLASS)
    await controller.faults({"latency_ms": {"write": 150}})
    akod = make_daemon()
    akod.start()

    async def some_applied() -> bool:
        return len(await controller.objects("pool", contains=f"{C}--{INFRA}-in")) >= 3

    await eventually(some_applied, timeout=60, interval=0.05, what="the first pools of the class")
    akod.kill9()
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync(timeout=90)
    az2_group = await controller.one("serviceenginegroup", "S1-AZ2-SE-Group")
    for i, host in enumerate(hosts):
        assert await controller.maybe("pool", f"{C}--{INFRA}-{host}_-default-in{i}") is not None, host
        vs = await controller.one("virtualservice", infra_shard(host))
        assert points_at(vs["se_group_ref"], az2_group), host
    names = [vs["name"] for vs in await controller.objects("virtualservice", contains=f"{C}--")]
    assert len(names) == len(set(names)), "duplicate virtual services"
    assert not [n for n in names if n.startswith(f"{C}--Shared-L7-") and f"-{INFRA}-" not in n], names
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert akod.stop() == 0
    # `akod cleanup` takes back the label akod put on the AviInfraSetting's SE group too.
    assert {"key": "clustername", "value": C} in (az2_group.get("labels") or [])
    done = akod_cli("cleanup", "--config", str(akod.config), "--yes")
    assert done.returncode == 0 and "SE group S1-AZ2-SE-Group: removed the clustername label" in done.stdout, (
        done.stdout + done.stderr)
    az2_group = await controller.one("serviceenginegroup", "S1-AZ2-SE-Group")
    assert not [lb for lb in az2_group.get("labels") or [] if lb.get("key") == "clustername"]
    assert [n for n in await controller.names("virtualservice") if n.startswith(f"{C}--")] == []


async def test_a_namespace_annotation_places_its_services_and_classless_ingresses_and_removing_it_moves_them_back(
        controller: Controller, nodes: Nodes, services, ingresses: Ingresses, infras: AviInfraSettings,
        make_daemon, kube_client: client.ApiClient) -> None:
    import secrets

    core = client.CoreV1Api(kube_client)
    ns = f"az2-{secrets.token_hex(3)}"
    await core.create_namespace({"metadata": {"name": ns,
                                              "annotations": {"aviinfrasetting.ako.vmware.com/name": INFRA}}})
    await nodes.seed()
    await infras.create(INFRA, SPEC)
    await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="ClusterIP")
    await services.create(ns, "lb", ports=[(8080, "TCP")], endpoints=["10.34.1.11"])
    await ingresses.create(ns, "web", rules=[rule(HOST, path("/", "web", 80))])
    akod = make_daemon()
    akod.start()
    await status_of(infras, INFRA, "Accepted")
    await akod.wait_in_sync(timeout=60)
    az2_group = await controller.one("serviceenginegroup", "S1-AZ2-SE-Group")
    az1_group = await controller.one("serviceenginegroup", "S1-AZ1-SE-Group")
    l4 = await controller.one("virtualservice", f"{C}--{ns}-lb")
    assert points_at(l4["se_group_ref"], az2_group)
    assert ipaddress.ip_address(await vip_of(controller, f"{C}--{ns}-lb")) in AZ2_NET
    vs = await controller.one("virtualservice", infra_shard(HOST))
    assert points_at(vs["se_group_ref"], az2_group)
    answer = await routed(controller, vip=await vip_of(controller, infra_shard(HOST)), port=80, host=HOST)
    assert answer["pool"] == f"{C}--{INFRA}-{HOST}_-{ns}-web"

    # The annotation removed: both move back to the defaults, the infra shard goes.
    await core.patch_namespace(ns, {"metadata": {"annotations": {"aviinfrasetting.ako.vmware.com/name": None}}})

    async def back() -> bool:
        vs = await controller.one("virtualservice", f"{C}--{ns}-lb")
        return (points_at(vs["se_group_ref"], az1_group)
                and await controller.maybe("virtualservice", infra_shard(HOST)) is None)

    await eventually(back, timeout=30, what="the namespace's objects back on the defaults")
    await akod.wait_in_sync()
    answer = await routed(controller, vip=await vip_of(controller, shard(HOST)), port=80, host=HOST)
    assert answer["pool"] == f"{C}--{HOST}_-{ns}-web"
    assert akod.stop() == 0
    await services.delete(ns, "lb")
    await core.delete_namespace(ns)
