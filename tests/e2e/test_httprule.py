"""Issue 10, HTTPRule end to end: the pools of a host's target paths, edited, rejected, removed; kill -9.

Real kube-apiserver with AKO's CRDs installed from `deploy/crds/` (removed after this module),
the emulator in strict mode, `akod run` as a process. What a user sees is asserted: the pools'
fields on the controller, the PKI profile akod makes from a `destinationCA`, the HTTPRule's
`status`, `/status` and `/objects`, `akod plan`, and the writes (the emulator's request log).
"""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv import crds
from akod.devenv.httprules import HTTPRules
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import akod_cli, eventually
from tests.e2e.ingresses import Ingresses, make_cert, path, rule
from tests.e2e.test_l7 import HACK, KUARD, routed, seed_ingresses, shard, vip_of

C = "S1-AZ1"
SHOP = "shop.avi.iberia.local"
ROOT_POOL = f"{C}--{SHOP}_-default-shop"
API_POOL = f"{C}--{SHOP}_api-default-shop"
HACK_POOL = f"{C}--{HACK}_-default-hackazon"
KUARD_POOL = f"{C}--default-{KUARD}_-kuard"  # the SNI child's pool
CH = "LB_ALGORITHM_CONSISTENT_HASH"
FAST_RECHECK = "[sync]\ndrift_check_s = 2\n"


@pytest.fixture(scope="module")
async def crd_cluster(kube_client: client.ApiClient) -> AsyncIterator[None]:
    await crds.install(kube_client)
    yield
    await crds.remove(kube_client)


@pytest.fixture
async def httprules(crd_cluster: None, kube_client: client.ApiClient) -> AsyncIterator[HTTPRules]:
    made = HTTPRules(kube_client)
    await made.delete_all()
    yield made
    await made.delete_all()


async def seed_shop(services, nodes: Nodes, ingresses: Ingresses) -> None:
    """The seed's two Ingresses, and a plain host `shop` with `/` (hackazon) and `/api` (kuard)."""
    await seed_ingresses(services, nodes, ingresses)
    await ingresses.create("default", "shop", rules=[rule(SHOP, path("/", "hackazon", 80),
                                                          path("/api", "kuard", 8080))])


def points_at(ref: str | None, obj: dict[str, Any]) -> bool:
    return bool(ref) and str(ref).split("#")[0].endswith(f"/{obj['uuid']}")


def monitors(pool: dict[str, Any]) -> list[str]:
    return list(pool.get("health_monitor_refs") or [])


async def status_of(httprules: HTTPRules, name: str, want: str) -> dict[str, str]:
    async def probe() -> dict[str, str] | bool:
        found = await httprules.status("default", name)
        return found if found.get("status") == want else False

    return await eventually(probe, timeout=30, what=f"HTTPRule {name} {want}")


def per_object(writes: list[dict[str, Any]]) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((w["method"], w["path"]) for w in writes)


ACCEPTANCE = [{"target": "/", "loadBalancerPolicy": {"algorithm": CH,
                                                     "hash": "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS"}},
              {"target": "/api", "healthMonitors": ["System-HTTP"]}]


