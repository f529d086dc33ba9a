"""Several daemons, one controller: two clusters share its rate limit, and keep apart.

Cluster S1-AZ1 (VIP network AVI_FRONTEND_3025, VRF_AZ1) and cluster S1-AZ2 (AVI_FRONTEND_3026,
VRF_AZ2) each serve the Services and Ingresses of their own namespace (`[namespaces] selector`)
of one Kubernetes cluster, against one controller.

- A controller limits calls per client IP (Broadcom KB 372209: about 32 req/s, 429 past the
  burst), so two akods on one jump host share one budget. Against an emulator that allows
  32 req/s, each daemon configured for 30 req/s (60 together), their pacers must slow down on the
  first 429s (AIMD) instead of retrying in step, and neither may touch the other's objects, SE
  group or routes. Only the daemons talk to the emulator's API while they converge (the test
  watches their `/status` and Kubernetes), so every request in its log until then is theirs.
- Each sees the other's objects, with the other's VIPs in their status: clearing those would take
  them away from the daemon that serves them, which would not notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.config import SEED_AZ1, SEED_AZ2, SeedCluster
from akod.devenv.errors import TimedOut
from akod.devenv.seed import HAND_MADE_ROUTE, SEED_NODES
from tests.e2e.conftest import Controller, Nodes, hops, ours
from tests.e2e.ingresses import path, rule
from tests.e2e.harness import TEST_OPTIONS, eventually

SERVICES_PER_CLUSTER = 90
PORTS = ((80, "TCP"), (8080, "TCP"))  # VsVip, two pools, L4 policy set, VS: 5 writes a Service
CONTROLLER_LIMIT = {"rate_limit": {"rate": 32, "burst": 32}}
DAEMON_RATE = 30.0
MAX_429_SHARE = 0.05
CONVERGE_TIMEOUT_S = 90.0
SEED_HOPS = {cidr: node.ip for node in SEED_NODES for cidr in node.pod_cidrs}
HAND_MADE_AZ2 = {**HAND_MADE_ROUTE, "route_id": "hand-made-az2",
                 "prefix": {"ip_addr": {"addr": "192.168.60.0", "type": "V4"}, "mask": 24},
                 "next_hop": {"addr": "10.10.26.1", "type": "V4"}}


async def make_services(services: Any, ns: str, count: int) -> None:
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with gate:
            await services.create(ns, f"app-{i:03d}", ports=PORTS, endpoints=[f"10.34.1.{10 + i}"])

    await asyncio.gather(*(one(i) for i in range(count)))


async def vips_written(core: client.CoreV1Api, ns: str) -> list[str]:
    """The VIP in the status of each Service of `ns` ("" for none yet)."""
    listed = await core.list_namespaced_service(ns)
    return [((svc.status.load_balancer.ingress or [None])[0] or client.V1LoadBalancerIngress()).ip or ""
            for svc in listed.items]


async def statuses_written(core: client.CoreV1Api, ns: str, cidr: str) -> bool:
    """Every LoadBalancer Service of `ns` has a VIP of `cidr` in its status."""
    net = ipaddress.ip_network(cidr)
    vips = await vips_written(core, ns)
    return len(vips) == SERVICES_PER_CLUSTER and all(v and ipaddress.ip_address(v) in net for v in vips)


async def progress(controller: Controller, daemons: list[Any], *, since: int) -> str:
    """Where each daemon stands and what the controller answered: the message of a timeout."""
    calls = (await controller.requests())[since:]
    answers = Counter(c["status"] for c in calls)
    lines = [f"controller answered {len(calls)} calls: {dict(sorted(answers.items()))}"]
    for daemon in daemons:
        s = await daemon.status()
        lines.append(f"{s['cluster']}: ready={s['ready']} ({s['ready_reason']}), in_sync={s['sync']['in_sync']}, "
                     f"pending_ops={s['sync']['pending_ops']}, failed={s['sync']['failed_ops']}, "
                     f"journal={s['sync']['journal']}, rate={s['controller'].get('rate')}, "
                     f"last_error={s['controller']['last_error']!r}")
        lines.append(daemon.log_tail(1500))
    return "\n".join(lines)


def selector(value: str) -> str:
    return f'[namespaces]\nselector = {{ key = "az", value = "{value}" }}\n'


async def own_objects_only(controller: Controller, cluster: SeedCluster, ns: str) -> None:
    """The cluster's virtual services: one per Service of its namespace, on its SE group and VIP network."""
    vses = await controller.objects("virtualservice", contains=f"{cluster.name}--")
    assert sorted(vs["name"] for vs in vses) == sorted(
        f"{cluster.name}--{ns}-app-{i:03d}" for i in range(SERVICES_PER_CLUSTER))
    segroup = await controller.one("serviceenginegroup", f"{cluster.name}-SE-Group")
    vrf = await controller.one("vrfcontext", cluster.vrf)
    for vs in vses:
        assert vs["created_by"] == f"ako-{cluster.name}"
        assert vs["se_group_ref"].split("#")[0].endswith(segroup["uuid"])
    net = ipaddress.ip_network(cluster.vip_cidr)
    for vsvip in await controller.objects("vsvip", contains=f"{cluster.name}--"):
        assert vsvip["vrf_context_ref"].split("#")[0].endswith(vrf["uuid"])
        assert all(ipaddress.ip_address(v["ip_address"]["addr"]) in net for v in vsvip["vip"])
    assert segroup.get("labels") == [{"key": "clustername", "value": cluster.name}]


