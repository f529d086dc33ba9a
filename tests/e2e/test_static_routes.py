"""Issue 2, end to end: Nodes become static routes in the VIP network's VRF, crash-safe.

Real kube-apiserver, the emulator in strict mode with the seed fixtures, akod as a process.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from akod.devenv.seed import HAND_MADE_ROUTE
from tests.e2e.conftest import SEED_NODES, Controller, Nodes, hops, ours
from tests.e2e.harness import eventually

SEED_HOPS = {cidrs[0]: ip for _, ip, cidrs in SEED_NODES}
HAND_MADE = HAND_MADE_ROUTE
OTHER_CLUSTER = {"route_id": "S1-AZ2-node-0", "prefix": {"ip_addr": {"addr": "10.35.0.0", "type": "V4"}, "mask": 24},
                 "next_hop": {"addr": "10.10.31.11", "type": "V4"},
                 "labels": [{"key": "clustername", "value": "S1-AZ2"}]}


async def routes_become(controller: Controller, expected: dict[str, str], *, timeout: float = 20) -> list[dict]:
    async def probe() -> tuple[list[dict]] | bool:
        routes = await controller.vrf_routes()
        return (routes,) if hops(routes) == expected else False

    return (await eventually(probe, timeout=timeout, what=f"routes {expected}"))[0]


async def seeded_daemon(controller: Controller, nodes: Nodes, make_daemon) -> Any:
    """The seed's three nodes, akod started on them, in sync with their three routes."""
    await nodes.seed()
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, SEED_HOPS)
    return akod


async def test_seed_topology_gives_three_routes_and_keeps_foreign_routes(controller, nodes: Nodes, make_daemon) -> None:
    await controller.add_route(HAND_MADE)
    await controller.add_route(OTHER_CLUSTER)
    await nodes.seed()
    akod = make_daemon()
    akod.start()
    status = await akod.wait_in_sync()
    routes = await routes_become(controller, SEED_HOPS)
    assert len(ours(routes)) == 3
    assert HAND_MADE["route_id"] in [r["route_id"] for r in routes]
    assert OTHER_CLUSTER in [{k: r.get(k) for k in OTHER_CLUSTER} for r in routes]
    assert status["controller"]["vrf"] == "VRF_AZ1"
    log = akod.log()
    assert "Setting VRF VRF_AZ1 found from network AVI_FRONTEND_3025" in log
    assert "Number of static routes 3" in log
    seg = await controller.one("serviceenginegroup", "S1-AZ1-SE-Group")
    assert {"key": "clustername", "value": "S1-AZ1"} in seg["labels"]
    assert akod.stop() == 0


async def test_routes_follow_cidr_changes_and_node_deletion(controller, nodes: Nodes, make_daemon) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    await nodes.set_cidr_annotation("site1-az1-k8s-worker01", "10.44.1.0/24")
    moved = dict(SEED_HOPS)
    del moved["10.34.1.0/24"]
    moved["10.44.1.0/24"] = "10.10.30.12"
    await routes_become(controller, moved)
    await nodes.delete("site1-az1-k8s-worker02")
    del moved["10.34.2.0/24"]
    await routes_become(controller, moved)
    assert akod.stop() == 0


async def test_nodes_added_or_deleted_while_stopped_are_picked_up_at_start(controller, nodes: Nodes,
                                                                           make_daemon) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    assert akod.stop() == 0
    await nodes.create("site1-az1-k8s-worker03", ip="10.10.30.14", cidrs=["10.34.3.0/24"])
    await nodes.delete("site1-az1-k8s-worker01")
    akod.start()
    expected = {k: v for k, v in SEED_HOPS.items() if k != "10.34.1.0/24"} | {"10.34.3.0/24": "10.10.30.14"}
    await akod.wait_in_sync()
    await routes_become(controller, expected)
    assert "resuming the nodes watch from the stored resourceVersion" in akod.log_of_last_start()
    assert akod.stop() == 0


async def test_restart_with_nothing_changed_writes_nothing_and_resumes_the_watch(controller, nodes: Nodes,
                                                                                 make_daemon) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    before = await akod.status()
    rv = before["kubernetes"]["watches"]["nodes"]["resource_version"]
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    after = await akod.wait_in_sync()
    assert len(await controller.writes()) == writes_before, await controller.writes()
    assert after["kubernetes"]["watches"]["nodes"]["relists"] == 0
    assert f"resuming the nodes watch from the stored resourceVersion {rv}" in akod.log_of_last_start()
    assert after["sync"]["api_calls"]["PUT"] == 0 and after["sync"]["api_calls"]["DELETE"] == 0
    assert akod.stop() == 0


async def test_kill_9_during_a_route_write_converges_after_restart(controller, nodes: Nodes, make_daemon) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    await controller.faults({"latency_ms": {"write": 3000, "read": 0}})
    await nodes.create("site1-az1-k8s-worker03", ip="10.10.30.14", cidrs=["10.34.3.0/24"])

    async def write_in_flight() -> bool:
        status = await akod.status()
        return status["sync"]["journal"].get("intent", 0) > 0

    await eventually(write_in_flight, timeout=15, interval=0.02, what="a route write in flight")
    akod.kill9()
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync()
    routes = await routes_become(controller, SEED_HOPS | {"10.34.3.0/24": "10.10.30.14"})
    ids = [r["route_id"] for r in routes]
    assert len(ids) == len(set(ids)), ids
    status = await akod.status()
    assert status["sync"]["journal"].get("intent", 0) == 0
    assert akod.stop() == 0