async def test_consistent_hash_on_root_and_a_monitor_on_api_reach_exactly_the_right_pools(
        controller, nodes: Nodes, services, ingresses: Ingresses, httprules: HTTPRules, make_daemon) -> None:
    await seed_shop(services, nodes, ingresses)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    before = {n: await controller.one("pool", n) for n in (ROOT_POOL, API_POOL, HACK_POOL, KUARD_POOL)}
    assert all(p.get("lb_algorithm") != CH and monitors(p) == [] for p in before.values()), before
    writes_before = len(await controller.writes())

    await httprules.create("default", "shop", fqdn=SHOP, paths=ACCEPTANCE)
    assert await status_of(httprules, "shop", "Accepted") == {"status": "Accepted"}
    hm = await controller.one("healthmonitor", "System-HTTP")

    async def applied() -> dict[str, dict[str, Any]] | bool:
        pools = {n: await controller.one("pool", n) for n in before}
        return pools if pools[API_POOL].get("health_monitor_refs") and pools[ROOT_POOL].get("lb_algorithm") == CH \
            else False

    pools = await eventually(applied, timeout=30, what="the HTTPRule on the shop pools")
    # `/` covers both pools of the host; `/api` only its own; the other hosts' pools are untouched.
    assert pools[ROOT_POOL]["lb_algorithm_hash"] == "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS"
    assert pools[API_POOL]["lb_algorithm"] == CH and monitors(pools[ROOT_POOL]) == []
    assert [points_at(r, hm) for r in monitors(pools[API_POOL])] == [True]
    for other in (HACK_POOL, KUARD_POOL):
        assert pools[other]["lb_algorithm"] != CH and monitors(pools[other]) == [], other
        assert pools[other]["_last_modified"] == before[other]["_last_modified"], other
    await akod.wait_in_sync()
    step = per_object((await controller.writes())[writes_before:])
    assert step == {("PUT", f"/api/pool/{pools[ROOT_POOL]['uuid']}"): 1,
                    ("PUT", f"/api/pool/{pools[API_POOL]['uuid']}"): 1}, step
    # The data plane still serves both paths from their pools.
    vip = await vip_of(controller, shard(SHOP))
    assert (await routed(controller, vip=vip, port=80, host=SHOP, path="/api/x"))["pool"] == API_POOL

    code, objects = await akod.get("/objects?kind=Ingress&namespace=default&name=shop")
    assert code == 200
    assert objects["objects"][0]["custom_resources"] == [
        {"kind": "HTTPRule", "namespace": "default", "name": "shop", "host": SHOP}]
    code, objects = await akod.get("/objects?kind=HTTPRule&namespace=default&name=shop")
    (entry,) = objects["objects"]
    assert entry["acts_on_keys"] == [f"l7:{shard(SHOP)}"]
    assert [p["target"] for p in entry["effect"]["paths"]] == ["/", "/api"]

    # A hand edit of a field the HTTPRule sets: the drift check puts it back.
    edited = {k: v for k, v in pools[API_POOL].items() if k != "health_monitor_refs"}
    code, answer = await controller.call("PUT", f"/api/pool/{pools[API_POOL]['uuid']}", edited)
    assert code == 200, answer

    async def repaired() -> bool:
        return bool(monitors(await controller.one("pool", API_POOL)))

    await eventually(repaired, timeout=30, what="the health monitor put back by the drift check")
    await akod.wait_in_sync()

    # Edited: `/` loses its rule, `/api` gets another algorithm: one write per changed pool.
    writes_before = len(await controller.writes())
    await httprules.replace_paths("default", "shop", [
        {"target": "/api", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_FEWEST_SERVERS"},
         "healthMonitors": ["System-HTTP"]}])

    async def edited_applied() -> bool:
        return (await controller.one("pool", API_POOL)).get("lb_algorithm") == "LB_ALGORITHM_FEWEST_SERVERS"

    await eventually(edited_applied, timeout=30, what="the edited HTTPRule")
    await akod.wait_in_sync()
    assert (await controller.one("pool", ROOT_POOL))["lb_algorithm"] == before[ROOT_POOL]["lb_algorithm"]
    assert per_object((await controller.writes())[writes_before:]) == {
        ("PUT", f"/api/pool/{pools[ROOT_POOL]['uuid']}"): 1, ("PUT", f"/api/pool/{pools[API_POOL]['uuid']}"): 1}

    # A restart with nothing changed writes nothing.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert (await controller.writes())[writes_before:] == []

    # Deleted: the pools are what akod makes without it, the one pool still changed written once.
    await httprules.delete("default", "shop")

    async def restored() -> bool:
        return monitors(await controller.one("pool", API_POOL)) == []

    await eventually(restored, timeout=30, what="the pools without the HTTPRule")
    await akod.wait_in_sync()
    api = await controller.one("pool", API_POOL)
    assert api["lb_algorithm"] == before[API_POOL]["lb_algorithm"]
    assert per_object((await controller.writes())[writes_before:]) == {("PUT", f"/api/pool/{api['uuid']}"): 1}
    assert akod.stop() == 0


