"""Several daemons, one Kubernetes cluster: each clears only the statuses it wrote.

Cluster S1-AZ1 (VIP network AVI_FRONTEND_3025, VRF_AZ1) and cluster S1-AZ2 (AVI_FRONTEND_3026,
VRF_AZ2) each serve the Services and Ingresses of their own namespace (`[namespaces] selector`)
of one Kubernetes cluster, against one controller. Each sees the other's objects, with the
other's VIPs in their status: clearing those would take them away from the daemon that serves
them, which would not notice.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.config import SEED_AZ1, SEED_AZ2
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import TEST_OPTIONS, eventually
from tests.e2e.ingresses import path, rule


def selector(value: str) -> str:
    return f'[namespaces]\nselector = {{ key = "az", value = "{value}" }}\n'


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


async def shown(services: Any, ingresses: Any, ns: str) -> dict[str, Any]:
    """What each Service and Ingress of `ns` shows: its status and its FQDN map annotation."""
    found: dict[str, Any] = {}
    for kind, api_get in (("Service", services.get), ("Ingress", ingresses.get)):
        for name in ("web", "api") if kind == "Service" else ("site",):
            obj = await api_get(ns, name)
            ingress = (obj.status.load_balancer.ingress or []) if obj.status and obj.status.load_balancer else []
            found[f"{kind}/{name}"] = ([e.ip for e in ingress],
                                       (obj.metadata.annotations or {}).get("ako.vmware.com/host-fqdn-vs-uuid-map"))
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
    seen_at = int(changed.metadata.resource_version)

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