@pytest.fixture
async def two_namespaces(kube_client: client.ApiClient, kube_namespace: str) -> AsyncIterator[tuple[str, str]]:
    """Two fresh namespaces, labelled `az=1` (cluster S1-AZ1's) and `az=2` (S1-AZ2's)."""
    core = client.CoreV1Api(kube_client)
    second = f"{kube_namespace[:50]}-b{secrets.token_hex(2)}"
    await core.patch_namespace(kube_namespace, {"metadata": {"labels": {"az": "1"}}})
    await core.create_namespace({"metadata": {"name": second, "labels": {"akod.test/namespace": "true", "az": "2"}}})
    yield kube_namespace, second
    with contextlib.suppress(ApiException):
        await core.delete_namespace(second)


async def test_two_daemons_over_the_controllers_limit_converge_with_few_429s_and_keep_apart(
        controller: Controller, nodes: Nodes, services: Any, kube_client: client.ApiClient,
        two_namespaces: tuple[str, str], make_daemon: Any) -> None:
    core = client.CoreV1Api(kube_client)
    ns1, ns2 = two_namespaces
    await nodes.seed()
    await controller.add_route(HAND_MADE_ROUTE, vrf=SEED_AZ1.vrf)
    await controller.add_route(HAND_MADE_AZ2, vrf=SEED_AZ2.vrf)
    await make_services(services, ns1, SERVICES_PER_CLUSTER)
    await make_services(services, ns2, SERVICES_PER_CLUSTER)
    paced = replace(TEST_OPTIONS, api_rate=DAEMON_RATE, api_burst=40, api_workers=8, api_timeout_s=30)
    az1 = make_daemon("az1", options=replace(paced.of(SEED_AZ1), extra=selector("1")))
    az2 = make_daemon("az2", options=replace(paced.of(SEED_AZ2), extra=selector("2")))
    await controller.faults(CONTROLLER_LIMIT)
    before = len(await controller.requests())

    started = time.monotonic()
    az1.start()
    az2.start()

    async def converged() -> bool:
        for daemon, ns, cluster in ((az1, ns1, SEED_AZ1), (az2, ns2, SEED_AZ2)):
            status = await daemon.in_sync_status()
            if status is None or not await statuses_written(core, ns, cluster.vip_cidr):
                return False
        return True

    try:
        await eventually(converged, timeout=CONVERGE_TIMEOUT_S, interval=0.5, what="both daemons in sync")
    except TimedOut as exc:
        written = {ns: await vips_written(core, ns) for ns in (ns1, ns2)}
        raise TimedOut(f"{exc}\n{await progress(controller, [az1, az2], since=before)}\n{written}") from None
    took = time.monotonic() - started
    calls = (await controller.requests())[before:]
    statuses = [await az1.status(), await az2.status()]
    await controller.faults({})

    refused = sum(1 for c in calls if c["status"] == 429)
    share = refused / len(calls)
    rates = [s["controller"]["rate"] for s in statuses]
    print(f"converged in {took:.1f} s: {len(calls)} calls, {refused} answered 429 ({share:.1%}); "
          f"pacers: {rates}")
    assert share < MAX_429_SHARE, f"{refused} of {len(calls)} calls answered 429"
    assert all(r["configured"] == DAEMON_RATE for r in rates)
    assert sum(r["decreases"] for r in rates) >= 1  # 60 req/s against 32: the pacers had to slow down
    assert sum(r["throttled_429s"] for r in rates) == refused
    for status in statuses:
        assert status["errors"] == [] and status["sync"]["failures"] == {}

    # Each daemon made exactly its own objects: no 409 (a name taken), no delete (GC of the other's).
    writes = [c for c in calls if c["method"] in ("POST", "PUT", "PATCH", "DELETE") and c["path"].startswith("/api/")]
    assert not [c for c in writes if c["method"] == "DELETE" or c["status"] == 409]
    creates = [c for c in writes if c["method"] == "POST" and c["status"] in (200, 201)]
    assert len(creates) == 2 * SERVICES_PER_CLUSTER * (len(PORTS) + 3)
    await own_objects_only(controller, SEED_AZ1, ns1)
    await own_objects_only(controller, SEED_AZ2, ns2)

    # Each cluster's routes in its own VRF, next to the hand-made one; none of the other's.
    az1_routes = await controller.vrf_routes(SEED_AZ1.vrf)
    az2_routes = await controller.vrf_routes(SEED_AZ2.vrf)
    assert hops(az1_routes, SEED_AZ1.name) == SEED_HOPS and not ours(az1_routes, SEED_AZ2.name)
    assert hops(az2_routes, SEED_AZ2.name) == SEED_HOPS and not ours(az2_routes, SEED_AZ1.name)
    assert HAND_MADE_ROUTE["route_id"] in [r["route_id"] for r in az1_routes]
    assert HAND_MADE_AZ2["route_id"] in [r["route_id"] for r in az2_routes]
    assert az1.stop() == 0 and az2.stop() == 0