async def test_reencrypt_with_a_destination_ca_on_a_tls_host_makes_a_pki_profile_akod_owns(
        controller, nodes: Nodes, services, ingresses: Ingresses, httprules: HTTPRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    assert akod.stop() == 0
    ca, _ = make_cert("backend-ca.avi.iberia.local")
    pki_name = f"{KUARD_POOL}-pkiprofile"
    await httprules.create("default", "kuard", fqdn=KUARD, paths=[{
        "target": "/", "tls": {"type": "reencrypt", "sslProfile": "System-Standard-PFS", "destinationCA": ca},
        "applicationPersistence": "System-Persistence-Client-IP", "enableHTTP2": True}])
    # What the HTTPRule would change, before anything is changed: made by akod's plan for the CR.
    plan = akod_cli("plan", "--config", str(akod.config), "--json")
    assert plan.returncode == 10, plan.stdout + plan.stderr
    planned = json.loads(plan.stdout)["objects"]
    assert [(c["action"], c["type"], c["name"]) for c in planned] == [
        ("create", "pkiprofile", pki_name), ("update", "pool", KUARD_POOL)], planned
    assert all("HTTPRule default/kuard" in c["for"] for c in planned), planned

    writes_before = len(await controller.writes())
    akod.start()
    await status_of(httprules, "kuard", "Accepted")

    async def applied() -> dict[str, Any] | bool:
        pool = await controller.one("pool", KUARD_POOL)
        return pool if pool.get("pki_profile_ref") else False

    pool = await eventually(applied, timeout=30, what="the re-encryption on the SNI pool")
    await akod.wait_in_sync()
    pki = await controller.one("pkiprofile", pki_name)
    assert pki["created_by"] == f"ako-{C}" and pki["crl_check"] is False
    assert [c["certificate"].strip() for c in pki["ca_certs"]] == [ca.strip()]
    assert points_at(pool["pki_profile_ref"], pki) and pool["sni_enabled"] is True
    assert points_at(pool["ssl_profile_ref"], await controller.one("sslprofile", "System-Standard-PFS"))
    assert points_at(pool["application_persistence_profile_ref"],
                     await controller.one("applicationpersistenceprofile", "System-Persistence-Client-IP"))
    assert pool["enable_http2"] is True
    writes = (await controller.writes())[writes_before:]
    assert [(w["method"], w["path"]) for w in writes] == [
        ("POST", "/api/pkiprofile"), ("PUT", f"/api/pool/{pool['uuid']}")], writes  # the profile first
    answer = await routed(controller, vip=await vip_of(controller, shard(KUARD)), port=443, host=KUARD)
    assert answer["pool"] == KUARD_POOL
    # A hand edit of the profile's CA: the drift check puts the HTTPRule's back.
    other, _ = make_cert("someone-else.avi.iberia.local")
    code, answer = await controller.call("PUT", f"/api/pkiprofile/{pki['uuid']}",
                                         {**pki, "ca_certs": [{"certificate": other}]})
    assert code == 200, answer

    async def repaired() -> bool:
        found = await controller.one("pkiprofile", pki_name)
        return [c["certificate"].strip() for c in found["ca_certs"]] == [ca.strip()]

    await eventually(repaired, timeout=30, what="the PKI profile's CA put back by the drift check")
    await akod.wait_in_sync()

    # Deleted: the pool lets go of the profile first, then the profile goes.
    writes_before = len(await controller.writes())
    await httprules.delete("default", "kuard")

    async def gone() -> bool:
        return await controller.maybe("pkiprofile", pki_name) is None

    await eventually(gone, timeout=30, what="the PKI profile removed with its HTTPRule")
    await akod.wait_in_sync()
    pool = await controller.one("pool", KUARD_POOL)
    assert "pki_profile_ref" not in pool and pool["sni_enabled"] is False
    assert [(w["method"], w["path"]) for w in (await controller.writes())[writes_before:]] == [
        ("PUT", f"/api/pool/{pool['uuid']}"), ("DELETE", f"/api/pkiprofile/{pki['uuid']}")]
    assert akod.stop() == 0


async def test_dedicated_mode_gives_the_httprule_to_the_hosts_own_pools(
        controller, nodes: Nodes, services, ingresses: Ingresses, httprules: HTTPRules, make_daemon) -> None:
    await seed_shop(services, nodes, ingresses)
    akod = make_daemon(extra_config='[l7]\nshard_vs_size = "DEDICATED"\n')
    akod.start()
    await akod.wait_in_sync()
    root, api = (f"{C}--default-{SHOP}_{p}-shop-L7-dedicated" for p in ("", "api"))
    hack = f"{C}--default-{HACK}_-hackazon-L7-dedicated"
    hack_before = await controller.one("pool", hack)
    await httprules.create("default", "shop", fqdn=SHOP, paths=ACCEPTANCE)
    await status_of(httprules, "shop", "Accepted")

    async def applied() -> bool:
        return bool(monitors(await controller.one("pool", api)))

    await eventually(applied, timeout=30, what="the HTTPRule on the dedicated VS's pools")
    await akod.wait_in_sync()
    root_pool, api_pool = await controller.one("pool", root), await controller.one("pool", api)
    assert root_pool["lb_algorithm"] == api_pool["lb_algorithm"] == CH and monitors(root_pool) == []
    assert (await controller.one("pool", hack))["_last_modified"] == hack_before["_last_modified"]
    vs = f"{C}--{SHOP}-L7-dedicated"
    answer = await routed(controller, vip=await vip_of(controller, vs), port=80, host=SHOP, path="/api")
    assert answer["vs"] == vs and answer["pool"] == api
    assert akod.stop() == 0


async def test_rejections_name_the_field_change_nothing_and_a_broken_edit_keeps_the_last_good_effect(
        controller, nodes: Nodes, services, ingresses: Ingresses, httprules: HTTPRules, make_daemon) -> None:
    await seed_shop(services, nodes, ingresses)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    hack_before = await controller.one("pool", HACK_POOL)

    # An unknown algorithm: the CRD's enum refuses it at the apiserver.
    with pytest.raises(ApiException) as refused:
        await httprules.create("default", "magic", fqdn=HACK, paths=[
            {"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_MAGIC"}}])
    assert refused.value.status == 422 and "algorithm" in refused.value.body
    # An invalid spec the CRD lets through (AKO's check): rejected by akod, naming the field.
    ca, _ = make_cert("backend-ca.avi.iberia.local")
    await httprules.create("default", "both", fqdn=KUARD, paths=[
        {"target": "/", "tls": {"type": "reencrypt", "pkiProfile": "System-PKI-Profile", "destinationCA": ca}}])
    both = await status_of(httprules, "both", "Rejected")
    assert both["error"].startswith("spec.paths[0].tls: PKIProfile and DestinationCA fields are set"), both
    # A health monitor the controller does not have: rejected, nothing changes.
    await httprules.create("default", "nohm", fqdn=HACK, paths=[{"target": "/", "healthMonitors": ["No-Such-HM"]}])
    rejected = await status_of(httprules, "nohm", "Rejected")
    assert rejected["error"].startswith("spec.paths[0].healthMonitors[0]: HealthMonitor 'No-Such-HM' does not exist")

    status = await akod.status()
    errors = {(e["kind"], e["name"], e["field"]) for e in status["errors"]}
    assert {("HTTPRule", "both", "spec.paths[0].tls"),
            ("HTTPRule", "nohm", "spec.paths[0].healthMonitors[0]")} <= errors

    async def event() -> bool:
        return any(e.reason == "AviObjectMissing" and "healthMonitors" in e.message
                   for e in await httprules.events_for("default", "nohm"))

    await eventually(event, what="the Event of the rejected HTTPRule")
    # A hash without the consistent hash algorithm: ignored as AKO does, Accepted, and said so.
    await httprules.create("default", "hashonly", fqdn=SHOP, paths=[{"target": "/x", "loadBalancerPolicy": {
        "algorithm": "LB_ALGORITHM_ROUND_ROBIN", "hash": "LB_ALGORITHM_CONSISTENT_HASH_URI"}}])
    await status_of(httprules, "hashonly", "Accepted")

    async def warned() -> bool:
        return any(e.reason == "FieldNotApplied" and "spec.paths[0].loadBalancerPolicy.hash" in e.message
                   for e in await httprules.events_for("default", "hashonly"))

    await eventually(warned, what="the FieldNotApplied Event")
    await akod.wait_in_sync()
    assert (await controller.one("pool", HACK_POOL))["_last_modified"] == hack_before["_last_modified"]
    # The daemon and the other hosts are unaffected.
    akod.assert_running()
    answer = await routed(controller, vip=await vip_of(controller, shard(SHOP)), port=80, host=SHOP, path="/api")
    assert answer["pool"] == API_POOL

    # The missing monitor appears: the HTTPRule is accepted at the next check and applied.
    code, body = await controller.call("POST", "/api/healthmonitor", {"name": "No-Such-HM",
                                                                      "type": "HEALTH_MONITOR_HTTP"})
    assert code == 201, body
    await status_of(httprules, "nohm", "Accepted")

    async def hm_applied() -> bool:
        return bool(monitors(await controller.one("pool", HACK_POOL)))

    await eventually(hm_applied, timeout=30, what="the once missing monitor on the hackazon pool")

    # An accepted HTTPRule edited into something invalid: reported, its last good effect stays.
    await httprules.create("default", "shop", fqdn=SHOP, paths=ACCEPTANCE)
    await status_of(httprules, "shop", "Accepted")

    async def shop_applied() -> bool:
        return (await controller.one("pool", ROOT_POOL)).get("lb_algorithm") == CH

    await eventually(shop_applied, timeout=30, what="the shop HTTPRule")
    await httprules.replace_paths("default", "shop", [{"target": "/", "applicationPersistence": "Typo-Persistence"}])
    broken = await status_of(httprules, "shop", "Rejected")
    assert broken["error"].startswith("spec.paths[0].applicationPersistence: ApplicationPersistenceProfile "
                                      "'Typo-Persistence'"), broken
    assert broken["error"].endswith("the last accepted spec stays applied")
    await akod.wait_in_sync()
    assert (await controller.one("pool", ROOT_POOL))["lb_algorithm"] == CH
    # ... across a restart too, with nothing written.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert (await controller.one("pool", ROOT_POOL))["lb_algorithm"] == CH
    assert (await controller.writes())[writes_before:] == []
    assert akod.stop() == 0
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0, plan.stdout + plan.stderr


