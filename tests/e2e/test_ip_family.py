"""Issue 11, end to end: `[network] ip_family` on a dual-stack cluster (pool servers and static routes).

The session's apiserver (1.20.2) drops a Node's second pod CIDR and a Service's `ipFamilies`
unless started with `--feature-gates=IPv6DualStack=true` and a service range of each family, so
this module runs on an apiserver of its own (`tests.conftest.DUAL_STACK`), stopped when the
module ends; the shared one stays as every other test knows it. No controller-manager runs:
the tests write the Endpoints themselves, with the addresses of both families.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.conftest import DUAL_STACK, ApiServers
from tests.e2e.conftest import Controller, hops
from tests.e2e.harness import TEST_OPTIONS, eventually
from tests.e2e.npl import Pods, create_service, mapping
from tests.e2e.test_l4 import settled

pytestmark = pytest.mark.parametrize("kube_apiserver", [DUAL_STACK], indirect=True)

NODES = [("ds-worker01", "10.10.30.12", "fd00:30::12", "10.34.1.0/24", "fd10:34:1::/64"),
         ("ds-worker02", "10.10.30.13", "fd00:30::13", "10.34.2.0/24", "fd10:34:2::/64")]
V4_ROUTES = {"10.34.1.0/24": "10.10.30.12", "10.34.2.0/24": "10.10.30.13"}
V6_ROUTES = {"fd10:34:1::/64": "fd00:30::12", "fd10:34:2::/64": "fd00:30::13"}


@pytest.fixture(scope="module", autouse=True)
def _stop_the_dual_stack_apiserver(kube_apiservers: ApiServers) -> Iterator[None]:
    yield
    kube_apiservers.stop(DUAL_STACK)


@pytest.fixture
async def dual_nodes(kube_client: client.ApiClient) -> Any:
    core = client.CoreV1Api(kube_client)
    for name, ip4, ip6, cidr4, cidr6 in NODES:
        await core.create_node({"metadata": {"name": name}, "spec": {"podCIDR": cidr4, "podCIDRs": [cidr4, cidr6]}})
        await core.patch_node_status(name, {"status": {"addresses": [
            {"type": "InternalIP", "address": ip4}, {"type": "InternalIP", "address": ip6},
            {"type": "Hostname", "address": name}]}})
    node = await core.read_node(NODES[0][0])
    assert node.spec.pod_cidrs == [NODES[0][3], NODES[0][4]], "the apiserver dropped the second pod CIDR"
    yield core
    for name, *_ in NODES:
        with contextlib.suppress(ApiException):
            await core.delete_node(name)


async def dual_service(core: client.CoreV1Api, ns: str) -> None:
    """kuard, dual stack, with one pod of each node in its Endpoints, both families."""
    await create_service(core, ns, "kuard", port=8080, target=8080, selector={"app": "kuard"},
                         families=["IPv4", "IPv6"])
    svc = await core.read_namespaced_service("kuard", ns)
    assert svc.spec.ip_families == ["IPv4", "IPv6"], "the apiserver dropped the Service's ipFamilies"
    await core.create_namespaced_endpoints(ns, {"metadata": {"name": "kuard"}, "subsets": [{
        "addresses": [{"ip": ip} for ip in ("10.34.1.11", "10.34.2.12", "fd10:34:1::11", "fd10:34:2::12")],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})


def family_daemon(make_daemon: Any, family: str, *, extra: str = "") -> Any:
    return make_daemon(f"akod-{family}", options=replace(TEST_OPTIONS, network_extra=f'ip_family = "{family}"\n',
                                                        extra=extra))


async def routes_are(controller: Controller, expected: dict[str, str]) -> None:
    async def probe() -> bool:
        return hops(await controller.vrf_routes()) == expected

    await eventually(probe, what=f"the routes {expected}")


def servers(state: dict[str, Any]) -> list[str]:
    (found,) = state["pools"].values()
    return [ip for ip, _, _ in found]


async def test_v4_v6_gives_both_families_of_servers_and_routes_and_v6_only_the_ipv6_ones(
        controller, dual_nodes: client.CoreV1Api, kube_namespace: str, make_daemon) -> None:
    ns = kube_namespace
    await dual_service(dual_nodes, ns)
    vs = f"S1-AZ1--{ns}-kuard"

    both = family_daemon(make_daemon, "V4_V6")
    both.start()
    await both.wait_in_sync()
    await settled(controller, vs, lambda s: servers(s) == ["10.34.1.11", "10.34.2.12", "fd10:34:1::11",
                                                          "fd10:34:2::12"])
    await routes_are(controller, {**V4_ROUTES, **V6_ROUTES})
    assert both.stop() == 0

    v6 = family_daemon(make_daemon, "V6")
    v6.start()
    await v6.wait_in_sync()
    await settled(controller, vs, lambda s: servers(s) == ["fd10:34:1::11", "fd10:34:2::12"])
    await routes_are(controller, V6_ROUTES)
    assert v6.stop() == 0

    v4 = family_daemon(make_daemon, "V4")  # AKO's default: the IPv6 half of the cluster is left out
    v4.start()
    await v4.wait_in_sync()
    await settled(controller, vs, lambda s: servers(s) == ["10.34.1.11", "10.34.2.12"])
    await routes_are(controller, V4_ROUTES)
    assert v4.stop() == 0


async def test_node_port_local_servers_follow_ip_family(controller, dual_nodes: client.CoreV1Api,
                                                        kube_client: client.ApiClient, kube_namespace: str,
                                                        make_daemon) -> None:
    ns = kube_namespace
    pods = Pods(kube_client)
    await dual_service(dual_nodes, ns)
    for index, (name, ip4, ip6, *_) in enumerate(NODES):
        await pods.create(ns, f"kuard-{index}", labels={"app": "kuard"}, node=name,
                          npl=[mapping(8080, ip4, 61000 + index), mapping(8080, ip6, 61000 + index)])
    akod = family_daemon(make_daemon, "V6", extra='[l7]\nservice_type = "NodePortLocal"\n')
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, f"S1-AZ1--{ns}-kuard", lambda s: s["pools"] and list(s["pools"].values())[0] == [
        ("fd00:30::12", 61000, True), ("fd00:30::13", 61001, True)])
    assert hops(await controller.vrf_routes()) == {}  # no static routes in NodePortLocal mode
    assert akod.stop() == 0