async def shown(services: Any, ingresses: Any, ns: str) -> dict[str, Any]:
    """What each Service and Ingress of `ns` shows: its status and its FQDN map annotation."""
    found: dict[str, Any] = {}
    for name in ("web", "api"):
        svc = await services.get(ns, name)
        ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
        found[f"Service/{name}"] = ([e.ip for e in ingress],
                                    (svc.metadata.annotations or {}).get("ako.vmware.com/host-fqdn-vs-uuid-map"))
    found["Ingress/site"] = ([e["ip"] for e in await ingresses.status(ns, "site")],
                             (await ingresses.annotations(ns, "site")).get("ako.vmware.com/host-fqdn-vs-uuid-map"))
    return found


async def test_a_daemon_starting_beside_another_keeps_its_statuses_and_clears_only_its_own(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Any, two_namespaces: tuple[str, str],
        make_daemon: Any) -> None:
    ns1, ns2 = two_namespaces
    for ns in (ns1, ns2):
        await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
        await services.create(ns, "api", ports=[(8080, "TCP")], endpoints=["10.34.1.11"])
        await ingresses.create(ns, "site", rules=[rule(f"site.{ns}.avi.iberia.local", path("/", "web", 80))])
    az1 = make_daemon("az1", options=replace(TEST_OPTIONS.of(SEED_AZ1), extra=selector("1")))
    az2 = make_daemon("az2", options=replace(TEST_OPTIONS.of(SEED_AZ2), extra=selector("2")))

    async def all_shown(ns: str) -> dict[str, Any] | None:
        now = await shown(services, ingresses, ns)
        return now if all(ips and fqdn_map for ips, fqdn_map in now.values()) else None

    az1.start()
    await az1.wait_in_sync()
    first = await eventually(lambda: all_shown(ns1), what=f"the statuses of {ns1}")
    az2.start()  # it sees ns1's Services and Ingress, with S1-AZ1's VIPs: not its own to clear
    await az2.wait_in_sync()
    second = await eventually(lambda: all_shown(ns2), what=f"the statuses of {ns2}")
    assert await shown(services, ingresses, ns1) == first

    # A change of S1-AZ1's Ingress reaches S1-AZ2 too, which does not serve it: still not its to clear.
    changed = await ingresses.net.patch_namespaced_ingress("site", ns1, {"spec": {"rules": [
        rule(f"site.{ns1}.avi.iberia.local", path("/v2", "web", 80))]}})
    seen_at = int(changed["metadata"]["resourceVersion"])

    async def az2_saw_it() -> bool:
        watch = (await az2.status())["kubernetes"]["watches"]["ingresses"]
        return int(watch["resource_version"] or 0) >= seen_at

    await eventually(az2_saw_it, what="S1-AZ2 to see the change of S1-AZ1's Ingress")
    await az2.wait_in_sync()
    await az1.wait_in_sync()
    assert await shown(services, ingresses, ns1) == first

    # What a daemon wrote itself it still clears: a Service that stopped being ours while akod was down.
    assert az1.stop() == 0
    await services.patch(ns1, "api", {"spec": {"type": "ClusterIP", "externalTrafficPolicy": None}})
    az1.start()
    await az1.wait_in_sync()
    assert await shown(services, ingresses, ns1) == {**first, "Service/api": ([], None)}
    assert await shown(services, ingresses, ns2) == second
    assert az1.stop() == 0 and az2.stop() == 0