async def test_kill9_while_httprules_are_applied_then_restart_gives_exact_objects(
        controller, nodes: Nodes, services, ingresses: Ingresses, httprules: HTTPRules, make_daemon) -> None:
    await nodes.seed()
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11"], svc_type="ClusterIP")
    hosts = [f"rr{i}.avi.iberia.local" for i in range(12)]
    for i, host in enumerate(hosts):
        await ingresses.create("default", f"rr{i}", rules=[rule(host, path("/", "kuard", 8080))])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync(timeout=90)
    ca, _ = make_cert("backend-ca.avi.iberia.local")
    await controller.faults({"latency_ms": {"write": 150}})
    for i, host in enumerate(hosts):
        await httprules.create("default", f"rr{i}", fqdn=host, paths=[
            {"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_ROUND_ROBIN"},
             "tls": {"type": "reencrypt", "destinationCA": ca}}])

    def pool_of(host: str) -> str:
        return f"{C}--{host}_-default-rr{hosts.index(host)}"

    async def some_applied() -> bool:
        found = [await controller.maybe("pool", pool_of(h)) for h in hosts]
        return sum(1 for p in found if p and p.get("pki_profile_ref")) >= 3

    await eventually(some_applied, timeout=60, interval=0.05, what="the first HTTPRules applied")
    akod.kill9()
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync(timeout=90)
    for host in hosts:
        pool = await controller.one("pool", pool_of(host))
        pki = await controller.one("pkiprofile", f"{pool_of(host)}-pkiprofile")
        assert pool["lb_algorithm"] == "LB_ALGORITHM_ROUND_ROBIN" and points_at(pool["pki_profile_ref"], pki), host
    for i in range(len(hosts)):
        assert await httprules.status("default", f"rr{i}") == {"status": "Accepted"}
    profiles = [p["name"] for p in await controller.objects("pkiprofile", contains=f"{C}--")]
    assert sorted(profiles) == sorted(f"{pool_of(h)}-pkiprofile" for h in hosts), "missing or duplicate profiles"
    names = [p["name"] for p in await controller.objects("pool", contains=f"{C}--")]
    assert len(names) == len(set(names)), "duplicate pools"
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert akod.stop() == 0
    # `akod cleanup` removes the PKI profiles with the rest (after the pools that use them).
    done = akod_cli("cleanup", "--config", str(akod.config), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert await controller.objects("pkiprofile", contains=f"{C}--") == []
    assert await controller.objects("pool", contains=f"{C}--") == []
    assert await controller.maybe("pkiprofile", "System-PKI-Profile") is not None  # not akod's: kept
