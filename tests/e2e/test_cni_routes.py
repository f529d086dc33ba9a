"""Issue 11, end to end: static routes from every CNI's record of its pod CIDRs.

Real kube-apiserver with the CRDs of Calico, Cilium and OpenShift SDN installed from the minimal
manifests in tests/fixtures/crds (each test installs what it needs and removes it after), the
emulator in strict mode, akod as a process with the default `[routes] cni = "auto"`: it must find
the source by itself, watch it (resume, 410, deletions), change exactly the affected routes, and
report a malformed record on the object and field that hold it while every other route stays.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.e2e.cni import CniCrds, block, cilium_node, host_subnet
from tests.e2e.conftest import Controller, Nodes, ours
from tests.e2e.harness import akod_cli, eventually, writes_of_a_restart
from tests.e2e.test_api_versions import rbac_identity  # noqa: F401 - a fixture
from tests.e2e.test_static_routes import routes_become

OVN = "k8s.ovn.org/node-subnets"


@pytest.fixture
async def crds(kube_client: client.ApiClient) -> AsyncIterator[CniCrds]:
    made = CniCrds(kube_client)
    yield made
    await made.remove_all()


def by_id(routes: list[dict[str, Any]]) -> dict[str, tuple[str, int, str]]:
    return {r["route_id"]: (r["prefix"]["ip_addr"]["addr"], r["prefix"]["mask"], r["next_hop"]["addr"])
            for r in ours(routes)}


async def vrf_puts(controller: Controller) -> int:
    return len([w for w in await controller.writes() if w["path"].startswith("/api/vrfcontext")])


async def errors_of(akod: Any, kind: str, name: str) -> list[dict[str, Any]]:
    return [e for e in (await akod.status())["errors"] if e["kind"] == kind and e["name"] == name]


async def test_calico_three_confirmed_blocks_give_three_routes_and_a_released_block_removes_its_route_only(
        controller: Controller, nodes: Nodes, crds: CniCrds, make_daemon: Any) -> None:
    await crds.install("calico")
    # spec.podCIDRs is what Calico IPAM ignores: no route may come from it.
    await nodes.create("cal-1", ip="10.10.30.21", cidrs=["10.34.1.0/24"],
                       annotations={"projectcalico.org/IPv4Address": "10.10.31.21/24"})
    await nodes.create("cal-2", ip="10.10.30.22", cidrs=["10.34.2.0/24"])
    for b in (block("cal-1", "10.244.0.0/26"), block("cal-1", "10.244.0.64/26"), block("cal-2", "10.244.1.0/26"),
              block("cal-2", "10.244.1.64/26", state="pending")):
        await crds.create("calico", b)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    three = {"10.244.0.0/26": "10.10.31.21", "10.244.0.64/26": "10.10.31.21", "10.244.1.0/26": "10.10.30.22"}
    routes = await routes_become(controller, three)
    assert len(ours(routes)) == 3
    assert "pod CIDRs of the static routes come from calico (the server serves blockaffinities)" in akod.log()
    before, puts = by_id(routes), await vrf_puts(controller)

    await crds.delete("calico", block("cal-1", "10.244.0.0/26")["metadata"]["name"])
    two = {k: v for k, v in three.items() if k != "10.244.0.0/26"}
    after = by_id(await routes_become(controller, two))
    assert after == {rid: r for rid, r in before.items() if r[0] != "10.244.0.0"}  # the others untouched
    assert await vrf_puts(controller) == puts + 1

    # An update counts (AKO handled only adds and deletes of block affinities).
    await crds.patch("calico", block("cal-2", "10.244.1.64/26")["metadata"]["name"], {"spec": {"state": "confirmed"}})
    await routes_become(controller, two | {"10.244.1.64/26": "10.10.30.22"})
    await crds.patch("calico", block("cal-2", "10.244.1.64/26")["metadata"]["name"], {"spec": {"deleted": "true"}})
    await routes_become(controller, two)

    # Released while akod is stopped: the watch resumes and the route goes.
    assert akod.stop() == 0
    await crds.delete("calico", block("cal-2", "10.244.1.0/26")["metadata"]["name"])
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, {"10.244.0.64/26": "10.10.31.21"})
    assert "resuming the blockaffinities watch from the stored resourceVersion" in akod.log_of_last_start()
    errors = [e for e in (await akod.status())["errors"] if e["name"] == "cal-2"]
    assert [e["reason"] for e in errors] == ["NoPodCIDR"], errors  # no block left: said on the Node
    assert akod.stop() == 0


async def test_calico_a_malformed_block_or_address_annotation_is_reported_and_costs_only_itself(
        controller: Controller, nodes: Nodes, crds: CniCrds, make_daemon: Any) -> None:
    await crds.install("calico")
    await nodes.create("cal-1", ip="10.10.30.21", cidrs=[])
    await nodes.create("cal-2", ip="10.10.30.22", cidrs=[], annotations={"projectcalico.org/IPv4Address": "banana"})
    bad = block("cal-2", "10.244.1.64/26") | {"spec": {"node": "cal-2", "cidr": "10.244.1.64/33", "state": "confirmed",
                                                     "deleted": "false"}}
    for b in (block("cal-1", "10.244.0.0/26"), block("cal-2", "10.244.1.0/26"), bad):
        await crds.create("calico", b)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, {"10.244.0.0/26": "10.10.30.21", "10.244.1.0/26": "10.10.30.22"})
    name = bad["metadata"]["name"]
    found = await eventually(lambda: errors_of(akod, "BlockAffinity", name), what="the block's error in /status")
    assert [(e["field"], e["reason"]) for e in found] == [("spec.cidr", "InvalidBlockAffinity")]
    assert "'10.244.1.64/33' is not a valid CIDR" in found[0]["message"]
    node_errors = await errors_of(akod, "Node", "cal-2")
    assert [(e["field"], e["reason"]) for e in node_errors] == [
        ("metadata.annotations[projectcalico.org/IPv4Address]", "InvalidNodeIP")]
    events = await eventually(lambda: nodes.events_for(name), what="a Kubernetes Event for the block")
    assert any("10.244.1.64/33" in e.message and e.type == "Warning" for e in events)
    assert events[0].involved_object.api_version == "crd.projectcalico.org/v1"
    # Fixing the block brings its route and clears its error.
    await crds.patch("calico", name, {"spec": {"cidr": "10.244.1.64/26"}})
    await routes_become(controller, {"10.244.0.0/26": "10.10.30.21", "10.244.1.0/26": "10.10.30.22",
                                     "10.244.1.64/26": "10.10.30.22"})

    async def block_error_cleared() -> bool:
        return await errors_of(akod, "BlockAffinity", name) == []

    await eventually(block_error_cleared, what="the block's error to clear")
    assert akod.stop() == 0


async def test_cilium_nodes_give_their_pod_cidrs_and_a_410_relist_finds_a_deleted_one(
        controller: Controller, nodes: Nodes, crds: CniCrds, make_daemon: Any, kube_apiserver: Any) -> None:
    await crds.install("cilium")
    await nodes.create("cil-1", ip="10.10.30.31", cidrs=["10.34.1.0/24"])
    await nodes.create("cil-2", ip="10.10.30.32", cidrs=["10.34.2.0/24"])
    await nodes.create("cil-3", ip="10.10.30.33", cidrs=["10.34.3.0/24"])
    await crds.create("cilium", cilium_node("cil-1", ["10.0.1.0/24"]))
    await crds.create("cilium", cilium_node("cil-2", ["10.0.2.0/24"]))
    await crds.create("cilium", cilium_node("cil-3", ["10.0.3.0/24", "not-a-cidr"]))
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    expected = {"10.0.1.0/24": "10.10.30.31", "10.0.2.0/24": "10.10.30.32", "10.0.3.0/24": "10.10.30.33"}
    await routes_become(controller, expected)
    assert "pod CIDRs of the static routes come from cilium (the server serves ciliumnodes)" in akod.log()
    found = await eventually(lambda: errors_of(akod, "CiliumNode", "cil-3"), what="the CiliumNode's error")
    assert [(e["field"], e["reason"]) for e in found] == [("spec.ipam.podCIDRs[1]", "InvalidPodCIDR")]
    await crds.patch("cilium", "cil-2", {"spec": {"ipam": {"podCIDRs": ["10.0.2.0/24", "10.0.12.0/24"]}}})
    expected["10.0.12.0/24"] = "10.10.30.32"
    await routes_become(controller, expected)

    assert akod.stop() == 0
    await crds.delete("cilium", "cil-1")  # without a CiliumNode the node's spec.podCIDRs count
    kube_apiserver.compact_etcd()  # the stored cursors are now too old: 410 Gone
    akod.start()
    await akod.wait_in_sync()
    del expected["10.0.1.0/24"]
    await routes_become(controller, expected | {"10.34.1.0/24": "10.10.30.31"})

    async def relisted() -> bool:
        return (await akod.status())["kubernetes"]["watches"]["ciliumnodes"]["relists"] == 1

    await eventually(relisted, what="one relist of the ciliumnodes after 410 Gone")
    assert akod.stop() == 0


async def test_openshift_host_subnets_give_the_routes_with_only_the_deployed_rbac(
        controller: Controller, nodes: Nodes, crds: CniCrds, make_daemon: Any, rbac_identity: Any) -> None:
    await crds.install("openshift")
    await nodes.create("ocp-1", ip="10.10.30.41", cidrs=[])
    await nodes.create("ocp-2", ip="10.10.30.42", cidrs=[])
    await crds.create("openshift", host_subnet("ocp-1", "ocp-1", "10.128.0.0/23", "10.10.30.41"))
    await crds.create("openshift", host_subnet("ocp-2", "ocp-2", "10.128.2.0/23", "10.10.30.42"))
    await crds.create("openshift", host_subnet("ocp-junk", "ocp-2", "10.128.4.0/24/8", "10.10.30.42"))
    akod = make_daemon(identity=rbac_identity)  # deploy/kubernetes-rbac.yaml grants reading the HostSubnets
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, {"10.128.0.0/23": "10.10.30.41", "10.128.2.0/23": "10.10.30.42"})
    found = await eventually(lambda: errors_of(akod, "HostSubnet", "ocp-junk"), what="the HostSubnet's error")
    assert [(e["field"], e["reason"]) for e in found] == [("subnet", "InvalidPodCIDR")]
    await crds.delete("openshift", "ocp-1")
    await routes_become(controller, {"10.128.2.0/23": "10.10.30.42"})
    assert await writes_of_a_restart(akod, controller) == []  # route ids stable, nothing rewritten
    assert "resuming the hostsubnets watch from the stored resourceVersion" in akod.log_of_last_start()
    assert akod.stop() == 0
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0 and "nothing to do" in plan.stdout, plan.stdout + plan.stderr


async def test_ovn_node_subnets_in_both_shapes_and_a_garbage_annotation_costs_only_its_node(
        controller: Controller, nodes: Nodes, make_daemon: Any, kube_client: client.ApiClient) -> None:
    await nodes.create("ovn-1", ip="10.10.30.51", cidrs=[], annotations={OVN: json.dumps({"default": "10.128.0.0/23"})})
    await nodes.create("ovn-2", ip="10.10.30.52", cidrs=[],
                       annotations={OVN: json.dumps({"default": ["10.128.2.0/23"]})})
    await nodes.create("ovn-3", ip="10.10.30.53", cidrs=[], annotations={OVN: '{"default": ["10.128.4.0/23"'})
    akod = make_daemon()
    akod.start()
    status = await akod.wait_in_sync()
    await routes_become(controller, {"10.128.0.0/23": "10.10.30.51", "10.128.2.0/23": "10.10.30.52"})
    log = akod.log()
    assert "pod CIDRs of the static routes come from ovn-kubernetes (a node carries the annotation" in log
    # No CNI CRD here: nothing is missing, each absent API was said once, at info.
    assert status["kubernetes"]["missing"] == {}
    for plural in ("blockaffinities", "ciliumnodes", "hostsubnets"):
        assert log.count(f"{plural}: the server serves none of") == 1, plural
    found = await eventually(lambda: errors_of(akod, "Node", "ovn-3"), what="the node's error")
    assert [(e["field"], e["reason"]) for e in found] == [(f"metadata.annotations[{OVN}]", "InvalidPodCIDR")]
    assert any("is not JSON" in e["message"] for e in found)
    # A changed annotation changes that node's route only.
    routes = by_id(await controller.vrf_routes())
    await client.CoreV1Api(kube_client).patch_node("ovn-1", {"metadata": {"annotations": {
        OVN: json.dumps({"default": ["10.128.6.0/23"]})}}})
    after = by_id(await routes_become(controller, {"10.128.6.0/23": "10.10.30.51", "10.128.2.0/23": "10.10.30.52"}))
    assert after["S1-AZ1-ovn-2-0"] == routes["S1-AZ1-ovn-2-0"]
    assert akod.stop() == 0


async def test_antrea_transport_addresses_are_the_next_hops_and_an_edit_moves_one_route(
        controller: Controller, nodes: Nodes, make_daemon: Any, kube_client: client.ApiClient) -> None:
    antrea = "node.antrea.io/transport-addresses"
    await nodes.create("ant-1", ip="10.10.30.61", cidrs=["10.34.1.0/24"], annotations={antrea: "192.168.30.61"})
    await nodes.create("ant-2", ip="10.10.30.62", cidrs=["10.34.2.0/24"], annotations={antrea: "fd00::62,192.168.30.62"})
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    before = by_id(await routes_become(controller, {"10.34.1.0/24": "192.168.30.61", "10.34.2.0/24": "192.168.30.62"}))
    assert "pod CIDRs of the static routes come from antrea (a node carries the annotation" in akod.log()
    await client.CoreV1Api(kube_client).patch_node("ant-1", {"metadata": {"annotations": {antrea: "192.168.31.61"}}})
    after = by_id(await routes_become(controller, {"10.34.1.0/24": "192.168.31.61", "10.34.2.0/24": "192.168.30.62"}))
    assert after["S1-AZ1-ant-2-0"] == before["S1-AZ1-ant-2-0"] and set(after) == set(before)
    assert akod.stop() == 0


async def test_a_configured_source_the_server_does_not_serve_is_missing_and_the_routes_stay(
        controller: Controller, nodes: Nodes, make_daemon: Any) -> None:
    await nodes.create("plain-1", ip="10.10.30.71", cidrs=["10.34.1.0/24"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, {"10.34.1.0/24": "10.10.30.71"})
    assert akod.stop() == 0
    akod.config.write_text(akod.config.read_text().replace("[routes]\n", '[routes]\ncni = "calico"\n', 1))
    writes = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()  # a held key is settled: nothing to retry until the input changes

    async def held() -> dict[str, Any] | None:
        status = await akod.status()
        return status if status["sync"]["held"].get("vrf") else None

    status = await eventually(held, what="the routes key held")
    assert "serves no blockaffinities" in status["sync"]["held"]["vrf"]
    assert "crd.projectcalico.org/v1/blockaffinities" in status["kubernetes"]["missing"]["blockaffinities"]
    assert len(await controller.writes()) == writes  # the route that works was not withdrawn
    assert by_id(await controller.vrf_routes()) == {"S1-AZ1-plain-1-0": ("10.34.1.0", 24, "10.10.30.71")}
    assert akod.stop() == 0