async def test_faults_are_absorbed_and_a_controller_outage_is_survived(controller, nodes: Nodes, make_daemon) -> None:
    await nodes.seed()
    await controller.faults({"errors": [{"method": "PUT", "path": "/api/vrfcontext", "status": 503,
                                         "probability": 0.5}],
                             "session_ttl_s": 2, "reset_probability": 0.1})
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync(timeout=60)
    await routes_become(controller, SEED_HOPS)
    await controller.faults({"down": True})
    await nodes.create("site1-az1-k8s-worker03", ip="10.10.30.14", cidrs=["10.34.3.0/24"])

    async def not_ready() -> bool:
        code, body = await akod.get("/readyz")
        return code == 503

    await eventually(not_ready, timeout=30, what="/readyz to say 503 while the controller is down")
    outage_end = asyncio.get_running_loop().time() + 20
    while asyncio.get_running_loop().time() < outage_end:
        akod.assert_running()
        code, _ = await akod.get("/readyz")
        assert code == 503
        await asyncio.sleep(1)
    await controller.faults({"down": False, "errors": [], "session_ttl_s": None, "reset_probability": 0})
    await akod.wait_in_sync(timeout=60)
    await routes_become(controller, SEED_HOPS | {"10.34.3.0/24": "10.10.30.14"})
    assert akod.stop() == 0


async def test_bad_pod_cidr_annotation_is_an_error_and_an_event_and_others_are_unaffected(
        controller, nodes: Nodes, make_daemon) -> None:
    await nodes.seed()
    await nodes.create("site1-az1-k8s-worker03", ip="10.10.30.14", cidrs=[],
                       annotations={"ako.vmware.com/pod-cidrs": "not-a-cidr, 10.1.0.0/33"})
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, SEED_HOPS)

    async def errors() -> list[dict]:
        status = await akod.status()
        return [e for e in status["errors"] if e["name"] == "site1-az1-k8s-worker03"]

    found = await eventually(errors, what="the node's errors in /status")
    annotation = [e for e in found if e["field"].startswith("metadata.annotations[ako.vmware.com/pod-cidrs]")]
    assert {e["message"] for e in annotation} == {"'not-a-cidr' is not a valid CIDR",
                                                  "'10.1.0.0/33' is not a valid CIDR"}
    assert all(e["kind"] == "Node" and e["reason"] == "InvalidPodCIDR" for e in annotation)
    events = await eventually(lambda: nodes.events_for("site1-az1-k8s-worker03"), what="a Kubernetes Event")
    assert any("not-a-cidr" in e.message and e.type == "Warning" for e in events)
    code, objects = await akod.get("/objects?kind=Node&name=site1-az1-k8s-worker01")
    assert code == 200 and objects["objects"][0]["avi_objects"][0]["next_hop"] == "10.10.30.12"
    # Fixing the annotation clears the error and brings the route.
    await nodes.set_cidr_annotation("site1-az1-k8s-worker03", "10.34.3.0/24")
    await routes_become(controller, SEED_HOPS | {"10.34.3.0/24": "10.10.30.14"})
    await eventually(lambda: _no_errors(akod), what="the errors to clear")
    assert akod.stop() == 0


async def _no_errors(akod) -> bool:
    return (await akod.status())["errors"] == []


async def test_sigterm_exits_zero_quickly_and_sighup_reloads(controller, nodes: Nodes, make_daemon) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    akod.write_config(routes_disabled=True)
    akod.signal(signal.SIGHUP)
    await routes_become(controller, {})
    assert "configuration reloaded" in akod.log()
    akod.write_config(routes_disabled=False)
    akod.signal(signal.SIGHUP)
    await routes_become(controller, SEED_HOPS)
    assert akod.stop(timeout=10) == 0


async def test_a_node_deleted_while_stopped_and_compacted_away_is_found_by_the_410_relist(
        controller, nodes: Nodes, make_daemon, kube_apiserver) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    assert akod.stop() == 0
    await nodes.delete("site1-az1-k8s-worker02")
    kube_apiserver.compact_etcd()  # the stored cursor is now older than etcd's history: 410 Gone
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, {k: v for k, v in SEED_HOPS.items() if k != "10.34.2.0/24"})

    async def relisted() -> bool:  # the 410 may come a moment after the watch was accepted
        return (await akod.status())["kubernetes"]["watches"]["nodes"]["relists"] == 1

    await eventually(relisted, what="one relist of the nodes after 410 Gone")
    assert "too old (410 Gone): listing again" in akod.log_of_last_start()
    assert akod.stop() == 0


async def test_two_clusters_writing_one_vrf_at_once_keep_each_others_routes(
        controller, nodes: Nodes, make_daemon) -> None:
    await nodes.seed()
    az1 = make_daemon("az1")
    az2 = make_daemon("az2", cluster="S1-AZ2", extra_config="")
    az2.write_config(extra="")  # same nodes, second cluster, its own SE group, same VRF
    text = az2.config.read_text().replace('version = "20.1.2"', 'version = "20.1.2"\nvrf = "VRF_AZ1"')
    az2.config.write_text(text)
    az1.start()
    az2.start()
    await az1.wait_in_sync()
    await az2.wait_in_sync()
    # Churn both at once: every node change makes both daemons rewrite the shared VRF.
    for i in range(5):
        await nodes.create(f"extra-{i}", ip=f"10.10.30.{100 + i}", cidrs=[f"10.36.{i}.0/24"])
    expected = SEED_HOPS | {f"10.36.{i}.0/24": f"10.10.30.{100 + i}" for i in range(5)}

    async def both() -> bool:
        routes = await controller.vrf_routes()
        return hops(routes, "S1-AZ1") == expected and hops(routes, "S1-AZ2") == expected

    await eventually(both, timeout=30, what="both clusters' routes in VRF_AZ1")
    assert az1.stop() == 0 and az2.stop() == 0
